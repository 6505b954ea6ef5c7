//! The servers under test: the example apps, and the same apps minus Affitor.

use super::*;

/// A server under test, running on the app runtime (and, for actix-web, its worker threads).
pub(crate) enum Server {
    Axum(JoinHandle<io::Result<()>>),
    Actix(ServerHandle, JoinHandle<io::Result<()>>),
}

impl Server {
    /// Starts `framework`'s signup app on `listener`. Call it inside the app runtime: the
    /// servers, and the Affitor client's delivery worker, run there.
    pub(crate) fn start(
        framework: Framework,
        tracking: Tracking,
        listener: TcpListener,
        config: AppConfig,
    ) -> io::Result<Self> {
        match framework {
            Framework::Axum => {
                let router = match tracking {
                    Tracking::On => axum_signup::app(config),
                    Tracking::Off => axum_baseline(),
                };
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                Ok(Self::Axum(tokio::spawn(
                    axum::serve(listener, router).into_future(),
                )))
            }
            Framework::Actix => {
                let server = match tracking {
                    Tracking::On => actix_signup::serve(listener, config)?,
                    Tracking::Off => actix_baseline(listener)?,
                };
                let handle = server.handle();
                Ok(Self::Actix(handle, tokio::spawn(server)))
            }
        }
    }

    pub(crate) async fn stop(self) {
        match self {
            Self::Axum(task) => {
                task.abort();
                let _ = task.await;
            }
            Self::Actix(handle, task) => {
                handle.stop(false).await;
                let _ = task.await;
            }
        }
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
