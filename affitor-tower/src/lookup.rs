//! Where the click id is searched, what the lookup found, and the lookup in two steps for any
//! HTTP library: the headers, then maybe the body.
//!
//! [`ClickIdSearch`] is what a user configures (`AffitorLayer::search`, the actix middleware's
//! `Affitor::search`); [`ClickIdLookup`] is what the layer inserts into each request, and the
//! extractors read; the rest is the plumbing an adapter drives.
//!
//! # For adapter authors
//!
//! The click id lookup as an adapter drives it: for authors of an adapter to another HTTP
//! library. axum and actix-web users never need it: `AffitorLayer` and the actix middleware run
//! it for them.
//!
//! An adapter runs the lookup in two steps over a request, and inserts the [`ClickIdLookup`]
//! it ends with into the request:
//!
//! 1. [`lookup_headers`] looks in the headers and cookies, asking the
//!    adapter for each [`WantedHeader`]. It ends the lookup
//!    ([`HeaderLookup::Done`]) or asks for the body
//!    ([`HeaderLookup::ReadBody`]).
//! 2. The adapter reads the body up to [`BodyLookup::limit`] bytes,
//!    keeping what it read to hand on to the handler byte for byte, and ends the lookup with
//!    [`BodyLookup::finish`] (or
//!    [`finish_without_body`](BodyLookup::finish_without_body) when the body was longer
//!    or failed).
//!
//! A [`ClickId`] extension set by an earlier middleware wins: an adapter that finds one skips
//! both steps and reports it as found in [`ClickIdSource::Extension`].
//!
//! ```
//! use affitor_tower::lookup::{self, ClickIdLookup, ClickIdSearch, HeaderLookup};
//!
//! // A request, as some HTTP library holds it.
//! let headers = [("content-type", "application/json")];
//! let body = br#"{"affitorClickId":"abc123"}"#;
//!
//! let step = lookup::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
//!     let values = headers.iter().filter(|(name, _)| *name == header.name());
//!     values.map(|(_, value)| value.as_bytes()).collect::<Vec<_>>()
//! });
//! let lookup: ClickIdLookup = match step {
//!     HeaderLookup::Done(lookup) => lookup,
//!     HeaderLookup::ReadBody(read) if body.len() <= read.limit() => read.finish(body),
//!     HeaderLookup::ReadBody(read) => read.finish_without_body(),
//! };
//! assert_eq!(lookup.click_id().unwrap(), "abc123");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::ClickId;
pub use crate::click_id::{ClickIdLookup, ClickIdSource, RejectedClickId};
use crate::parse::{self, CookieName, JsonStr};
use affitor::__private::Throttle;
pub use affitor::InvalidClickId;

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
/// groups. [`ClickIdSource::Extension`] needs no listing: a [`ClickId`] extension set by an
/// earlier layer always wins.
///
/// Give it to `AffitorLayer::search` (or the actix middleware's `Affitor::search`); an adapter to
/// another HTTP library runs it with [`lookup::lookup_headers`](crate::lookup::lookup_headers).
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
    plan: Arc<Plan>,
    body_limit: usize,
    body_timeout: Duration,
}

/// The sources of a lookup, prepared for it.
#[derive(Debug)]
struct Plan {
    /// Every source, in order.
    sources: Vec<ClickIdSource>,
    /// The header and cookie sources, in order, ready to look at a request.
    steps: Vec<HeaderStep>,
    /// Whether a source reads a JSON body, and a form body.
    reads_json: bool,
    reads_form: bool,
}

