//! The signup example on AWS Lambda: `POST /api/signup` creates the user and tracks the lead in
//! the background, and the [`FlushLayer`] waits for that lead to be delivered before the
//! response leaves. Lambda freezes the process once the response has left, until the next
//! invocation (or for good): without the flush, a lead still in the client's queue would wait in
//! a process that no longer runs.
//!
//! Deploy it with `cargo lambda build --release` and `cargo lambda deploy`, behind a function
//! URL or an API Gateway HTTP API (the payload format 2.0), with `AFFITOR_API_KEY` set.
//! `AFFITOR_FLUSH_DEADLINE_MS` (default 2000) bounds each response's wait; keep it well under
//! the function's timeout.

use std::time::Duration;

use affitor_axum::{AffitorClient, AffitorLayer, Client, FlushLayer};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use example_support::{SignupForm, SignupResponse, Users};

/// How long a response waits for the events its request queued, unless
/// `AFFITOR_FLUSH_DEADLINE_MS` says otherwise: 2 s.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(2);

/// The function's app: `POST /api/signup`, behind the Affitor layer (the click id found in the
/// cookie, a header or the body) and, outside it, the flush: the answer leaves once the lead is
/// delivered, or `flush_deadline` after the handler answered.
pub fn app(affitor: Client, flush_deadline: Duration) -> Router {
    Router::new()
        .route("/api/signup", post(signup))
        .with_state(Users::default())
        .layer(AffitorLayer::new().client(affitor.clone()))
        // The outermost layer: it waits after everything inside has answered.
        .layer(FlushLayer::new(affitor, flush_deadline))
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

async fn signup(
    State(users): State<Users>,
    affitor: AffitorClient,
    Json(form): Json<SignupForm>,
) -> Response {
    let user = match users.create(&form, affitor.click_id().cloned()) {
        Ok(user) => user,
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, Json(error.body())).into_response();
        }
    };
    // Queued, and delivered before the response leaves: the FlushLayer waits for it.
    affitor
        .lead(&user.id)
        .email(&user.email)
        .send_in_background();
    Json(SignupResponse { user_id: user.id }).into_response()
}
