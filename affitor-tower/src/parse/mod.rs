//! Pure parsers over `&[u8]`: a header value, the `Cookie` header, JSON and form bodies.
//!
//! They are what `AffitorLayer` and the actix-web middleware share, and they know nothing of any
//! HTTP library. Each takes the raw bytes of a request part and returns the raw bytes of the value
//! it finds, unescaped or percent-decoded where the format says so; turning those bytes into a
//! [`ClickId`](crate::ClickId) (and rejecting them) is the caller's job.
//!
//! None of them allocates unless a value has to be unescaped, none of them builds a document tree,
//! and none of them panics, whatever the input.
//!
//! ```text
//! use affitor_tower::parse;
//!
//! let body = br#"{"email":"a@example.com","affitorClickId":"abc123"}"#;
//! assert_eq!(parse::json_string_field(body, "affitorClickId").as_deref(), Some(&b"abc123"[..]));
//!
//! let cookie = b"theme=dark; affitor_click_id=abc123";
//! let found = parse::cookies(cookie).find(|(name, _)| *name == b"affitor_click_id");
//! assert_eq!(found, Some((&b"affitor_click_id"[..], &b"abc123"[..])));
//! ```

// Private outside the fuzz targets: items only they and the tests use are left alone.
#![cfg_attr(not(fuzzing), allow(unreachable_pub, dead_code, unused_imports))]

mod json;

use std::borrow::Cow;

pub use self::json::{JSON_MAX_DEPTH, json_string_field};
pub(crate) use self::json::{JsonStr, json_top_level_fields};

/// A header value without the optional whitespace (spaces and tabs) around it.
///
/// HTTP servers usually trim it already; this makes the rule hold for values built by hand too.
///
/// ```text
/// assert_eq!(affitor_tower::parse::header_value(b" \tabc123 "), b"abc123");
/// ```
pub fn header_value(value: &[u8]) -> &[u8] {
    trim_ows(value)
}

/// The cookies of one `Cookie` header value, as `(name, value)` pairs in the order they appear.
///
/// - Pairs are separated by `;`; the whitespace around names and values is dropped.
/// - A value wrapped in double quotes (`name="value"`) is returned without them.
/// - Malformed pairs (no `=`, or an empty name) are skipped; the next pairs are still read.
/// - Values are not percent-decoded: cookies carry their bytes as they are.
/// - Several cookies of the same name are all returned, in order. Browsers send the cookie with
///   the most specific path first.
///
/// A request may carry several `Cookie` headers (HTTP/2 splits them): call this on each.
///
/// ```text
/// use affitor_tower::parse;
///
/// let pairs: Vec<_> = parse::cookies(br#"a=1; broken; b="2" ;a=3"#).collect();
/// assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"a", b"3")]);
/// ```
pub fn cookies(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    // One pass over the bytes: each is looked at once, as part of a name or of a value.
    let mut rest = header;
    std::iter::from_fn(move || {
        loop {
            let Some(equals) = rest.iter().position(|&byte| byte == b'=' || byte == b';') else {
                rest = &[];
                return None;
            };
            if rest[equals] == b';' {
                // A pair without `=`.
                rest = &rest[equals + 1..];
                continue;
            }
            let name = trim_ows(&rest[..equals]);
            let after = &rest[equals + 1..];
            let end = find_semicolon(after).unwrap_or(after.len());
            let mut value = trim_ows(&after[..end]);
            rest = after.get(end + 1..).unwrap_or_default();
            if name.is_empty() {
                continue;
            }
            if let [b'"', inner @ .., b'"'] = value {
                value = inner;
            }
            return Some((name, value));
        }
    })
}