/// A header or cookie source, ready to look at a request.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per set of sources; boxing would add a pointer chase to every request"
)]
enum HeaderStep {
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
        let reads = |kind: BodyKind| sources.iter().any(|source| kind.reads(source));
        Self {
            reads_json: reads(BodyKind::Json),
            reads_form: reads(BodyKind::Form),
            sources,
            steps,
        }
    }

    fn reads(&self, kind: BodyKind) -> bool {
        match kind {
            BodyKind::Json => self.reads_json,
            BodyKind::Form => self.reads_form,
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
    /// use affitor_tower::lookup::{self, HeaderLookup};
    /// use affitor_tower::lookup::{ClickIdSearch, ClickIdSource};
    ///
    /// // Only the JSON field `clickId`: the cookie the default search reads is passed over.
    /// let search = ClickIdSearch::new([ClickIdSource::json_field("clickId")]);
    /// let step = lookup::lookup_headers(&search, "GET", |header| match header.name() {
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
    /// use affitor_tower::lookup::{self, HeaderLookup};
    ///
    /// // A 27-byte JSON body, against a limit of 16 bytes: the body is not worth reading.
    /// let search = ClickIdSearch::default().body_limit(16);
    /// let step = lookup::lookup_headers(&search, "POST", |header| match header.name() {
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

/// The first step of a lookup: looks in the headers and cookies, and tells whether the body is
/// worth reading.
///
/// `headers` yields the values of the [`WantedHeader`] it is asked for, in order: the header of
/// each [`ClickIdSource::Header`], then `cookie`, and, before a body is read, `content-type` and
/// `content-length`. The body is worth reading when no header or cookie gave a valid click id,
/// the method is `POST`, `PUT` or `PATCH`, the content type is JSON (`application/json`,
/// `application/*+json`) or a form (`application/x-www-form-urlencoded`) that a configured
/// source reads, and the `Content-Length`, if any, is within the limit.
///
/// An adapter can find the headers by [`WantedHeader::name`]; one that parses header names
/// ahead, as `AffitorLayer` and the actix middleware do, parses [`header_names`] once and finds
/// a source's header by its [`ordinal`](WantedHeader::Source::ordinal) instead of matching
/// the name text on every request.
///
/// Each rejected value is logged at `warn` with its source and the reason, never the value.
///
/// With the `http` crate, `headers` is
/// `|header| map.get_all(header.name()).into_iter().map(|value| value.as_bytes())`; actix-web's
/// header map has the same `get_all`. Here, with a plain list:
///
/// ```
/// use affitor_tower::lookup::{self, HeaderLookup};
/// use affitor_tower::lookup::{ClickIdSearch, ClickIdSource};
///
/// let headers = [("cookie", "theme=dark; affitor_click_id=abc123")];
/// let step = lookup::lookup_headers(&ClickIdSearch::default(), "GET", |header| {
///     let values = headers.iter().filter(|(name, _)| *name == header.name());
///     values.map(|(_, value)| value.as_bytes()).collect::<Vec<_>>()
/// });
/// let HeaderLookup::Done(lookup) = step else { unreachable!("a GET has no body to read") };
/// assert_eq!(lookup.click_id().unwrap(), "abc123");
/// assert_eq!(lookup.source(), Some(&ClickIdSource::cookie("affitor_click_id")));
/// ```
pub fn lookup_headers<'h, F, I>(
    search: &ClickIdSearch,
    method: &str,
    mut headers: F,
) -> HeaderLookup
where
    F: FnMut(WantedHeader<'_>) -> I,
    I: IntoIterator<Item = &'h [u8]>,
{
    let mut candidates = Candidates::default();
    // The `Cookie` headers, asked for once, when the first cookie source comes up.
    let mut cookie_headers = None;
    for step in &search.plan.steps {
        let (source, found) = match step {
            HeaderStep::Header {
                source,
                name,
                ordinal,
            } => {
                let wanted = WantedHeader::Source {
                    ordinal: *ordinal,
                    name,
                };
                let found = headers(wanted)
                    .into_iter()
                    .find_map(|value| candidates.consider(source, parse::header_value(value)));
                (source, found)
            }
            HeaderStep::Cookie { source, name } => {
                let cookies = cookie_headers
                    .get_or_insert_with(|| HeaderValues::new(headers(WantedHeader::Cookie)));
                let found = name.as_ref().and_then(|name| {
                    cookies.iter().find_map(|header| {
                        name.values(header)
                            .find_map(|value| candidates.consider(source, value))
                    })
                });
                (source, found)
            }
        };
        if let Some(click_id) = found {
            return HeaderLookup::Done(candidates.found(click_id, source));
        }
    }

    let kind = if matches!(method, "POST" | "PUT" | "PATCH") {
        headers(WantedHeader::ContentType)
            .into_iter()
            .next()
            .and_then(BodyKind::from_content_type)
            .filter(|&kind| search.plan.reads(kind))
    } else {
        None
    };
    let Some(kind) = kind else {
        return HeaderLookup::Done(candidates.not_found());
    };
    let content_length = headers(WantedHeader::ContentLength)
        .into_iter()
        .next()
        .and_then(parse_content_length);
    if content_length.is_some_and(|length| length > search.body_limit as u64) {
        tracing::debug!(
            content_length,
            limit = search.body_limit,
            "request body is over the limit; not looking in it for a click id"
        );
        return HeaderLookup::Done(candidates.not_found());
    }
    candidates.report_omitted();
    HeaderLookup::ReadBody(BodyLookup {
        search: search.clone(),
        kind,
        rejected: candidates.rejected,
    })
}

/// The names of the header sources of `search`, lower-case, in order: the
/// [`ordinal`](WantedHeader::Source::ordinal) of a [`WantedHeader::Source`] is a position in
/// this list. An adapter parses them once into its HTTP library's header names.
///
/// ```
/// use affitor_tower::lookup::{self, ClickIdSearch, ClickIdSource};
///
/// let search = ClickIdSearch::new([
///     ClickIdSource::cookie("affitor_click_id"),
///     ClickIdSource::header("X-Click-Id"),
///     ClickIdSource::header("x-affitor-click-id"),
/// ]);
/// let names: Vec<&str> = lookup::header_names(&search).collect();
/// assert_eq!(names, ["x-click-id", "x-affitor-click-id"]);
/// ```
pub fn header_names(search: &ClickIdSearch) -> impl Iterator<Item = &str> {
    search
        .plan
        .sources
        .iter()
        .filter_map(|source| match source {
            ClickIdSource::Header(name) => Some(&**name),
            _ => None,
        })
}

/// A header [`lookup_headers`] asks an adapter for.
///
/// Match the variants whose names you parsed ahead, and find any other by its
/// [`name`](Self::name):
///
/// ```
/// use affitor_tower::lookup::{self, HeaderLookup, WantedHeader};
/// use affitor_tower::lookup::ClickIdSearch;
///
/// let search = ClickIdSearch::default();
/// // The header sources' names, parsed once (here, kept as they are).
/// let parsed: Vec<String> = lookup::header_names(&search).map(str::to_owned).collect();
/// let headers = [("x-affitor-click-id", "abc123")];
/// let step = lookup::lookup_headers(&search, "GET", |wanted| {
///     let name = match wanted {
///         WantedHeader::Source { ordinal, .. } => parsed[ordinal].as_str(),
///         _ => wanted.name(),
///     };
///     let values = headers.iter().filter(|(key, _)| *key == name);
///     values.map(|(_, value)| value.as_bytes()).collect::<Vec<_>>()
/// });
/// let HeaderLookup::Done(lookup) = step else { unreachable!("a GET has no body to read") };
/// assert_eq!(lookup.click_id().unwrap(), "abc123");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WantedHeader<'a> {
    /// The header of a [`ClickIdSource::Header`].
    Source {
        /// Its position among the header sources: an index into [`header_names`].
        ordinal: usize,
        /// Its name, lower-case.
        name: &'a str,
    },
    /// `cookie`, read by every [`ClickIdSource::Cookie`].
    Cookie,
    /// `content-type`, to tell whether the body is worth reading.
    ContentType,
    /// `content-length`, to tell whether the body is within the limit.
    ContentLength,
}

impl WantedHeader<'_> {
    /// The header name, lower-case.
    ///
    /// ```
    /// use affitor_tower::lookup::WantedHeader;
    ///
    /// assert_eq!(WantedHeader::Cookie.name(), "cookie");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            Self::Source { name, .. } => name,
            Self::Cookie => "cookie",
            Self::ContentType => "content-type",
            Self::ContentLength => "content-length",
        }
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

