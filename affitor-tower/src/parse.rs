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
//! ```
//! use affitor_tower::parse;
//!
//! let body = br#"{"email":"a@example.com","affitorClickId":"abc123"}"#;
//! assert_eq!(parse::json_string_field(body, "affitorClickId").as_deref(), Some(&b"abc123"[..]));
//!
//! let cookie = b"theme=dark; affitor_click_id=abc123";
//! let found = parse::cookies(cookie).find(|(name, _)| *name == b"affitor_click_id");
//! assert_eq!(found, Some((&b"affitor_click_id"[..], &b"abc123"[..])));
//! ```

use std::borrow::Cow;

/// The deepest nesting of JSON arrays and objects [`json_string_field`] accepts, counting the
/// top-level object as 1 (the same bound as `serde_json`'s default recursion limit).
///
/// A deeper document is treated as malformed: no field is reported from it.
///
/// ```
/// use affitor_tower::parse::{self, JSON_MAX_DEPTH};
///
/// let nested = |depth: usize| {
///     format!(r#"{{"id":"x","n":{}{}}}"#, "[".repeat(depth - 1), "]".repeat(depth - 1))
/// };
/// assert!(parse::json_string_field(nested(JSON_MAX_DEPTH).as_bytes(), "id").is_some());
/// assert!(parse::json_string_field(nested(JSON_MAX_DEPTH + 1).as_bytes(), "id").is_none());
/// ```
pub const JSON_MAX_DEPTH: usize = 128;

/// A header value without the optional whitespace (spaces and tabs) around it.
///
/// HTTP servers usually trim it already; this makes the rule hold for values built by hand too.
///
/// ```
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
/// ```
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

/// The value of the top-level string field `name` of a JSON object, unescaped.
///
/// The body is scanned once, without building a document tree:
/// - only the keys of the top-level object are looked at; a field of the same name nested in an
///   inner object or array is ignored;
/// - keys are compared after unescaping (`"affitor\u0043lickId"` is `affitorClickId`);
/// - if the field appears more than once at the top level, **the last one wins**, as in
///   JavaScript's `JSON.parse` and `serde_json::Value` (a `#[derive(Deserialize)]` struct rejects
///   such a document instead);
/// - if the deciding occurrence is not a string (`null`, a number, an object...), there is no
///   value;
/// - `\uXXXX` escapes are decoded to UTF-8, surrogate pairs included; a lone surrogate becomes
///   U+FFFD. The bytes are otherwise returned as they are, without a UTF-8 check (a click id
///   check rejects them anyway);
/// - a body that is not a well-formed JSON object, or nests deeper than [`JSON_MAX_DEPTH`], has
///   no value.
///
/// ```
/// use affitor_tower::parse::json_string_field;
///
/// let field = |body: &str| json_string_field(body.as_bytes(), "id").map(|v| v.into_owned());
/// assert_eq!(field(r#"{"id": "a\u0062c"}"#), Some(b"abc".to_vec()));
/// assert_eq!(field(r#"{"user": {"id": "nested"}}"#), None);
/// assert_eq!(field(r#"{"id": "first", "id": "last"}"#), Some(b"last".to_vec()));
/// assert_eq!(field(r#"{"id": 42}"#), None);
/// assert_eq!(field(r#"{"id": "truncated"#), None);
/// ```
pub fn json_string_field<'a>(body: &'a [u8], name: &str) -> Option<Cow<'a, [u8]>> {
    let mut found = None;
    json_top_level_fields(body, |key, value| {
        if key.eq_str(name) {
            found = Some(value);
        }
    })
    .ok()?;
    found.flatten().map(JsonStr::unescape)
}

/// The value of the field `name` of an `application/x-www-form-urlencoded` body, decoded.
///
/// - Pairs are separated by `&`; a pair without `=` has an empty value.
/// - Names and values are percent-decoded, with `+` as a space; a `%` not followed by two hex
///   digits is kept as it is (as browsers do).
/// - If the field appears more than once, **the last one wins**, as for a JSON body (and as in
///   most server-side form parsers that keep one value per name).
///
/// ```
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

const fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The raw contents of a JSON string, between its quotes, still escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JsonStr<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// Whether the string, once unescaped, equals `name`.
    pub(crate) fn eq_str(&self, name: &str) -> bool {
        if self.escaped {
            *self.unescape() == *name.as_bytes()
        } else {
            self.raw == name.as_bytes()
        }
    }

    /// The string unescaped (borrowed when it holds no escape).
    pub(crate) fn unescape(self) -> Cow<'a, [u8]> {
        if !self.escaped {
            return Cow::Borrowed(self.raw);
        }
        let raw = self.raw;
        let mut out = Vec::with_capacity(raw.len());
        let mut index = 0;
        // The scanner checked every escape, so the reads below are in bounds; `get` keeps even
        // a wrong assumption from panicking.
        while let Some(&byte) = raw.get(index) {
            index += 1;
            if byte != b'\\' {
                out.push(byte);
                continue;
            }
            let Some(&escape) = raw.get(index) else { break };
            index += 1;
            let simple = match escape {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                _ => {
                    let Some(unit) = hex4(raw, index) else { break };
                    index += 4;
                    let code = if (0xd800..0xdc00).contains(&unit) {
                        match (raw.get(index..index + 2), hex4(raw, index + 2)) {
                            (Some(b"\\u"), Some(low @ 0xdc00..0xe000)) => {
                                index += 6;
                                0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                            }
                            _ => 0xfffd,
                        }
                    } else {
                        unit
                    };
                    let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    continue;
                }
            };
            out.push(simple);
        }
        Cow::Owned(out)
    }
}

fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    let digits = raw.get(at..at + 4)?;
    digits.iter().try_fold(0u32, |acc, &digit| {
        Some((acc << 4) | u32::from(hex_value(digit)?))
    })
}

/// Why a body is not a JSON object the scanner can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MalformedJson;

/// Scans a JSON object once and calls `visit` with each top-level key and, when the value is a
/// string, that string (`None` for any other value). Checks the whole document's syntax, so a
/// truncated or malformed body reports an error after possibly visiting some keys.
pub(crate) fn json_top_level_fields<'a>(
    body: &'a [u8],
    mut visit: impl FnMut(JsonStr<'a>, Option<JsonStr<'a>>),
) -> Result<(), MalformedJson> {
    let mut scanner = Scanner {
        bytes: body,
        pos: 0,
    };
    scanner.skip_ws();
    scanner.expect(b'{')?;
    scanner.skip_ws();
    if scanner.peek() == Some(b'}') {
        scanner.pos += 1;
    } else {
        loop {
            scanner.skip_ws();
            scanner.expect(b'"')?;
            let key = scanner.string()?;
            scanner.skip_ws();
            scanner.expect(b':')?;
            scanner.skip_ws();
            let value = if scanner.peek() == Some(b'"') {
                scanner.pos += 1;
                Some(scanner.string()?)
            } else {
                scanner.skip_value()?;
                None
            };
            visit(key, value);
            scanner.skip_ws();
            match scanner.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(MalformedJson),
            }
        }
    }
    scanner.skip_ws();
    if scanner.pos == body.len() {
        Ok(())
    } else {
        Err(MalformedJson)
    }
}

