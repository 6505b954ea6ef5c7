//! Properties of the parsers: they agree with `serde_json` on what a handler would read, the
//! cookie matching agrees with the `cookie` crate, and no input makes them panic.

use crate::ClickId;
use crate::adapter::{self, HeaderLookup};
use crate::lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource, RejectedClickId};
use crate::parse;
use proptest::prelude::*;

/// The values of the cookies named `name` in `headers`, in order, as the `cookie` crate reads
/// them: the oracle the lookup's own cookie matching is checked against.
///
/// The two read a `Cookie` header alike on the inputs these tests make, and differ outside them:
/// - `cookie` reads text, the lookup bytes: the inputs here are UTF-8.
/// - `cookie` trims any Unicode white space around a piece, a name and a value (`str::trim`);
///   the lookup trims only spaces and tabs, the optional white space of HTTP (RFC 9110, 5.6.3),
///   and keeps a CR, LF, VT, FF or non-ASCII space as part of the name or value, where it then
///   fails validation as a click id anyway. The inputs here have no white space but spaces and
///   tabs (checked below).
/// - Alike: both split pieces at `;` and a piece at its first `=`, skip a piece without `=` or
///   with an empty name (`cookie` returns an error for it), drop one pair of double quotes
///   around a value (`value_trimmed`; a lone `"` stays), and never percent-decode.
fn cookie_crate_values(headers: &[String], name: &str) -> Vec<Vec<u8>> {
    let other_white_space = |c: char| c.is_whitespace() && c != ' ' && c != '\t';
    assert!(
        !headers
            .iter()
            .any(|header| header.contains(other_white_space)),
        "outside the inputs where `cookie` and the lookup agree: {headers:?}",
    );
    headers
        .iter()
        .flat_map(|header| cookie::Cookie::split_parse(header.as_str()))
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value_trimmed().as_bytes().to_vec())
        .collect()
}

/// A JSON value as text, nested a few levels.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::to_string(&f).unwrap()),
        json_string(),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((json_string(), inner), 0..6).prop_map(|pairs| {
                let pairs: Vec<String> =
                    pairs.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", pairs.join(","))
            }),
        ]
    })
}

/// A JSON string literal, escaped the usual way or with every character as `\uXXXX`.
fn json_string() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        Just("id".to_owned()),
        Just("affitorClickId".to_owned()),
        "[a-zA-Z0-9_.:-]{0,12}",
        any::<String>(),
    ];
    (text, any::<bool>()).prop_map(|(text, all_escaped)| {
        if all_escaped {
            let mut out = String::from("\"");
            for unit in text.encode_utf16() {
                out.push_str(&format!("\\u{unit:04x}"));
            }
            out.push('"');
            out
        } else {
            serde_json::to_string(&text).unwrap()
        }
    })
}

/// A top-level JSON object as text, whose keys may repeat, with random whitespace.
fn json_object() -> impl Strategy<Value = String> {
    let ws = prop::sample::select(vec!["", " ", "\n", "\t ", "\r\n  "]);
    prop::collection::vec((json_string(), json_value(), ws.clone()), 0..8).prop_map(|pairs| {
        let pairs: Vec<String> = pairs
            .into_iter()
            .map(|(key, value, ws)| format!("{ws}{key}{ws}:{ws}{value}{ws}"))
            .collect();
        format!("{{{}}}", pairs.join(","))
    })
}

