//! Contract tests: every request body the client can produce, checked against the OpenAPI
//! schemas of the Affitor API (field names, types, enums, required fields), written out by hand
//! below. A body with a field the schema does not know, a wrong type, or a `null` fails.
//!
//! The bodies are captured by a small HTTP server on 127.0.0.1, so what is checked is exactly
//! what goes on the wire.
#![cfg(feature = "client")]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::sync::{Arc, Mutex};

use affitor_tower::{ClickId, Client, Currency, RetryPolicy, SaleType, SubscriptionInterval};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value, json};

/// The type of one field, as the OpenAPI file gives it.
#[derive(Clone, Copy, Debug)]
enum Ty {
    String,
    /// `type: string, format: uri`.
    Uri,
    /// `type: string, format: email`.
    Email,
    /// `type: integer` with a minimum.
    Integer {
        minimum: i64,
    },
    Boolean,
    /// `type: string` with an `enum`.
    Enum(&'static [&'static str]),
    /// `type: [string, integer]`.
    StringOrInteger,
    /// `type: array, items: {type: string}`.
    StringArray,
    /// `$ref` to another object schema.
    Object(&'static Schema),
    /// No type given (any JSON).
    Any,
}

#[derive(Debug)]
struct Schema {
    name: &'static str,
    fields: &'static [(&'static str, Ty)],
    required: &'static [&'static str],
    /// An extension object: keys beyond `fields` are the caller's own data.
    open: bool,
}

// components.schemas.AdditionalData
static ADDITIONAL_DATA: Schema = Schema {
    name: "AdditionalData",
    fields: &[
        ("test_mode", Ty::Boolean),
        ("program_id", Ty::StringOrInteger),
        ("event_name", Ty::String),
    ],
    required: &[],
    open: true,
};

// components.schemas.ClickRequest
static CLICK_REQUEST: Schema = Schema {
    name: "ClickRequest",
    fields: &[
        ("affiliate_url", Ty::Uri),
        ("page_url", Ty::Uri),
        ("page_title", Ty::String),
        ("referrer_url", Ty::String),
        ("session_id", Ty::String),
        ("user_agent", Ty::String),
        ("screen_resolution", Ty::String),
        ("viewport_size", Ty::String),
        ("language", Ty::String),
        ("timezone", Ty::String),
        ("existing_click_id", Ty::String),
        ("additional_data", Ty::Object(&ADDITIONAL_DATA)),
    ],
    required: &[],
    open: false,
};

// components.schemas.LeadRequest
static LEAD_REQUEST: Schema = Schema {
    name: "LeadRequest",
    fields: &[
        ("click_id", Ty::String),
        ("customer_key", Ty::String),
        ("email", Ty::Email),
        ("session_id", Ty::String),
        ("page_url", Ty::String),
        ("click_ids", Ty::StringArray),
        ("additional_data", Ty::Object(&ADDITIONAL_DATA)),
    ],
    required: &[],
    open: false,
};

// components.schemas.SaleRequest
static SALE_REQUEST: Schema = Schema {
    name: "SaleRequest",
    fields: &[
        ("transaction_id", Ty::String),
        ("customer_key", Ty::String),
        ("click_id", Ty::String),
        ("amount_cents", Ty::Integer { minimum: 1 }),
        ("currency", Ty::Enum(&["USD", "EUR", "VND"])),
        ("sale_type", Ty::Enum(&["payment", "subscription"])),
        ("is_recurring", Ty::Boolean),
        ("subscription_id", Ty::String),
        (
            "subscription_interval",
            Ty::Enum(&["monthly", "quarterly", "annual"]),
        ),
        ("product_id", Ty::String),
        ("line_items", Ty::Any),
        ("additional_data", Ty::Object(&ADDITIONAL_DATA)),
    ],
    required: &["transaction_id", "amount_cents"],
    open: false,
};

// components.schemas.RefundRequest
static REFUND_REQUEST: Schema = Schema {
    name: "RefundRequest",
    fields: &[
        ("transaction_id", Ty::String),
        ("refund_amount_cents", Ty::Integer { minimum: 1 }),
        ("refund_reason", Ty::String),
    ],
    required: &["transaction_id"],
    open: false,
};

// components.schemas.TestEventRequest
static TEST_EVENT_REQUEST: Schema = Schema {
    name: "TestEventRequest",
    fields: &[
        ("type", Ty::Enum(&["chain"])),
        ("event_type", Ty::Enum(&["click", "lead", "sale"])),
    ],
    required: &[],
    open: false,
};

