//! The click id: the token that ties a signup or a sale to the partner whose link was clicked.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A validated Affitor click id.
///
/// The browser tracker stores it in the first-party cookie `affitor_click_id`; the backend sends it
/// with a lead or a sale as `click_id`. A valid click id is 1 to [`ClickId::MAX_LEN`] bytes of
/// `A-Z a-z 0-9 _ - . :`, so it is safe to put in a header, a log line or a JSON string as it is.
///
/// ```
/// use affitor_tower::ClickId;
///
/// let id: ClickId = "cust_42_1714000000000".parse()?;
/// assert_eq!(id.as_str(), "cust_42_1714000000000");
///
/// assert!("".parse::<ClickId>().is_err());
/// assert!("evil\r\nSet-Cookie: x".parse::<ClickId>().is_err());
/// # Ok::<(), affitor_tower::lookup::InvalidClickId>(())
/// ```
///
/// Cloning is cheap: the text is shared, so a copy taken out of a request's [`ClickIdLookup`]
/// costs an atomic increment.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClickId(Arc<str>);

impl ClickId {
    /// The longest click id accepted, in bytes.
    ///
    /// ```
    /// use affitor_tower::ClickId;
    ///
    /// assert!("a".repeat(ClickId::MAX_LEN).parse::<ClickId>().is_ok());
    /// assert!("a".repeat(ClickId::MAX_LEN + 1).parse::<ClickId>().is_err());
    /// ```
    pub const MAX_LEN: usize = 128;

    /// Validates `bytes` as a click id and copies it.
    ///
    /// This is what the request parsers use: header and cookie values arrive as bytes and
    /// need not be UTF-8.
    ///
    /// ```
    /// use affitor_tower::{ClickId, lookup::InvalidClickId};
    ///
    /// assert_eq!(ClickId::from_bytes(b"abc")?.as_str(), "abc");
    /// assert_eq!(
    ///     ClickId::from_bytes(b"caf\xc3\xa9"),
    ///     Err(InvalidClickId::ForbiddenByte { byte: 0xc3, position: 3 }),
    /// );
    /// # Ok::<(), InvalidClickId>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidClickId> {
        validate(bytes)?;
        // Every allowed byte is ASCII, so the bytes are UTF-8.
        let text = std::str::from_utf8(bytes).map_err(|error| InvalidClickId::ForbiddenByte {
            byte: bytes[error.valid_up_to()],
            position: error.valid_up_to(),
        })?;
        Ok(Self(Arc::from(text)))
    }

    /// The click id as a string slice.
    ///
    /// ```
    /// let id: affitor_tower::ClickId = "abc".parse()?;
    /// assert_eq!(id.as_str(), "abc");
    /// # Ok::<(), affitor_tower::lookup::InvalidClickId>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The click id as an owned `String`.
    ///
    /// ```
    /// let id: affitor_tower::ClickId = "abc".parse()?;
    /// assert_eq!(id.into_string(), "abc");
    /// # Ok::<(), affitor_tower::lookup::InvalidClickId>(())
    /// ```
    pub fn into_string(self) -> String {
        String::from(&*self.0)
    }
}

fn validate(bytes: &[u8]) -> Result<(), InvalidClickId> {
    if bytes.is_empty() {
        return Err(InvalidClickId::Empty);
    }
    if bytes.len() > ClickId::MAX_LEN {
        return Err(InvalidClickId::TooLong { len: bytes.len() });
    }
    // Every byte is looked at without a branch; where the first bad one is matters only when
    // there is one.
    let all_allowed = bytes
        .iter()
        .fold(true, |all, &byte| all & ALLOWED[usize::from(byte)]);
    if !all_allowed
        && let Some(position) = bytes.iter().position(|&byte| !ALLOWED[usize::from(byte)])
    {
        return Err(InvalidClickId::ForbiddenByte {
            byte: bytes[position],
            position,
        });
    }
    Ok(())
}

const fn is_allowed(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b':')
}

/// [`is_allowed`] for each byte value: one load per byte instead of four ranges.
static ALLOWED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = is_allowed(byte as u8);
        byte += 1;
    }
    table
};

impl fmt::Debug for ClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClickId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for ClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for ClickId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl FromStr for ClickId {
    type Err = InvalidClickId;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(value.as_bytes())
    }
}

impl TryFrom<&str> for ClickId {
    type Error = InvalidClickId;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl TryFrom<String> for ClickId {
    type Error = InvalidClickId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate(value.as_bytes())?;
        Ok(Self(Arc::from(value)))
    }
}

impl TryFrom<&[u8]> for ClickId {
    type Error = InvalidClickId;

    fn try_from(value: &[u8]) -> Result<Self, Self::Error> {
        Self::from_bytes(value)
    }
}

impl From<ClickId> for String {
    fn from(id: ClickId) -> Self {
        id.into_string()
    }
}

impl PartialEq<str> for ClickId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ClickId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for ClickId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ClickId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Cow::<'de, str>::deserialize(deserializer)?;
        Self::from_str(&value).map_err(serde::de::Error::custom)
    }
}

