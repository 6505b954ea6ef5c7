//! The axum-signup example app.
