//! What the lookup found: where a click id was searched, the one found, and the values rejected.

use std::borrow::Cow;
use std::fmt;

use affitor::{ClickId, InvalidClickId};

/// A place where the click id is looked for, and where one was found.
///
/// The default order, used by `AffitorLayer` and the actix middleware, is the header
/// `x-affitor-click-id`, the cookie `affitor_click_id`, the legacy cookie `customer_code`, the
/// JSON body fields `affitorClickId` and `affitor_click_id`, and the form field
/// `affitor_click_id`.
///
/// ```
/// use affitor_tower::lookup::ClickIdSource;
///
/// let source = ClickIdSource::header("x-click-id");
/// assert_eq!(source.to_string(), "header `x-click-id`");
/// assert!(!source.reads_body());
/// assert!(ClickIdSource::json_field("clickId").reads_body());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClickIdSource {
    /// A request header, such as `x-affitor-click-id` set by a proxy or by the frontend.
    Header(Cow<'static, str>),
    /// A cookie of the `Cookie` header, such as `affitor_click_id` set by the Affitor tracker.
    Cookie(Cow<'static, str>),
    /// A top-level string field of an `application/json` body, such as `affitorClickId`.
    JsonField(Cow<'static, str>),
    /// A field of an `application/x-www-form-urlencoded` body.
    FormField(Cow<'static, str>),
    /// A [`ClickId`] request extension inserted by an earlier layer of your own.
    Extension,
}

impl ClickIdSource {
    /// A request header. Header names are matched without regard to case.
    ///
    /// ```
    /// use affitor_tower::lookup::ClickIdSource;
    ///
    /// assert_eq!(ClickIdSource::header("X-Click-Id"), ClickIdSource::header("x-click-id"));
    /// ```
    pub fn header(name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
            Self::Header(Cow::Owned(name.to_ascii_lowercase()))
        } else {
            Self::Header(name)
        }
    }

    /// A cookie. Cookie names are matched exactly.
    ///
    /// ```
    /// let source = affitor_tower::lookup::ClickIdSource::cookie("affitor_click_id");
    /// assert_eq!(source.to_string(), "cookie `affitor_click_id`");
    /// ```
    pub fn cookie(name: impl Into<Cow<'static, str>>) -> Self {
        Self::Cookie(name.into())
    }

    /// A top-level string field of a JSON body.
    ///
    /// ```
    /// let source = affitor_tower::lookup::ClickIdSource::json_field("affitorClickId");
    /// assert_eq!(source.to_string(), "JSON body field `affitorClickId`");
    /// ```
    pub fn json_field(name: impl Into<Cow<'static, str>>) -> Self {
        Self::JsonField(name.into())
    }

    /// A field of a form (`application/x-www-form-urlencoded`) body.
    ///
    /// ```
    /// let source = affitor_tower::lookup::ClickIdSource::form_field("affitor_click_id");
    /// assert_eq!(source.to_string(), "form body field `affitor_click_id`");
    /// ```
    pub fn form_field(name: impl Into<Cow<'static, str>>) -> Self {
        Self::FormField(name.into())
    }

    /// Whether this source needs the request body to be read.
    ///
    /// ```
    /// use affitor_tower::lookup::ClickIdSource;
    ///
    /// assert!(ClickIdSource::form_field("affitor_click_id").reads_body());
    /// assert!(!ClickIdSource::cookie("affitor_click_id").reads_body());
    /// ```
    pub fn reads_body(&self) -> bool {
        matches!(self, Self::JsonField(_) | Self::FormField(_))
    }

    /// Where, in words without the name (`a cookie`): the note a found click id carries
    /// ([`ClickId::found_in`]), static so that a request pays nothing for it.
    fn kind(&self) -> &'static str {
        match self {
            Self::Header(_) => "a header",
            Self::Cookie(_) => "a cookie",
            Self::JsonField(_) => "a JSON body field",
            Self::FormField(_) => "a form body field",
            Self::Extension => "a request extension",
        }
    }
}

impl fmt::Display for ClickIdSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(name) => write!(f, "header `{name}`"),
            Self::Cookie(name) => write!(f, "cookie `{name}`"),
            Self::JsonField(name) => write!(f, "JSON body field `{name}`"),
            Self::FormField(name) => write!(f, "form body field `{name}`"),
            Self::Extension => f.write_str("request extension"),
        }
    }
}

/// A value that was found in the request but rejected as a click id.
///
/// ```
/// use affitor_tower::lookup::{ClickIdSource, InvalidClickId, RejectedClickId};
///
/// let rejected = RejectedClickId::new(ClickIdSource::cookie("affitor_click_id"), InvalidClickId::Empty);
/// assert_eq!(rejected.to_string(), "cookie `affitor_click_id`: click id is empty");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedClickId {
    source: ClickIdSource,
    reason: InvalidClickId,
}

