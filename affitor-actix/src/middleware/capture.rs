//! Partner links captured by the middleware: the click call beside the handler, the cookies on
//! the response. The rules are `affitor_tower::capture`'s; this is the actix-web plumbing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::HttpMessage as _;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use affitor_tower::adapter::{
    ClickCookies, Decision, Headers, KeepPrivate, PendingClick, Skip, Visit,
};
use affitor_tower::{Client, capture::CaptureClicks};

/// actix-web's header map, as the capture reads it.
struct ActixHeaders<'h>(&'h HeaderMap);

impl Headers for ActixHeaders<'_> {
    fn for_each_value<'s>(&'s self, name: &str, each: &mut dyn FnMut(&'s [u8])) {
        for value in self.0.get_all(name) {
            each(value.as_bytes());
        }
    }
}

/// Starts the click call when `request` is a partner link to record, or carries a held click
/// back; a partner link that is not recorded gets no call, but its response is kept out of
/// shared caches (a held one's `HeldClick` goes into the request's extensions).
pub(super) fn start<R>(
    capture: &CaptureClicks,
    client: &Client,
    request: &ServiceRequest,
) -> Option<Box<Capture<R>>> {
    let uri = request.uri();
    // A partner link has a query: every other request costs this look and no more, unless
    // held clicks may come back.
    if uri.query().is_none() && !capture.holds_clicks() {
        return None;
    }
    let headers = ActixHeaders(request.headers());
    let visit = Visit::new(request.method().as_str(), uri.path(), uri.query(), &headers)
        .https(request.app_config().secure())
        .authority(uri.authority().map(|authority| authority.as_str()))
        .client_address(request.peer_addr().map(|peer| peer.ip()));
    let pending = match capture.decide(&visit) {
        Decision::Capture(click) => Some(capture.record(click, client)),
        Decision::Hold(held) => {
            tracing::debug!("partner link held until the visitor consents");
            // The handler reads it as `web::ReqData<HeldClick>`.
            request.extensions_mut().insert(held);
            None
        }
        Decision::Skip(Skip::NoPartnerLink | Skip::InvalidPartnerCode) => return None,
        Decision::Skip(reason) => {
            tracing::debug!(%reason, "partner link not recorded as a click");
            None
        }
    };
    Some(Box::new(Capture {
        pending,
        cookies: None,
        response: None,
    }))
}

/// A click call running beside the handler: the call, until it ends, then the cookies it
/// gave; the handler's response `R`, while the call still runs.
pub(super) struct Capture<R> {
    pending: Option<PendingClick>,
    cookies: Option<ClickCookies>,
    response: Option<R>,
}

impl<R> Capture<R> {
    /// Polls the click call alone: while the request's body is read, before the handler runs.
    pub(super) fn poll_click(&mut self, cx: &mut Context<'_>) {
        if let Some(pending) = &mut self.pending {
            if let Poll::Ready(cookies) = Pin::new(pending).poll(cx) {
                self.pending = None;
                self.cookies = cookies;
            }
        }
    }
}

impl<B> Capture<ServiceResponse<B>> {
    /// Polls the click call, then the handler's `future`; once both have ended, the response,
    /// with the cookies when the click was recorded in time.
    pub(super) fn poll<F, E>(
        &mut self,
        future: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<ServiceResponse<B>, E>>
    where
        F: Future<Output = Result<ServiceResponse<B>, E>>,
    {
        self.poll_click(cx);
        let response = &mut self.response;
        if response.is_none() {
            *response = Some(ready!(future.poll(cx))?);
        }
        if self.pending.is_some() {
            return Poll::Pending;
        }
        let Some(mut response) = response.take() else {
            unreachable!("`ResponseFuture` polled after it completed")
        };
        match self.cookies.take() {
            Some(cookies) => set_cookies(response.headers_mut(), &cookies),
            None => keep_private(response.headers_mut()),
        }
        Poll::Ready(Ok(response))
    }
}

/// Keeps the response to a partner link that set no click id out of shared caches (see
/// [`KeepPrivate`]).
fn keep_private(headers: &mut HeaderMap) {
    let keep = KeepPrivate::for_response(&ActixHeaders(&*headers));
    if let Some(cache_control) = keep
        .cache_control()
        .and_then(|value| HeaderValue::from_str(value).ok())
    {
        headers.insert(header::CACHE_CONTROL, cache_control);
    }
    if keep.vary_cookie() {
        headers.append(header::VARY, HeaderValue::from_static("cookie"));
    }
    for name in keep.headers_to_remove() {
        headers.remove(*name);
    }
}

/// Appends the tracker's cookies to a response's headers, and makes the response private to
/// the browser's cache; leaves a response that sets `affitor_click_id` itself alone (but
/// private).
fn set_cookies(headers: &mut HeaderMap, cookies: &ClickCookies) {
    let Some(update) = cookies.for_response(&ActixHeaders(&*headers)) else {
        tracing::debug!("the response sets affitor_click_id itself: its cookie is kept");
        keep_private(headers);
        return;
    };
    let values: Result<Vec<HeaderValue>, _> = update
        .set_cookie_values()
        .map(HeaderValue::from_str)
        .collect();
    match (values, HeaderValue::from_str(update.cache_control())) {
        (Ok(values), Ok(cache_control)) => {
            for value in values {
                headers.append(header::SET_COOKIE, value);
            }
            headers.insert(header::CACHE_CONTROL, cache_control);
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
            keep_private(headers);
        }
    }
}
