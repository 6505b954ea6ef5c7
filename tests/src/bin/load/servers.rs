//! The servers under test: the example apps (with the in-memory queue or the outbox), the same
//! apps minus Affitor, and the hand-rolled integration a user would write instead.

use super::*;

/// Starts the server of `variant` on `listener`: `framework`'s signup example, its baseline
/// without Affitor, or the hand-rolled integration (in axum whatever the framework). Call it
/// inside the app runtime: the servers, and the Affitor client's delivery worker, run there.
pub(crate) fn start_server(
    framework: Framework,
    variant: Variant,
    listener: TcpListener,
    config: AppConfig,
    hand: HandApi,
) -> io::Result<Server> {
    match (framework, variant) {
        (_, Variant::Hand) => Server::axum(hand_rolled(hand), listener),
        (Framework::Axum, Variant::Off | Variant::OffAttacked) => {
            Server::axum(axum_baseline(), listener)
        }
        (Framework::Actix, Variant::Off | Variant::OffAttacked) => {
            Ok(Server::actix(actix_baseline(listener)?))
        }
        (
            _,
            Variant::On
            | Variant::Attacked
            | Variant::Outbox
            | Variant::OutboxStore
            | Variant::OutboxJournal,
        ) => Server::signup(framework, listener, config),
    }
}

/// The axum baseline: `axum_signup::app` minus Affitor (no layer, no lead).
pub(crate) fn axum_baseline() -> axum::Router {
    axum::Router::new()
        .route("/api/signup", post(axum_signup_without_affitor))
        .with_state(Users::default())
}

pub(crate) async fn axum_signup_without_affitor(
    State(users): State<Users>,
    JsonOrForm(form): JsonOrForm<SignupForm>,
) -> Response {
    match users.create(&form, None) {
        Ok(user) => Json(SignupResponse { user_id: user.id }).into_response(),
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(error.body())).into_response()
        }
    }
}

/// The actix-web baseline: `actix_signup::serve` minus Affitor (no middleware, no lead), with
/// the same body limits, worker count and shutdown timeout.
pub(crate) fn actix_baseline(listener: TcpListener) -> io::Result<actix_web::dev::Server> {
    let users = Users::default();
    let server = HttpServer::new(move || {
        App::new()
            .configure(actix_signup::body_limits)
            .app_data(web::Data::new(users.clone()))
            .route("/api/signup", web::post().to(actix_signup_without_affitor))
    })
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}

pub(crate) async fn actix_signup_without_affitor(
    users: web::Data<Users>,
    form: Either<web::Json<SignupForm>, web::Form<SignupForm>>,
) -> HttpResponse {
    let form = match form {
        Either::Left(web::Json(form)) | Either::Right(web::Form(form)) => form,
    };
    match users.create(&form, None) {
        Ok(user) => HttpResponse::Ok().json(SignupResponse { user_id: user.id }),
        Err(error) => {
            let status = actix_web::http::StatusCode::from_u16(error.status())
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
            HttpResponse::build(status).json(error.body())
        }
    }
}

/// Where the hand-rolled app posts its leads, and what became of them.
#[derive(Clone, Debug)]
pub(crate) struct HandApi {
    pub(crate) lead_url: String,
    pub(crate) api_key: String,
    pub(crate) http: reqwest::Client,
    pub(crate) delivered: Arc<AtomicU64>,
    pub(crate) failed: Arc<AtomicU64>,
}

impl HandApi {
    pub(crate) fn new(mock: &MockServer) -> Result<Self, BoxError> {
        Ok(Self {
            lead_url: format!("{}/api/v1/track/lead", mock.url()),
            api_key: mock.api_key().to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            delivered: Arc::default(),
            failed: Arc::default(),
        })
    }
}

/// The body the hand-rolled app reads: the signup and the click id the page posts with it.
#[derive(serde::Deserialize)]
struct HandSignup {
    email: String,
    password: String,
    #[serde(rename = "affitorClickId")]
    click_id: Option<String>,
}

/// What a user would write instead of this library: the same signup, the click id read from
/// the JSON body, and one spawned task per lead posting it with reqwest, unbounded, with no
/// retry.
pub(crate) fn hand_rolled(api: HandApi) -> axum::Router {
    axum::Router::new()
        .route("/api/signup", post(hand_rolled_signup))
        .with_state((Users::default(), api))
}

async fn hand_rolled_signup(
    State((users, api)): State<(Users, HandApi)>,
    Json(body): Json<HandSignup>,
) -> Response {
    let form = SignupForm {
        email: body.email,
        password: body.password,
    };
    let user = match users.create(&form, None) {
        Ok(user) => user,
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, Json(error.body())).into_response();
        }
    };
    let lead = serde_json::json!({
        "customer_key": user.id,
        "email": user.email,
        "click_id": body.click_id,
    });
    tokio::spawn(async move {
        let sent = api
            .http
            .post(&api.lead_url)
            .bearer_auth(&api.api_key)
            .json(&lead)
            .send()
            .await;
        let counter = match sent {
            Ok(answer) if answer.status().is_success() => &api.delivered,
            _ => &api.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    });
    Json(SignupResponse { user_id: user.id }).into_response()
}
