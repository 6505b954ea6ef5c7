//! The checkout example for actix-web: the signup of `actix-signup`, a checkout that hands the
//! Affitor metadata to Stripe, and payment webhooks that track the sale or the refund inline:
//! Stripe's, Polar's, Paddle's and Lemon Squeezy's, verified, and a plain one.
//!
//! Run it with `cargo run -p actix-checkout`: with no `AFFITOR_API_URL` it starts a local stand-in
//! of the Affitor API and logs every event that reaches it.
//!
//! In a test, start it like `actix_signup`, with [`serve`].

use std::net::TcpListener;

use actix_signup::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use affitor_actix::affitor::webhook::{Provider, Verifier};
use affitor_actix::{AffitorClickId, AffitorClient, WebhookEvent};
use example_support::{
    AppConfig, CheckoutRequest, DISCONNECT_TIMEOUT, HEAD_TIMEOUT, KEEP_ALIVE, PaymentEvent,
    PaymentWebhooks, checkout_session,
};
use serde_json::json;

/// How long a graceful shutdown waits for the requests in progress.
const SHUTDOWN_TIMEOUT_SECS: u64 = 5;

/// The app: the signup page, `POST /api/signup`, `POST /api/checkout`, and the payment
/// webhooks `webhooks` mounts (`POST /webhooks/stripe`, `/polar`, `/paddle` and `/lemonsqueezy`,
/// each with its verifier, and the unsigned `POST /webhooks/payment` on the stand-in), behind
/// the Affitor middleware.
pub fn app(
    state: AppState,
    webhooks: PaymentWebhooks,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // The signup app, middleware included: actix wraps every route of an `App`, whenever added.
    let mut app = actix_signup::app(state).route("/api/checkout", web::post().to(checkout));
    // A webhook's route exists only with its verifier.
    app = mount(app, "/webhooks/stripe", webhooks.stripe);
    app = mount(app, "/webhooks/polar", webhooks.polar);
    app = mount(app, "/webhooks/paddle", webhooks.paddle);
    app = mount(app, "/webhooks/lemonsqueezy", webhooks.lemon_squeezy);
    if webhooks.plain_payment {
        app = app.route("/webhooks/payment", web::post().to(payment));
    }
    app
}

/// Serves [`app`] on `listener`, with one app per actix worker sharing one [`AppState`], and
/// the bounds of [`actix_signup::serve`].
pub fn serve(
    listener: TcpListener,
    config: AppConfig,
    webhooks: PaymentWebhooks,
) -> std::io::Result<Server> {
    // With an outbox, a sale or refund is stored there before the provider is answered.
    let webhooks = webhooks.kept_in(config.outbox.as_ref());
    let state = AppState::new(config);
    let server = HttpServer::new(move || app(state.clone(), webhooks.clone()))
        .client_request_timeout(HEAD_TIMEOUT)
        .client_disconnect_timeout(DISCONNECT_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .listen(listener)?
        .run();
    Ok(server)
}

async fn checkout(
    state: web::Data<AppState>,
    click_id: Option<AffitorClickId>,
    request: web::Json<CheckoutRequest>,
) -> HttpResponse {
    let provider = match request.provider() {
        Ok(provider) => provider,
        Err(error) => {
            return HttpResponse::BadRequest().json(json!({ "error": error.to_string() }));
        }
    };
    let Some(user) = state.users.get(&request.user_id) else {
        let error = json!({ "error": "no user has this userId: sign up first" });
        return HttpResponse::NotFound().json(error);
    };
    let session = checkout_session(
        &user,
        click_id.as_deref(),
        request.price_id.as_deref(),
        &state.config.program_id,
        provider,
    );
    HttpResponse::Ok().json(session)
}

/// `app` with the webhook of `P` at `path`, verified by `verifier`; `app` without one.
fn mount<T, P: Provider>(app: App<T>, path: &str, verifier: Option<Verifier<P>>) -> App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    match verifier {
        Some(verifier) => app
            .app_data(web::Data::new(verifier))
            .route(path, web::post().to(webhook::<P>)),
        None => app,
    }
}

/// Every provider's webhook: verified by the extractor, tracked in one line.
async fn webhook<P: Provider>(affitor: AffitorClient, event: WebhookEvent<P>) -> HttpResponse {
    event.track(&affitor).await
}

async fn payment(affitor: AffitorClient, event: web::Json<PaymentEvent>) -> HttpResponse {
    let status = event.into_inner().track(&affitor).await.status();
    // affitor's status (`http` 1) as actix-web's (`http` 0.2): every code converts, and were
    // one not to, 503 has the provider deliver again, where a 2xx would drop the event.
    HttpResponse::new(
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
    )
}