/// A cookie name, ready to find the values of that cookie in a `Cookie` header.
///
/// It finds what filtering [`cookies`] by name finds, without splitting the header into pairs:
/// it searches for the name (SIMD where the CPU has it), then checks that each occurrence starts
/// a pair, so a header without the cookie is passed over quickly.
#[derive(Clone, Debug)]
pub(crate) struct CookieName(memchr::memmem::Finder<'static>);

impl CookieName {
    /// The matcher for cookies named `name`; `None` when [`cookies`] can never give that name
    /// (empty, with a `=` or `;`, or with spaces or tabs at either end: names are cut at the
    /// first `=` and trimmed).
    pub(crate) fn new(name: &str) -> Option<Self> {
        let name = name.as_bytes();
        let usable = !name.is_empty()
            && !name.contains(&b'=')
            && !name.contains(&b';')
            && trim_ows(name).len() == name.len();
        usable.then(|| Self(memchr::memmem::Finder::new(name).into_owned()))
    }

    /// The values of this cookie in one `Cookie` header, in order, as [`cookies`] gives them.
    pub(crate) fn values<'h>(
        &self,
        header: &'h [u8],
    ) -> impl Iterator<Item = &'h [u8]> + use<'h, '_> {
        let name_len = self.0.needle().len();
        let mut from = 0;
        std::iter::from_fn(move || {
            loop {
                // Searched from the end of the last occurrence: a name that starts a pair
                // follows a `;` and optional whitespace, which a usable name does not contain,
                // so an occurrence overlapping an earlier one never starts a pair.
                let at = from + self.0.find(header.get(from..)?)?;
                from = at + name_len;
                let before = trim_ows_end(header.get(..at)?);
                if !matches!(before.last(), None | Some(b';')) {
                    continue;
                }
                let [b'=', after @ ..] = trim_ows_start(header.get(from..)?) else {
                    continue;
                };
                let end = find_semicolon(after).unwrap_or(after.len());
                return match trim_ows(after.get(..end)?) {
                    [b'"', inner @ .., b'"'] => Some(inner),
                    value => Some(value),
                };
            }
        })
    }
}

/// The position of the first `;` in `bytes`, eight bytes at a time (cookie values are most of
/// a `Cookie` header).
pub(crate) fn find_semicolon(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const SEMICOLONS: u64 = u64::from_ne_bytes([b';'; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        // A `;` is a zero byte of `word ^ SEMICOLONS`; the lowest flag marks the first one.
        let word = u64::from_le_bytes(word) ^ SEMICOLONS;
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&byte| byte == b';')
        .map(|position| offset + position)
}

/// The value of the field `name` of an `application/x-www-form-urlencoded` body, decoded.
///
/// - Pairs are separated by `&`; a pair without `=` has an empty value.
/// - Names and values are percent-decoded, with `+` as a space; a `%` not followed by two hex
///   digits is kept as it is (as browsers do).
/// - If the field appears more than once, **the last one wins**, as for a JSON body (and as in
///   most server-side form parsers that keep one value per name).
///
/// ```text
/// use affitor_tower::parse::form_field;
///
/// let field = |body: &str| form_field(body.as_bytes(), "id").map(|v| v.into_owned());
/// assert_eq!(field("email=a%40example.com&id=abc"), Some(b"abc".to_vec()));
/// assert_eq!(field("id=a+b%2Fc"), Some(b"a b/c".to_vec()));
/// assert_eq!(field("id=first&id=last"), Some(b"last".to_vec()));
/// assert_eq!(field("idx=abc"), None);
/// ```
pub fn form_field<'a>(body: &'a [u8], name: &str) -> Option<Cow<'a, [u8]>> {
    let mut found = None;
    form_fields(body, |key, value| {
        if key == name.as_bytes() {
            found = Some(value);
        }
    });
    found.map(percent_decode)
}