/// Checks `value` against `schema`; returns every violation found.
fn check(schema: &Schema, value: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    check_object(schema, value, schema.name, &mut problems);
    problems
}

fn check_object(schema: &Schema, value: &Value, at: &str, problems: &mut Vec<String>) {
    let Value::Object(object) = value else {
        problems.push(format!("{at}: expected an object, got {value}"));
        return;
    };
    for required in schema.required {
        if !object.contains_key(*required) {
            problems.push(format!("{at}: required field `{required}` is missing"));
        }
    }
    for (name, field) in object {
        let at = format!("{at}.{name}");
        match schema.fields.iter().find(|(known, _)| known == name) {
            Some((_, ty)) => check_type(*ty, field, &at, problems),
            None if schema.open => check_no_null(field, &at, problems),
            None => problems.push(format!("{at}: unknown field for {}", schema.name)),
        }
    }
}

fn check_type(ty: Ty, value: &Value, at: &str, problems: &mut Vec<String>) {
    let ok = match (ty, value) {
        (_, Value::Null) => {
            problems.push(format!("{at}: null is never sent"));
            return;
        }
        (Ty::String, Value::String(_)) => true,
        (Ty::Uri, Value::String(text)) => reqwest::Url::parse(text).is_ok(),
        (Ty::Email, Value::String(text)) => text.contains('@'),
        (Ty::Integer { minimum }, Value::Number(number)) => {
            number.as_i64().is_some_and(|n| n >= minimum)
        }
        (Ty::Boolean, Value::Bool(_)) => true,
        (Ty::Enum(values), Value::String(text)) => values.contains(&text.as_str()),
        (Ty::StringOrInteger, Value::String(_)) => true,
        (Ty::StringOrInteger, Value::Number(number)) => number.is_i64() || number.is_u64(),
        (Ty::StringArray, Value::Array(items)) => items.iter().all(Value::is_string),
        (Ty::Object(schema), object @ Value::Object(_)) => {
            check_object(schema, object, at, problems);
            true
        }
        (Ty::Any, any) => {
            check_no_null(any, at, problems);
            true
        }
        _ => false,
    };
    if !ok {
        problems.push(format!("{at}: {value} is not a valid {ty:?}"));
    }
}

fn check_no_null(value: &Value, at: &str, problems: &mut Vec<String>) {
    match value {
        Value::Null => problems.push(format!("{at}: null is never sent")),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_no_null(item, &format!("{at}[{index}]"), problems);
            }
        }
        Value::Object(object) => {
            for (name, field) in object {
                check_no_null(field, &format!("{at}.{name}"), problems);
            }
        }
        _ => {}
    }
}

/// `LeadRequest` and `SaleRequest`: "Either `click_id` or `customer_key` is required" (outside
/// test mode).
fn check_customer(body: &Value) -> bool {
    body.get("click_id").is_some() || body.get("customer_key").is_some()
}

#[derive(Debug, Clone)]
struct Captured {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Value,
}

