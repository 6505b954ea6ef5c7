//! The Tower layer.
