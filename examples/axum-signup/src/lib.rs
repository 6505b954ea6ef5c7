//! The signup example for axum: a signup page and `POST /api/signup`, which creates the user and
//! tracks the lead, with the click id the Affitor layer found in the request: in the background,
//! or through the durable outbox when `AFFITOR_OUTBOX` names one.
//!
//! Run it with `cargo run -p axum-signup`: with no `AFFITOR_API_URL` it starts a local stand-in
//! of the Affitor API and logs every event that reaches it.

use std::borrow::Cow;

use affitor_axum::{AffitorClient, AffitorLayer, CaptureClicks, HeldClick, HeldClickKey};
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use example_support::{AppConfig, REQUEST_TIMEOUT, SignupForm, SignupResponse, Users};
use tower_http::timeout::TimeoutLayer;

/// The app: the signup page and `POST /api/signup`, behind the Affitor layer, which records a
/// visit to a partner link (`/?aff=partner`) as a click and sets the click id's cookie. Every
/// request is answered within [`REQUEST_TIMEOUT`] ([`request_timeout`]).
pub fn app(config: AppConfig) -> Router {
    signup_routes()
        .with_state(Users::default())
        .layer(affitor_layer(config))
        .layer(request_timeout())
}

/// The Affitor layer of the examples: the click id found in each request, the client carried
/// to the handlers, and partner links captured, the capture's stats on the Prometheus page. A
/// partner link opened by a visitor who chose only the necessary cookies is held until the
/// page's banner sends it back with their consent.
pub fn affitor_layer(config: AppConfig) -> AffitorLayer<CaptureClicks> {
    let capture = capture_clicks()
        .client_address_from(affitor_axum::connect_info)
        // One process: a random key. A fleet gives every server the same secret
        // (`HeldClickKey::from_secret`), as lambda-signup does.
        .hold_until_consent(HeldClickKey::random());
    affitor_layer_with(config, capture)
}

/// The examples' capture of partner links, before where the visitor's address and the held
/// clicks' key come from, which depend on how the app is run: the visitor's consent read from
/// the page's banner cookie.
pub fn capture_clicks() -> CaptureClicks {
    CaptureClicks::new().consent(example_support::consented)
}

/// The Affitor layer with `capture`: the client carried to the handlers, and the capture's
/// stats on the Prometheus page.
pub fn affitor_layer_with(
    config: AppConfig,
    capture: CaptureClicks,
) -> AffitorLayer<CaptureClicks> {
    example_support::export_capture_stats(&capture);
    AffitorLayer::new()
        .client(config.affitor)
        .capture_clicks(capture)
}

/// The examples' bound on every request, outside every other layer: a request not answered
/// within [`REQUEST_TIMEOUT`] of its head (a body that never comes, a webhook's that stalls)
/// is answered `408 Request Timeout`, and hyper closes its connection.
pub fn request_timeout() -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT)
}

/// The signup routes, for any router whose state holds the [`Users`]. The Prometheus page is
/// not among them: it is served on an address of its own
/// ([`start_metrics`](example_support::start_metrics)).
pub fn signup_routes<S>() -> Router<S>
where
    Users: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    example_support::install_metrics();
    Router::new()
        .route("/", get(page))
        .route("/api/signup", post(signup))
        .route("/api/consent", post(consent))
}

/// The signup page; with the held click of a partner link the visitor opened before consenting.
async fn page(held: Option<Extension<HeldClick>>) -> Html<Cow<'static, str>> {
    Html(example_support::signup_page(
        held.as_ref().map(|Extension(held)| held),
    ))
}

/// Where the page's consent banner sends a held click back: a real site records the visitor's
/// choice here. The Affitor layer records the click the request carries, and sets its cookies.
async fn consent() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn signup(
    State(users): State<Users>,
    affitor: AffitorClient,
    JsonOrForm(form): JsonOrForm<SignupForm>,
) -> Response {
    let user = match users.create(&form, affitor.click_id().cloned()) {
        Ok(user) => user,
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, Json(error.body())).into_response();
        }
    };
    // The click id is filled in from the request; the answer never waits on Affitor's API.
    // With `AFFITOR_OUTBOX`, it waits until the lead is written to the outbox (a few
    // milliseconds; when the store is behind, up to its enqueue timeout: backpressure).
    affitor.lead(&user.id).email(&user.email).enqueue().await;
    Json(SignupResponse { user_id: user.id }).into_response()
}

/// A JSON body, or a form body when the content type says so.
#[derive(Debug)]
pub struct JsonOrForm<T>(pub T);

impl<S, T> FromRequest<S> for JsonOrForm<T>
where
    S: Send + Sync,
    Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    Form<T>: FromRequest<S, Rejection = axum::extract::rejection::FormRejection>,
{
    type Rejection = Response;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            // A media type is read whatever its case (RFC 9110, 8.3.1).
            .is_some_and(|media| {
                media
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if is_form {
            // axum's `Form` reads the media type case-sensitively: it gets it as it spells it.
            let form = HeaderValue::from_static("application/x-www-form-urlencoded");
            request.headers_mut().insert(header::CONTENT_TYPE, form);
            let Form(value) = Form::<T>::from_request(request, state)
                .await
                .map_err(IntoResponse::into_response)?;
            Ok(Self(value))
        } else {
            let Json(value) = Json::<T>::from_request(request, state)
                .await
                .map_err(IntoResponse::into_response)?;
            Ok(Self(value))
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C, or SIGTERM on Unix).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
