//! Runs the axum-checkout example app.

fn main() {}
