//! The Affitor API client.
