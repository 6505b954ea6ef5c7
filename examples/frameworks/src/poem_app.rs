//! Poem 3: `AffitorLayer` through Poem's Tower compatibility (`poem` feature `tower-compat`).
//!
//! ```text
//! Route::new()
//!     .at("/api/signup", post(signup))
//!     .with(HttpLayer::new(AffitorLayer::new()).compat())
//! ```
//!
//! `TowerLayerCompatExt::compat` alone does not take `AffitorLayer`: it calls the layer's service
//! with a `poem::Request` and wraps the endpoint as a service of `poem::Request`, where
//! `AffitorLayer`, like any layer written for the `http` crate, takes an `http::Request` and
//! passes one on. [`HttpLayer`] converts on both sides of it. The handler then reads the
//! `ClickIdLookup` with Poem's own `Data<&ClickIdLookup>`, which reads the request's extensions
//! (and answers 500 when the layer is missing).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use affitor_tower::lookup::ClickIdLookup;
use affitor_tower::{AffitorLayer, ClickId};
use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use poem::listener::TcpAcceptor;
use poem::middleware::TowerLayerCompatExt;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, Request, RequestParts, Route, Server, handler, post};
use tower::{BoxError, Layer, Service};

/// The app: `POST /api/signup` behind `AffitorLayer`, through Poem's Tower compatibility.
///
/// The compatibility spawns the layer's service behind a `tower::buffer::Buffer` when the
/// middleware is applied: build the app within a Tokio runtime, as a server's `main` is.
pub fn app() -> impl Endpoint {
    Route::new()
        .at("/api/signup", post(signup))
        .with(HttpLayer::new(AffitorLayer::new()).compat())
}

/// Serves [`app`] on `listener` until the future is dropped.
///
/// # Errors
///
/// When the listener's address cannot be read, or the server stops on an I/O error.
pub async fn serve(listener: tokio::net::TcpListener) -> io::Result<()> {
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor).run(app()).await
}

/// Answers with the click id the layer found (`-` when none), the lookup's account of where it
/// found it, and the body as the handler received it, one to a line.
#[handler]
async fn signup(Data(lookup): Data<&ClickIdLookup>, body: String) -> String {
    let click_id = lookup.click_id().map_or("-", ClickId::as_str);
    format!("{click_id}\n{lookup}\n{body}")
}

/// The body the wrapped layer sees: Poem's request body, as an [`http_body::Body`].
pub type PoemBody = BoxBody<Bytes, io::Error>;

/// A Tower layer over `http::Request` (such as `AffitorLayer`), made to run inside Poem's Tower
/// compatibility: `endpoint.with(HttpLayer::new(layer).compat())`.
///
/// On the way in, [`FromPoem`] hands the layer an `http::Request` with the `poem::Request`'s
/// method, URI, version, headers, extensions and body ([`PoemBody`]), and sets the rest of the
/// `poem::Request` aside in an extension: the local and remote addresses, the scheme, the
/// original URI, the path parameters, the cookie jar, the connection upgrade. On the way out,
/// [`IntoPoem`] puts that back together with what the layer passed on, so the endpoint finds the
/// layer's extensions (the `ClickIdLookup`) and reads the body the layer replays.
#[derive(Clone, Debug)]
pub struct HttpLayer<L> {
    layer: L,
}

impl<L> HttpLayer<L> {
    /// Wraps `layer`, whose service takes `http::Request`s, for `TowerLayerCompatExt::compat`.
    pub fn new(layer: L) -> Self {
        Self { layer }
    }
}

impl<L, S> Layer<S> for HttpLayer<L>
where
    L: Layer<IntoPoem<S>>,
{
    type Service = FromPoem<L::Service>;

    fn layer(&self, endpoint: S) -> Self::Service {
        FromPoem {
            inner: self.layer.layer(IntoPoem {
                endpoint: Arc::new(Mutex::new(endpoint)),
            }),
        }
    }
}

/// The service of [`HttpLayer`]: turns Poem's request into an `http::Request` for the layer's
/// service.
#[derive(Clone, Debug)]
pub struct FromPoem<S> {
    inner: S,
}

impl<S> Service<Request> for FromPoem<S>
where
    S: Service<http::Request<PoemBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let mut request = http::Request::new(PoemBody::from(body));
        *request.method_mut() = mem::take(&mut parts.method);
        *request.uri_mut() = mem::take(&mut parts.uri);
        *request.version_mut() = parts.version;
        *request.headers_mut() = mem::take(&mut parts.headers);
        *request.extensions_mut() = mem::take(&mut parts.extensions);
        request.extensions_mut().insert(SetAside::new(parts));
        self.inner.call(request)
    }
}

/// The service the wrapped layer wraps: turns its `http::Request` back into Poem's request for
/// the endpoint.
///
/// Poem's compatibility hands the layer the endpoint as a service that is always ready but not
/// `Clone`, and `AffitorLayer`'s service clones the service it wraps (it takes the one polled
/// ready into its future while it reads a body). So the endpoint's service is shared between
/// the clones behind a mutex, held for the synchronous part of a call only: never across an
/// `.await`.
pub struct IntoPoem<S> {
    endpoint: Arc<Mutex<S>>,
}

impl<S> Clone for IntoPoem<S> {
    fn clone(&self) -> Self {
        Self {
            endpoint: Arc::clone(&self.endpoint),
        }
    }
}

impl<S> fmt::Debug for IntoPoem<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoPoem").finish_non_exhaustive()
    }
}

impl<S, B> Service<http::Request<B>> for IntoPoem<S>
where
    S: Service<Request>,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .poll_ready(cx)
            .map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (http, body) = request.into_parts();
        let mut extensions = http.extensions;
        let Some(mut parts) = extensions.remove::<SetAside>().and_then(SetAside::take) else {
            return Box::pin(std::future::ready(Err(PartsMissing.into())));
        };
        parts.method = http.method;
        parts.uri = http.uri;
        parts.version = http.version;
        parts.headers = http.headers;
        parts.extensions = extensions;
        let body = poem::Body::from(BoxBody::new(body.map_err(io::Error::other)));
        let request = Request::from_parts(parts, body);

        let called = self
            .endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .call(request);
        Box::pin(async move { called.await.map_err(Into::into) })
    }
}

/// What [`FromPoem`] sets aside of a `poem::Request` for [`IntoPoem`], in the request's
/// extensions (which take only `Clone` values: the parts are taken out once).
#[derive(Clone)]
struct SetAside(Arc<Mutex<Option<RequestParts>>>);

impl SetAside {
    fn new(parts: RequestParts) -> Self {
        Self(Arc::new(Mutex::new(Some(parts))))
    }

    fn take(self) -> Option<RequestParts> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A request reached [`IntoPoem`] without the parts [`FromPoem`] set aside: the layer between
/// them replaced the request's extensions. Poem answers it with a 500 whose body says so.
#[derive(Debug)]
pub struct PartsMissing;

impl fmt::Display for PartsMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the request reached Poem's endpoint without the parts HttpLayer set aside in its \
             extensions: the layer inside HttpLayer replaced them",
        )
    }
}

impl Error for PartsMissing {}
