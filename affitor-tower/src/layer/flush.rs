//! [`FlushLayer`]: for runtimes that freeze the process once the response has left.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use affitor::Client;
use tower_layer::Layer;
use tower_service::Service;

/// A Tower layer for runtimes that freeze or end the process as soon as the response has left:
/// AWS Lambda (`lambda_http` runs a Tower service), Vercel's Rust runtime, Google Cloud Run
/// with CPU only during requests. There an event queued with `send_in_background()` would wait
/// in memory for a process that no longer runs, and be lost. Once the inner service has
/// answered, this layer waits, at most `deadline`, for the client's background events to be
/// delivered, or, by a durable backend, stored ([`Client::flush`]), then lets the response go.
///
/// The wait is for every event the client holds, not only this request's: on these runtimes an
/// instance serves one request at a time, so they are the same. Do not add it to a server that
/// answers many requests at once: each answer would wait for the others' events. A client
/// whose backend is an outbox needs it too: `send_in_background()` writes on a task of its own,
/// and the flush waits for those writes to commit before the process freezes (never for the
/// relay's sends).
///
/// ```
/// use std::time::Duration;
///
/// use affitor_tower::{AffitorLayer, Client, FlushLayer};
/// use tower::ServiceBuilder;
///
/// # fn run(client: Client) {
/// let layers = ServiceBuilder::new()
///     .layer(FlushLayer::new(client, Duration::from_secs(2))) // the handlers' client
///     .layer(AffitorLayer::new());
/// // `lambda_http::run(layers.service(app))`, or `Router::layer(layers)` with axum.
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FlushLayer {
    client: Client,
    deadline: Duration,
}

impl FlushLayer {
    /// Waits at most `deadline` after each response for `client`'s background events (keep it
    /// under the runtime's own time limit; the events not delivered by then are logged).
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// let flush = affitor_tower::FlushLayer::new(client, std::time::Duration::from_secs(2));
    /// # }
    /// ```
    pub fn new(client: Client, deadline: Duration) -> Self {
        Self { client, deadline }
    }
}

impl<S> Layer<S> for FlushLayer {
    type Service = Flush<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Flush {
            inner,
            client: self.client.clone(),
            deadline: self.deadline,
        }
    }
}

/// The service of a [`FlushLayer`]: the inner service, then the wait for the client's events.
///
/// ```
/// # fn run(client: affitor_tower::Client) {
/// use tower::Layer as _;
///
/// let flush = affitor_tower::FlushLayer::new(client, std::time::Duration::from_secs(2));
/// let service: affitor_tower::layer::Flush<_> =
///     flush.layer(tower::service_fn(|_: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(()))
///     }));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Flush<S> {
    inner: S,
    client: Client,
    deadline: Duration,
}

impl<S, Request> Service<Request> for Flush<S>
where
    S: Service<Request>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let answered = self.inner.call(request);
        let (client, deadline) = (self.client.clone(), self.deadline);
        Box::pin(async move {
            let response = answered.await;
            let stats = client.flush(deadline).await;
            if stats.pending > 0 {
                tracing::warn!(
                    pending = stats.pending,
                    deadline = ?deadline,
                    "Affitor events not delivered before the response left: a runtime that \
                     freezes now loses them; raise the FlushLayer's deadline"
                );
            }
            response
        })
    }
}
