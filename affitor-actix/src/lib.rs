//! Affitor affiliate tracking for actix.
