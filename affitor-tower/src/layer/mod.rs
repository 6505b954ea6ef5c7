//! The Tower layer: finds the click id in each request and passes the body on byte for byte.

mod body;
#[cfg(feature = "capture")]
mod capture;
mod flush;
mod future;
mod service;

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, header};
use tower_layer::Layer;

pub use body::AffitorBody;
#[cfg(feature = "capture")]
pub use capture::{CaptureFuture, CaptureService};
pub use flush::{Flush, FlushLayer};
pub use future::ResponseFuture;
pub use service::AffitorService;

use crate::adapter::{self, WantedHeader};
use crate::lookup::ClickIdSearch;

/// A Tower layer that finds the Affitor click id in each request.
///
/// It looks in the header `x-affitor-click-id`, the cookies `affitor_click_id` and
/// `customer_code`, then in a JSON or form body (see [`ClickIdSearch`] for the order and how to
/// change it), and inserts a [`ClickIdLookup`](crate::lookup::ClickIdLookup) into every request's
/// extensions: the click id is `lookup.click_id()`, and the lookup is the only extension the
/// layer adds for it. A [`ClickId`](crate::ClickId) extension set by an earlier layer is kept,
/// and reported as found in [`ClickIdSource::Extension`](crate::lookup::ClickIdSource::Extension).
///
/// The body is read only for a `POST`, `PUT` or `PATCH` with a JSON or form content type, when
/// no header or cookie gave a click id, and only up to the body limit (64 KiB by default). The
/// handler always receives the whole body as it was sent, wrapped in an [`AffitorBody`]; a body
/// the layer does not read streams through without any allocation. What it reads is held as
/// its bytes, however small the chunks it came in, and a body that keeps it waiting past the
/// [body timeout](ClickIdSearch::body_timeout) (5 s) is not looked in: the request goes on with
/// what was read put back. That timer needs a Tokio runtime with time enabled, as axum's is.
///
/// With axum:
///
/// ```
/// use affitor_tower::{AffitorLayer, lookup::ClickIdLookup};
/// use axum::{Extension, Router, routing::post};
/// use tower::ServiceExt;
///
/// async fn signup(Extension(lookup): Extension<ClickIdLookup>, body: String) -> String {
///     format!("{lookup}; {} bytes", body.len())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let app = Router::new().route("/api/signup", post(signup)).layer(AffitorLayer::new());
///
/// let request = http::Request::post("/api/signup")
///     .header("content-type", "application/json")
///     .body(axum::body::Body::from(r#"{"affitorClickId":"abc123"}"#))?;
/// let response = app.oneshot(request).await?;
/// let text = axum::body::to_bytes(response.into_body(), 1024).await?;
/// assert_eq!(text, "click id found in the JSON body field `affitorClickId`; 27 bytes");
/// # Ok(())
/// # }
/// ```
///
/// The type parameter says whether partner links are captured: `()` until
/// `capture_clicks` (feature `capture`) turns it on with its options.
#[derive(Clone, Debug)]
pub struct AffitorLayer<C = ()> {
    /// Shared, so that the service is cheap to clone for each request.
    config: Arc<Config>,
    /// The click capture's options, or `()`.
    #[cfg_attr(
        not(feature = "capture"),
        expect(dead_code, reason = "only `()` without the capture feature")
    )]
    capture: C,
}

#[derive(Clone, Debug)]
struct Config {
    search: ClickIdSearch,
    /// The names of the header sources, in order, parsed once (`None`: not a valid name).
    header_names: Vec<Option<HeaderName>>,
    client: Option<crate::Client>,
}

impl AffitorLayer {
    /// A layer that searches the default sources, reading at most 64 KiB of a body
    /// ([`ClickIdSearch::default`]).
    ///
    /// ```
    /// use affitor_tower::{AffitorLayer, lookup::ClickIdLookup};
    /// use axum::{Extension, Router, routing::get};
    ///
    /// async fn home(Extension(lookup): Extension<ClickIdLookup>) -> String {
    ///     lookup.to_string()
    /// }
    ///
    /// let app: Router = Router::new().route("/", get(home)).layer(AffitorLayer::new());
    /// # drop(app);
    /// ```
    pub fn new() -> Self {
        let layer = Self {
            config: Arc::new(Config {
                search: ClickIdSearch::default(),
                header_names: Vec::new(),
                client: None,
            }),
            capture: (),
        };
        layer.search(ClickIdSearch::default())
    }
}