/// How the scanner classifies bytes inside a string: 0 is plain, 1 ends or escapes (`"` `\`),
/// 2 is forbidden (a control character).
static STRING_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = 2;
        byte += 1;
    }
    table[b'"' as usize] = 1;
    table[b'\\' as usize] = 1;
    table
};

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Result<(), MalformedJson> {
        match self.next() {
            Some(byte) if byte == wanted => Ok(()),
            _ => Err(MalformedJson),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Reads a string whose opening quote was consumed; consumes the closing quote.
    fn string(&mut self) -> Result<JsonStr<'a>, MalformedJson> {
        let start = self.pos;
        let mut escaped = false;
        loop {
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let offset = rest
                .iter()
                .position(|&byte| STRING_CLASS[usize::from(byte)] != 0)
                .ok_or(MalformedJson)?;
            self.pos += offset;
            match self.next() {
                Some(b'"') => {
                    let raw = self.bytes.get(start..self.pos - 1).ok_or(MalformedJson)?;
                    return Ok(JsonStr { raw, escaped });
                }
                Some(b'\\') => {
                    escaped = true;
                    match self.next() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Some(b'u') => {
                            hex4(self.bytes, self.pos).ok_or(MalformedJson)?;
                            self.pos += 4;
                        }
                        _ => return Err(MalformedJson),
                    }
                }
                _ => return Err(MalformedJson),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), MalformedJson> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(MalformedJson)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), MalformedJson> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(MalformedJson),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(MalformedJson);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(MalformedJson);
            }
        }
        Ok(())
    }

    /// Skips one value of any kind at depth 2 or deeper, without recursion: a stack of bits
    /// remembers which open containers are objects.
    fn skip_value(&mut self) -> Result<(), MalformedJson> {
        // Depth of the open containers below the top-level object, and one bit per level: set
        // for an object, clear for an array.
        let mut depth = 0usize;
        let mut objects: u128 = 0;
        const NESTED_MAX: usize = JSON_MAX_DEPTH - 1;
        loop {
            // A value is expected here.
            match self.next() {
                Some(b'"') => {
                    self.string()?;
                }
                Some(open @ (b'{' | b'[')) => {
                    if depth == NESTED_MAX {
                        return Err(MalformedJson);
                    }
                    let is_object = open == b'{';
                    objects = (objects << 1) | u128::from(is_object);
                    depth += 1;
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        objects >>= 1;
                        depth -= 1;
                    } else {
                        if is_object {
                            self.key()?;
                        }
                        self.skip_ws();
                        continue;
                    }
                }
                Some(b't') => self.literal(b"rue")?,
                Some(b'f') => self.literal(b"alse")?,
                Some(b'n') => self.literal(b"ull")?,
                Some(b'-' | b'0'..=b'9') => {
                    self.pos -= 1;
                    self.number()?;
                }
                _ => return Err(MalformedJson),
            }
            // A value ended: close containers until one goes on with a comma.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.skip_ws();
                let in_object = objects & 1 == 1;
                match self.next() {
                    Some(b',') => {
                        if in_object {
                            self.key()?;
                        }
                        self.skip_ws();
                        break;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    _ => return Err(MalformedJson),
                }
                objects >>= 1;
                depth -= 1;
            }
        }
    }

    /// Reads `"key" :` inside an object.
    fn key(&mut self) -> Result<(), MalformedJson> {
        self.skip_ws();
        self.expect(b'"')?;
        self.string()?;
        self.skip_ws();
        self.expect(b':')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str, name: &str) -> Option<String> {
        json_string_field(body.as_bytes(), name)
            .map(|value| String::from_utf8_lossy(&value).into_owned())
    }

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
    fn json_accepts_valid_documents() {
        assert_eq!(json(r#"{"id":"x"}"#, "id").as_deref(), Some("x"));
        assert_eq!(
            json(" {\n\"id\" :\t\"x\" } \r\n", "id").as_deref(),
            Some("x")
        );
        assert_eq!(json("{}", "id"), None);
        let complex = r#"{"a":[1,-2.5e+3,0,true,false,null,{"id":"no"},[],{}],"b":{"c":[[]]},
            "id":"yes","d":"\"\\\/\b\f\n\r\t\u00e9","e":-0.0E-1}"#;
        assert_eq!(json(complex, "id").as_deref(), Some("yes"));
        assert_eq!(
            json(complex, "d").as_deref(),
            Some("\"\\/\u{8}\u{c}\n\r\té")
        );
    }

    #[test]
    fn json_rejects_malformed_documents() {
        for body in [
            "",
            "[]",
            r#""id""#,
            r#"{"id":"x""#,
            r#"{"id":"x",}"#,
            r#"{"id":"x"} x"#,
            r#"{"id":"x" "y":1}"#,
            r#"{"id" "x"}"#,
            r#"{id:"x"}"#,
            r#"{"id":"x","n":01}"#,
            r#"{"id":"x","n":1.}"#,
            r#"{"id":"x","n":1e}"#,
            r#"{"id":"x","n":-}"#,
            r#"{"id":"x","n":tru}"#,
            r#"{"id":"x","n":[1,]}"#,
            r#"{"id":"x","n":[1}"#,
            r#"{"id":"x","n":{"a":1]}"#,
            r#"{"id":"x","n":{"a"}}"#,
            r#"{"id":"x","n":{1:2}}"#,
            r#"{"id":"x","n":"\x"}"#,
            r#"{"id":"x","n":"\u12"}"#,
            "{\"id\":\"x\",\"n\":\"a\nb\"}",
            "{\"id\":\"x\",\"n\":\"a",
        ] {
            assert_eq!(json(body, "id"), None, "{body}");
        }
    }

    #[test]
    fn json_unescapes_keys_and_values() {
        assert_eq!(json(r#"{"i\u0064":"x"}"#, "id").as_deref(), Some("x"));
        assert_eq!(
            json(r#"{"\u0069\u0064":"\u0041\u0042"}"#, "id").as_deref(),
            Some("AB")
        );
        // A surrogate pair, and lone surrogates replaced.
        assert_eq!(
            json(r#"{"id":"\ud83d\ude00"}"#, "id").as_deref(),
            Some("😀")
        );
        assert_eq!(
            json(r#"{"id":"\ud83dx"}"#, "id").as_deref(),
            Some("\u{fffd}x")
        );
        assert_eq!(
            json(r#"{"id":"\ude00"}"#, "id").as_deref(),
            Some("\u{fffd}")
        );
        assert_eq!(
            json(r#"{"id":"\ud83d\u0041"}"#, "id").as_deref(),
            Some("\u{fffd}A")
        );
    }

    #[test]
    fn json_depth_bound_counts_the_top_level_object() {
        let nested = |depth: usize, open: &str, close: &str| {
            format!(
                r#"{{"id":"x","n":{}{}}}"#,
                open.repeat(depth - 1),
                close.repeat(depth - 1)
            )
        };
        assert_eq!(
            json(&nested(JSON_MAX_DEPTH, "[", "]"), "id").as_deref(),
            Some("x")
        );
        assert_eq!(json(&nested(JSON_MAX_DEPTH + 1, "[", "]"), "id"), None);
        let objects = |depth: usize| {
            format!(
                r#"{{"id":"x","n":{}1{}}}"#,
                r#"{"a":"#.repeat(depth - 1),
                "}".repeat(depth - 1)
            )
        };
        assert_eq!(json(&objects(JSON_MAX_DEPTH), "id").as_deref(), Some("x"));
        assert_eq!(json(&objects(JSON_MAX_DEPTH + 1), "id"), None);
        // Hostile depth is refused in linear time, without recursion.
        let hostile = format!(r#"{{"n":{}"#, "[".repeat(1 << 20));
        assert_eq!(json(&hostile, "id"), None);
    }

    #[test]
    fn json_agrees_with_serde_json_on_the_last_occurrence() {
        for body in [
            r#"{"id":"a","id":"b"}"#,
            r#"{"id":"a","id":null}"#,
            r#"{"id":null,"id":"b"}"#,
            r#"{"id":"a","x":{"id":"c"},"id":"b","y":[{"id":"d"}]}"#,
        ] {
            let value: serde_json::Value = serde_json::from_str(body).unwrap();
            let expected = value["id"].as_str().map(str::to_owned);
            assert_eq!(json(body, "id"), expected, "{body}");
        }
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
