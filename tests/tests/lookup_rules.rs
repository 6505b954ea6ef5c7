//! The click id lookup's rules, stated once and run through both adapters: the Tower
//! `AffitorLayer` (in an axum `Router`) and the actix-web `Affitor` middleware.
//!
//! Each rule is a request (method, headers, body) and the answer the handler must see: the click
//! id and where it was found, or none, and the values rejected on the way. Through each adapter,
//! the handler must see that answer as the request's `ClickIdLookup`, and read the body byte for
//! byte as it was sent. The docs promise the same behaviour in both frameworks: this is where
//! that promise is tested. What is particular to one adapter's plumbing (streamed and failing
//! bodies, size hints, trailers, the service readiness) stays in that adapter's own tests.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use actix_web::http::header::HeaderValue as ActixHeaderValue;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, web};
use affitor_tower::{
    AffitorLayer, ClickId,
    lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource, InvalidClickId, RejectedClickId},
};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use tower::ServiceExt;

const JSON: &[u8] = b"application/json";
const FORM: &[u8] = b"application/x-www-form-urlencoded";

fn header() -> ClickIdSource {
    ClickIdSource::header("x-affitor-click-id")
}
fn cookie() -> ClickIdSource {
    ClickIdSource::cookie("affitor_click_id")
}
fn legacy_cookie() -> ClickIdSource {
    ClickIdSource::cookie("customer_code")
}
fn json_camel() -> ClickIdSource {
    ClickIdSource::json_field("affitorClickId")
}
fn json_snake() -> ClickIdSource {
    ClickIdSource::json_field("affitor_click_id")
}
fn form() -> ClickIdSource {
    ClickIdSource::form_field("affitor_click_id")
}
fn forbidden(byte: u8, position: usize) -> InvalidClickId {
    InvalidClickId::ForbiddenByte { byte, position }
}

/// One rule: a request, and the lookup the handler must find in it.
struct Rule {
    what: &'static str,
    search: ClickIdSearch,
    method: &'static str,
    headers: Vec<(&'static str, &'static [u8])>,
    body: &'static [u8],
    found: Option<(&'static str, ClickIdSource)>,
    rejected: Vec<RejectedClickId>,
}

/// A `POST` with `headers` and `body`, searched the default way, in which no click id is found.
fn rule(
    what: &'static str,
    headers: Vec<(&'static str, &'static [u8])>,
    body: &'static [u8],
) -> Rule {
    Rule {
        what,
        search: ClickIdSearch::default(),
        method: "POST",
        headers,
        body,
        found: None,
        rejected: Vec::new(),
    }
}

/// A `POST` of a JSON body.
fn json(what: &'static str, body: &'static [u8]) -> Rule {
    rule(what, vec![("content-type", JSON)], body)
}

impl Rule {
    fn found(mut self, click_id: &'static str, source: ClickIdSource) -> Self {
        self.found = Some((click_id, source));
        self
    }
    fn rejects(mut self, source: ClickIdSource, reason: InvalidClickId) -> Self {
        self.rejected.push(RejectedClickId::new(source, reason));
        self
    }
    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }
    fn search(mut self, search: ClickIdSearch) -> Self {
        self.search = search;
        self
    }

    fn expected(&self) -> ClickIdLookup {
        match &self.found {
            Some((click_id, source)) => ClickIdLookup::found(
                click_id.parse().unwrap(),
                source.clone(),
                self.rejected.clone(),
            ),
            None => ClickIdLookup::not_found(self.rejected.clone()),
        }
    }
}

/// What a handler saw: the lookup, and the body it read.
type Seen = (Option<ClickIdLookup>, Vec<u8>);

/// The rule's request through `AffitorLayer`, in an axum `Router`.
async fn through_tower(rule: &Rule) -> Seen {
    let seen = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    let app = axum::Router::new()
        .fallback(move |request: Request| async move {
            let lookup = request.extensions().get::<ClickIdLookup>().cloned();
            let body = axum::body::to_bytes(request.into_body(), usize::MAX)
                .await
                .unwrap();
            *record.lock().unwrap() = Some((lookup, body.to_vec()));
        })
        .layer(AffitorLayer::new().search(rule.search.clone()));

    let mut request = axum::http::Request::builder()
        .method(rule.method)
        .uri("/api/signup");
    for (name, value) in &rule.headers {
        let value = axum::http::HeaderValue::from_bytes(value).unwrap();
        request = request.header(*name, value);
    }
    let request = request
        .body(Body::from(Bytes::from_static(rule.body)))
        .unwrap();
    app.oneshot(request).await.unwrap();
    let seen = seen.lock().unwrap().take();
    seen.expect("the handler was called")
}

