//! The `Affitor` middleware: finds the click id in each request and passes the body on byte for
//! byte.

#[cfg(feature = "capture")]
mod capture;
#[cfg(not(feature = "capture"))]
#[path = "no_capture.rs"]
mod capture;
mod future;
mod payload;

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use affitor_tower::adapter::{self, HeaderLookup, WantedHeader};
#[cfg(feature = "capture")]
use affitor_tower::capture::CaptureClicks;
use affitor_tower::{
    ClickId, Client,
    lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource},
};

pub use future::ResponseFuture;

/// The actix-web middleware that finds the Affitor click id in each request.
///
/// It looks in the header `x-affitor-click-id`, the cookies `affitor_click_id` and
/// `customer_code`, then in a JSON or form body (see [`ClickIdSearch`] for the order and how to
/// change it), and inserts a [`ClickIdLookup`] into every request's extensions: the click id is
/// `lookup.click_id()`, and the lookup is the only extension the middleware adds for it. A
/// [`ClickId`] extension set by an earlier middleware is kept, and reported as found in
/// [`ClickIdSource::Extension`]. With
/// [`client`](Self::client), it also carries your [`Client`] into every request, where
/// [`AffitorClient`](crate::AffitorClient) finds it.
///
/// The body is read only for a `POST`, `PUT` or `PATCH` with a JSON or form content type, when
/// no header or cookie gave a click id, and only up to the body limit (64 KiB by default). The
/// handler always reads the whole body as it was sent, byte for byte, with the same errors;
/// a body the middleware does not read is passed on untouched, with no allocation. Headers,
/// `Content-Length` included, are never changed.
///
/// These are the rules of `affitor_tower::AffitorLayer`, driven by the same code: the click id
/// a request carries is found the same way on axum and actix-web.
///
/// ```
/// use actix_web::{App, HttpResponse, test, web};
/// use affitor_actix::{Affitor, AffitorClickId};
///
/// async fn signup(click_id: Option<AffitorClickId>, body: String) -> HttpResponse {
///     let referred = click_id.map(|AffitorClickId(id)| id.into_string());
///     HttpResponse::Ok().body(format!("{referred:?}; {} bytes", body.len()))
/// }
///
/// # actix_web::rt::System::new().block_on(async {
/// let app = test::init_service(
///     App::new().wrap(Affitor::new()).route("/api/signup", web::post().to(signup)),
/// )
/// .await;
///
/// let request = test::TestRequest::post()
///     .uri("/api/signup")
///     .insert_header(("content-type", "application/json"))
///     .set_payload(r#"{"affitorClickId":"abc123"}"#)
///     .to_request();
/// let body = test::call_and_read_body(&app, request).await;
/// assert_eq!(body, r#"Some("abc123"); 27 bytes"#);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Affitor {
    search: ClickIdSearch,
    client: Option<Client>,
    #[cfg(feature = "capture")]
    capture: Option<CaptureClicks>,
}

impl Affitor {
    /// A middleware that searches the default sources, reading at most 64 KiB of a body
    /// ([`ClickIdSearch::default`]).
    ///
    /// ```
    /// use actix_web::{App, web};
    /// use affitor_actix::{Affitor, AffitorClickId};
    ///
    /// async fn home(click_id: Option<AffitorClickId>) -> String {
    ///     format!("referred: {}", click_id.is_some())
    /// }
    ///
    /// let app = App::new().wrap(Affitor::new()).route("/", web::get().to(home));
    /// # drop(app);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets where to search for the click id: which sources, in which order, and the body
    /// limit.
    ///
    /// ```
    /// use actix_web::{App, test, web};
    /// use affitor_actix::{Affitor, AffitorClickId, ClickIdSearch, ClickIdSource};
    ///
    /// async fn home(click_id: Option<AffitorClickId>) -> String {
    ///     click_id.map(|AffitorClickId(id)| id.into_string()).unwrap_or_default()
    /// }
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// // Only a header of your own.
    /// let search = ClickIdSearch::new([ClickIdSource::header("x-click-id")]);
    /// let app = test::init_service(
    ///     App::new().wrap(Affitor::new().search(search)).route("/", web::get().to(home)),
    /// )
    /// .await;
    ///
    /// let request = test::TestRequest::get()
    ///     .insert_header(("x-click-id", "abc123"))
    ///     .insert_header(("cookie", "affitor_click_id=not_searched"))
    ///     .to_request();
    /// assert_eq!(test::call_and_read_body(&app, request).await, "abc123");
    /// # });
    /// ```
    #[must_use]
    pub fn search(mut self, search: ClickIdSearch) -> Self {
        self.search = search;
        self
    }

