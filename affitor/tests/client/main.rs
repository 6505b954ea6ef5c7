//! The client's integration tests, in one binary (one link instead of four):
//!
//! - `calls`: every endpoint and outcome against the stand-in API over real HTTP on 127.0.0.1,
//!   validation without I/O, headers, spans, and the key never leaking;
//! - `retries`: retries, timeouts, faults and lost answers;
//! - `delivery`: background delivery, its queue, its ordering and its counters;
//! - `shutdown`: how background delivery ends: the shutdown's flush and report, and workers
//!   whose runtimes stop;
//! - `sent`: what a backend hears of the events sent inline;
//! - `contract`: every request body validated against the API's OpenAPI file;
//! - `proxy`: an API on this machine reached without the environment's proxy;
//! - `support`: what they share.
#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod calls;
mod contract;
mod delivery;
mod proxy;
mod retries;
mod sent;
mod shutdown;
mod support;