/// What [`lookup_headers`] concluded.
///
/// ```
/// use affitor_tower::lookup::ClickIdSearch;
/// use affitor_tower::lookup::{self, HeaderLookup};
///
/// let headers = [("content-type", "application/json"), ("content-length", "27")];
/// let step = lookup::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
///     let values = headers.iter().filter(|(key, _)| *key == header.name());
///     values.map(|(_, value)| value.as_bytes()).collect::<Vec<_>>()
/// });
/// let lookup = match step {
///     HeaderLookup::Done(lookup) => lookup,
///     // No header or cookie had one, and the body is small JSON: read it, then finish.
///     HeaderLookup::ReadBody(body) => body.finish(br#"{"affitorClickId":"abc123"}"#),
/// };
/// assert_eq!(lookup.click_id().unwrap(), "abc123");
/// ```
#[derive(Debug)]
pub enum HeaderLookup {
    /// The lookup is over: a click id was found, or the body is not worth reading. Insert the
    /// lookup into the request and pass the body on untouched.
    Done(ClickIdLookup),
    /// Read the body, up to [`BodyLookup::limit`] bytes, then call [`BodyLookup::finish`] (or
    /// [`BodyLookup::finish_without_body`] when it was longer or failed). The handler must
    /// still receive the whole body, byte for byte.
    ReadBody(BodyLookup),
}

