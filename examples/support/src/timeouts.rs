//! The bounds every example server keeps, whatever its framework: each request is answered,
//! however slowly, or never, its client sends it.

use std::time::Duration;

/// The longest any request takes to be answered, counted from when its head has been read:
/// a body that never comes, a handler stuck on a slow API, or a payment webhook whose body
/// stalls are answered `408 Request Timeout` then (and the connection closed), never held.
///
/// It is the bound a payment provider gives a webhook endpoint (Polar: 10 s): a delivery is
/// answered within it, the webhook extractor's body wait (10 s) counted from when the Affitor
/// layer's (5 s) began.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server waits for a request's head (its method, path and headers) before it
/// answers 408 and closes: actix-web's default, said out loud, and the axum apps' through
/// [`serve_axum`](crate::serve_axum).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle keep-alive connection is kept open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// How long an actix-web server waits for a client to close after the server has shut the
/// connection down (actix-web's default, said out loud).
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