/// The rule's request through the actix-web `Affitor` middleware.
async fn through_actix(rule: &Rule) -> Seen {
    async fn observe(request: HttpRequest, body: web::Bytes) -> HttpResponse {
        let lookup = request.extensions().get::<ClickIdLookup>().cloned();
        let seen = request
            .app_data::<web::Data<Mutex<Option<Seen>>>>()
            .unwrap();
        *seen.lock().unwrap() = Some((lookup, body.to_vec()));
        HttpResponse::NoContent().finish()
    }

    let seen = web::Data::new(Mutex::new(None));
    let app = actix_web::test::init_service(
        App::new()
            .app_data(seen.clone())
            .wrap(affitor_actix::Affitor::new().search(rule.search.clone()))
            .default_service(web::to(observe)),
    )
    .await;
    let method = actix_web::http::Method::from_bytes(rule.method.as_bytes()).unwrap();
    let mut request = actix_web::test::TestRequest::default()
        .method(method)
        .uri("/api/signup");
    for (name, value) in &rule.headers {
        request = request.append_header((*name, ActixHeaderValue::from_bytes(value).unwrap()));
    }
    let request = request.set_payload(rule.body).to_request();
    actix_web::test::call_service(&app, request).await;
    let seen = seen.lock().unwrap().take();
    seen.expect("the handler was called")
}

/// Runs every rule through both adapters.
async fn check(rules: Vec<Rule>) {
    for rule in rules {
        let expected = rule.expected();
        for (adapter, (lookup, body)) in [
            ("AffitorLayer", through_tower(&rule).await),
            ("actix Affitor", through_actix(&rule).await),
        ] {
            let what = rule.what;
            assert_eq!(
                lookup.as_ref(),
                Some(&expected),
                "{what}, through {adapter}"
            );
            assert!(
                body == rule.body,
                "{what}, through {adapter}: the handler read {} bytes, not the {} sent",
                body.len(),
                rule.body.len(),
            );
        }
    }
}