    /// Sets the client to carry: the middleware inserts a clone of it (cheap: one `Arc`) into
    /// every request's extensions, where [`AffitorClient`](crate::AffitorClient) finds it.
    ///
    /// ```
    /// use actix_web::{App, test, web};
    /// use affitor_actix::{Affitor, AffitorClient, Client};
    ///
    /// async fn signup(affitor: AffitorClient) -> &'static str {
    ///     affitor.lead("user_123").send_in_background();
    ///     "welcome"
    /// }
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let client = Client::builder().api_key("aff_example").build()?;
    /// let app = test::init_service(
    ///     App::new().wrap(Affitor::new().client(client)).route("/", web::post().to(signup)),
    /// )
    /// .await;
    ///
    /// // Without the client carried, `AffitorClient` would answer 500.
    /// let response = test::call_service(&app, test::TestRequest::post().to_request()).await;
    /// assert_eq!(response.status(), 200);
    /// # Ok::<_, affitor_actix::affitor::Error>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Records a visit to a partner link (`?aff=CODE`) as a click, and sets the browser
    /// tracker's cookies on the response: the click id reaches the page, and later the signup,
    /// with no JavaScript. Needs the [`client`](Self::client) that sends the click.
    ///
    /// The click call runs beside the handler and never holds the page past the
    /// [deadline](CaptureClicks::deadline). See [`CaptureClicks`] for which requests are
    /// recorded and the cookies' attributes: the rules of `AffitorLayer::capture_clicks`, driven
    /// by the same code.
    ///
    /// Build the middleware once, outside `HttpServer::new`, and clone it into each worker's
    /// `App`: clones share one click limit (its buckets, its memory of repeats and its total),
    /// where a middleware built inside the closure gives each worker limits of its own.
    ///
    /// ```no_run
    /// use actix_web::{App, HttpResponse, HttpServer, web};
    /// use affitor_actix::{Affitor, CaptureClicks, Client};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = Client::builder().api_key("aff_live_key").build()?;
    /// let affitor = Affitor::new().client(client).capture_clicks(CaptureClicks::new());
    /// HttpServer::new(move || {
    ///     App::new()
    ///         .wrap(affitor.clone()) // one click limit for every worker
    ///         .route("/", web::get().to(|| async { HttpResponse::Ok().body("<h1>Welcome</h1>") }))
    /// })
    /// .bind("127.0.0.1:8080")?
    /// .run()
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "capture")]
    #[must_use]
    pub fn capture_clicks(mut self, capture: CaptureClicks) -> Self {
        self.capture = Some(capture);
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for Affitor
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Transform = AffitorMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        #[cfg(feature = "capture")]
        if self.capture.is_some() && self.client.is_none() {
            tracing::warn!(
                "`Affitor::capture_clicks` has no client to send the clicks with: no partner \
                 link is recorded; call `Affitor::client`"
            );
        }
        let header_names = adapter::header_names(&self.search)
            .map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        ready(Ok(AffitorMiddleware {
            service: Rc::new(service),
            config: self.clone(),
            header_names,
        }))
    }
}

/// The service [`Affitor`] wraps around yours.
///
/// Each request reaches the inner service with a [`ClickIdLookup`] in its extensions (holding
/// the [`ClickId`] when one was found), the [`Client`] when the middleware carries one, and a
/// payload that gives the same bytes as the original. You do not name this type unless you
/// write your own middleware around it.
///
/// ```
/// use actix_web::dev::{Service, ServiceRequest, Transform, fn_service};
/// use actix_web::{HttpResponse, test};
/// use affitor_actix::{Affitor, dev::AffitorMiddleware};
///
/// # actix_web::rt::System::new().block_on(async {
/// let inner = fn_service(|request: ServiceRequest| async {
///     Ok::<_, actix_web::Error>(request.into_response(HttpResponse::NoContent()))
/// });
/// let service: AffitorMiddleware<_> =
///     Affitor::new().new_transform(inner).await.expect("building it never fails");
/// let response = service.call(test::TestRequest::get().to_srv_request()).await?;
/// assert_eq!(response.status(), 204);
/// # Ok::<_, actix_web::Error>(())
/// # }).unwrap();
/// ```
pub struct AffitorMiddleware<S> {
    service: Rc<S>,
    config: Affitor,
    /// The names of the header sources, in order, parsed once (`None`: not a valid name):
    /// actix parses a `&str` name on every lookup, and a custom name such as
    /// `x-affitor-click-id` costs an allocation.
    header_names: Vec<Option<HeaderName>>,
}

