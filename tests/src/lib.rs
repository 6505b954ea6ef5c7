//! The scenario suite: every example app driven over real HTTP.
