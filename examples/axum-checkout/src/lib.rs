//! The checkout example for axum: the signup of `axum-signup`, a checkout that hands the Affitor
//! metadata to Stripe, and payment webhooks that track the sale or the refund inline: Stripe's,
//! Polar's, Paddle's and Lemon Squeezy's, verified, and a plain one.
//!
//! Run it with `cargo run -p axum-checkout`: with no `AFFITOR_API_URL` it starts a local stand-in
//! of the Affitor API and logs every event that reaches it.

use std::sync::Arc;

use affitor_axum::affitor::webhook::{Provider, Verifier};
use affitor_axum::{AffitorClickId, AffitorClient, WebhookEvent};
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use example_support::{
    AppConfig, CheckoutRequest, PaymentEvent, PaymentWebhooks, Users, checkout_session,
};
use serde_json::json;

#[derive(Clone, FromRef)]
struct CheckoutState {
    users: Users,
    program_id: Arc<str>,
}

/// The app: the signup page, `POST /api/signup`, `POST /api/checkout`, and the payment
/// webhooks `webhooks` mounts (`POST /webhooks/stripe`, `/polar`, `/paddle` and `/lemonsqueezy`,
/// each with its verifier, and the unsigned `POST /webhooks/payment` on the stand-in), behind
/// the Affitor layer; every request answered within
/// [`REQUEST_TIMEOUT`](example_support::REQUEST_TIMEOUT).
pub fn app(config: AppConfig, webhooks: PaymentWebhooks) -> Router {
    let state = CheckoutState {
        users: Users::default(),
        program_id: config.program_id.as_str().into(),
    };
    let mut app = axum_signup::signup_routes()
        .route("/api/checkout", post(checkout))
        .with_state(state);
    // With an outbox, a sale or refund is stored there before the provider is answered.
    let webhooks = webhooks.kept_in(config.outbox.as_ref());
    // Each webhook's state is its verifier: a route exists only with one.
    app = mount(app, "/webhooks/stripe", webhooks.stripe);
    app = mount(app, "/webhooks/polar", webhooks.polar);
    app = mount(app, "/webhooks/paddle", webhooks.paddle);
    app = mount(app, "/webhooks/lemonsqueezy", webhooks.lemon_squeezy);
    if webhooks.plain_payment {
        app = app.route("/webhooks/payment", post(payment));
    }
    app.layer(axum_signup::affitor_layer(config))
        .layer(axum_signup::request_timeout())
}

async fn checkout(
    State(state): State<CheckoutState>,
    click_id: Option<AffitorClickId>,
    Json(request): Json<CheckoutRequest>,
) -> Response {
    let provider = match request.provider() {
        Ok(provider) => provider,
        Err(error) => {
            let error = json!({ "error": error.to_string() });
            return (StatusCode::BAD_REQUEST, Json(error)).into_response();
        }
    };
    let Some(user) = state.users.get(&request.user_id) else {
        let error = json!({ "error": "no user has this userId: sign up first" });
        return (StatusCode::NOT_FOUND, Json(error)).into_response();
    };
    let session = checkout_session(
        &user,
        click_id.as_deref(),
        request.price_id.as_deref(),
        &state.program_id,
        provider,
    );
    Json(session).into_response()
}

/// `app` with the webhook of `P` at `path`, verified by `verifier`; `app` without one.
fn mount<P: Provider>(app: Router, path: &str, verifier: Option<Verifier<P>>) -> Router {
    match verifier {
        Some(verifier) => app.merge(
            Router::new()
                .route(path, post(webhook::<P>))
                .with_state(verifier),
        ),
        None => app,
    }
}

/// Every provider's webhook: verified by the extractor, tracked in one line.
async fn webhook<P: Provider>(affitor: AffitorClient, event: WebhookEvent<P>) -> StatusCode {
    event.track(&affitor).await
}

async fn payment(affitor: AffitorClient, Json(event): Json<PaymentEvent>) -> StatusCode {
    event.track(&affitor).await.status()
}
