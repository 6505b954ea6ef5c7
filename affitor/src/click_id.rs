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
/// use affitor::ClickId;
///
/// let id: ClickId = "cust_42_1714000000000".parse()?;
/// assert_eq!(id.as_str(), "cust_42_1714000000000");
///
/// assert!("".parse::<ClickId>().is_err());
/// assert!("evil\r\nSet-Cookie: x".parse::<ClickId>().is_err());
/// # Ok::<(), affitor::InvalidClickId>(())
/// ```
///
/// Cloning is cheap: the text is shared, so a copy taken out of a request's lookup result
/// costs an atomic increment.
///
/// A click id may say where the app found it ([`source`](Self::source)): a note for the
/// record an outbox's journal keeps, never sent, and left out of comparisons and hashing.
#[derive(Clone)]
pub struct ClickId {
    text: Arc<str>,
    // A static word, so that noting it on every request costs no allocation.
    source: Option<&'static str>,
}

impl ClickId {
    /// The longest click id accepted, in bytes.
    ///
    /// ```
    /// use affitor::ClickId;
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
    /// use affitor::{ClickId, InvalidClickId};
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
        Ok(Self::new(Arc::from(text)))
    }

    fn new(text: Arc<str>) -> Self {
        Self { text, source: None }
    }

    /// This click id, noted as found in `source`, in words (`a cookie`, `a header`): what
    /// `affitor-tower`'s lookup notes of the id it finds in a request, and a verified webhook
    /// of the id in a provider's event (`the provider's event`). The note goes with
    /// every clone into the lead or sale that carries the id, for a backend that keeps a
    /// record (an outbox's journal); it is never sent, and two ids of the same text are equal
    /// whatever their notes.
    ///
    /// ```
    /// let id: affitor::ClickId = "abc".parse()?;
    /// let found = id.clone().found_in("a cookie");
    /// assert_eq!(found.source(), Some("a cookie"));
    /// assert_eq!(found, id);
    /// # Ok::<(), affitor::InvalidClickId>(())
    /// ```
    #[must_use]
    pub fn found_in(mut self, source: &'static str) -> Self {
        self.source = Some(source);
        self
    }

    /// Where the app found this click id, when [`found_in`](Self::found_in) noted it.
    ///
    /// ```
    /// let id: affitor::ClickId = "abc".parse()?;
    /// assert_eq!(id.source(), None);
    /// # Ok::<(), affitor::InvalidClickId>(())
    /// ```
    pub fn source(&self) -> Option<&'static str> {
        self.source
    }

    /// The click id as a string slice.
    ///
    /// ```
    /// let id: affitor::ClickId = "abc".parse()?;
    /// assert_eq!(id.as_str(), "abc");
    /// # Ok::<(), affitor::InvalidClickId>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The click id as an owned `String`.
    ///
    /// ```
    /// let id: affitor::ClickId = "abc".parse()?;
    /// assert_eq!(id.into_string(), "abc");
    /// # Ok::<(), affitor::InvalidClickId>(())
    /// ```
    pub fn into_string(self) -> String {
        String::from(&*self.text)
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
    if !all_allowed {
        if let Some(position) = bytes.iter().position(|&byte| !ALLOWED[usize::from(byte)]) {
            return Err(InvalidClickId::ForbiddenByte {
                byte: bytes[position],
                position,
            });
        }
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
        Ok(Self::new(Arc::from(value)))
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

// The text alone: the source is a note, not part of the id.
impl PartialEq for ClickId {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ClickId {}

impl std::hash::Hash for ClickId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for ClickId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ClickId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
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
/// use affitor::{ClickId, InvalidClickId};
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
