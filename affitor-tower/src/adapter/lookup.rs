//! The click id lookup in two steps, as an adapter drives it: the headers, then maybe the body.

use crate::ClickId;
use crate::lookup::{
    ClickIdLookup, ClickIdSearch, ClickIdSource, HeaderStep, InvalidClickId, Plan, RejectedClickId,
    UnreadBody,
};
use crate::parse::{self, JsonStr};
use crate::throttle::Throttle;

/// The first step of a lookup: looks in the headers and cookies, and tells whether the body is
/// worth reading.
///
/// `headers` yields the values of the [`WantedHeader`] it is asked for, in order: the header of
/// each [`ClickIdSource::Header`], then `cookie`, and, before a body is read, `content-type`,
/// `content-encoding` and `content-length`. The body is worth reading when no header or cookie
/// gave a valid click id, the method is `POST`, `PUT` or `PATCH`, the content type is JSON
/// (`application/json`, `application/*+json`) or a form (`application/x-www-form-urlencoded`)
/// that a configured source reads, it has no `Content-Encoding` but `identity` (a gzip body is
/// passed on untouched), and the `Content-Length`, if any, is within the limit.
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
/// use affitor_tower::adapter::{self, HeaderLookup};
/// use affitor_tower::lookup::{ClickIdSearch, ClickIdSource};
///
/// let headers = [("cookie", "theme=dark; affitor_click_id=abc123")];
/// let step = adapter::lookup_headers(&ClickIdSearch::default(), "GET", |header| {
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
            .filter(|&kind| kind.read_by(&search.plan))
    } else {
        None
    };
    let Some(kind) = kind else {
        return HeaderLookup::Done(candidates.not_found());
    };
    // A compressed body is no JSON or form until the app decodes it: not worth the wait.
    let encoded = headers(WantedHeader::ContentEncoding)
        .into_iter()
        .find_map(content_coding);
    if let Some(coding) = encoded {
        tracing::debug!(
            encoding = %String::from_utf8_lossy(coding),
            "request body is encoded; not looking in it for a click id"
        );
        return HeaderLookup::Done(candidates.not_found().with_unread_body(UnreadBody::Encoded));
    }
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
        let over = UnreadBody::OverLimit(search.body_limit);
        return HeaderLookup::Done(candidates.not_found().with_unread_body(over));
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
/// use affitor_tower::lookup::{ClickIdSearch, ClickIdSource};
/// use affitor_tower::adapter;
///
/// let search = ClickIdSearch::new([
///     ClickIdSource::cookie("affitor_click_id"),
///     ClickIdSource::header("X-Click-Id"),
///     ClickIdSource::header("x-affitor-click-id"),
/// ]);
/// let names: Vec<&str> = adapter::header_names(&search).collect();
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
/// use affitor_tower::adapter::{self, HeaderLookup, WantedHeader};
/// use affitor_tower::lookup::ClickIdSearch;
///
/// let search = ClickIdSearch::default();
/// // The header sources' names, parsed once (here, kept as they are).
/// let parsed: Vec<String> = adapter::header_names(&search).map(str::to_owned).collect();
/// let headers = [("x-affitor-click-id", "abc123")];
/// let step = adapter::lookup_headers(&search, "GET", |wanted| {
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
    /// `content-encoding`: a compressed body is not read.
    ContentEncoding,
    /// `content-length`, to tell whether the body is within the limit.
    ContentLength,
}

impl WantedHeader<'_> {
    /// The header name, lower-case.
    ///
    /// ```
    /// use affitor_tower::adapter::WantedHeader;
    ///
    /// assert_eq!(WantedHeader::Cookie.name(), "cookie");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            Self::Source { name, .. } => name,
            Self::Cookie => "cookie",
            Self::ContentType => "content-type",
            Self::ContentEncoding => "content-encoding",
            Self::ContentLength => "content-length",
        }
    }
}

