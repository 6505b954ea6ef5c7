//! The Prometheus page: the outbox's metrics (`affitor_outbox_*`) and its client's
//! (`affitor_events_*`, `affitor_request_duration_seconds`), at `GET /metrics` on an address of
//! its own, `METRICS_ADDR`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How often the recorder's upkeep runs: it drains the histograms' buckets, which otherwise
/// grow with every sample until the page is rendered.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How long a connection may take to send its request's head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The media type of Prometheus's text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long the connections under way may take to end once the relay stops: a scrape in
/// progress gets its page, then any connection left is dropped.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// The page being served. [`stop`](Self::stop) (or dropping it) ends its accept loop, its
/// connections and the recorder's upkeep: none of its tasks outlives the relay.
#[derive(Debug)]
pub(crate) struct MetricsPage {
    listening: SocketAddr,
    /// Dropped to stop every task: each one waits on a receiver of it.
    stop: watch::Sender<()>,
    tasks: JoinSet<()>,
}

/// Listens on `addr`, installs the process's metrics recorder, and serves the page from tasks
/// of the current runtime.
pub(crate) async fn start(addr: SocketAddr) -> Result<MetricsPage, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| error.to_string())?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| error.to_string())?;
    MetricsPage::serve(listener, handle)
}

impl MetricsPage {
    /// Serves `handle`'s page on `listener`, and runs its upkeep.
    fn serve(listener: TcpListener, handle: PrometheusHandle) -> Result<Self, String> {
        let listening = listener.local_addr().map_err(|error| error.to_string())?;
        let (stop, stopped) = watch::channel(());
        let mut tasks = JoinSet::new();
        tasks.spawn(upkeep(handle.clone(), stopped.clone()));
        tasks.spawn(accept(listener, handle, stopped));
        Ok(Self {
            listening,
            stop,
            tasks,
        })
    }

    /// The address it listens on (with port 0, the one the system chose).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.listening
    }

    /// Stops accepting, lets the connections under way end within [`CLOSING_GRACE`], and
    /// returns once every task of the page has ended.
    pub(crate) async fn stop(self) {
        let Self {
            stop, mut tasks, ..
        } = self;
        drop(stop);
        while tasks.join_next().await.is_some() {}
    }
}

/// Resolves once the page is told to stop: its sender dropped.
async fn stopping(mut stopped: watch::Receiver<()>) {
    while stopped.changed().await.is_ok() {}
}

/// Runs the recorder's upkeep every [`UPKEEP_INTERVAL`] until the page stops.
async fn upkeep(handle: PrometheusHandle, stopped: watch::Receiver<()>) {
    let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
    let stopping = stopping(stopped);
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            _ = interval.tick() => handle.run_upkeep(),
            () = &mut stopping => return,
        }
    }
}

/// Serves each connection `listener` accepts, HTTP/1, in a task of its own, until the page
/// stops; then waits for them within [`CLOSING_GRACE`] and drops the rest.
async fn accept(listener: TcpListener, handle: PrometheusHandle, stopped: watch::Receiver<()>) {
    let mut connections = JoinSet::new();
    let stopping_now = stopping(stopped.clone());
    tokio::pin!(stopping_now);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stopping_now => break,
        };
        // Reap the ended ones, so that the set holds only live connections.
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, _)) => {
                connections.spawn(connection(stream, handle.clone(), stopped.clone()));
            }
            Err(error) => {
                // Out of file descriptors, most often: some close meanwhile.
                tracing::warn!(%error, "the Prometheus page cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    // Past the grace, dropping the set aborts the connections left.
    let _ = tokio::time::timeout(CLOSING_GRACE, drained).await;
}

/// Serves one connection until its client closes it or the page stops, when it ends once
/// the response under way is sent.
async fn connection(stream: TcpStream, handle: PrometheusHandle, stopped: watch::Receiver<()>) {
    let service = hyper::service::service_fn(move |request| {
        let response = respond(&handle, &request);
        async move { Ok::<_, Infallible>(response) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    let result = tokio::select! {
        result = served.as_mut() => result,
        () = stopping(stopped) => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "a connection to the Prometheus page failed");
    }
}

/// The page at `GET /metrics`; a 404 or a 405 anywhere else.
fn respond(handle: &PrometheusHandle, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return text(
            StatusCode::NOT_FOUND,
            "not found: the Prometheus page is at /metrics\n".to_owned(),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "the Prometheus page answers GET\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = text(StatusCode::OK, handle.render());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_TEXT),
    );
    response
}

/// A plain-text response.
fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests;