impl<C> AffitorLayer<C> {
    /// Sets where to search for the click id: which sources, in which order, and the body
    /// limit.
    ///
    /// ```
    /// use affitor_tower::AffitorLayer;
    /// use affitor_tower::layer::AffitorBody;
    /// use affitor_tower::lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource};
    /// use http_body_util::Empty;
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// // Only a header of your own.
    /// let search = ClickIdSearch::new([ClickIdSource::header("x-click-id")]);
    /// let handler = tower::service_fn(|request: http::Request<AffitorBody<Empty<bytes::Bytes>>>| async move {
    ///     Ok::<_, std::convert::Infallible>(request.extensions().get::<ClickIdLookup>().cloned())
    /// });
    /// let service = ServiceBuilder::new().layer(AffitorLayer::new().search(search)).service(handler);
    ///
    /// let request = http::Request::get("/")
    ///     .header("x-click-id", "abc123")
    ///     .header("cookie", "affitor_click_id=not_searched")
    ///     .body(Empty::new())?;
    /// let lookup = service.oneshot(request).await?.expect("the layer always inserts a lookup");
    /// assert_eq!(lookup.click_id().unwrap(), "abc123");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn search(mut self, search: ClickIdSearch) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.header_names = adapter::header_names(&search)
            .map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        config.search = search;
        self
    }

    /// Sets the client to carry: the service inserts a clone of it (cheap: one `Arc`) into
    /// every request's extensions, where handlers and extractors find it.
    ///
    /// ```
    /// use affitor_tower::{AffitorLayer, Client, layer::AffitorBody};
    /// use http_body_util::Empty;
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let client = Client::builder().api_key("aff_live_key").build()?;
    /// let handler = tower::service_fn(|request: http::Request<AffitorBody<Empty<bytes::Bytes>>>| async move {
    ///     Ok::<_, std::convert::Infallible>(request.extensions().get::<Client>().is_some())
    /// });
    /// let service = ServiceBuilder::new().layer(AffitorLayer::new().client(client)).service(handler);
    ///
    /// let carried = service.oneshot(http::Request::new(Empty::new())).await?;
    /// assert!(carried);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn client(mut self, client: crate::Client) -> Self {
        Arc::make_mut(&mut self.config).client = Some(client);
        self
    }
}

/// What the lookup service uses.
impl AffitorLayer {
    /// Where to search for the click id.
    fn click_id_search(&self) -> &ClickIdSearch {
        &self.config.search
    }

    /// The values of a header the lookup wants, through the pre-parsed `HeaderName`s: parsing
    /// or matching a name on every lookup costs more than the lookup.
    fn header_values<'h>(
        &self,
        headers: &'h HeaderMap,
        wanted: WantedHeader<'_>,
    ) -> impl Iterator<Item = &'h [u8]> + use<'h> {
        let values = match wanted {
            WantedHeader::Cookie => headers.get_all(header::COOKIE),
            WantedHeader::ContentType => headers.get_all(header::CONTENT_TYPE),
            WantedHeader::ContentEncoding => headers.get_all(header::CONTENT_ENCODING),
            WantedHeader::ContentLength => headers.get_all(header::CONTENT_LENGTH),
            WantedHeader::Source { ordinal, name } => {
                match self.config.header_names.get(ordinal) {
                    Some(Some(known)) => headers.get_all(known),
                    // Not a valid header name: no request carries it.
                    _ => headers.get_all(name),
                }
            }
        };
        values.into_iter().map(HeaderValue::as_bytes)
    }

    /// Inserts what the layer carries into a request's extensions.
    fn carry(&self, extensions: &mut http::Extensions) {
        if let Some(client) = &self.config.client {
            extensions.insert(client.clone());
        }
    }
}

impl Default for AffitorLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for AffitorLayer {
    type Service = AffitorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AffitorService::new(inner, self.clone())
    }
}