/// The second step of a lookup: the body is worth reading.
///
/// ```
/// use affitor_tower::lookup::ClickIdSearch;
/// use affitor_tower::lookup::{self, BodyKind, HeaderLookup};
///
/// let headers = [("content-type", "application/json"), ("content-length", "27")];
/// let step = lookup::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
///     let values = headers.iter().filter(|(key, _)| *key == header.name());
///     values.map(|(_, value)| value.as_bytes()).collect::<Vec<_>>()
/// });
/// let HeaderLookup::ReadBody(body) = step else { unreachable!("a JSON POST") };
/// assert_eq!(body.kind(), BodyKind::Json);
/// assert_eq!(body.limit(), 64 * 1024);
///
/// let lookup = body.finish(br#"{"affitorClickId":"abc123"}"#);
/// assert_eq!(lookup.click_id().unwrap(), "abc123");
/// ```
#[derive(Debug)]
pub struct BodyLookup {
    search: ClickIdSearch,
    kind: BodyKind,
    rejected: Vec<RejectedClickId>,
}

impl BodyLookup {
    /// The kind of body to parse.
    ///
    /// ```
    /// # use affitor_tower::lookup::ClickIdSearch;
    /// # use affitor_tower::lookup::{self, BodyKind, HeaderLookup};
    /// let step = lookup::lookup_headers(&ClickIdSearch::default(), "PUT", |header| {
    ///     (header.name() == "content-type").then_some(&b"application/x-www-form-urlencoded"[..])
    /// });
    /// let HeaderLookup::ReadBody(body) = step else { unreachable!() };
    /// assert_eq!(body.kind(), BodyKind::Form);
    /// ```
    pub fn kind(&self) -> BodyKind {
        self.kind
    }

    /// The most bytes to read. A body longer than this is not parsed.
    ///
    /// ```
    /// # use affitor_tower::lookup::ClickIdSearch;
    /// # use affitor_tower::lookup::{self, HeaderLookup};
    /// let search = ClickIdSearch::default().body_limit(100);
    /// let step = lookup::lookup_headers(&search, "POST", |header| {
    ///     (header.name() == "content-type").then_some(&b"application/json"[..])
    /// });
    /// let HeaderLookup::ReadBody(body) = step else { unreachable!() };
    /// assert_eq!(body.limit(), 100);
    /// ```
    pub fn limit(&self) -> usize {
        self.search.body_limit
    }

