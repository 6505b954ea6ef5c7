//! What the rules share: the fields of a request body read leniently by name, a URL's query, and
//! the money arithmetic of refunds.

use serde_json::{Map, Value};

/// `additional_data.test_mode == true`.
pub(super) fn test_mode(body: &Map<String, Value>) -> bool {
    body.get("additional_data")
        .and_then(|data| data.get("test_mode"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// `additional_data.program_id`, as an integer or a string of digits.
pub(super) fn program_id_hint(body: &Map<String, Value>) -> Option<u64> {
    match body.get("additional_data")?.get("program_id")? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A field that is present and not `null` (clients may send `null` for "absent").
pub(super) fn present<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|value| !value.is_null())
}

/// A non-empty string field.
pub(super) fn string<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// A JSON integer >= 1 (`10.0` counts, as it does in JavaScript; `9.9` and `"10"` do not).
pub(super) fn positive_integer(value: &Value) -> Option<u64> {
    non_negative_integer(value).filter(|amount| *amount >= 1)
}

/// A JSON integer >= 0.
pub(super) fn non_negative_integer(value: &Value) -> Option<u64> {
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
    let number = value.as_number()?;
    if let Some(integer) = number.as_u64() {
        return Some(integer);
    }
    let float = number.as_f64()?;
    // Truncation is exact here: the value is a whole number within the safe integer range.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (float.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&float)).then_some(float as u64)
}

/// `total * part / whole`, rounded to the nearest unit.
pub(super) fn proportional(total: u64, part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    let scaled = u128::from(total) * u128::from(part);
    let rounded = (scaled + u128::from(whole) / 2) / u128::from(whole);
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

/// Cents as a dollar amount, the unit of `deductionAmount`.
#[allow(clippy::cast_precision_loss)]
pub(super) fn dollars(cents: u64) -> f64 {
    cents as f64 / 100.0
}

/// The query of an absolute URL: `Some(None)` when it has none, `None` when it is not a URL.
pub(super) fn url_query(url: &str) -> Option<Option<&str>> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if !scheme_ok || rest[..host_end].is_empty() {
        return None;
    }
    let without_fragment = rest.split('#').next().unwrap_or_default();
    Some(without_fragment.split_once('?').map(|(_, query)| query))
}

/// The first non-empty value of `name` in a query string, percent-decoded.
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| percent_decode(key) == name)
        .map(|(_, value)| percent_decode(value))
        .filter(|value| !value.is_empty())
}

/// Decodes `%XX` escapes and `+` (a space in a query), as `URLSearchParams` does.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (byte, escaped) {
            (_, Some(value)) => {
                decoded.push(value);
                index += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                index += 1;
            }
            (other, None) => {
                decoded.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn urls_are_split_like_a_browser_would() {
        assert_eq!(
            url_query("https://shop.example/p?aff=abc#top"),
            Some(Some("aff=abc"))
        );
        assert_eq!(
            url_query("http://shop.example?aff=abc"),
            Some(Some("aff=abc"))
        );
        assert_eq!(url_query("https://shop.example/pricing"), Some(None));
        assert_eq!(url_query("shop.example/?aff=abc"), None);
        assert_eq!(url_query("https://?aff=abc"), None);
        assert_eq!(url_query("https://shop example/?aff=abc"), None);
        assert_eq!(url_query("1http://shop.example/"), None);
    }

    #[test]
    fn the_aff_parameter_is_decoded_and_must_not_be_empty() {
        assert_eq!(
            query_param("x=1&aff=P%41RT+1&aff=second", "aff").as_deref(),
            Some("PART 1")
        );
        assert_eq!(query_param("aff=", "aff"), None);
        assert_eq!(query_param("affx=1", "aff"), None);
        assert_eq!(query_param("aff=%zz%", "aff").as_deref(), Some("%zz%"));
    }

    #[test]
    fn amounts_follow_javascript_integers() {
        assert_eq!(positive_integer(&json!(10)), Some(10));
        assert_eq!(positive_integer(&json!(10.0)), Some(10));
        for bad in [
            json!(0),
            json!(-1),
            json!(9.9),
            json!("10"),
            json!(1e300),
            json!(null),
        ] {
            assert_eq!(positive_integer(&bad), None, "{bad}");
        }
        assert_eq!(non_negative_integer(&json!(0)), Some(0));
    }

    #[test]
    fn partial_deductions_are_proportional_and_rounded() {
        assert_eq!(proportional(2000, 2500, 10_000), 500);
        assert_eq!(proportional(1, 1, 2), 1);
        assert_eq!(proportional(u64::MAX, u64::MAX, 1), u64::MAX);
        assert_eq!(proportional(10, 1, 0), 0);
        assert!((dollars(1999) - 19.99).abs() < f64::EPSILON);
    }
}
