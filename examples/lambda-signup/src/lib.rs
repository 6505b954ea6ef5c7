//! The signup example on AWS Lambda: axum-signup's routes and Affitor layer, run by
//! `lambda_http`, with a [`FlushLayer`] around them. `POST /api/signup` creates the user and
//! queues the lead; the flush waits for that lead to be delivered before the response leaves.
//! Lambda freezes the process once the response has left, until the next invocation (or for
//! good): without the flush, a lead still in the client's queue would wait in a process that
//! no longer runs.
//!
//! Deploy it with `cargo lambda build --release` and `cargo lambda deploy`, behind a function
//! URL or an API Gateway HTTP API (the payload format 2.0), with `AFFITOR_API_KEY` and
//! `AFFITOR_API_URL` (`https://api.affitor.com`) set: without the URL, it tracks into a local
//! stand-in of the API in the function's own memory, as every example does.
//! `AFFITOR_FLUSH_DEADLINE_MS` (default 2000) bounds each response's wait; keep it well under
//! the function's timeout.
//!
//! Lambda is a fleet: each instance is a process of its own, started cold at any time. A partner
//! link held until the visitor's consent is signed with `AFFITOR_HELD_CLICK_SECRET` (at least 32
//! random bytes, the same for every instance), so that the consent may land on any instance;
//! and the visitor's address, for the capture's limit and repeats, is the one the function URL
//! or API Gateway appends to `X-Forwarded-For`, as no connection is the visitor's.

use std::time::Duration;

use affitor_axum::affitor_tower::capture::ProxyHeaders;
use affitor_axum::{FlushLayer, HeldClickKey};
use axum::Router;
use example_support::{AppConfig, Users};

/// How long a response waits for the events its request queued, unless
/// `AFFITOR_FLUSH_DEADLINE_MS` says otherwise: 2 s.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(2);

/// The function's app: the signup routes behind the Affitor layer, as in axum-signup, its held
/// clicks signed with `held` and the visitor's address read from `X-Forwarded-For`; and,
/// outside them, the flush: an answer leaves once the events its request queued are
/// delivered, or `flush_deadline` after the handler answered.
pub fn app(config: AppConfig, flush_deadline: Duration, held: HeldClickKey) -> Router {
    let flush = FlushLayer::new(config.affitor.clone(), flush_deadline);
    let capture = axum_signup::capture_clicks()
        .trust_proxy_headers(ProxyHeaders::XForwarded)
        .hold_until_consent(held);
    axum_signup::signup_routes()
        .with_state(Users::default())
        .layer(axum_signup::affitor_layer_with(config, capture))
        // The outermost layer: it waits after everything inside has answered.
        .layer(flush)
}

/// The key of held clicks: from `AFFITOR_HELD_CLICK_SECRET`, the same on every instance; when
/// it is unset, a random key for this instance alone, said at `warn` (a consent that lands on
/// another instance, or after a cold start, then loses its click).
///
/// # Errors
///
/// A message naming the variable when its secret is shorter than 32 bytes.
pub fn held_click_key_from_env() -> Result<HeldClickKey, String> {
    match std::env::var("AFFITOR_HELD_CLICK_SECRET") {
        Ok(secret) => HeldClickKey::from_secret(secret.trim()).map_err(|weak| {
            format!("AFFITOR_HELD_CLICK_SECRET: {weak}; use at least 32 random bytes")
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(
            "AFFITOR_HELD_CLICK_SECRET is not valid UTF-8: use at least 32 random bytes \
                 written as text (hex or base64)"
                .to_owned(),
        ),
        Err(std::env::VarError::NotPresent) => {
            tracing::warn!(
                "AFFITOR_HELD_CLICK_SECRET is unset: this instance signs held partner links with \
                 a key of its own, and a consent that lands on another instance loses its \
                 click; set it to at least 32 random bytes, the same for every instance"
            );
            Ok(HeldClickKey::random())
        }
    }
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
