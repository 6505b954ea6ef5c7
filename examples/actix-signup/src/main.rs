//! Runs the actix-signup example app.

fn main() {}
