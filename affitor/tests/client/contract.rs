//! Contract tests: every request body the client can produce, validated against the request
//! schemas of the Affitor API's OpenAPI file (`tests/data/affitor-openapi.yaml`) with a JSON
//! Schema validator: field names, types, formats, enums, required fields. A body with a field
//! the schema does not know, a wrong type, or a `null` fails.
//!
//! The bodies are captured by a small HTTP server on 127.0.0.1, so what is checked is exactly
//! what goes on the wire.

use std::sync::{Arc, Mutex, OnceLock};

use affitor::{
    ClickId, Client,
    client::{Currency, RetryPolicy, SaleType, SubscriptionInterval},
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value, json};

/// The API reference (OpenAPI 3.1), copied into `tests/data`.
const OPENAPI: &str = include_str!("../data/affitor-openapi.yaml");

/// The request-body schema of one endpoint, from the OpenAPI file.
struct RequestSchema {
    /// The schema's name in `components.schemas`, such as `SaleRequest`.
    name: String,
    validator: jsonschema::Validator,
}

/// The OpenAPI file as JSON, with every request schema closed: a field it does not name is a
/// violation (the client sends only documented fields). `AdditionalData` stays open: it is
/// the caller's own extension object.
fn openapi() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut spec: Value = serde_norway::from_str(OPENAPI).unwrap();
        let schemas = spec["components"]["schemas"].as_object_mut().unwrap();
        for (name, schema) in schemas.iter_mut() {
            if name.ends_with("Request") && schema.get("properties").is_some() {
                schema["additionalProperties"] = json!(false);
            }
        }
        spec
    })
}

/// The schema of the JSON body of `POST path`, as the OpenAPI file gives it.
fn request_schema(path: &str) -> RequestSchema {
    let spec = openapi();
    let schema =
        &spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let reference = schema["$ref"].as_str().unwrap();
    let name = reference.rsplit('/').next().unwrap().to_owned();
    // The body's schema, with the components its references point into.
    let root = json!({"$ref": reference, "components": spec["components"]});
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    RequestSchema { name, validator }
}

/// Checks `body` against `schema`; returns every violation found. `null` is never sent, even
/// where the schema would allow it (`line_items`, the caller's `additional_data`).
fn check(schema: &RequestSchema, body: &Value) -> Vec<String> {
    let mut problems: Vec<String> = schema
        .validator
        .iter_errors(body)
        .map(|error| format!("{}: {error}", schema.name))
        .collect();
    check_no_null(body, &schema.name, &mut problems);
    problems
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
        .verification()
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
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for request in requests {
        let (schema, auth) = match (request.method.as_str(), request.path.as_str()) {
            ("POST", path @ "/api/v1/track/click") => (Some(request_schema(path)), false),
            ("POST", path) => (Some(request_schema(path)), true),
            ("GET", "/api/v1/programs/me/readiness") => (None, true),
            other => panic!("a request the API does not have: {other:?}"),
        };
        let schema = schema.as_ref();
        let name = schema.map_or("Readiness", |schema| schema.name.as_str());
        *seen.entry(name.to_owned()).or_default() += 1;
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
        if matches!(name, "LeadRequest" | "SaleRequest") && !test_mode {
            assert!(check_customer(&request.body), "{}", request.body);
        }
        if test_mode && matches!(name, "LeadRequest" | "SaleRequest" | "ClickRequest") {
            assert_eq!(request.body["additional_data"]["test_mode"], json!(true));
        }
        // Test-mode clicks carry no key: they name the program instead.
        if name == "ClickRequest" {
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
    let sale = request_schema("/api/v1/track/sale");
    let lead = request_schema("/api/v1/track/lead");
    let click = request_schema("/api/v1/track/click");
    let refund = request_schema("/api/v1/track/refund");
    let test_event = request_schema("/api/v1/cli/test-event");
    let bad = [
        (&sale, json!({"transaction_id": "t"})),
        (&sale, json!({"transaction_id": "t", "amount_cents": 0})),
        (
            &sale,
            json!({"transaction_id": "t", "amount_cents": 1, "currency": "usd"}),
        ),
        (
            &sale,
            json!({"transaction_id": "t", "amount_cents": 1, "customer_key": null}),
        ),
        (
            &sale,
            json!({"transaction_id": "t", "amount_cents": 1, "event_name": "x"}),
        ),
        (&sale, json!({"transaction_id": 7, "amount_cents": 1})),
        (
            &sale,
            json!({"transaction_id": "t", "amount_cents": 1, "additional_data": {"test_mode": "yes"}}),
        ),
        (&lead, json!({"click_ids": ["a", 1]})),
        (&lead, json!({"email": "not-an-email"})),
        (&click, json!({"affiliate_url": "not a url"})),
        (
            &refund,
            json!({"transaction_id": "t", "refund_amount_cents": 0}),
        ),
        (&test_event, json!({"type": "single"})),
        (&lead, json!([])),
    ];
    for (schema, body) in bad {
        assert!(
            !check(schema, &body).is_empty(),
            "{} accepted {body}",
            schema.name
        );
    }
    assert!(check(&sale, &json!({"transaction_id": "t", "amount_cents": 1})).is_empty());
}

/// A lead with the caller's `additional_data` (the Node SDK's `trackLead({ additionalData })`)
/// and a per-call test mode: the caller's fields go out beside `event_name` and `test_mode`, and
/// the body is still a `LeadRequest`.
#[tokio::test]
async fn a_lead_with_additional_data_conforms() {
    let (url, log) = capture_server().await;
    let client = client(&url, false);
    let mut data = Map::new();
    data.insert("plan".into(), json!("pro"));
    data.insert(
        "utm".into(),
        json!({"source": "newsletter", "campaign": "spring"}),
    );
    data.insert("seats".into(), json!(3));
    client
        .lead("user_1")
        .click_id(click_id("cust_42_1714000000000"))
        .email("ada@example.com")
        .event_name("signup")
        .additional_data(data.clone())
        .send()
        .await
        .unwrap();
    client
        .lead("user_2")
        .additional_data(data)
        .test_mode(true)
        .send()
        .await
        .unwrap();
    let requests = log.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let schema = request_schema("/api/v1/track/lead");
    for request in &requests {
        let problems = check(&schema, &request.body);
        assert!(problems.is_empty(), "{problems:#?}\nbody: {}", request.body);
        assert!(check_customer(&request.body), "{}", request.body);
        let sent = &request.body["additional_data"];
        assert_eq!(sent["plan"], "pro");
        assert_eq!(sent["utm"]["campaign"], "spring");
        assert_eq!(sent["seats"], 3);
    }
    assert_eq!(requests[0].body["additional_data"]["event_name"], "signup");
    assert_eq!(requests[0].body["additional_data"].get("test_mode"), None);
    assert_eq!(requests[1].body["additional_data"]["test_mode"], true);
    // The checker catches a test flag of the wrong type in the caller's data.
    let bad = json!({"customer_key": "u", "additional_data": {"plan": "pro", "test_mode": "yes"}});
    assert!(!check(&schema, &bad).is_empty());
}