/// A server on 127.0.0.1 that records every request and answers like the API.
async fn capture_server() -> (String, Arc<Mutex<Vec<Captured>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .fallback(
            |State(log): State<Arc<Mutex<Vec<Captured>>>>,
             method: Method,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                let path = uri.path().to_owned();
                log.lock().unwrap().push(Captured {
                    method,
                    path: path.clone(),
                    query: uri.query().map(str::to_owned),
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let answer = match path.as_str() {
                    "/api/v1/track/click" => json!({
                        "success": true, "click_id": "cust_42_1714000000000",
                        "partner_code": "abc123", "cookie_window_days": 60
                    }),
                    "/api/v1/track/lead" => {
                        json!({"success": true, "message": "Lead tracked successfully"})
                    }
                    "/api/v1/track/sale" => json!({
                        "success": true, "sale_id": 1, "commission_id": 2,
                        "message": "Sale tracked successfully"
                    }),
                    "/api/v1/track/refund" => json!({"success": true, "commission_id": 2}),
                    "/api/v1/cli/test-event" => json!({"data": {
                        "type": "chain", "short_code": "afftest42", "customer_key": "aff_test_ck",
                        "verdict": {"click": "attributed", "lead": "attributed", "sale": "attributed"},
                        "attributed": true
                    }}),
                    _ => json!({"program_id": 42, "state": "integration_verified",
                                "integration_verified": true, "blocker": null}),
                };
                axum::Json(answer)
            },
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

fn client(url: &str, test_mode: bool) -> Client {
    Client::builder()
        .api_key("aff_contract_key")
        .base_url(url)
        .test_mode(test_mode)
        .program_id("42")
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn click_id(value: &str) -> ClickId {
    value.parse().unwrap()
}

/// Sends every request the client can make, minimal and with every setter, in both modes.
async fn send_everything(client: &Client) {
    client.lead("user_1").send().await.unwrap();
    client
        .lead("")
        .click_id(click_id("c1"))
        .send()
        .await
        .unwrap();
    client
        .lead("user_1")
        .click_id(click_id("cust_42_1714000000000"))
        .email("ada@example.com")
        .session_id("sess_abc_1714000000000")
        .page_url("https://shop.example/signup")
        .click_ids([click_id("c0"), click_id("c1")])
        .event_name("signup")
        .send()
        .await
        .unwrap();

    client
        .sale("in_min", 1)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    client
        .sale("in_click", 999)
        .click_id(click_id("c1"))
        .send()
        .await
        .unwrap();
    for (index, currency) in [Currency::Usd, Currency::Eur, Currency::Vnd]
        .into_iter()
        .enumerate()
    {
        let mut extra = Map::new();
        extra.insert("program_id".into(), json!(42));
        extra.insert("event_name".into(), json!("renewal"));
        client
            .sale(format!("in_full_{index}"), 2490)
            .customer_key("user_1")
            .click_id(click_id("c1"))
            .currency(currency)
            .sale_type(if index == 0 {
                SaleType::Payment
            } else {
                SaleType::Subscription
            })
            .is_recurring(index > 0)
            .subscription_id("sub_xyz")
            .subscription_interval(
                [
                    SubscriptionInterval::Monthly,
                    SubscriptionInterval::Quarterly,
                    SubscriptionInterval::Annual,
                ][index],
            )
            .product_id("prod_1")
            .line_items(json!([{"sku": "pro", "quantity": 1, "amount_cents": 2490}]))
            .additional_data(extra)
            .send()
            .await
            .unwrap();
    }

    client.refund("in_min").send().await.unwrap();
    client
        .refund("in_full_0")
        .amount_cents(500)
        .reason("customer_request")
        .send()
        .await
        .unwrap();

    client
        .click("https://shop.example/pricing?aff=abc123")
        .send()
        .await
        .unwrap();
    client
        .click("https://shop.example/pricing?aff=abc123")
        .page_url("https://shop.example/pricing?aff=abc123")
        .page_title("Pricing")
        .referrer_url("https://google.com")
        .session_id("sess_xyz_1234")
        .user_agent("Mozilla/5.0")
        .screen_resolution("1920x1080")
        .viewport_size("1440x900")
        .language("en-US")
        .timezone("America/New_York")
        .existing_click_id(click_id("cust_42_1714000000000"))
        .send()
        .await
        .unwrap();

    client.readiness().send().await.unwrap();
    client.readiness().force_recheck(true).send().await.unwrap();
    client
        .verify()
        .polls(1)
        .poll_interval(std::time::Duration::ZERO)
        .send()
        .await
        .unwrap();
}

async fn captured(test_mode: bool) -> Vec<Captured> {
    let (url, log) = capture_server().await;
    send_everything(&client(&url, test_mode)).await;
    log.lock().unwrap().clone()
}

fn assert_conforms(requests: &[Captured], test_mode: bool) {
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for request in requests {
        let (schema, auth) = match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/api/v1/track/click") => (Some(&CLICK_REQUEST), false),
            ("POST", "/api/v1/track/lead") => (Some(&LEAD_REQUEST), true),
            ("POST", "/api/v1/track/sale") => (Some(&SALE_REQUEST), true),
            ("POST", "/api/v1/track/refund") => (Some(&REFUND_REQUEST), true),
            ("POST", "/api/v1/cli/test-event") => (Some(&TEST_EVENT_REQUEST), true),
            ("GET", "/api/v1/programs/me/readiness") => (None, true),
            other => panic!("a request the API does not have: {other:?}"),
        };
        *seen
            .entry(schema.map_or("Readiness", |schema| schema.name))
            .or_default() += 1;
        match schema {
            Some(schema) => {
                let problems = check(schema, &request.body);
                assert!(problems.is_empty(), "{problems:#?}\nbody: {}", request.body);
                assert_eq!(
                    request.headers["content-type"], "application/json",
                    "{}",
                    request.path
                );
            }
            None => {
                // `force_recheck` is an optional boolean query parameter.
                assert!(
                    matches!(request.query.as_deref(), None | Some("force_recheck=true")),
                    "{:?}",
                    request.query
                );
                assert_eq!(request.body, Value::Null);
            }
        }
        if matches!(schema.map(|s| s.name), Some("LeadRequest" | "SaleRequest")) && !test_mode {
            assert!(check_customer(&request.body), "{}", request.body);
        }
        if test_mode
            && matches!(
                schema.map(|s| s.name),
                Some("LeadRequest" | "SaleRequest" | "ClickRequest")
            )
        {
            assert_eq!(request.body["additional_data"]["test_mode"], json!(true));
        }
        // Test-mode clicks carry no key: they name the program instead.
        if schema.map(|s| s.name) == Some("ClickRequest") {
            let program_id = request
                .body
                .get("additional_data")
                .map(|d| &d["program_id"]);
            assert_eq!(
                program_id,
                test_mode.then_some(&json!("42")),
                "{}",
                request.body
            );
        }
        // securitySchemes: Bearer everywhere but on click.
        assert_eq!(
            request
                .headers
                .get("authorization")
                .map(|value| value.to_str().unwrap()),
            auth.then_some("Bearer aff_contract_key"),
            "{}",
            request.path
        );
    }
    for name in [
        "ClickRequest",
        "LeadRequest",
        "SaleRequest",
        "RefundRequest",
        "TestEventRequest",
        "Readiness",
    ] {
        assert!(seen.contains_key(name), "no {name} was sent: {seen:?}");
    }
}

#[tokio::test]
async fn every_body_conforms_to_the_openapi_schemas() {
    let requests = captured(false).await;
    assert_eq!(requests.len(), 16);
    assert_conforms(&requests, false);
}

#[tokio::test]
async fn every_test_mode_body_conforms_to_the_openapi_schemas() {
    let requests = captured(true).await;
    assert_eq!(requests.len(), 16);
    assert_conforms(&requests, true);
}

#[tokio::test]
async fn minimal_bodies_are_exactly_the_given_fields() {
    let requests = captured(false).await;
    let bodies: Vec<&Value> = requests.iter().map(|request| &request.body).collect();
    assert!(bodies.contains(&&json!({"customer_key": "user_1"})));
    assert!(bodies.contains(&&json!({"click_id": "c1"})));
    assert!(bodies.contains(&&json!({
        "transaction_id": "in_min", "amount_cents": 1, "customer_key": "user_1"
    })));
    assert!(bodies.contains(&&json!({"transaction_id": "in_min"})));
    assert!(bodies.contains(&&json!({"affiliate_url": "https://shop.example/pricing?aff=abc123"})));
    assert!(bodies.contains(&&json!({"type": "chain"})));
}

/// The checker itself must catch what it is meant to catch.
#[test]
fn the_checker_rejects_bad_bodies() {
    let bad = [
        (&SALE_REQUEST, json!({"transaction_id": "t"})),
        (
            &SALE_REQUEST,
            json!({"transaction_id": "t", "amount_cents": 0}),
        ),
        (
            &SALE_REQUEST,
            json!({"transaction_id": "t", "amount_cents": 1, "currency": "usd"}),
        ),
        (
            &SALE_REQUEST,
            json!({"transaction_id": "t", "amount_cents": 1, "customer_key": null}),
        ),
        (
            &SALE_REQUEST,
            json!({"transaction_id": "t", "amount_cents": 1, "event_name": "x"}),
        ),
        (
            &SALE_REQUEST,
            json!({"transaction_id": 7, "amount_cents": 1}),
        ),
        (
            &SALE_REQUEST,
            json!({"transaction_id": "t", "amount_cents": 1, "additional_data": {"test_mode": "yes"}}),
        ),
        (&LEAD_REQUEST, json!({"click_ids": ["a", 1]})),
        (&LEAD_REQUEST, json!({"email": "not-an-email"})),
        (&CLICK_REQUEST, json!({"affiliate_url": "not a url"})),
        (
            &REFUND_REQUEST,
            json!({"transaction_id": "t", "refund_amount_cents": 0}),
        ),
        (&TEST_EVENT_REQUEST, json!({"type": "single"})),
        (&LEAD_REQUEST, json!([])),
    ];
    for (schema, body) in bad {
        assert!(
            !check(schema, &body).is_empty(),
            "{} accepted {body}",
            schema.name
        );
    }
    assert!(
        check(
            &SALE_REQUEST,
            &json!({"transaction_id": "t", "amount_cents": 1})
        )
        .is_empty()
    );
}