/// What [`lookup_headers`] concluded.
///
/// ```
/// use affitor_tower::lookup::ClickIdSearch;
/// use affitor_tower::adapter::{self, HeaderLookup};
///
/// let headers = [("content-type", "application/json"), ("content-length", "27")];
/// let step = adapter::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
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
/// use affitor_tower::adapter::{self, BodyKind, HeaderLookup};
///
/// let headers = [("content-type", "application/json"), ("content-length", "27")];
/// let step = adapter::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
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
    /// # use affitor_tower::adapter::{self, BodyKind, HeaderLookup};
    /// let step = adapter::lookup_headers(&ClickIdSearch::default(), "PUT", |header| {
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
    /// # use affitor_tower::adapter::{self, HeaderLookup};
    /// let search = ClickIdSearch::default().body_limit(100);
    /// let step = adapter::lookup_headers(&search, "POST", |header| {
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
    /// # use affitor_tower::lookup::ClickIdSearch;
    /// # use affitor_tower::adapter::{self, HeaderLookup};
    /// let step = adapter::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
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
    /// # use affitor_tower::adapter::{self, HeaderLookup};
    /// let step = adapter::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
    ///     (header.name() == "content-type").then_some(&b"application/x-www-form-urlencoded"[..])
    /// });
    /// let HeaderLookup::ReadBody(body) = step else { unreachable!() };
    /// let lookup = body.finish(b"email=a%40example.com&affitor_click_id=abc123");
    /// assert_eq!(lookup.click_id().unwrap(), "abc123");
    /// ```
    pub fn finish(self, body: &[u8]) -> ClickIdLookup {
        if body.len() > self.limit() {
            let over = UnreadBody::OverLimit(self.limit());
            return self.finish_without_body().with_unread_body(over);
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
                        if matches!(source, ClickIdSource::JsonField(name) if key.eq_str(name)) {
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
                        if matches!(source, ClickIdSource::FormField(name) if key == name.as_bytes())
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
    /// # use affitor_tower::adapter::{self, HeaderLookup};
    /// let step = adapter::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
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
        let limit = self.limit();
        Candidates {
            rejected: self.rejected,
            omitted: 0,
        }
        .not_found()
        .with_unread_body(UnreadBody::NotWhole(limit))
    }
}

/// The kind of request body a click id can be read from, told by its `Content-Type`.
///
/// ```
/// # use affitor_tower::lookup::ClickIdSearch;
/// # use affitor_tower::adapter::{self, BodyKind, HeaderLookup};
/// let kind = |content_type: &'static str| {
///     let step = adapter::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
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

    /// Whether a source of `plan` reads this kind of body.
    fn read_by(self, plan: &Plan) -> bool {
        match self {
            Self::Json => plan.reads_json,
            Self::Form => plan.reads_form,
        }
    }
}

/// The longest content coding named in a log line: the registered ones are a few bytes.
const MAX_CODING_LOGGED: usize = 32;

/// The first content coding of a `Content-Encoding` value other than `identity` (cut for the
/// log), if any.
fn content_coding(value: &[u8]) -> Option<&[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(parse::header_value)
        .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"))
        .map(|coding| &coding[..coding.len().min(MAX_CODING_LOGGED)])
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

    /// A body with a `Content-Encoding` (gzip JSON) is not read: a `debug` line names the
    /// encoding.
    #[test]
    fn a_compressed_body_is_not_read_and_the_encoding_is_named() {
        if !test_support::alone!() {
            return;
        }
        let (logs, _guard) = test_support::Logs::capture("debug");
        let step = lookup_headers(&ClickIdSearch::default(), "POST", |header| {
            match header.name() {
                "content-type" => Some(&b"application/json"[..]),
                "content-encoding" => Some(&b"gzip"[..]),
                _ => None,
            }
        });
        assert!(matches!(step, HeaderLookup::Done(_)), "{step:?}");
        let logged = logs.text();
        assert!(
            logged.contains("DEBUG") && logged.contains("gzip"),
            "{logged}"
        );
    }

    #[test]
    fn invalid_click_ids_on_every_request_are_one_warning_per_interval() {
        if !test_support::alone!() {
            return;
        }
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
        // One, where 900 were.
        assert_eq!(warnings, 1);
        assert!(levels.len() >= 900, "{} events", levels.len());
    }
}

/// When the Affitor layer (or the actix-web middleware) began waiting for a request's body to
/// look for the click id in it: in the extensions of each request whose body it waited for.
///
/// A later reader of the same body counts its own deadline from it, so that the two waits do
/// not add up: the `WebhookEvent` extractors of `affitor-axum` and `affitor-actix` answer 408
/// once the verifier's `body_timeout` has passed since this instant (since their own start
/// when there is none).
///
/// ```
/// use affitor_tower::adapter::BodyWaitStarted;
///
/// let started = BodyWaitStarted::now();
/// assert!(started.instant() <= tokio::time::Instant::now());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyWaitStarted(tokio::time::Instant);

impl BodyWaitStarted {
    /// Now (on tokio's clock, which a test may pause).
    #[must_use]
    pub fn now() -> Self {
        Self(tokio::time::Instant::now())
    }

    /// The instant the wait began.
    #[must_use]
    pub fn instant(self) -> tokio::time::Instant {
        self.0
    }
}
