//! The actix-checkout example app.