    /// How long to wait for the body ([`ClickIdSearch::body_timeout`]): past it, end the
    /// lookup with [`finish_without_body`](Self::finish_without_body) and hand the request on,
    /// with what was read put back before the rest of the body.
    ///
    /// ```
    /// # use affitor_tower::lookup::{self, ClickIdSearch, HeaderLookup};
    /// let step = lookup::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
    ///     (header.name() == "content-type").then_some(&b"application/json"[..])
    /// });
    /// let HeaderLookup::ReadBody(body) = step else { unreachable!() };
    /// assert_eq!(body.timeout(), ClickIdSearch::DEFAULT_BODY_TIMEOUT);
    /// ```
    pub fn timeout(&self) -> std::time::Duration {
        self.search.body_timeout
    }

    /// Finishes the lookup over the whole body.
    ///
    /// A body longer than [`limit`](Self::limit) is not parsed, as with
    /// [`finish_without_body`](Self::finish_without_body). Each rejected value is logged at
    /// `warn`.
    ///
    /// ```
    /// # use affitor_tower::lookup::ClickIdSearch;
    /// # use affitor_tower::lookup::{self, HeaderLookup};
    /// let step = lookup::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
    ///     (header.name() == "content-type").then_some(&b"application/x-www-form-urlencoded"[..])
    /// });
    /// let HeaderLookup::ReadBody(body) = step else { unreachable!() };
    /// let lookup = body.finish(b"email=a%40example.com&affitor_click_id=abc123");
    /// assert_eq!(lookup.click_id().unwrap(), "abc123");
    /// ```
    pub fn finish(self, body: &[u8]) -> ClickIdLookup {
        if body.len() > self.limit() {
            return self.finish_without_body();
        }
        let mut candidates = Candidates {
            rejected: self.rejected,
            omitted: 0,
        };
        let sources = &self.search.plan.sources;
        let found = match self.kind {
            BodyKind::Json => {
                // One pass over the document; the last occurrence of each field wins.
                let mut last: Vec<Option<Option<JsonStr<'_>>>> = vec![None; sources.len()];
                let scanned = parse::json_top_level_fields(body, |key, value| {
                    for (slot, source) in last.iter_mut().zip(sources.iter()) {
                        if let ClickIdSource::JsonField(name) = source
                            && key.eq_str(name)
                        {
                            *slot = Some(value);
                        }
                    }
                });
                if scanned.is_err() {
                    tracing::debug!(
                        "request body is not a well-formed JSON object; no click id taken from it"
                    );
                    return candidates.not_found();
                }
                last.into_iter()
                    .zip(sources.iter())
                    .find_map(|(slot, source)| {
                        let value = slot.flatten()?.unescape();
                        candidates.consider(source, &value).map(|id| (id, source))
                    })
            }
            BodyKind::Form => {
                let mut last: Vec<Option<&[u8]>> = vec![None; sources.len()];
                parse::form_fields(body, |key, value| {
                    for (slot, source) in last.iter_mut().zip(sources.iter()) {
                        if let ClickIdSource::FormField(name) = source
                            && key == name.as_bytes()
                        {
                            *slot = Some(value);
                        }
                    }
                });
                last.into_iter()
                    .zip(sources.iter())
                    .find_map(|(slot, source)| {
                        let value = parse::percent_decode(slot?);
                        candidates.consider(source, &value).map(|id| (id, source))
                    })
            }
        };
        match found {
            Some((click_id, source)) => candidates.found(click_id, source),
            None => candidates.not_found(),
        }
    }

