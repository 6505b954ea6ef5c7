//! The pure parsers and the two-step lookup, through the public API an adapter uses.

use crate::adapter::{self, BodyKind, BodyLookup, HeaderLookup};
use crate::lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource, InvalidClickId, RejectedClickId};
use crate::parse::{self, JSON_MAX_DEPTH};

/// Runs the header step over a list of headers, as an adapter would over its header map.
fn headers_step(sources: &ClickIdSearch, method: &str, headers: &[(&str, &[u8])]) -> HeaderLookup {
    adapter::lookup_headers(sources, method, |header| {
        headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(header.name()))
            .map(|(_, value)| *value)
            .collect::<Vec<_>>()
    })
}

fn done(step: HeaderLookup) -> ClickIdLookup {
    match step {
        HeaderLookup::Done(lookup) => lookup,
        HeaderLookup::ReadBody(body) => panic!("expected the lookup to be over, it wants {body:?}"),
    }
}

fn read_body(step: HeaderLookup) -> BodyLookup {
    match step {
        HeaderLookup::ReadBody(body) => body,
        HeaderLookup::Done(lookup) => {
            panic!("expected a body to read, the lookup is over: {lookup}")
        }
    }
}

#[test]
fn header_values() {
    for (raw, trimmed) in [
        (&b"abc"[..], &b"abc"[..]),
        (b"  abc", b"abc"),
        (b"abc\t\t", b"abc"),
        (b" a b ", b"a b"),
        (b"", b""),
        (b"   ", b""),
        (b"\xff", b"\xff"),
    ] {
        assert_eq!(parse::header_value(raw), trimmed, "{raw:?}");
    }
}

#[test]
fn cookie_headers() {
    type Pairs = &'static [(&'static [u8], &'static [u8])];
    let table: &[(&[u8], Pairs)] = &[
        (b"a=1", &[(b"a", b"1")]),
        (b"a=1; b=2", &[(b"a", b"1"), (b"b", b"2")]),
        (b"a=1;b=2", &[(b"a", b"1"), (b"b", b"2")]),
        (b"  a = 1 ;\tb=2  ", &[(b"a", b"1"), (b"b", b"2")]),
        (b"a=\"1\"", &[(b"a", b"1")]),
        (b"a=\"1", &[(b"a", b"\"1")]),
        (b"a=1\"", &[(b"a", b"1\"")]),
        (b"a=x=y", &[(b"a", b"x=y")]),
        (b"a=1; a=2", &[(b"a", b"1"), (b"a", b"2")]),
        (b"a=; b", &[(b"a", b"")]),
        (b"=1; ;;b=2", &[(b"b", b"2")]),
        (b"noequals", &[]),
        (b"", &[]),
        (b"a=%20", &[(b"a", b"%20")]),
        (b"a=\xff\x00", &[(b"a", b"\xff\x00")]),
    ];
    for (header, expected) in table {
        let pairs: Vec<(&[u8], &[u8])> = parse::cookies(header).collect();
        assert_eq!(pairs, *expected, "{:?}", String::from_utf8_lossy(header));
    }
}