fn serde_field(body: &[u8], name: &str) -> Result<Option<Vec<u8>>, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    Ok(value
        .as_object()
        .and_then(|object| object.get(name))
        .and_then(serde_json::Value::as_str)
        .map(|text| text.as_bytes().to_vec()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_field_agrees_with_serde_json(body in json_object(), name in prop::sample::select(vec!["id", "affitorClickId", ""])) {
        let expected = serde_field(body.as_bytes(), name).unwrap();
        let found = parse::json_string_field(body.as_bytes(), name).map(|v| v.into_owned());
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn a_truncated_json_object_has_no_field(body in json_object(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(body.len());
        let prefix = &body.as_bytes()[..cut];
        let found = parse::json_string_field(prefix, "id").map(|v| v.into_owned());
        match serde_field(prefix, "id") {
            Ok(expected) => prop_assert_eq!(found, expected),
            Err(_) => prop_assert_eq!(found, None),
        }
    }

    #[test]
    fn form_field_finds_the_last_encoded_value(
        pairs in prop::collection::vec(("(id|x|i%64|[a-z]{1,3})", any::<Vec<u8>>()), 0..6),
    ) {
        let encode = |bytes: &[u8]| -> String {
            bytes.iter().map(|&byte| match byte {
                b' ' => "+".to_owned(),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => char::from(byte).to_string(),
                _ => format!("%{byte:02X}"),
            }).collect()
        };
        let body: Vec<String> = pairs.iter().map(|(name, value)| format!("{name}={}", encode(value))).collect();
        let body = body.join("&");
        let expected = pairs.iter().rev().find(|(name, _)| name == "id" || name == "i%64").map(|(_, value)| value.clone());
        let found = parse::form_field(body.as_bytes(), "id").map(|v| v.into_owned());
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn cookies_round_trip(pairs in prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[!#-+--:<-\\[\\]-~]{0,10}", any::<bool>()), 0..6)) {
        let header: Vec<String> = pairs.iter().map(|(name, value, quoted)| {
            if *quoted { format!("{name}=\"{value}\"") } else { format!("{name}={value}") }
        }).collect();
        let header = header.join("; ");
        let found: Vec<(Vec<u8>, Vec<u8>)> = parse::cookies(header.as_bytes()).map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = pairs.iter().map(|(n, v, _)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect();
        prop_assert_eq!(found, expected);
    }

    /// The header step gives what the sources give looked at in turn, each reading its cookie
    /// as the `cookie` crate does: the first valid value, and every value rejected before it.
    #[test]
    fn cookie_sources_match_each_source_in_turn(
        cookies in prop::collection::vec(prop::collection::vec((
            // "" gives a piece with an empty name, "~" a piece without `=`: both skipped.
            prop::sample::select(vec!["a", "b", "c", "ba", "ab", "other", "", "~"]),
            prop::sample::select(vec!["ok-1", "ok-2", "", "bad value", "\"q\"", "\"ok-3\"", " ok-4\t", "\"", "a=b"]),
        ), 0..5), 0..3),
        order in prop::sample::select(vec![
            vec!["a", "b", "c"], vec!["c", "a"], vec!["b"], vec!["a", "h", "b"], vec!["h", "c", "b", "a"],
        ]),
        header in prop::sample::select(vec![None, Some(""), Some("ok-h"), Some("bad value")]),
        separator in prop::sample::select(vec!["; ", ";", " ;\t", ";;"]),
    ) {
        let sources: Vec<ClickIdSource> = order.iter().map(|name| match *name {
            "h" => ClickIdSource::header("x-h"),
            name => ClickIdSource::cookie(name),
        }).collect();
        let cookie_headers: Vec<String> = cookies.iter().map(|pairs| {
            pairs.iter().map(|(name, value)| match *name {
                "~" => (*value).to_owned(),
                name => format!("{name}={value}"),
            }).collect::<Vec<_>>().join(separator)
        }).collect();

        // Each source in turn, the simple way.
        let mut rejected = Vec::new();
        let mut expected = None;
        'sources: for source in &sources {
            let values: Vec<Vec<u8>> = match source {
                ClickIdSource::Header(_) => header.iter().map(|value| value.as_bytes().to_vec()).collect(),
                ClickIdSource::Cookie(name) => cookie_crate_values(&cookie_headers, name),
                _ => unreachable!(),
            };
            for value in values {
                match ClickId::from_bytes(&value) {
                    Ok(click_id) => {
                        expected = Some((click_id, source.clone()));
                        break 'sources;
                    }
                    Err(reason) => rejected.push(RejectedClickId::new(source.clone(), reason)),
                }
            }
        }
        let expected = match expected {
            Some((click_id, source)) => ClickIdLookup::found(click_id, source, rejected),
            None => ClickIdLookup::not_found(rejected),
        };

        let step = adapter::lookup_headers(&ClickIdSearch::new(sources), "GET", |header_| match header_.name() {
            "cookie" => cookie_headers.iter().map(|header| header.as_bytes()).collect::<Vec<_>>(),
            "x-h" => header.iter().map(|value| value.as_bytes()).collect(),
            _ => Vec::new(),
        });
        let HeaderLookup::Done(lookup) = step else { panic!("a GET has no body to read") };
        prop_assert_eq!(lookup, expected);
    }

    /// Over any header made of the characters that matter to cookie syntax, a cookie source
    /// finds the values the `cookie` crate finds for its name, in order, and stops at the first
    /// valid one.
    #[test]
    fn cookie_matching_agrees_with_the_cookie_crate(
        cookie_headers in prop::collection::vec("[ab=; \t\"x1]{0,24}", 0..3),
        name in prop::sample::select(vec!["a", "b", "ab", "a b", "x1"]),
    ) {
        let mut rejected = Vec::new();
        let mut found = None;
        for value in cookie_crate_values(&cookie_headers, name) {
            match ClickId::from_bytes(&value) {
                Ok(click_id) => {
                    found = Some(click_id);
                    break;
                }
                Err(reason) => rejected.push(reason),
            }
        }
        rejected.truncate(8); // the lookup records the first eight one by one

        let search = ClickIdSearch::new([ClickIdSource::cookie(name)]);
        let step = adapter::lookup_headers(&search, "GET", |header| match header.name() {
            "cookie" => cookie_headers.iter().map(|header| header.as_bytes()).collect::<Vec<_>>(),
            _ => Vec::new(),
        });
        let HeaderLookup::Done(lookup) = step else { panic!("a GET has no body to read") };
        prop_assert_eq!(lookup.click_id(), found.as_ref());
        let reasons: Vec<_> = lookup.rejected().iter().map(|rejected| rejected.reason()).collect();
        prop_assert_eq!(reasons, rejected);
    }

    #[test]
    fn no_input_makes_a_parser_panic(input in any::<Vec<u8>>(), name in any::<String>()) {
        let _ = parse::header_value(&input);
        let _ = parse::cookies(&input).count();
        let _ = parse::json_string_field(&input, &name);
        let _ = parse::form_field(&input, &name);
    }

    #[test]
    fn no_json_like_input_makes_the_scanner_panic(input in "[\\[\\]{}\":,\\\\ u0-9a-fA-Ftrnel.eE+-]{0,64}") {
        let _ = parse::json_string_field(input.as_bytes(), "id");
        let _ = parse::json_string_field(format!("{{\"id\":{input}").as_bytes(), "id");
    }

    #[test]
    fn no_request_makes_the_lookup_panic(
        headers in prop::collection::vec((prop::sample::select(vec!["x-affitor-click-id", "cookie", "content-type", "content-length"]), any::<Vec<u8>>()), 0..6),
        method in prop::sample::select(vec!["GET", "POST", "PUT"]),
        body in any::<Vec<u8>>(),
        limit in 0usize..64,
    ) {
        let sources = ClickIdSearch::default().body_limit(limit);
        let step = adapter::lookup_headers(&sources, method, |header| {
            headers.iter().filter(|(key, _)| *key == header.name()).map(|(_, value)| value.as_slice()).collect::<Vec<_>>()
        });
        let lookup = match step {
            HeaderLookup::Done(lookup) => lookup,
            HeaderLookup::ReadBody(read) => read.finish(&body),
        };
        if let Some(click_id) = lookup.click_id() {
            prop_assert!(click_id.as_str().len() <= 128);
        }
    }
}
