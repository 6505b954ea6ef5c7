//! Partner links captured by the layer: the click call beside the handler, the cookies on the
//! response.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{AffitorLayer, AffitorService};
use crate::adapter::{ClickCookies, Decision, KeepPrivate, PendingClick, Skip, Visit};
use crate::{Client, capture::CaptureClicks};

impl<C> AffitorLayer<C> {
    /// Records a visit to a partner link (`?aff=CODE`) as a click, and sets the browser
    /// tracker's cookies on the response: the click id reaches the page, and later the signup,
    /// with no JavaScript. Needs the [`client`](Self::client) that sends the click.
    ///
    /// The click call runs beside the handler and never holds the page past the
    /// [deadline](CaptureClicks::deadline). See [`CaptureClicks`] for which requests are
    /// recorded and the cookies' attributes.
    ///
    /// ```
    /// use affitor_tower::{AffitorLayer, Client, capture::CaptureClicks};
    /// use axum::{Router, response::Html, routing::get};
    ///
    /// # fn main() -> Result<(), affitor_tower::Error> {
    /// let client = Client::builder().api_key("aff_live_key").build()?;
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { Html("<h1>Welcome</h1>") }))
    ///     .layer(AffitorLayer::new().client(client).capture_clicks(CaptureClicks::new()));
    /// # drop(app);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn capture_clicks(self, capture: CaptureClicks) -> AffitorLayer<CaptureClicks> {
        AffitorLayer {
            config: self.config,
            capture,
        }
    }
}

impl<S> Layer<S> for AffitorLayer<CaptureClicks> {
    type Service = CaptureService<AffitorService<S>>;

    fn layer(&self, inner: S) -> Self::Service {
        let client = self.config.client.clone();
        if client.is_none() {
            tracing::warn!(
                "`AffitorLayer::capture_clicks` has no client to send the clicks with: \
                 no partner link is recorded; call `AffitorLayer::client`"
            );
        }
        let lookup = AffitorLayer {
            config: self.config.clone(),
            capture: (),
        };
        CaptureService {
            inner: AffitorService::new(inner, lookup),
            capture: Arc::new((self.capture.clone(), client)),
        }
    }
}

/// The service of an [`AffitorLayer`] with [`capture_clicks`](AffitorLayer::capture_clicks):
/// it records a partner link's visit as a click beside the inner service, and sets the
/// tracker's cookies on its response.
///
/// ```
/// use affitor_tower::{AffitorLayer, Client, capture::CaptureClicks};
/// use tower::Layer;
///
/// # fn main() -> Result<(), affitor_tower::Error> {
/// let client = Client::builder().api_key("aff_live_key").build()?;
/// let layer = AffitorLayer::new().client(client).capture_clicks(CaptureClicks::new());
/// let service = layer.layer(tower::service_fn(|_: http::Request<affitor_tower::layer::AffitorBody<String>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
/// let _lookup_service = service.get_ref();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CaptureService<S> {
    inner: S,
    /// The options and the client, shared: the service is cloned for every request.
    capture: Arc<(CaptureClicks, Option<Client>)>,
}

impl<S> CaptureService<S> {
    /// The inner service.
    ///
    /// ```
    /// # use affitor_tower::{AffitorLayer, capture::CaptureClicks};
    /// # use tower::Layer;
    /// let service = AffitorLayer::new().capture_clicks(CaptureClicks::new()).layer(1);
    /// assert_eq!(*service.get_ref().get_ref(), 1);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use affitor_tower::{AffitorLayer, capture::CaptureClicks};
    /// # use tower::Layer;
    /// let mut service = AffitorLayer::new().capture_clicks(CaptureClicks::new()).layer(1);
    /// *service.get_mut().get_mut() += 1;
    /// assert_eq!(service.into_inner().into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use affitor_tower::{AffitorLayer, capture::CaptureClicks};
    /// # use tower::Layer;
    /// let service = AffitorLayer::new().capture_clicks(CaptureClicks::new()).layer(1);
    /// assert_eq!(service.into_inner().into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Starts the click call when `request` is a partner link to record, or carries a held
    /// click back; `Some(None)` for a partner link that is not recorded (its response is kept
    /// out of shared caches; a held visit's [`HeldClick`](crate::adapter::HeldClick) goes into
    /// the request's extensions), `None` for any other request.
    fn start<B>(&self, request: &mut Request<B>) -> Option<Option<PendingClick>> {
        let (capture, client) = &*self.capture;
        let uri = request.uri();
        // A partner link has a query: every other request costs this look and no more, unless
        // held clicks may come back.
        if uri.query().is_none() && !capture.holds_clicks() {
            return None;
        }
        let client = client.as_ref()?;
        let visit = Visit::new(
            request.method().as_str(),
            uri.path(),
            uri.query(),
            request.headers(),
        )
        .https(uri.scheme() == Some(&http::uri::Scheme::HTTPS))
        .authority(uri.authority().map(http::uri::Authority::as_str))
        .client_address(capture.address_in(request.extensions()));
        match capture.decide(&visit) {
            Decision::Capture(click) => Some(Some(capture.record(click, client))),
            Decision::Hold(held) => {
                tracing::debug!("partner link held until the visitor consents");
                request.extensions_mut().insert(held);
                Some(None)
            }
            Decision::Skip(Skip::NoPartnerLink | Skip::InvalidPartnerCode) => None,
            Decision::Skip(reason) => {
                tracing::debug!(%reason, "partner link not recorded as a click");
                Some(None)
            }
        }
    }
}

