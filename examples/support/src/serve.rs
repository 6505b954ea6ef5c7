//! The axum apps' server loop: `axum::serve` with a bound on a request's head.
//!
//! `axum::serve` keeps no timer: a client that sends its headers a byte at a time holds its
//! connection for as long as it likes. Here each connection is served by hyper's HTTP/1 with
//! [`HEAD_TIMEOUT`](crate::HEAD_TIMEOUT) on its head (answered `408` and closed past it), the
//! peer's address given to the app as axum's `ConnectInfo`, and a graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::HEAD_TIMEOUT;

/// Serves `app` on `listener` until `shutdown` resolves, then lets the connections under way
/// finish their requests.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// example_support::serve_axum(listener, app, std::future::pending()).await
/// # }
/// ```
pub async fn serve_axum(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection that failed before it was accepted (reset, out of files):
                // the next one may do.
                Err(error) => {
                    tracing::debug!(%error, "a connection could not be accepted");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_TIMEOUT)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "a connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
