//! The signup app under test, started in this process as the load tool starts it.

use std::future::IntoFuture;
use std::io;
use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use example_support::AppConfig;
use tokio::task::JoinHandle;

use crate::options::Framework;

/// A signup app serving on the app runtime (and, for actix-web, its worker threads).
pub(crate) enum App {
    Axum(JoinHandle<io::Result<()>>),
    Actix(ServerHandle, JoinHandle<io::Result<()>>),
}

impl App {
    /// Starts `framework`'s signup app on `listener`; call it inside the app runtime.
    pub(crate) fn start(
        framework: Framework,
        listener: TcpListener,
        config: AppConfig,
    ) -> io::Result<Self> {
        match framework {
            Framework::Axum => {
                let router = axum_signup::app(config);
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                Ok(Self::Axum(tokio::spawn(
                    axum::serve(
                        listener,
                        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                    )
                    .into_future(),
                )))
            }
            Framework::Actix => {
                let server = actix_signup::serve(listener, config)?;
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