#[actix_web::test]
async fn finds_the_click_id_in_every_source() {
    check(vec![
        rule("header", vec![("x-affitor-click-id", b"h-1")], b"").found("h-1", header()),
        rule(
            "header, any case, padded",
            vec![("X-Affitor-Click-Id", b" h-2\t")],
            b"",
        )
        .found("h-2", header()),
        rule(
            "cookie",
            vec![("cookie", b"a=1; affitor_click_id=c-1; b=2")],
            b"",
        )
        .found("c-1", cookie()),
        rule(
            "quoted cookie",
            vec![("cookie", b"affitor_click_id=\"c-2\"")],
            b"",
        )
        .found("c-2", cookie()),
        rule("legacy cookie", vec![("cookie", b"customer_code=l-1")], b"")
            .found("l-1", legacy_cookie()),
        json("JSON camelCase", br#"{"affitorClickId":"j-1"}"#).found("j-1", json_camel()),
        json("JSON snake_case", br#"{"affitor_click_id":"j-2"}"#).found("j-2", json_snake()),
        rule(
            "JSON with a charset",
            vec![("content-type", b"Application/JSON; charset=utf-8")],
            br#"{"email":"a@b.c","affitorClickId":"j-3","password":"x"}"#,
        )
        .found("j-3", json_camel()),
        rule(
            "a +json media type",
            vec![("content-type", b"application/vnd.api+json")],
            br#"{"affitorClickId":"j-4"}"#,
        )
        .found("j-4", json_camel()),
        json("JSON escapes", br#"{"affitor\u0043lickId":"j\u002d5"}"#).found("j-5", json_camel()),
        json("JSON by PUT", br#"{"affitorClickId":"j-6"}"#)
            .method("PUT")
            .found("j-6", json_camel()),
        json("JSON by PATCH", br#"{"affitorClickId":"j-7"}"#)
            .method("PATCH")
            .found("j-7", json_camel()),
        rule(
            "form",
            vec![("content-type", FORM)],
            b"email=a%40b.c&affitor_click_id=f-1",
        )
        .found("f-1", form()),
        rule(
            "form, encoded",
            vec![("content-type", FORM)],
            b"affitor%5Fclick%5Fid=f%2D2",
        )
        .found("f-2", form()),
    ])
    .await;
}

#[actix_web::test]
async fn no_click_id_is_a_lookup_that_found_nothing() {
    check(vec![
        rule("nothing", vec![], b"").method("GET"),
        rule("nothing, posted", vec![], b""),
        rule(
            "other cookies",
            vec![("cookie", b"session=abc; theme=dark")],
            b"",
        ),
        json("JSON without the field", br#"{"email":"a@b.c"}"#),
        json("an empty JSON body", b""),
        json("malformed JSON", br#"{"affitorClickId":"j-1""#),
        json("a JSON array", br#"[{"affitorClickId":"j-1"}]"#),
        rule(
            "a form without the field",
            vec![("content-type", FORM)],
            b"email=a%40b.c",
        ),
    ])
    .await;
}

#[actix_web::test]
async fn reads_a_body_only_when_it_may_hold_the_click_id() {
    let json_body: &[u8] = br#"{"affitorClickId":"j-1"}"#;
    check(vec![
        json("GET", json_body).method("GET"),
        json("DELETE", json_body).method("DELETE"),
        json("OPTIONS", json_body).method("OPTIONS"),
        rule("no content type", vec![], json_body),
        rule("text", vec![("content-type", b"text/plain")], json_body),
        rule(
            "JSON sent as a form",
            vec![("content-type", FORM)],
            json_body,
        ),
        json("a form sent as JSON", b"affitor_click_id=f-1"),
        rule(
            "multipart",
            vec![("content-type", b"multipart/form-data; boundary=x")],
            json_body,
        ),
        json("only header sources", json_body).search(ClickIdSearch::new([header(), cookie()])),
        rule(
            "a form, when only JSON fields are searched",
            vec![("content-type", FORM)],
            b"affitor_click_id=f-1",
        )
        .search(ClickIdSearch::new([json_camel()])),
        json("a body over the limit", json_body).search(ClickIdSearch::default().body_limit(10)),
        json("a body at the limit", json_body)
            .search(ClickIdSearch::default().body_limit(json_body.len()))
            .found("j-1", json_camel()),
    ])
    .await;
}

#[actix_web::test]
async fn sources_take_precedence_in_order() {
    let everything: Vec<(&str, &[u8])> = vec![
        ("x-affitor-click-id", b"from-header"),
        (
            "cookie",
            b"customer_code=from-legacy; affitor_click_id=from-cookie",
        ),
        ("content-type", JSON),
    ];
    let both_fields: &[u8] = br#"{"affitor_click_id":"from-snake","affitorClickId":"from-camel"}"#;
    let custom = || {
        ClickIdSearch::new([
            ClickIdSource::json_field("clickId"),
            ClickIdSource::header("X-Click-Id"),
        ])
    };
    check(vec![
        rule("the header first", everything.clone(), both_fields).found("from-header", header()),
        rule(
            "then the cookie, wherever it is in the header",
            everything[1..].to_vec(),
            both_fields,
        )
        .found("from-cookie", cookie()),
        rule(
            "then the legacy cookie",
            vec![
                ("cookie", b"customer_code=from-legacy"),
                ("content-type", JSON),
            ],
            both_fields,
        )
        .found("from-legacy", legacy_cookie()),
        json("then the camelCase field, wherever it is", both_fields)
            .found("from-camel", json_camel()),
        rule(
            "an invalid header gives way to the cookie",
            vec![
                ("x-affitor-click-id", b"bad value"),
                ("cookie", b"affitor_click_id=ok"),
            ],
            b"",
        )
        .rejects(header(), forbidden(b' ', 3))
        .found("ok", cookie()),
        rule(
            "an invalid cookie gives way to the body",
            vec![("cookie", b"affitor_click_id=\"\""), ("content-type", JSON)],
            br#"{"affitorClickId":"", "affitor_click_id":"ok"}"#,
        )
        .rejects(cookie(), InvalidClickId::Empty)
        .rejects(json_camel(), InvalidClickId::Empty)
        .found("ok", json_snake()),
        rule(
            "a custom order: the cookie before the header",
            vec![
                ("x-affitor-click-id", b"from-header"),
                ("cookie", b"affitor_click_id=from-cookie"),
            ],
            b"",
        )
        .search(ClickIdSearch::new([cookie(), header()]))
        .found("from-cookie", cookie()),
        json(
            "a custom order: a header before a body field still",
            br#"{"clickId":"from-body"}"#,
        )
        .search(custom())
        .found("from-body", ClickIdSource::json_field("clickId")),
        rule(
            "a custom order: headers are read before the body whatever the order",
            vec![("x-click-id", b"from-header"), ("content-type", JSON)],
            br#"{"clickId":"from-body"}"#,
        )
        .search(custom())
        .found("from-header", ClickIdSource::header("x-click-id")),
        rule(
            "a custom search reads only its own sources",
            vec![
                ("x-affitor-click-id", b"default"),
                ("cookie", b"affitor_click_id=default"),
            ],
            b"",
        )
        .search(custom()),
    ])
    .await;
}

#[actix_web::test]
async fn rejects_invalid_values_and_says_why() {
    const LONG: &[u8] = &[b'a'; 129];
    const LONGEST: &[u8] = &[b'a'; 128];
    let too_long = InvalidClickId::TooLong { len: 129 };
    let long_json: &'static [u8] = format!(r#"{{"affitorClickId":"{}"}}"#, "a".repeat(129))
        .leak()
        .as_bytes();
    check(vec![
        rule("empty header", vec![("x-affitor-click-id", b"")], b"")
            .rejects(header(), InvalidClickId::Empty),
        rule("longest header", vec![("x-affitor-click-id", LONGEST)], b"")
            .found(std::str::from_utf8(LONGEST).unwrap(), header()),
        rule("long header", vec![("x-affitor-click-id", LONG)], b"").rejects(header(), too_long),
        rule("space", vec![("x-affitor-click-id", b"a b")], b"")
            .rejects(header(), forbidden(b' ', 1)),
        rule("quote", vec![("x-affitor-click-id", b"a\"b")], b"")
            .rejects(header(), forbidden(b'"', 1)),
        rule("non-UTF-8", vec![("x-affitor-click-id", b"ab\xff")], b"")
            .rejects(header(), forbidden(0xff, 2)),
        rule(
            "non-ASCII UTF-8",
            vec![("cookie", b"affitor_click_id=caf\xc3\xa9")],
            b"",
        )
        .rejects(cookie(), forbidden(0xc3, 3)),
        rule("empty cookie", vec![("cookie", b"affitor_click_id=")], b"")
            .rejects(cookie(), InvalidClickId::Empty),
        rule(
            "percent-encoded cookie",
            vec![("cookie", b"affitor_click_id=a%20b")],
            b"",
        )
        .rejects(cookie(), forbidden(b'%', 1)),
        json(
            "CR LF in JSON",
            br#"{"affitorClickId":"a\r\nSet-Cookie: x"}"#,
        )
        .rejects(json_camel(), forbidden(b'\r', 1)),
        json("NUL in JSON", br#"{"affitorClickId":"a\u0000"}"#)
            .rejects(json_camel(), forbidden(0, 1)),
        json("non-ASCII in JSON", br#"{"affitorClickId":"\u00e9"}"#)
            .rejects(json_camel(), forbidden(0xc3, 0)),
        json("long JSON", long_json).rejects(json_camel(), too_long),
        rule(
            "CR LF in a form",
            vec![("content-type", FORM)],
            b"affitor_click_id=a%0D%0Ab",
        )
        .rejects(form(), forbidden(b'\r', 1)),
        rule(
            "plus in a form",
            vec![("content-type", FORM)],
            b"affitor_click_id=a+b",
        )
        .rejects(form(), forbidden(b' ', 1)),
        rule(
            "empty form field",
            vec![("content-type", FORM)],
            b"affitor_click_id=&x=1",
        )
        .rejects(form(), InvalidClickId::Empty),
        rule(
            "every rejection on the way is kept, in order",
            vec![
                ("x-affitor-click-id", b"a b"),
                ("cookie", b"affitor_click_id=; customer_code=ok:1"),
                ("content-type", JSON),
            ],
            br#"{"affitorClickId":"abc"}"#,
        )
        .rejects(header(), forbidden(b' ', 1))
        .rejects(cookie(), InvalidClickId::Empty)
        .found("ok:1", legacy_cookie()),
    ])
    .await;
}

#[actix_web::test]
async fn duplicate_cookies_each_get_a_chance_in_order() {
    check(vec![
        rule(
            "the first valid wins",
            vec![("cookie", b"affitor_click_id=first; affitor_click_id=second")],
            b"",
        )
        .found("first", cookie()),
        rule(
            "an invalid first gives way",
            vec![("cookie", b"affitor_click_id=; affitor_click_id=second")],
            b"",
        )
        .rejects(cookie(), InvalidClickId::Empty)
        .found("second", cookie()),
        rule(
            "several Cookie headers",
            vec![
                ("cookie", b"theme=dark; broken"),
                ("cookie", b"affitor_click_id=from-second-header"),
            ],
            b"",
        )
        .found("from-second-header", cookie()),
        rule(
            "malformed pairs are skipped",
            vec![("cookie", b"=x; ;; noequals; affitor_click_id = spaced ")],
            b"",
        )
        .found("spaced", cookie()),
        rule(
            "the name is exact",
            vec![("cookie", b"Affitor_Click_Id=x; affitor_click_idx=y")],
            b"",
        ),
    ])
    .await;
}

#[actix_web::test]
async fn json_fields_must_be_top_level_strings_and_the_last_occurrence_wins() {
    check(vec![
        json(
            "nested in an object",
            br#"{"user":{"affitorClickId":"n-1"}}"#,
        ),
        json(
            "nested in an array",
            br#"{"list":[{"affitorClickId":"n-1"}],"a":["affitorClickId"]}"#,
        ),
        json(
            "a key in a nested string",
            br#"{"note":"\"affitorClickId\":\"n-1\""}"#,
        ),
        json("null", br#"{"affitorClickId":null}"#),
        json("number", br#"{"affitorClickId":12345}"#),
        json("object", br#"{"affitorClickId":{"id":"n-1"}}"#),
        json(
            "nested then top level",
            br#"{"user":{"affitorClickId":"inner"},"affitorClickId":"outer"}"#,
        )
        .found("outer", json_camel()),
        json(
            "repeated: the last wins",
            br#"{"affitorClickId":"first","affitorClickId":"last"}"#,
        )
        .found("last", json_camel()),
        json(
            "repeated: a last null hides the first",
            br#"{"affitorClickId":"first","affitorClickId":null}"#,
        ),
        json(
            "a non-string falls to the next field",
            br#"{"affitorClickId":1,"affitor_click_id":"snake"}"#,
        )
        .found("snake", json_snake()),
        rule(
            "form: the last wins",
            vec![("content-type", FORM)],
            b"affitor_click_id=first&affitor_click_id=last",
        )
        .found("last", form()),
    ])
    .await;
}

/// A `ClickId` extension set by an earlier middleware wins over every source, and is reported
/// as found in [`ClickIdSource::Extension`].
#[actix_web::test]
async fn an_earlier_click_id_extension_wins() {
    let earlier: ClickId = "from-earlier".parse().unwrap();
    let expected = ClickIdLookup::found(earlier.clone(), ClickIdSource::Extension, Vec::new());
    let body: &[u8] = br#"{"affitorClickId":"in-body"}"#;

    let seen = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    let inserted = earlier.clone();
    let app = axum::Router::new()
        .fallback(move |request: Request| async move {
            let lookup = request.extensions().get::<ClickIdLookup>().cloned();
            *record.lock().unwrap() = lookup;
        })
        .layer(AffitorLayer::new())
        .layer(axum::middleware::map_request(
            move |mut request: Request| {
                let inserted = inserted.clone();
                async move {
                    request.extensions_mut().insert(inserted);
                    request
                }
            },
        ));
    let request = axum::http::Request::post("/")
        .header("x-affitor-click-id", "from-header")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    app.oneshot(request).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().take(),
        Some(expected.clone()),
        "through AffitorLayer"
    );

    let seen = web::Data::new(Mutex::new(None::<ClickIdLookup>));
    let app = actix_web::test::init_service(
        App::new()
            .app_data(seen.clone())
            .wrap(affitor_actix::Affitor::new())
            // Registered last, so it runs first.
            .wrap_fn(move |request, service| {
                request.extensions_mut().insert(earlier.clone());
                actix_web::dev::Service::call(service, request)
            })
            .default_service(web::to(|request: HttpRequest| async move {
                let lookup = request.extensions().get::<ClickIdLookup>().cloned();
                let seen = request
                    .app_data::<web::Data<Mutex<Option<ClickIdLookup>>>>()
                    .unwrap();
                *seen.lock().unwrap() = lookup;
                HttpResponse::NoContent().finish()
            })),
    )
    .await;
    let request = actix_web::test::TestRequest::post()
        .insert_header(("x-affitor-click-id", "from-header"))
        .insert_header(("content-type", "application/json"))
        .set_payload(body)
        .to_request();
    actix_web::test::call_service(&app, request).await;
    assert_eq!(
        seen.lock().unwrap().take(),
        Some(expected),
        "through actix Affitor"
    );
}