    /// Finishes the lookup without the body: it was longer than the limit, or failed.
    ///
    /// ```
    /// # use affitor_tower::lookup::ClickIdSearch;
    /// # use affitor_tower::lookup::{self, HeaderLookup};
    /// let step = lookup::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
    ///     (header.name() == "content-type").then_some(&b"application/json"[..])
    /// });
    /// let HeaderLookup::ReadBody(body) = step else { unreachable!() };
    /// assert_eq!(body.finish_without_body().click_id(), None);
    /// ```
    pub fn finish_without_body(self) -> ClickIdLookup {
        tracing::debug!(
            limit = self.limit(),
            "request body not read whole; no click id taken from it"
        );
        Candidates {
            rejected: self.rejected,
            omitted: 0,
        }
        .not_found()
    }
}

/// The kind of request body a click id can be read from, told by its `Content-Type`.
///
/// ```
/// # use affitor_tower::lookup::ClickIdSearch;
/// # use affitor_tower::lookup::{self, BodyKind, HeaderLookup};
/// let kind = |content_type: &'static str| {
///     let step = lookup::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
///         (header.name() == "content-type").then_some(content_type.as_bytes())
///     });
///     match step {
///         HeaderLookup::ReadBody(body) => Some(body.kind()),
///         HeaderLookup::Done(_) => None,
///     }
/// };
/// assert_eq!(kind("application/json; charset=utf-8"), Some(BodyKind::Json));
/// assert_eq!(kind("application/vnd.api+json"), Some(BodyKind::Json));
/// assert_eq!(kind("application/x-www-form-urlencoded"), Some(BodyKind::Form));
/// assert_eq!(kind("multipart/form-data; boundary=x"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyKind {
    /// `application/json` or `application/*+json`: read by [`ClickIdSource::JsonField`].
    Json,
    /// `application/x-www-form-urlencoded`: read by [`ClickIdSource::FormField`].
    Form,
}

impl BodyKind {
    /// The kind of body a `Content-Type` header value announces, if it is one the lookup reads.
    /// Parameters (such as `charset`) are ignored, and the media type is matched without regard
    /// to case.
    fn from_content_type(content_type: &[u8]) -> Option<Self> {
        let essence = content_type
            .split(|&byte| byte == b';')
            .next()
            .map(parse::header_value)?;
        let subtype = essence
            .get(..12)
            .filter(|prefix| prefix.eq_ignore_ascii_case(b"application/"))
            .and(essence.get(12..))?;
        let suffix = subtype
            .len()
            .checked_sub(5)
            .and_then(|start| subtype.get(start..));
        if subtype.eq_ignore_ascii_case(b"json")
            || (subtype.len() > 5
                && suffix.is_some_and(|suffix| suffix.eq_ignore_ascii_case(b"+json")))
        {
            Some(Self::Json)
        } else if subtype.eq_ignore_ascii_case(b"x-www-form-urlencoded") {
            Some(Self::Form)
        } else {
            None
        }
    }

    fn reads(self, source: &ClickIdSource) -> bool {
        matches!(
            (self, source),
            (Self::Json, ClickIdSource::JsonField(_)) | (Self::Form, ClickIdSource::FormField(_))
        )
    }
}

/// A `Content-Length` value: digits, saturating at `u64::MAX`; `None` when malformed.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    let digits = parse::header_value(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |length, &digit| {
        length
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

