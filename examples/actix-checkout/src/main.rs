//! Runs the actix-checkout example app.

fn main() {}
