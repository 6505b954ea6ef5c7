//! Where the click id is searched, and what the lookup found.
//!
//! [`ClickIdSearch`] is what a user configures (`AffitorLayer::search`, the actix middleware's
//! `Affitor::search`); [`ClickIdLookup`] is what the layer inserts into each request, and the
//! extractors read: the click id found, its [`ClickIdSource`], and each [`RejectedClickId`] with
//! the [`InvalidClickId`] reason. The lookup itself, in two steps for any HTTP library, is in
//! [`adapter`](crate::adapter).
//!
//! # Where the click id is found
//!
//! In this order, the first valid value wins: the header `x-affitor-click-id`, the cookie
//! `affitor_click_id`, the legacy cookie `customer_code`, the JSON body field `affitorClickId`
//! (or `affitor_click_id`), the form field `affitor_click_id`. [`ClickIdSearch`] changes the
//! order, the names and the body limit. A valid click id is 1 to 128 bytes of
//! `A-Z a-z 0-9 _ - . :`; anything else is passed over with a `tracing` warning that names the
//! source and the reason.
//!
//! A source given twice: of two headers or two cookies of one name, the first valid value wins
//! (a browser sends the cookie of the most specific path first); of a field given twice in a
//! JSON or form body, the last is read, as a JSON parser or a form decoder into a map keeps
//! it, so that the click id is the one the handler sees in the body. An invalid last value is
//! passed over with its warning, and the earlier one is not tried.
//!
//! The body is read only for a `POST`, `PUT` or `PATCH` with a JSON or form content type and no
//! `Content-Encoding` (a gzip body is not read), when no header or cookie gave a click id, and
//! only up to 64 KiB. Whatever happens, the handler
//! receives the body byte for byte, with the same `Content-Length`: a longer body, a chunked one
//! and one that fails midway are replayed, then streamed on. A request that is not read streams
//! through untouched. Each of these rules is a row of the repository's
//! `tests/tests/lookup_rules.rs`, run through both the Tower layer and the actix-web middleware.

mod found;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use affitor::InvalidClickId;
pub(crate) use found::UnreadBody;
pub use found::{ClickIdLookup, ClickIdSource, RejectedClickId};

use crate::parse::CookieName;

/// Where to search for the click id: which sources, in which order, and how much of a body to
/// read.
///
/// The default is the order of the Affitor integration guides: the header `x-affitor-click-id`,
/// the cookie `affitor_click_id`, the legacy cookie `customer_code`, the JSON body fields
/// `affitorClickId` and `affitor_click_id`, and the form body field `affitor_click_id`, with a
/// body limit of [64 KiB](Self::DEFAULT_BODY_LIMIT).
///
/// The first valid value wins. Headers and cookies are always looked at before the body, which
/// is read only when they gave nothing; the order sets the precedence within each of the two
/// groups. [`ClickIdSource::Extension`] needs no listing: a [`ClickId`](crate::ClickId) extension set by an
/// earlier layer always wins.
///
/// Give it to `AffitorLayer::search` (or the actix middleware's `Affitor::search`); an adapter to
/// another HTTP library runs it with [`adapter::lookup_headers`](crate::adapter::lookup_headers).
///
/// ```
/// # #[cfg(feature = "layer")] {
/// use affitor_tower::AffitorLayer;
/// use affitor_tower::lookup::{ClickIdSearch, ClickIdSource};
///
/// // Only a custom header and the cookie, never the body.
/// let search = ClickIdSearch::new([
///     ClickIdSource::header("x-click-id"),
///     ClickIdSource::cookie("affitor_click_id"),
/// ]);
/// let app = axum::Router::<()>::new().layer(AffitorLayer::new().search(search));
///
/// // The default sources, reading at most 16 KiB of a body.
/// let app = app.layer(AffitorLayer::new().search(ClickIdSearch::default().body_limit(16 * 1024)));
/// # drop(app);
/// # }
/// ```
#[derive(Clone)]
pub struct ClickIdSearch {
    /// The sources, and how the header step looks at them, worked out once: shared, so a clone
    /// for a body lookup is one atomic increment.
    pub(crate) plan: Arc<Plan>,
    pub(crate) body_limit: usize,
    pub(crate) body_timeout: Duration,
}

/// The sources of a lookup, prepared for it.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Every source, in order.
    pub(crate) sources: Vec<ClickIdSource>,
    /// The header and cookie sources, in order, ready to look at a request.
    pub(crate) steps: Vec<HeaderStep>,
    /// Whether a source reads a JSON body, and a form body.
    pub(crate) reads_json: bool,
    pub(crate) reads_form: bool,
}

/// A header or cookie source, ready to look at a request.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per set of sources; boxing would add a pointer chase to every request"
)]
pub(crate) enum HeaderStep {
    /// The `ordinal`-th header source, and its header name.
    Header {
        source: ClickIdSource,
        name: Cow<'static, str>,
        ordinal: usize,
    },
    /// A cookie source, with its name ready to match (`None`: no cookie can have that name).
    Cookie {
        source: ClickIdSource,
        name: Option<CookieName>,
    },
}