impl RejectedClickId {
    /// A value from `source` rejected for `reason`.
    ///
    /// ```
    /// use affitor_tower::lookup::{ClickIdSource, InvalidClickId, RejectedClickId};
    ///
    /// let rejected = RejectedClickId::new(ClickIdSource::header("x-affitor-click-id"), InvalidClickId::Empty);
    /// assert_eq!(rejected.reason(), InvalidClickId::Empty);
    /// ```
    pub fn new(source: ClickIdSource, reason: InvalidClickId) -> Self {
        Self { source, reason }
    }

    /// Where the value was found.
    ///
    /// ```
    /// use affitor_tower::lookup::{ClickIdSource, InvalidClickId, RejectedClickId};
    ///
    /// let source = ClickIdSource::cookie("customer_code");
    /// let rejected = RejectedClickId::new(source.clone(), InvalidClickId::TooLong { len: 200 });
    /// assert_eq!(rejected.source(), &source);
    /// ```
    pub fn source(&self) -> &ClickIdSource {
        &self.source
    }

    /// Why it was rejected.
    ///
    /// ```
    /// use affitor_tower::lookup::{ClickIdSource, InvalidClickId, RejectedClickId};
    ///
    /// let reason = InvalidClickId::ForbiddenByte { byte: b'\r', position: 3 };
    /// let rejected = RejectedClickId::new(ClickIdSource::header("x-affitor-click-id"), reason);
    /// assert_eq!(rejected.reason(), reason);
    /// ```
    pub fn reason(&self) -> InvalidClickId {
        self.reason
    }
}

impl fmt::Display for RejectedClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

/// What the click id lookup found in one request.
///
/// `AffitorLayer` and the actix middleware insert one into every request's extensions, found or
/// not, so an extractor can tell "this request carries no click id" from "the layer is not
/// installed". It is where they put the click id they find: they insert no separate
/// [`ClickId`] extension (read [`click_id`](Self::click_id) instead).
///
/// Two lookups are equal when they found the same click id in the same source and rejected the
/// same values; why a body was not searched, which only its message says, is not compared.
///
/// ```
/// use affitor_tower::ClickId;
/// use affitor_tower::lookup::{ClickIdLookup, ClickIdSource};
///
/// let id: ClickId = "abc".parse()?;
/// let lookup = ClickIdLookup::found(id.clone(), ClickIdSource::cookie("affitor_click_id"), Vec::new());
/// assert_eq!(lookup.click_id(), Some(&id));
/// assert_eq!(lookup.source(), Some(&ClickIdSource::cookie("affitor_click_id")));
///
/// let lookup = ClickIdLookup::not_found(Vec::new());
/// assert_eq!(lookup.click_id(), None);
/// assert_eq!(lookup.to_string(), "no click id in the request");
/// # Ok::<(), affitor_tower::lookup::InvalidClickId>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClickIdLookup {
    found: Option<(ClickId, ClickIdSource)>,
    rejected: Vec<RejectedClickId>,
    /// Why the body, which might have held the click id, was not searched.
    unread_body: Option<UnreadBody>,
}

impl PartialEq for ClickIdLookup {
    fn eq(&self, other: &Self) -> bool {
        self.found == other.found && self.rejected == other.rejected
    }
}

impl Eq for ClickIdLookup {}

/// Why a request's body was not searched for a click id: said in a lookup that found none, so
/// that a rejection tells the sender what to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnreadBody {
    /// Compressed (`Content-Encoding`): no JSON or form until the app decodes it.
    Encoded,
    /// Its `Content-Length` is over the limit, in bytes.
    OverLimit(usize),
    /// Not read whole: over the limit (in bytes) as it came, cut short, or too slow; the
    /// adapter that read it does not say which.
    NotWhole(usize),
}

impl fmt::Display for UnreadBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Encoded => f.write_str(
                "its body was not searched: it is compressed (`Content-Encoding`); send the \
                 click id in a header or the cookie",
            ),
            Self::OverLimit(limit) => write!(
                f,
                "its body was not searched: it is over the {limit}-byte limit \
                 (`ClickIdSearch::body_limit`)"
            ),
            Self::NotWhole(limit) => write!(
                f,
                "its body was not searched: it is over the {limit}-byte limit \
                 (`ClickIdSearch::body_limit`), or did not come whole in time \
                 (`ClickIdSearch::body_timeout`)"
            ),
        }
    }
}

