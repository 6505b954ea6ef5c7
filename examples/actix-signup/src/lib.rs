//! The actix-signup example app.