impl Plan {
    fn new(sources: Vec<ClickIdSource>) -> Self {
        let mut headers = 0;
        let steps = sources
            .iter()
            .filter_map(|source| match source {
                ClickIdSource::Header(name) => {
                    headers += 1;
                    Some(HeaderStep::Header {
                        source: source.clone(),
                        name: name.clone(),
                        ordinal: headers - 1,
                    })
                }
                ClickIdSource::Cookie(name) => Some(HeaderStep::Cookie {
                    source: source.clone(),
                    name: CookieName::new(name),
                }),
                _ => None,
            })
            .collect();
        let reads = |field: fn(&ClickIdSource) -> bool| sources.iter().any(field);
        Self {
            reads_json: reads(|source| matches!(source, ClickIdSource::JsonField(_))),
            reads_form: reads(|source| matches!(source, ClickIdSource::FormField(_))),
            sources,
            steps,
        }
    }
}

impl ClickIdSearch {
    /// The default body limit: 64 KiB.
    ///
    /// ```
    /// assert_eq!(affitor_tower::lookup::ClickIdSearch::DEFAULT_BODY_LIMIT, 65_536);
    /// ```
    pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

    /// How long the body is waited for unless set: 5 s.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert_eq!(affitor_tower::lookup::ClickIdSearch::DEFAULT_BODY_TIMEOUT, Duration::from_secs(5));
    /// ```
    pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(5);

    /// The given sources, in order, with the default body limit.
    ///
    /// Header names are lower-cased; [`ClickIdSource::Extension`] is dropped (it is always looked
    /// at first).
    ///
    /// ```
    /// use affitor_tower::adapter::{self, HeaderLookup};
    /// use affitor_tower::lookup::{ClickIdSearch, ClickIdSource};
    ///
    /// // Only the JSON field `clickId`: the cookie the default search reads is passed over.
    /// let search = ClickIdSearch::new([ClickIdSource::json_field("clickId")]);
    /// let step = adapter::lookup_headers(&search, "GET", |header| match header.name() {
    ///     "cookie" => Some(&b"affitor_click_id=abc123"[..]),
    ///     _ => None,
    /// });
    /// let HeaderLookup::Done(lookup) = step else { unreachable!("a GET has no body to read") };
    /// assert_eq!(lookup.click_id(), None);
    /// ```
    pub fn new(sources: impl IntoIterator<Item = ClickIdSource>) -> Self {
        let sources = sources
            .into_iter()
            .filter_map(|source| match source {
                ClickIdSource::Header(name) => Some(ClickIdSource::header(name)),
                ClickIdSource::Extension => None,
                other => Some(other),
            })
            .collect();
        Self {
            plan: Arc::new(Plan::new(sources)),
            body_limit: Self::DEFAULT_BODY_LIMIT,
            body_timeout: Self::DEFAULT_BODY_TIMEOUT,
        }
    }

    /// Sets the most bytes of a body that are read to look for the click id.
    ///
    /// A body longer than this is not parsed: it reaches the handler as it came.
    ///
    /// ```
    /// use affitor_tower::lookup::ClickIdSearch;
    /// use affitor_tower::adapter::{self, HeaderLookup};
    ///
    /// // A 27-byte JSON body, against a limit of 16 bytes: the body is not worth reading.
    /// let search = ClickIdSearch::default().body_limit(16);
    /// let step = adapter::lookup_headers(&search, "POST", |header| match header.name() {
    ///     "content-type" => Some(&b"application/json"[..]),
    ///     "content-length" => Some(&b"27"[..]),
    ///     _ => None,
    /// });
    /// assert!(matches!(step, HeaderLookup::Done(_)));
    /// ```
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long the body is waited for (default [5 s](Self::DEFAULT_BODY_TIMEOUT)), counted
    /// from when it first keeps the lookup waiting. A body that has not ended by then is not looked
    /// in: the request goes on to the handler with what was read put back before the rest of
    /// the stream, so nothing is lost, and a request whose body is not coming (to a route that
    /// never reads it, say) is answered as it would be without the layer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use affitor_tower::lookup::ClickIdSearch;
    ///
    /// let search = ClickIdSearch::default().body_timeout(Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }
}

impl Default for ClickIdSearch {
    fn default() -> Self {
        Self::new([
            ClickIdSource::header("x-affitor-click-id"),
            ClickIdSource::cookie("affitor_click_id"),
            ClickIdSource::cookie("customer_code"),
            ClickIdSource::json_field("affitorClickId"),
            ClickIdSource::json_field("affitor_click_id"),
            ClickIdSource::form_field("affitor_click_id"),
        ])
    }
}

impl PartialEq for ClickIdSearch {
    fn eq(&self, other: &Self) -> bool {
        // The rest of the plan is made from its sources.
        self.plan.sources == other.plan.sources
            && self.body_limit == other.body_limit
            && self.body_timeout == other.body_timeout
    }
}

impl Eq for ClickIdSearch {}

impl fmt::Debug for ClickIdSearch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickIdSearch")
            .field("sources", &self.plan.sources)
            .field("body_limit", &self.body_limit)
            .field("body_timeout", &self.body_timeout)
            .finish()
    }
}
