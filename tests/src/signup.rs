//! The signup example started in a tool's own process (the load and faults tools): which
//! framework's, and the server that runs it until it is stopped.

use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use example_support::AppConfig;
use tokio::task::JoinHandle;

/// The framework of the signup example: `axum-signup` or `actix-signup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    /// `axum_signup::app`.
    Axum,
    /// `actix_signup::serve`.
    Actix,
}

impl Framework {
    /// The framework a command line names, `axum` or `actix`.
    ///
    /// ```
    /// use affitor_scenarios::signup::Framework;
    ///
    /// assert_eq!(Framework::parse("actix"), Some(Framework::Actix));
    /// assert_eq!(Framework::Axum.to_string(), "axum-signup");
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "axum" => Some(Self::Axum),
            "actix" => Some(Self::Actix),
            _ => None,
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Axum => "axum-signup",
            Self::Actix => "actix-signup",
        })
    }
}

/// A server running on the Tokio runtime it was started in (and, for actix-web, its worker
/// threads), until [`stop`](Self::stop).
///
/// ```no_run
/// # fn run(config: example_support::AppConfig) -> std::io::Result<()> {
/// use affitor_scenarios::signup::{Framework, Server};
///
/// let runtime = tokio::runtime::Runtime::new()?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let server = {
///     let _app = runtime.enter();
///     Server::signup(Framework::Axum, listener, config)?
/// };
/// // ... requests to the listener's address, then:
/// runtime.block_on(server.stop());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Server(Running);

#[derive(Debug)]
enum Running {
    Axum(JoinHandle<io::Result<()>>),
    Actix(ServerHandle, JoinHandle<io::Result<()>>),
}

impl Server {
    /// Starts `framework`'s signup example on `listener`, with `config`. Call it inside the
    /// runtime the app is to run on.
    pub fn signup(
        framework: Framework,
        listener: TcpListener,
        config: AppConfig,
    ) -> io::Result<Self> {
        match framework {
            Framework::Axum => Self::axum(axum_signup::app(config), listener),
            Framework::Actix => Ok(Self::actix(actix_signup::serve(listener, config)?)),
        }
    }

    /// Serves `router` on `listener`, each request given its client's address (what capture
    /// reads). Call it inside the runtime the app is to run on.
    pub fn axum(router: axum::Router, listener: TcpListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let serving = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        );
        Ok(Self(Running::Axum(tokio::spawn(serving.into_future()))))
    }

    /// Runs the actix-web `server`. Call it inside the runtime the app is to run on.
    pub fn actix(server: actix_web::dev::Server) -> Self {
        let handle = server.handle();
        Self(Running::Actix(handle, tokio::spawn(server)))
    }

    /// Stops the server: axum's task aborted, actix-web's workers stopped without waiting for
    /// their requests.
    pub async fn stop(self) {
        match self.0 {
            Running::Axum(task) => {
                task.abort();
                let _ = task.await;
            }
            Running::Actix(handle, task) => {
                handle.stop(false).await;
                let _ = task.await;
            }
        }
    }
}
