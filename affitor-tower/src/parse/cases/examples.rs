//! The examples of the parsers' docs, run: the parsers are private, so their docs cannot run
//! them as doctests.

#[test]
fn example_1() {
    use crate::parse;

    let body = br#"{"email":"a@example.com","affitorClickId":"abc123"}"#;
    assert_eq!(
        parse::json_string_field(body, "affitorClickId").as_deref(),
        Some(&b"abc123"[..])
    );

    let cookie = b"theme=dark; affitor_click_id=abc123";
    let found = parse::cookies(cookie).find(|(name, _)| *name == b"affitor_click_id");
    assert_eq!(found, Some((&b"affitor_click_id"[..], &b"abc123"[..])));
}

#[test]
fn example_2() {
    assert_eq!(crate::parse::header_value(b" \tabc123 "), b"abc123");
}

#[test]
fn example_3() {
    use crate::parse;

    let pairs: Vec<_> = parse::cookies(br#"a=1; broken; b="2" ;a=3"#).collect();
    assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"a", b"3")]);
}

#[test]
fn example_4() {
    use crate::parse::form_field;

    let field = |body: &str| form_field(body.as_bytes(), "id").map(|v| v.into_owned());
    assert_eq!(field("email=a%40example.com&id=abc"), Some(b"abc".to_vec()));
    assert_eq!(field("id=a+b%2Fc"), Some(b"a b/c".to_vec()));
    assert_eq!(field("id=first&id=last"), Some(b"last".to_vec()));
    assert_eq!(field("idx=abc"), None);
}

#[test]
fn example_5() {
    use crate::parse::{self, JSON_MAX_DEPTH};

    let nested = |depth: usize| {
        format!(
            r#"{{"id":"x","n":{}{}}}"#,
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    };
    assert!(parse::json_string_field(nested(JSON_MAX_DEPTH).as_bytes(), "id").is_some());
    assert!(parse::json_string_field(nested(JSON_MAX_DEPTH + 1).as_bytes(), "id").is_none());
}

#[test]
fn example_6() {
    use crate::parse::json_string_field;

    let field = |body: &str| json_string_field(body.as_bytes(), "id").map(|v| v.into_owned());
    assert_eq!(field(r#"{"id": "a\u0062c"}"#), Some(b"abc".to_vec()));
    assert_eq!(field(r#"{"user": {"id": "nested"}}"#), None);
    assert_eq!(
        field(r#"{"id": "first", "id": "last"}"#),
        Some(b"last".to_vec())
    );
    assert_eq!(field(r#"{"id": 42}"#), None);
    assert_eq!(field(r#"{"id": "truncated"#), None);
}
