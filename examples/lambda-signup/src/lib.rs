//! The signup example on AWS Lambda: axum-signup's routes and Affitor layer, run by
//! `lambda_http`, with a [`FlushLayer`] around them. `POST /api/signup` creates the user and
//! queues the lead; the flush waits for that lead to be delivered before the response leaves.
//! Lambda freezes the process once the response has left, until the next invocation (or for
//! good): without the flush, a lead still in the client's queue would wait in a process that
//! no longer runs.
//!
//! Deploy it with `cargo lambda build --release` and `cargo lambda deploy`, behind a function
//! URL or an API Gateway HTTP API (the payload format 2.0), with `AFFITOR_API_KEY` set.
//! `AFFITOR_FLUSH_DEADLINE_MS` (default 2000) bounds each response's wait; keep it well under
//! the function's timeout.

use std::time::Duration;

use affitor_axum::FlushLayer;
use axum::Router;
use example_support::{AppConfig, Users};

/// How long a response waits for the events its request queued, unless
/// `AFFITOR_FLUSH_DEADLINE_MS` says otherwise: 2 s.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(2);

/// The function's app: the signup routes behind the Affitor layer, as in axum-signup, and,
/// outside them, the flush: an answer leaves once the events its request queued are
/// delivered, or `flush_deadline` after the handler answered.
pub fn app(config: AppConfig, flush_deadline: Duration) -> Router {
    let flush = FlushLayer::new(config.affitor.clone(), flush_deadline);
    axum_signup::signup_routes()
        .with_state(Users::default())
        .layer(axum_signup::affitor_layer(config))
        // The outermost layer: it waits after everything inside has answered.
        .layer(flush)
}

/// `AFFITOR_FLUSH_DEADLINE_MS`, or [`FLUSH_DEADLINE`] when it is unset.
///
/// # Errors
///
/// A message naming the variable when it is not a number of milliseconds.
pub fn flush_deadline_from_env() -> Result<Duration, String> {
    match std::env::var("AFFITOR_FLUSH_DEADLINE_MS") {
        Err(_) => Ok(FLUSH_DEADLINE),
        Ok(millis) => millis
            .trim()
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| {
                format!("AFFITOR_FLUSH_DEADLINE_MS `{millis}` is not a number of milliseconds")
            }),
    }
}
