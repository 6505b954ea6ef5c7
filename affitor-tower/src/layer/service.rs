//! The service that looks for the click id in each request.

use std::task::{Context, Poll};

use http::Request;
use http_body::Body;
use tower_service::Service;

use super::{AffitorBody, AffitorLayer, ResponseFuture};
use crate::adapter::{self, HeaderLookup};
use crate::{
    ClickId,
    lookup::{ClickIdLookup, ClickIdSource},
};

/// The service [`AffitorLayer`] wraps around yours.
///
/// Each request reaches the inner service with a [`ClickIdLookup`] in its extensions, which
/// holds the [`ClickId`] when one was found, and with its body as an [`AffitorBody`] that gives
/// the same bytes as the original.
///
/// ```
/// use affitor_tower::{AffitorLayer, ClickId, layer::AffitorBody, lookup::ClickIdLookup};
/// use http_body_util::Empty;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let handler = tower::service_fn(|request: http::Request<AffitorBody<Empty<bytes::Bytes>>>| async move {
///     let lookup = request.extensions().get::<ClickIdLookup>().cloned();
///     Ok::<_, std::convert::Infallible>(lookup)
/// });
/// let service = ServiceBuilder::new().layer(AffitorLayer::new()).service(handler);
///
/// let request = http::Request::get("/").header("x-affitor-click-id", "abc").body(Empty::new())?;
/// let lookup = service.oneshot(request).await?.expect("the layer always inserts a lookup");
/// assert_eq!(lookup.click_id().map(ClickId::as_str), Some("abc"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AffitorService<S> {
    inner: S,
    layer: AffitorLayer,
}

impl<S> AffitorService<S> {
    pub(crate) fn new(inner: S, layer: AffitorLayer) -> Self {
        Self { inner, layer }
    }

    /// The inner service.
    ///
    /// ```
    /// use tower::Layer;
    ///
    /// let service = affitor_tower::AffitorLayer::new().layer(42);
    /// assert_eq!(*service.get_ref(), 42);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use tower::Layer;
    ///
    /// let mut service = affitor_tower::AffitorLayer::new().layer(42);
    /// *service.get_mut() += 1;
    /// assert_eq!(*service.get_ref(), 43);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// use tower::Layer;
    ///
    /// let service = affitor_tower::AffitorLayer::new().layer(42);
    /// assert_eq!(service.into_inner(), 42);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for AffitorService<S>
where
    S: Service<Request<AffitorBody<B>>> + Clone,
    B: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        self.layer.carry(request.extensions_mut());
        let step = match request.extensions().get::<ClickId>() {
            Some(click_id) => HeaderLookup::Done(ClickIdLookup::found(
                click_id.clone(),
                ClickIdSource::Extension,
                Vec::new(),
            )),
            None => {
                let headers = request.headers();
                let search = self.layer.click_id_search();
                adapter::lookup_headers(search, request.method().as_str(), |wanted| {
                    self.layer.header_values(headers, wanted)
                })
            }
        };

        let lookup = match step {
            HeaderLookup::Done(lookup) => lookup,
            HeaderLookup::ReadBody(lookup) => {
                let body = request.body();
                let hint = body.size_hint();
                if hint.lower() > lookup.limit() as u64 {
                    lookup.finish_without_body()
                } else if body.is_end_stream() || hint.upper() == Some(0) {
                    lookup.finish(&[])
                } else {
                    // The call waits for the body: take the service that was polled ready and
                    // leave a fresh clone in its place, as `poll_ready` requires.
                    let ready = self.inner.clone();
                    let ready = std::mem::replace(&mut self.inner, ready);
                    // A later reader of the body (a webhook extractor) counts from here.
                    request
                        .extensions_mut()
                        .insert(adapter::BodyWaitStarted::now());
                    let (parts, body) = request.into_parts();
                    return ResponseFuture::reading(ready, parts, body, lookup);
                }
            }
        };

        request.extensions_mut().insert(lookup);
        ResponseFuture::calling(self.inner.call(request.map(AffitorBody::passthrough)))
    }
}
