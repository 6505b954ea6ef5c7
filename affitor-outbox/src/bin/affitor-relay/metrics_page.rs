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
use tokio::net::TcpListener;

/// How often the recorder's upkeep runs: it drains the histograms' buckets, which otherwise
/// grow with every sample until the page is rendered.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How long a connection may take to send its request's head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The media type of Prometheus's text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Listens on `addr`, installs the process's metrics recorder, and serves the page from tasks
/// of the current runtime. Returns the address it listens on (with port 0, the one the system
/// chose).
pub(crate) async fn start(addr: SocketAddr) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| error.to_string())?;
    let listening = listener.local_addr().map_err(|error| error.to_string())?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| error.to_string())?;
    tokio::spawn(upkeep(handle.clone()));
    tokio::spawn(serve(listener, handle));
    Ok(listening)
}

/// Runs the recorder's upkeep every [`UPKEEP_INTERVAL`].
async fn upkeep(handle: PrometheusHandle) {
    let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        interval.tick().await;
        handle.run_upkeep();
    }
}

/// Serves each connection `listener` accepts, HTTP/1, in a task of its own.
async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, most often: some close meanwhile.
                tracing::warn!(%error, "the Prometheus page cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&handle, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "a connection to the Prometheus page failed");
            }
        });
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
