//! The signup example for actix-web: a signup page and `POST /api/signup`, which creates the user
//! and tracks the lead, with the click id the Affitor middleware found in the request: in the
//! background, or through the durable outbox when `AFFITOR_OUTBOX` names one.
//!
//! Run it with `cargo run -p actix-signup`: with no `AFFITOR_API_URL` it starts a local stand-in
//! of the Affitor API and logs every event that reaches it.
//!
//! In a test, start it on a port of your own inside any tokio runtime (`#[tokio::test]` or
//! `#[actix_web::test]`):
//!
//! ```no_run
//! # async fn run(config: example_support::AppConfig) -> std::io::Result<()> {
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("http://{}", listener.local_addr()?);
//! let server = actix_signup::serve(listener, config)?;
//! let handle = server.handle();
//! tokio::spawn(server);
//! // ... requests to `url` ...
//! handle.stop(true).await;
//! # Ok(())
//! # }
//! ```

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, Either, HttpResponse, HttpServer, web};
use affitor_actix::{Affitor, AffitorClient, CaptureClicks, HeldClick, HeldClickKey};
use example_support::{
    AppConfig, DISCONNECT_TIMEOUT, HEAD_TIMEOUT, KEEP_ALIVE, REQUEST_TIMEOUT, SignupForm,
    SignupResponse, Users,
};

/// The largest request body the app reads: 2 MiB, as axum's default, so that both frameworks
/// turn down the same bodies.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How long a graceful shutdown waits for the requests in progress.
const SHUTDOWN_TIMEOUT_SECS: u64 = 5;

/// What the handlers share, across every actix worker: the configuration (its client writes to
/// the outbox, when there is one), the users, and the Affitor middleware.
///
/// Make it once, outside `HttpServer::new`, and clone it into each worker's [`app`]: actix
/// builds one app per worker thread, users created by one must be seen by all, and the click
/// limit of partner links must be one for the app, not one per worker (clones of the middleware
/// share its limit).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The Affitor client, the program id and the outbox.
    pub config: AppConfig,
    /// The users signed up so far.
    pub users: Users,
    /// The Affitor middleware: the click id found in each request, the client carried to the
    /// handlers, and partner links captured, under one click limit for every worker.
    pub affitor: Affitor,
}

impl AppState {
    /// The state of a fresh app, with no users yet.
    pub fn new(config: AppConfig) -> Self {
        let capture = CaptureClicks::new()
            .consent(example_support::consented)
            // One process: a random key. A fleet gives every server the same secret
            // (`HeldClickKey::from_secret`).
            .hold_until_consent(HeldClickKey::random());
        // Clones share the stats: the Prometheus page shows the middleware's.
        example_support::export_capture_stats(&capture);
        let affitor = Affitor::new()
            .client(config.affitor.clone())
            .capture_clicks(capture);
        Self {
            config,
            users: Users::default(),
            affitor,
        }
    }
}

/// The app: the signup page and `POST /api/signup`, behind the Affitor middleware, which records
/// a visit to a partner link (`/?aff=partner`) as a click and sets the click id's cookie. Every
/// request is answered within [`REQUEST_TIMEOUT`] of its head: past it, `408 Request Timeout`
/// (a body that never comes, a webhook's that stalls), and actix-http closes the connection.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(state.affitor.clone())
        // Wrapped last, so outermost: the bound counts the Affitor middleware's time too.
        .wrap_fn(|request, service| {
            let answer = service.call(request);
            async move {
                match actix_web::rt::time::timeout(REQUEST_TIMEOUT, answer).await {
                    Ok(answer) => answer,
                    Err(_) => Err(actix_web::error::ErrorRequestTimeout(
                        "the request was not answered in time: send it whole",
                    )),
                }
            }
        })
        .configure(body_limits)
        .app_data(web::Data::new(state))
        .configure(signup_routes)
}

/// The signup routes: `GET /`, `POST /api/signup` and `POST /api/consent` (the Prometheus page is served on an
/// address of its own: [`start_metrics`](example_support::start_metrics)). They need an [`AppState`] in the app data and the [`Affitor`] middleware with the client.
fn signup_routes(config: &mut web::ServiceConfig) {
    example_support::install_metrics();
    config
        .route("/", web::get().to(page))
        .route("/api/signup", web::post().to(signup))
        .route("/api/consent", web::post().to(consent));
}

/// Reads JSON and form bodies up to [`BODY_LIMIT`].
pub fn body_limits(config: &mut web::ServiceConfig) {
    config
        .app_data(web::PayloadConfig::new(BODY_LIMIT))
        .app_data(web::JsonConfig::default().limit(BODY_LIMIT))
        .app_data(web::FormConfig::default().limit(BODY_LIMIT));
}

/// Serves [`app`] on `listener`, with one app per actix worker sharing one [`AppState`]; a
/// request's head must come within [`HEAD_TIMEOUT`], and an idle connection is closed after
/// [`KEEP_ALIVE`].
///
/// The server runs once polled: `.await` it (it ends after a graceful shutdown on `SIGTERM`,
/// or a quick one on Ctrl-C), or spawn it and stop it with its
/// [`handle`](actix_web::dev::Server::handle). Call it inside a tokio runtime: actix's own
/// (`#[actix_web::main]`, `#[actix_web::test]`) or a plain one (`#[tokio::main]`,
/// `#[tokio::test]`).
pub fn serve(listener: TcpListener, config: AppConfig) -> std::io::Result<Server> {
    let state = AppState::new(config);
    let server = HttpServer::new(move || app(state.clone()))
        .client_request_timeout(HEAD_TIMEOUT)
        .client_disconnect_timeout(DISCONNECT_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .listen(listener)?
        .run();
    Ok(server)
}

/// The signup page; with the held click of a partner link the visitor opened before consenting.
async fn page(held: Option<web::ReqData<HeldClick>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(example_support::signup_page(held.as_deref()))
}

/// Where the page's consent banner sends a held click back: a real site records the visitor's
/// choice here. The Affitor middleware records the click the request carries, and sets its
/// cookies.
async fn consent() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

async fn signup(
    state: web::Data<AppState>,
    affitor: AffitorClient,
    form: Either<web::Json<SignupForm>, web::Form<SignupForm>>,
) -> HttpResponse {
    let form = match form {
        Either::Left(web::Json(form)) | Either::Right(web::Form(form)) => form,
    };
    let user = match state.users.create(&form, affitor.click_id().cloned()) {
        Ok(user) => user,
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return HttpResponse::build(status).json(error.body());
        }
    };
    // The click id is filled in from the request; the answer never waits on Affitor's API.
    // With `AFFITOR_OUTBOX`, it waits until the lead is written to the outbox (a few
    // milliseconds; when the store is behind, up to its enqueue timeout: backpressure).
    affitor.lead(&user.id).email(&user.email).enqueue().await;
    HttpResponse::Ok().json(SignupResponse { user_id: user.id })
}