impl ClickIdLookup {
    /// A lookup that found `click_id` in `source`, after rejecting the values in `rejected`.
    /// The click id is noted as found there ([`ClickId::found_in`]), unless it was noted
    /// already (an extension set by a layer of your own), so that a lead or a sale that carries
    /// it tells an outbox's journal where it came from.
    ///
    /// Adapters for other frameworks build it; the layer and the actix middleware do it for you.
    ///
    /// ```
    /// use affitor_tower::lookup::{ClickIdLookup, ClickIdSource};
    ///
    /// let lookup = ClickIdLookup::found("abc".parse()?, ClickIdSource::Extension, Vec::new());
    /// assert_eq!(lookup.to_string(), "click id found in the request extension");
    /// assert_eq!(lookup.click_id().and_then(|id| id.source()), Some("a request extension"));
    /// # Ok::<(), affitor_tower::lookup::InvalidClickId>(())
    /// ```
    pub fn found(click_id: ClickId, source: ClickIdSource, rejected: Vec<RejectedClickId>) -> Self {
        let click_id = match click_id.source() {
            Some(_) => click_id,
            None => click_id.found_in(source.kind()),
        };
        Self {
            found: Some((click_id, source)),
            rejected,
            unread_body: None,
        }
    }

    /// A lookup that found no valid click id; `rejected` lists the values it turned down.
    ///
    /// ```
    /// use affitor_tower::lookup::{ClickIdLookup, ClickIdSource, InvalidClickId, RejectedClickId};
    ///
    /// let rejected = RejectedClickId::new(ClickIdSource::cookie("affitor_click_id"), InvalidClickId::Empty);
    /// let lookup = ClickIdLookup::not_found(vec![rejected]);
    /// assert_eq!(
    ///     lookup.to_string(),
    ///     "no valid click id in the request (cookie `affitor_click_id`: click id is empty)",
    /// );
    /// ```
    pub fn not_found(rejected: Vec<RejectedClickId>) -> Self {
        Self {
            found: None,
            rejected,
            unread_body: None,
        }
    }

    /// This lookup, its body not searched for `why`.
    pub(crate) fn with_unread_body(mut self, why: UnreadBody) -> Self {
        self.unread_body = Some(why);
        self
    }

    /// The click id, if one was found.
    ///
    /// ```
    /// use affitor_tower::lookup::{ClickIdLookup, ClickIdSource};
    ///
    /// let lookup = ClickIdLookup::found("abc".parse()?, ClickIdSource::header("x-affitor-click-id"), Vec::new());
    /// assert_eq!(lookup.click_id().map(|id| id.as_str()), Some("abc"));
    /// # Ok::<(), affitor_tower::lookup::InvalidClickId>(())
    /// ```
    pub fn click_id(&self) -> Option<&ClickId> {
        self.found.as_ref().map(|(click_id, _)| click_id)
    }

    /// Where the click id was found, if it was.
    ///
    /// ```
    /// use affitor_tower::lookup::ClickIdLookup;
    ///
    /// assert_eq!(ClickIdLookup::not_found(Vec::new()).source(), None);
    /// ```
    pub fn source(&self) -> Option<&ClickIdSource> {
        self.found.as_ref().map(|(_, source)| source)
    }

    /// The values rejected on the way, in the order they were looked at (the first few of
    /// them, when a request carries many).
    ///
    /// ```
    /// use affitor_tower::lookup::ClickIdLookup;
    ///
    /// assert!(ClickIdLookup::not_found(Vec::new()).rejected().is_empty());
    /// ```
    pub fn rejected(&self) -> &[RejectedClickId] {
        &self.rejected
    }

    /// The click id, consuming the lookup.
    ///
    /// ```
    /// use affitor_tower::lookup::{ClickIdLookup, ClickIdSource};
    ///
    /// let lookup = ClickIdLookup::found("abc".parse()?, ClickIdSource::Extension, Vec::new());
    /// assert_eq!(lookup.into_click_id().map(String::from), Some("abc".to_owned()));
    /// # Ok::<(), affitor_tower::lookup::InvalidClickId>(())
    /// ```
    pub fn into_click_id(self) -> Option<ClickId> {
        self.found.map(|(click_id, _)| click_id)
    }
}

impl fmt::Display for ClickIdLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.found, self.unread_body) {
            (Some((_, source)), _) => write!(f, "click id found in the {source}"),
            (None, None) if self.rejected.is_empty() => f.write_str("no click id in the request"),
            (None, Some(unread)) if self.rejected.is_empty() => {
                write!(f, "no click id in the request ({unread})")
            }
            (None, unread) => {
                f.write_str("no valid click id in the request (")?;
                for (index, rejected) in self.rejected.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{rejected}")?;
                }
                if let Some(unread) = unread {
                    write!(f, "; {unread}")?;
                }
                f.write_str(")")
            }
        }
    }
}