/// Calls `visit` with the decoded name and the raw value of every pair of a form body.
pub(crate) fn form_fields<'a>(body: &'a [u8], mut visit: impl FnMut(&[u8], &'a [u8])) {
    for pair in body.split(|&byte| byte == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|&byte| byte == b'=') {
            Some(equals) => (&pair[..equals], &pair[equals + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        visit(&percent_decode(name), value);
    }
}

/// Percent-decodes a form name or value, with `+` as a space.
pub(crate) fn percent_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.iter().any(|&byte| byte == b'%' || byte == b'+') {
        return Cow::Borrowed(raw);
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut index = 0;
    while let Some(&byte) = raw.get(index) {
        match byte {
            b'+' => decoded.push(b' '),
            b'%' => {
                let high = raw.get(index + 1).copied().and_then(hex_value);
                let low = raw.get(index + 2).copied().and_then(hex_value);
                if let (Some(high), Some(low)) = (high, low) {
                    decoded.push((high << 4) | low);
                    index += 2;
                } else {
                    decoded.push(b'%');
                }
            }
            _ => decoded.push(byte),
        }
        index += 1;
    }
    Cow::Owned(decoded)
}

/// `bytes` without the spaces and tabs at its start.
fn trim_ows_start(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// `bytes` without the spaces and tabs at its end.
fn trim_ows_end(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let start = bytes
        .iter()
        .position(|byte| !is_ows(byte))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|byte| !is_ows(byte))
        .map_or(start, |end| end + 1);
    &bytes[start..end]
}

/// The value of one hex digit.
const fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_header_values() {
        assert_eq!(header_value(b""), b"");
        assert_eq!(header_value(b" \t "), b"");
        assert_eq!(header_value(b"a b"), b"a b");
        assert_eq!(header_value(b"\ta\t"), b"a");
    }

    #[test]
    fn find_semicolon_agrees_with_position() {
        let haystack: Vec<u8> = (0..=255u8).chain(0..=255).chain(*b";;a;").collect();
        for start in 0..40 {
            for end in start..haystack.len().min(start + 300) {
                let slice = &haystack[start..end];
                assert_eq!(
                    find_semicolon(slice),
                    slice.iter().position(|&byte| byte == b';'),
                    "{start}..{end}"
                );
            }
        }
        let mut bytes = [b'x'; 40];
        for at in 0..40 {
            bytes[at] = b';';
            assert_eq!(find_semicolon(&bytes), Some(at));
            bytes[at] = b';' - 1;
            assert_eq!(find_semicolon(&bytes), None);
            bytes[at] = b';' + 0x80;
            assert_eq!(find_semicolon(&bytes), None);
        }
    }

    #[test]
    fn cookie_name_agrees_with_cookies() {
        // Every header of up to six bytes over an alphabet of the bytes that matter.
        let alphabet = b"a=; \t\"b";
        let names = [
            "a", "b", "ab", "ba", "aa", "a b", "", "a=", "a;", "a ", " a", "\"a\"",
        ];
        let matchers: Vec<_> = names.iter().map(|name| CookieName::new(name)).collect();
        let mut header = Vec::new();
        for len in 0..=6u32 {
            for mut code in 0..alphabet.len().pow(len) {
                header.clear();
                for _ in 0..len {
                    header.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                for (name, matcher) in names.iter().zip(&matchers) {
                    let expected: Vec<&[u8]> = cookies(&header)
                        .filter(|(found, _)| *found == name.as_bytes())
                        .map(|(_, value)| value)
                        .collect();
                    let found: Vec<&[u8]> = matcher
                        .iter()
                        .flat_map(|matcher| matcher.values(&header))
                        .collect();
                    assert_eq!(
                        found,
                        expected,
                        "{:?} {name:?}",
                        String::from_utf8_lossy(&header)
                    );
                }
            }
        }
    }

    #[test]
    fn cookie_edge_cases() {
        fn all(header: &[u8]) -> Vec<(&[u8], &[u8])> {
            cookies(header).collect()
        }
        assert!(all(b"").is_empty());
        assert!(all(b";;; ;").is_empty());
        assert!(all(b"=value; novalue").is_empty());
        assert_eq!(all(b"a="), [(&b"a"[..], &b""[..])]);
        assert_eq!(all(b"a=\"\""), [(&b"a"[..], &b""[..])]);
        assert_eq!(all(b"a=\""), [(&b"a"[..], &b"\""[..])]);
        assert_eq!(all(b"a=b=c"), [(&b"a"[..], &b"b=c"[..])]);
        assert_eq!(all(b" a = 1 "), [(&b"a"[..], &b"1"[..])]);
    }

    #[test]
    fn form_decoding() {
        assert_eq!(percent_decode(b"a%2"), Cow::Borrowed(&b"a%2"[..]));
        assert_eq!(&*percent_decode(b"%zz%4a%4A+"), b"%zzJJ ");
        assert_eq!(&*percent_decode(b"%"), b"%");
        assert_eq!(&*percent_decode(b"%ff"), b"\xff");
        let field = |body: &[u8], name: &str| form_field(body, name).map(Cow::into_owned);
        assert_eq!(field(b"a&id&b=1", "id"), Some(Vec::new()));
        assert_eq!(field(b"i%64=x", "id"), Some(b"x".to_vec()));
        assert_eq!(field(b"&&id=x&&", "id"), Some(b"x".to_vec()));
        assert_eq!(field(b"id=x=y", "id"), Some(b"x=y".to_vec()));
        assert_eq!(field(b"", "id"), None);
    }
}

#[cfg(test)]
mod cases;