/// The values of one header, taken from the request once for every source that reads it: a
/// single one (HTTP/1.1) without an allocation, several (HTTP/2 may send each cookie in a header
/// of its own) in a `Vec`.
enum HeaderValues<'h> {
    One(Option<&'h [u8]>),
    Many(Vec<&'h [u8]>),
}

impl<'h> HeaderValues<'h> {
    fn new(values: impl IntoIterator<Item = &'h [u8]>) -> Self {
        let mut values = values.into_iter();
        let Some(first) = values.next() else {
            return Self::One(None);
        };
        match values.next() {
            None => Self::One(Some(first)),
            Some(second) => Self::Many([first, second].into_iter().chain(values).collect()),
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, &'h [u8]> {
        match self {
            Self::One(one) => one.as_slice().iter(),
            Self::Many(many) => many.iter(),
        }
    }
}

/// The most rejected values one lookup records and logs one by one: a hostile request with
/// thousands of bad cookies gets one more log line saying how many were left out, not thousands.
const MAX_REJECTED: usize = 8;

/// The values turned down so far in one lookup.
#[derive(Default)]
struct Candidates {
    rejected: Vec<RejectedClickId>,
    /// Rejected values past [`MAX_REJECTED`], counted only.
    omitted: usize,
}

/// Warnings about invalid click ids: a client that sends them on every request (a broken
/// script, an attack) is one warning per 10 s, with the count of those left out since; each is
/// still logged at `debug` and recorded in its lookup.
static REJECTED: Throttle = Throttle::new(10);

/// Logs a rejected click id: a warning, at most one per interval.
fn warn_rejected(source: &ClickIdSource, reason: &InvalidClickId) {
    match REJECTED.due() {
        Some(suppressed) => tracing::warn!(
            %source,
            %reason,
            suppressed,
            "ignoring an invalid click id (`suppressed`: how many more since the last warning, \
             logged at debug)"
        ),
        None => tracing::debug!(%source, %reason, "ignoring an invalid click id"),
    }
}

impl Candidates {
    /// The click id in `value`, or `None` after recording and logging why it is not one.
    fn consider(&mut self, source: &ClickIdSource, value: &[u8]) -> Option<ClickId> {
        match ClickId::from_bytes(value) {
            Ok(click_id) => Some(click_id),
            Err(reason) => {
                self.reject(source, reason);
                None
            }
        }
    }

    /// Records and logs a rejected value, up to [`MAX_REJECTED`]; counts the others.
    fn reject(&mut self, source: &ClickIdSource, reason: InvalidClickId) {
        if self.rejected.len() < MAX_REJECTED {
            warn_rejected(source, &reason);
            self.rejected
                .push(RejectedClickId::new(source.clone(), reason));
        } else {
            self.omitted += 1;
        }
    }

    /// Logs how many rejected values were left out, if any.
    fn report_omitted(&self) {
        if self.omitted > 0 {
            tracing::debug!(
                omitted = self.omitted,
                "ignoring more invalid click ids than are logged one by one"
            );
        }
    }

    fn found(self, click_id: ClickId, source: &ClickIdSource) -> ClickIdLookup {
        self.report_omitted();
        tracing::debug!(%source, "click id found");
        ClickIdLookup::found(click_id, source.clone(), self.rejected)
    }

    fn not_found(self) -> ClickIdLookup {
        self.report_omitted();
        ClickIdLookup::not_found(self.rejected)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    use super::*;

    /// The levels of the events logged.
    #[derive(Clone, Default)]
    struct Levels(Arc<Mutex<Vec<Level>>>);

    impl<S: Subscriber> Layer<S> for Levels {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            self.0.lock().unwrap().push(*event.metadata().level());
        }
    }

    #[test]
    fn invalid_click_ids_on_every_request_are_one_warning_per_interval() {
        let levels = Levels::default();
        let subscriber = tracing_subscriber::registry()
            .with(levels.clone())
            .with(tracing_subscriber::filter::LevelFilter::DEBUG);
        let search = ClickIdSearch::default();
        let cookie = (0..9)
            .map(|n| format!("affitor_click_id=bad{n}!; "))
            .collect::<String>();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..100 {
                let step = lookup_headers(&search, "GET", |header| {
                    (header.name() == "cookie").then_some(cookie.as_bytes())
                });
                let HeaderLookup::Done(lookup) = step else {
                    panic!("a GET reads no body");
                };
                // Each rejection is still recorded in its lookup.
                assert_eq!(lookup.rejected().len(), MAX_REJECTED.min(9));
            }
        });
        let levels = levels.0.lock().unwrap();
        let warnings = levels.iter().filter(|level| **level == Level::WARN).count();
        // One at most (none when another test warned in the last interval), where 900 were.
        assert!(warnings <= 1, "{warnings} warnings");
        assert!(levels.len() >= 900, "{} events", levels.len());
    }
}