#[test]
fn json_fields() {
    let table: &[(&str, Option<&[u8]>)] = &[
        (r#"{"id":"abc"}"#, Some(b"abc")),
        (r#"{ "id" : "abc" }"#, Some(b"abc")),
        (r#"{"id":""}"#, Some(b"")),
        (r#"{"a":1,"id":"abc","b":[1,2,{"c":null}]}"#, Some(b"abc")),
        (r#"{"id":"a\"b\\c\/d"}"#, Some(br#"a"b\c/d"#)),
        (r#"{"id":"\r\n\t\b\f"}"#, Some(b"\r\n\t\x08\x0c")),
        (
            r#"{"id":"\u0041\u00e9\u20ac\ud83d\ude00"}"#,
            Some("Aé€😀".as_bytes()),
        ),
        (r#"{"\u0069\u0064":"escaped key"}"#, Some(b"escaped key")),
        (r#"{"id":"first","id":"last"}"#, Some(b"last")),
        (r#"{"id":"first","id":7}"#, None),
        (r#"{"id":null}"#, None),
        (r#"{"id":true}"#, None),
        (r#"{"id":["abc"]}"#, None),
        (r#"{"id":{"id":"abc"}}"#, None),
        (r#"{"x":{"id":"abc"}}"#, None),
        (r#"{"ID":"abc"}"#, None),
        (r#"["id","abc"]"#, None),
        (r#""id""#, None),
        (r#"{"id":"abc"}{"#, None),
        (r#"{"id":"abc",}"#, None),
        (r#"{"id":'abc'}"#, None),
        ("{\"id\":\"a\u{1}b\"}", None),
        ("", None),
        ("   ", None),
    ];
    for (body, expected) in table {
        let value = parse::json_string_field(body.as_bytes(), "id");
        assert_eq!(value.as_deref(), *expected, "{body}");
    }
    // The bytes of a value are not checked to be UTF-8: the click id check rejects them.
    assert_eq!(
        parse::json_string_field(b"{\"id\":\"a\xffb\"}", "id").as_deref(),
        Some(&b"a\xffb"[..])
    );
}

#[test]
fn json_depth_and_size_are_bounded() {
    let deep = |depth: usize| {
        format!(
            r#"{{"id":"x","deep":{}{}}}"#,
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    };
    assert!(parse::json_string_field(deep(JSON_MAX_DEPTH).as_bytes(), "id").is_some());
    assert!(parse::json_string_field(deep(JSON_MAX_DEPTH + 1).as_bytes(), "id").is_none());
    // A large flat document is fine.
    let wide = format!(r#"{{"items":[{}0],"id":"x"}}"#, "0,".repeat(100_000));
    assert_eq!(
        parse::json_string_field(wide.as_bytes(), "id").as_deref(),
        Some(&b"x"[..])
    );
}

#[test]
fn form_fields() {
    let table: &[(&str, Option<&[u8]>)] = &[
        ("id=abc", Some(b"abc")),
        ("a=1&id=abc&b=2", Some(b"abc")),
        ("id=a+b", Some(b"a b")),
        ("id=a%2Bb%2fc", Some(b"a+b/c")),
        ("id=%41%4a%zz%4", Some(b"AJ%zz%4")),
        ("i%64=abc", Some(b"abc")),
        ("id+=abc", None),
        ("id=", Some(b"")),
        ("id", Some(b"")),
        ("id=first&id=last", Some(b"last")),
        ("&&id=abc&&", Some(b"abc")),
        ("ids=abc", None),
        ("", None),
        ("id=%0D%0A", Some(b"\r\n")),
    ];
    for (body, expected) in table {
        let value = parse::form_field(body.as_bytes(), "id");
        assert_eq!(value.as_deref(), *expected, "{body}");
    }
}

#[test]
fn the_default_sources_follow_the_documented_order() {
    let sources = format!("{:?}", ClickIdSearch::default());
    let order = [
        r#"Header("x-affitor-click-id")"#,
        r#"Cookie("affitor_click_id")"#,
        r#"Cookie("customer_code")"#,
        r#"JsonField("affitorClickId")"#,
        r#"JsonField("affitor_click_id")"#,
        r#"FormField("affitor_click_id")"#,
        "body_limit: 65536",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|item| sources.find(item).unwrap())
        .collect();
    assert!(positions.is_sorted(), "{sources}");
    assert_eq!(
        ClickIdSearch::default(),
        ClickIdSearch::new([
            ClickIdSource::Header("X-Affitor-Click-Id".into()),
            ClickIdSource::Extension,
            ClickIdSource::cookie("affitor_click_id"),
            ClickIdSource::cookie("customer_code"),
            ClickIdSource::json_field("affitorClickId"),
            ClickIdSource::json_field("affitor_click_id"),
            ClickIdSource::form_field("affitor_click_id"),
        ]),
        "header names are lower-cased and the extension source is implied"
    );
}

#[test]
fn the_header_step_finds_headers_and_cookies() {
    let sources = ClickIdSearch::default();
    let lookup = done(headers_step(
        &sources,
        "POST",
        &[
            ("x-affitor-click-id", b"bad value"),
            ("x-affitor-click-id", b"second"),
            ("content-type", b"application/json"),
        ],
    ));
    assert_eq!(lookup.click_id().unwrap(), "second");
    assert_eq!(
        lookup.rejected(),
        [RejectedClickId::new(
            ClickIdSource::header("x-affitor-click-id"),
            InvalidClickId::ForbiddenByte {
                byte: b' ',
                position: 3
            }
        )]
    );

    let lookup = done(headers_step(
        &sources,
        "GET",
        &[
            ("cookie", b"customer_code=legacy"),
            ("cookie", b"affitor_click_id=main"),
        ],
    ));
    assert_eq!(lookup.click_id().unwrap(), "main");
    assert_eq!(
        lookup.source(),
        Some(&ClickIdSource::cookie("affitor_click_id"))
    );
}

#[test]
fn the_header_step_asks_for_the_body_only_when_it_may_help() {
    let sources = ClickIdSearch::default();
    let json: &[u8] = b"application/json";
    let form: &[u8] = b"application/x-www-form-urlencoded";

    for method in ["POST", "PUT", "PATCH"] {
        let body = read_body(headers_step(&sources, method, &[("content-type", json)]));
        assert_eq!(body.kind(), BodyKind::Json);
        let body = read_body(headers_step(&sources, method, &[("content-type", form)]));
        assert_eq!(body.kind(), BodyKind::Form);
    }
    for method in ["GET", "HEAD", "OPTIONS", "DELETE", "TRACE", "post"] {
        done(headers_step(&sources, method, &[("content-type", json)]));
    }
    for content_type in [
        &b"text/plain"[..],
        b"application/jsonx",
        b"application/+json",
        b"json",
        b"multipart/form-data; boundary=x",
        b"",
    ] {
        done(headers_step(
            &sources,
            "POST",
            &[("content-type", content_type)],
        ));
    }
    for content_type in [
        &b"APPLICATION/JSON"[..],
        b" application/json ; charset=utf-8",
        b"application/problem+json",
    ] {
        read_body(headers_step(
            &sources,
            "POST",
            &[("content-type", content_type)],
        ));
    }

    // A cheaper source that matched ends the lookup.
    done(headers_step(
        &sources,
        "POST",
        &[("content-type", json), ("cookie", b"affitor_click_id=abc")],
    ));
    // No source reads this kind of body.
    let only_json = ClickIdSearch::new([ClickIdSource::json_field("id")]);
    done(headers_step(&only_json, "POST", &[("content-type", form)]));
    read_body(headers_step(&only_json, "POST", &[("content-type", json)]));
    let no_body = ClickIdSearch::new([ClickIdSource::cookie("id")]);
    done(headers_step(&no_body, "POST", &[("content-type", json)]));

    // The Content-Length decides up front.
    let limited = ClickIdSearch::default().body_limit(10);
    let with_length = |length: &'static [u8]| {
        headers_step(
            &limited,
            "POST",
            &[("content-type", json), ("content-length", length)],
        )
    };
    assert_eq!(read_body(with_length(b"10")).limit(), 10);
    read_body(with_length(b"0"));
    read_body(with_length(b"not a number"));
    done(with_length(b"11"));
    done(with_length(b"99999999999999999999"));
}

#[test]
fn the_body_step_finishes_the_lookup() {
    let sources = ClickIdSearch::default().body_limit(64);
    let step = || {
        headers_step(
            &sources,
            "POST",
            &[
                ("content-type", b"application/json"),
                ("cookie", b"affitor_click_id="),
            ],
        )
    };
    let cookie_rejected = RejectedClickId::new(
        ClickIdSource::cookie("affitor_click_id"),
        InvalidClickId::Empty,
    );

    let lookup =
        read_body(step()).finish(br#"{"affitor_click_id":"snake","affitorClickId":"camel"}"#);
    assert_eq!(
        lookup,
        ClickIdLookup::found(
            "camel".parse().unwrap(),
            ClickIdSource::json_field("affitorClickId"),
            vec![cookie_rejected.clone()]
        )
    );

    let lookup = read_body(step()).finish(br#"{"affitorClickId":"a b","affitor_click_id":"ok"}"#);
    assert_eq!(lookup.click_id().unwrap(), "ok");
    assert_eq!(lookup.rejected().len(), 2);

    // Header rejections are kept whatever happens to the body, and the body's fate is said.
    let over = format!(r#"{{"affitorClickId":"abc","pad":"{}"}}"#, "x".repeat(64));
    for (lookup, says) in [
        (read_body(step()).finish(over.as_bytes()), "over the"),
        (
            read_body(step()).finish_without_body(),
            "or did not come whole in time",
        ),
    ] {
        assert_eq!(lookup.click_id(), None);
        assert_eq!(lookup.rejected(), std::slice::from_ref(&cookie_rejected));
        let said = lookup.to_string();
        assert!(
            said.contains("its body was not searched") && said.contains(says),
            "{said}"
        );
    }
    assert_eq!(
        read_body(step()).finish(b"{not json"),
        ClickIdLookup::not_found(vec![cookie_rejected])
    );

    let form = read_body(headers_step(
        &sources,
        "PATCH",
        &[(
            "content-type",
            b"application/x-www-form-urlencoded; charset=utf-8",
        )],
    ));
    let lookup = form.finish(b"affitor_click_id=f%2D1");
    assert_eq!(lookup.click_id().unwrap(), "f-1");
    assert_eq!(
        lookup.to_string(),
        "click id found in the form body field `affitor_click_id`"
    );
}

#[test]
fn a_flood_of_invalid_values_is_bounded() {
    // Thousands of invalid cookies: a few are reported, the rest only counted in one log line.
    let flood = vec!["affitor_click_id=a b"; 5_000].join("; ");
    let step = headers_step(
        &ClickIdSearch::default(),
        "GET",
        &[("cookie", flood.as_bytes())],
    );
    let lookup = done(step);
    assert_eq!(lookup.click_id(), None);
    assert_eq!(lookup.rejected().len(), 8);

    // A valid value after the flood is still found.
    let flood = format!("{flood}; affitor_click_id=cust_1");
    let step = headers_step(
        &ClickIdSearch::default(),
        "GET",
        &[("cookie", flood.as_bytes())],
    );
    assert_eq!(done(step).click_id().map(|id| id.as_str()), Some("cust_1"));
}

#[test]
fn rejected_values_are_recorded_in_the_order_of_the_sources() {
    // Each source is looked at in turn: the first source's rejected value comes first, and the
    // eight recorded are the first eight looked at, whatever their order in the header.
    let sources = ClickIdSearch::new([
        ClickIdSource::cookie("first"),
        ClickIdSource::cookie("second"),
    ]);
    let header = format!("{}first=a b; second=ok", "second=; ".repeat(8));
    let lookup = done(headers_step(
        &sources,
        "GET",
        &[("cookie", header.as_bytes())],
    ));
    assert_eq!(lookup.click_id().map(|id| id.as_str()), Some("ok"));
    let from: Vec<_> = lookup
        .rejected()
        .iter()
        .map(|rejected| rejected.source().to_string())
        .collect();
    assert_eq!(from.len(), 8);
    assert_eq!(from[0], "cookie `first`");
    assert!(
        from[1..].iter().all(|source| source == "cookie `second`"),
        "{from:?}"
    );
}
