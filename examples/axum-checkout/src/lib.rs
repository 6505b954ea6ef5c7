//! The axum-checkout example app.
