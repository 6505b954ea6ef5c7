//! The top-level JSON field scanner: one pass over a body, no document tree, a depth bound.

use std::borrow::Cow;

use super::hex_value;

/// The deepest nesting of JSON arrays and objects [`json_string_field`] accepts, counting the
/// top-level object as 1 (the same bound as `serde_json`'s default recursion limit).
///
/// A deeper document is treated as malformed: no field is reported from it.
///
/// ```text
/// use affitor_tower::parse::{self, JSON_MAX_DEPTH};
///
/// let nested = |depth: usize| {
///     format!(r#"{{"id":"x","n":{}{}}}"#, "[".repeat(depth - 1), "]".repeat(depth - 1))
/// };
/// assert!(parse::json_string_field(nested(JSON_MAX_DEPTH).as_bytes(), "id").is_some());
/// assert!(parse::json_string_field(nested(JSON_MAX_DEPTH + 1).as_bytes(), "id").is_none());
/// ```
pub const JSON_MAX_DEPTH: usize = 128;

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
/// ```text
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
}
