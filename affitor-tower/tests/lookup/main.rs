//! The click id lookup, in one test binary: the parsers and the two-step lookup an adapter
//! drives (`parse`, `parse_proptest`), and the Tower layer around them (`layer`,
//! `layer_proptest`, with what they share in `support`).
//!
//! The rules of the lookup that every adapter must keep (which source wins, what is rejected,
//! that the body reaches the handler byte for byte) are stated once, in the scenario crate's
//! `lookup_rules` table, and run through both the Tower layer and the actix middleware; these
//! tests hold what is particular to the parsers and to the layer's plumbing.

#![allow(clippy::unwrap_used)]

#[cfg(feature = "layer")]
mod layer;
#[cfg(feature = "layer")]
mod layer_proptest;
mod parse;
mod parse_proptest;
#[cfg(feature = "layer")]
mod support;
