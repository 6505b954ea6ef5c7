//! A local stand-in of the Affitor API.
