//! The click id lookup, in one test binary: the Tower layer (`layer`, `layer_proptest`, with
//! what they share in `support`). The parsers under it are private: their tests are unit tests
//! (`src/parse/tests/`).
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
#[cfg(feature = "layer")]
mod support;