impl<S> AffitorMiddleware<S> {
    /// The inner service.
    ///
    /// ```
    /// use actix_web::dev::{Service, ServiceRequest, Transform, fn_service};
    /// use affitor_actix::Affitor;
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let inner = fn_service(|request: ServiceRequest| async move {
    ///     Ok::<_, actix_web::Error>(request.into_response(actix_web::HttpResponse::Ok()))
    /// });
    /// let middleware = Affitor::new().new_transform(inner).await.expect("infallible");
    ///
    /// // The inner service, called directly: no lookup on the way.
    /// let request = actix_web::test::TestRequest::get().to_srv_request();
    /// let response = middleware.get_ref().call(request).await?;
    /// assert_eq!(response.status(), 200);
    /// # Ok::<_, actix_web::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S, B> Service<ServiceRequest> for AffitorMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        #[cfg(feature = "capture")]
        let capture = match (&self.config.capture, &self.config.client) {
            (Some(capture), Some(client)) => capture::start(capture, client, &request),
            _ => None,
        };
        #[cfg(not(feature = "capture"))]
        let capture = None;
        if let Some(client) = &self.config.client {
            request.extensions_mut().insert(client.clone());
        }
        let existing = request.extensions().get::<ClickId>().cloned();
        let step = match existing {
            Some(click_id) => HeaderLookup::Done(ClickIdLookup::found(
                click_id,
                ClickIdSource::Extension,
                Vec::new(),
            )),
            None => {
                let headers = request.headers();
                let method = request.method().as_str();
                adapter::lookup_headers(&self.config.search, method, |wanted| {
                    self.header_values(headers, wanted)
                })
            }
        };

        let lookup = match step {
            HeaderLookup::Done(lookup) => lookup,
            HeaderLookup::ReadBody(lookup) => match request.take_payload() {
                // No body at all (actix gives none for a `Content-Length: 0`).
                Payload::None => lookup.finish(&[]),
                payload => {
                    // A later reader of the body (a webhook extractor) counts from here.
                    request
                        .extensions_mut()
                        .insert(adapter::BodyWaitStarted::now());
                    return ResponseFuture::reading(
                        Rc::clone(&self.service),
                        request,
                        payload,
                        lookup,
                        capture,
                    );
                }
            },
        };
        insert(&request, lookup);
        ResponseFuture::calling(self.service.call(request), capture)
    }
}

impl<S> AffitorMiddleware<S> {
    /// The values of a header the lookup wants, through the pre-parsed `HeaderName`s.
    fn header_values<'h>(
        &self,
        headers: &'h HeaderMap,
        wanted: WantedHeader<'_>,
    ) -> impl Iterator<Item = &'h [u8]> + use<'h, S> {
        let values = match wanted {
            WantedHeader::Cookie => headers.get_all(header::COOKIE),
            WantedHeader::ContentType => headers.get_all(header::CONTENT_TYPE),
            WantedHeader::ContentEncoding => headers.get_all(header::CONTENT_ENCODING),
            WantedHeader::ContentLength => headers.get_all(header::CONTENT_LENGTH),
            WantedHeader::Source { ordinal, .. } => match self.header_names.get(ordinal) {
                Some(Some(known)) => headers.get_all(known),
                // Not a valid header name: no request carries it.
                _ => [].iter(),
            },
            // A header a later version asks for: found by its name, parsed for this request.
            other => match HeaderName::from_bytes(other.name().as_bytes()) {
                Ok(name) => headers.get_all(name),
                Err(_) => [].iter(),
            },
        };
        values.map(HeaderValue::as_bytes)
    }
}

/// Inserts the lookup: the one extension that carries the click id.
fn insert(request: &ServiceRequest, lookup: ClickIdLookup) {
    request.extensions_mut().insert(lookup);
}

impl<S> fmt::Debug for AffitorMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AffitorMiddleware")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