impl<S, B, ResBody> Service<Request<B>> for CaptureService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CaptureFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let capture = self.start(&mut request).map(|pending| {
            Box::new(Capturing {
                pending,
                cookies: None,
                response: None,
            })
        });
        CaptureFuture {
            inner: self.inner.call(request),
            capture,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for CaptureService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (capture, client) = &*self.capture;
        f.debug_struct("CaptureService")
            .field("inner", &self.inner)
            .field("capture", capture)
            .field("client", client)
            .finish()
    }
}

pin_project! {
    /// The response future of [`CaptureService`]: the inner service's response, with the
    /// tracker's cookies when the click call recorded the click before its deadline.
    ///
    /// ```
    /// use affitor_tower::layer::CaptureFuture;
    ///
    /// type Future = CaptureFuture<std::future::Ready<Result<http::Response<String>, ()>>, String>;
    /// # let _: Option<Future> = None;
    /// ```
    pub struct CaptureFuture<F, ResBody> {
        #[pin]
        inner: F,
        // Boxed: most requests are no partner link, and their future stays one pointer larger.
        capture: Option<Box<Capturing<ResBody>>>,
    }
}

/// A click call running beside the handler.
struct Capturing<ResBody> {
    /// The call, until it ends; then the cookies it gave.
    pending: Option<PendingClick>,
    cookies: Option<ClickCookies>,
    /// The handler's response, while the call still runs.
    response: Option<Response<ResBody>>,
}

impl<F, ResBody, E> Future for CaptureFuture<F, ResBody>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(capturing) = this.capture else {
            return this.inner.poll(cx);
        };
        // The click call goes on while the handler runs; it ends by its deadline.
        if let Some(pending) = &mut capturing.pending {
            if let Poll::Ready(cookies) = Pin::new(pending).poll(cx) {
                capturing.pending = None;
                capturing.cookies = cookies;
            }
        }
        if capturing.response.is_none() {
            capturing.response = Some(ready!(this.inner.poll(cx))?);
        }
        if capturing.pending.is_some() {
            return Poll::Pending;
        }
        let Some(mut response) = capturing.response.take() else {
            unreachable!("`CaptureFuture` polled after it completed")
        };
        match capturing.cookies.take() {
            Some(cookies) => set_cookies(&mut response, &cookies),
            None => keep_private(&mut response),
        }
        Poll::Ready(Ok(response))
    }
}

impl<F, ResBody> fmt::Debug for CaptureFuture<F, ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let capture = self.capture.as_ref().map(|capturing| {
            if capturing.pending.is_some() {
                "the click call is running"
            } else {
                "the click call has ended"
            }
        });
        f.debug_struct("CaptureFuture")
            .field("capture", &capture)
            .finish_non_exhaustive()
    }
}

/// Keeps the response to a partner link that set no click id out of shared caches (see
/// [`KeepPrivate`]).
fn keep_private<B>(response: &mut Response<B>) {
    let keep = KeepPrivate::for_response(response.headers());
    let headers = response.headers_mut();
    if let Some(cache_control) = keep
        .cache_control()
        .and_then(|value| HeaderValue::from_str(value).ok())
    {
        headers.insert(CACHE_CONTROL, cache_control);
    }
    if keep.vary_cookie() {
        headers.append(VARY, HeaderValue::from_static("cookie"));
    }
    for name in keep.headers_to_remove() {
        headers.remove(*name);
    }
}

/// Appends the tracker's cookies to `response`, and makes it private to the browser's cache;
/// leaves a response that sets `affitor_click_id` itself alone (but private).
fn set_cookies<B>(response: &mut Response<B>, cookies: &ClickCookies) {
    let Some(update) = cookies.for_response(response.headers()) else {
        tracing::debug!("the response sets affitor_click_id itself: its cookie is kept");
        keep_private(response);
        return;
    };
    let values: Result<Vec<HeaderValue>, _> = update
        .set_cookie_values()
        .map(HeaderValue::from_str)
        .collect();
    match (values, HeaderValue::from_str(update.cache_control())) {
        (Ok(values), Ok(cache_control)) => {
            let headers = response.headers_mut();
            for value in values {
                headers.append(SET_COOKIE, value);
            }
            headers.insert(CACHE_CONTROL, cache_control);
            for name in update.headers_to_remove() {
                headers.remove(*name);
            }
        }
        // The values are checked when they are built; this is a guard, not a path.
        _ => {
            tracing::debug!(
                "a cookie is not a valid header value: no cookie, the page is kept out of shared \
                 caches"
            );
            keep_private(response);
        }
    }
}
