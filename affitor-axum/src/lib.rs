//! Affitor affiliate tracking for axum.
