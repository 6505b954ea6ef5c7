//! The stand-in Affitor API, driven over real HTTP on loopback with a tiny raw HTTP/1.1 client,
//! so these tests do not depend on the crate's own client.
#![allow(clippy::unwrap_used)] // tests may unwrap, helpers included

mod chain;
mod click;
mod faults;
mod lead;
mod lifecycle;
mod readiness;
mod refund;
mod routing;
mod sale;
mod support;
mod test_mode;
