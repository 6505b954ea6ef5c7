//! The parsers and the two-step lookup over them, tested where the parsers are private: the
//! rules by example (`rules.rs`) and by property (`proptests.rs`: no input makes them panic,
//! and each agrees with a simpler reading of the same bytes).

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod examples;
mod proptests;
mod rules;
