//! Runs the axum-signup example app.

fn main() {}