/// Why a value was not accepted as a [`ClickId`].
///
/// The message never repeats the value itself: it may come from a hostile request and end up
/// in a log line.
///
/// ```
/// use affitor_tower::{ClickId, lookup::InvalidClickId};
///
/// let error = "a b".parse::<ClickId>().unwrap_err();
/// assert_eq!(error, InvalidClickId::ForbiddenByte { byte: b' ', position: 1 });
/// assert_eq!(
///     error.to_string(),
///     "click id has the forbidden byte 0x20 at position 1; \
///      only A-Z a-z 0-9 _ - . : are allowed",
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidClickId {
    /// The value is empty.
    #[error("click id is empty")]
    Empty,
    /// The value is longer than [`ClickId::MAX_LEN`] bytes.
    #[error(
        "click id is {len} bytes long; the limit is {} bytes",
        ClickId::MAX_LEN
    )]
    TooLong {
        /// The length of the value, in bytes.
        len: usize,
    },
    /// The value holds a byte outside `A-Z a-z 0-9 _ - . :` (a space, a control character such
    /// as CR or LF, a quote, a non-ASCII byte, ...).
    #[error(
        "click id has the forbidden byte {byte:#04x} at position {position}; \
         only A-Z a-z 0-9 _ - . : are allowed"
    )]
    ForbiddenByte {
        /// The first forbidden byte.
        byte: u8,
        /// Its position in the value, counted in bytes from 0.
        position: usize,
    },
}

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickIdLookup {
    found: Option<(ClickId, ClickIdSource)>,
    rejected: Vec<RejectedClickId>,
}

impl ClickIdLookup {
    /// A lookup that found `click_id` in `source`, after rejecting the values in `rejected`.
    ///
    /// Adapters for other frameworks build it; the layer and the actix middleware do it for you.
    ///
    /// ```
    /// use affitor_tower::lookup::{ClickIdLookup, ClickIdSource};
    ///
    /// let lookup = ClickIdLookup::found("abc".parse()?, ClickIdSource::Extension, Vec::new());
    /// assert_eq!(lookup.to_string(), "click id found in the request extension");
    /// # Ok::<(), affitor_tower::lookup::InvalidClickId>(())
    /// ```
    pub fn found(click_id: ClickId, source: ClickIdSource, rejected: Vec<RejectedClickId>) -> Self {
        Self {
            found: Some((click_id, source)),
            rejected,
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
        }
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
    /// use affitor_tower::lookup::{ClickIdLookup, ClickIdSource};
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
        match &self.found {
            Some((_, source)) => write!(f, "click id found in the {source}"),
            None if self.rejected.is_empty() => f.write_str("no click id in the request"),
            None => {
                f.write_str("no valid click id in the request (")?;
                for (index, rejected) in self.rejected.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{rejected}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_allowed_byte() {
        let all = "ABCXYZabcxyz0189_-.:";
        assert_eq!(all.parse::<ClickId>().unwrap().as_str(), all);
        assert_eq!(
            ClickId::try_from("cust_42_1714000000000".to_owned())
                .unwrap()
                .to_string(),
            "cust_42_1714000000000"
        );
    }

    #[test]
    fn length_bounds() {
        let longest = "a".repeat(ClickId::MAX_LEN);
        assert!(longest.parse::<ClickId>().is_ok());
        let too_long = "a".repeat(ClickId::MAX_LEN + 1);
        assert_eq!(
            too_long.parse::<ClickId>(),
            Err(InvalidClickId::TooLong { len: 129 })
        );
        assert_eq!("".parse::<ClickId>(), Err(InvalidClickId::Empty));
    }

    #[test]
    fn rejects_forbidden_bytes_without_echoing_the_value() {
        for (input, byte, position) in [
            (&b"ab\rcd"[..], b'\r', 2),
            (b"ab\ncd", b'\n', 2),
            (b" abc", b' ', 0),
            (b"a\"b", b'"', 1),
            (b"a;b", b';', 1),
            (b"a=b", b'=', 1),
            (b"a%20b", b'%', 1),
            (b"abc\xff", 0xff, 3),
            (b"\0", 0, 0),
        ] {
            let error = ClickId::from_bytes(input).unwrap_err();
            assert_eq!(error, InvalidClickId::ForbiddenByte { byte, position });
            assert!(!error.to_string().contains("ab"), "{error}");
        }
    }

    #[test]
    fn serde_round_trip_validates() {
        let id: ClickId = serde_json::from_str("\"abc-1.2:3\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc-1.2:3\"");
        let error = serde_json::from_str::<ClickId>("\"a b\"").unwrap_err();
        assert!(error.to_string().contains("forbidden byte 0x20"), "{error}");
        assert!(serde_json::from_str::<ClickId>("12").is_err());
    }

    #[test]
    fn compares_with_str() {
        let id: ClickId = "abc".parse().unwrap();
        assert_eq!(id, "abc");
        assert_eq!(String::from(id), "abc");
    }
}
