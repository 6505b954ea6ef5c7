//! The extractors on a real axum `Router`, against the local Affitor API stand-in.
#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use affitor_axum::{AffitorClickId, AffitorClient, AffitorLayer, Client, FromState};
use affitor_mock::MockServer;
use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::routing::post;
use http::{Request, StatusCode};
use tower::ServiceExt;

async fn required(AffitorClickId(id): AffitorClickId) -> String {
    id.to_string()
}

async fn optional(id: Option<AffitorClickId>) -> String {
    id.map_or_else(|| "none".to_owned(), |AffitorClickId(id)| id.to_string())
}

async fn lead(affitor: AffitorClient) -> Result<String, StatusCode> {
    let outcome = affitor.lead("user_1").send().await.map_err(|error| {
        eprintln!("{error}");
        StatusCode::SERVICE_UNAVAILABLE
    })?;
    Ok(format!("{outcome:?}"))
}

async fn lead_with_own_click_id(affitor: AffitorClient) -> Result<String, StatusCode> {
    let own = "own_click".parse().ok();
    let request = affitor.lead("user_2").click_id(own);
    request
        .send()
        .await
        .map(|outcome| format!("{outcome:?}"))
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}

fn routes() -> Router {
    Router::new()
        .route("/required", post(required))
        .route("/optional", post(optional))
        .route("/lead", post(lead))
        .route("/lead/own", post(lead_with_own_click_id))
}

async fn call(app: Router, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::post(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn client_for(mock: &MockServer) -> Client {
    mock.client()
}

/// The API received exactly one lead, with this click id and customer key.
fn assert_one_lead(mock: &MockServer, click_id: &str, customer_key: &str) {
    let leads = mock.requests_to(affitor::client::Endpoint::Lead);
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].body["click_id"], click_id);
    assert_eq!(leads[0].body["customer_key"], customer_key);
}

#[tokio::test]
async fn click_id_is_extracted_from_the_cookie() {
    let app = routes().layer(AffitorLayer::new());
    let (status, body) = call(app, "/required", Some("affitor_click_id=cust_1_17")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "cust_1_17"));
}

#[tokio::test]
async fn a_missing_click_id_is_a_400_that_says_why() {
    let app = routes().layer(AffitorLayer::new());
    let (status, body) = call(app.clone(), "/required", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("no click id in the request"), "{body}");

    let (status, body) = call(app, "/required", Some("affitor_click_id=\"a b\"")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("cookie `affitor_click_id`"), "{body}");
    assert!(body.contains("forbidden byte 0x20"), "{body}");
}

/// A body that may hold the click id but was not searched says why, rather than asking for a
/// field the request may well carry.
#[tokio::test]
async fn a_400_says_why_the_body_was_not_searched() {
    let app = routes().layer(AffitorLayer::new());
    let padding = "x".repeat(70 * 1024);
    let over = format!(r#"{{"affitorClickId":"abc","pad":"{padding}"}}"#);
    let compressed = r#"{"affitorClickId":"abc"}"#.to_owned();
    for (body, encoding, says) in [
        (over, None, "over the 65536-byte limit"),
        (
            compressed,
            Some("gzip"),
            "it is compressed (`Content-Encoding`)",
        ),
    ] {
        let mut request = Request::post("/required").header("content-type", "application/json");
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&text);
        assert!(text.contains(says), "{text}");
    }
}

#[tokio::test]
async fn an_optional_click_id_is_none_when_absent() {
    let app = routes().layer(AffitorLayer::new());
    assert_eq!(
        call(app.clone(), "/optional", None).await,
        (StatusCode::OK, "none".to_owned())
    );
    assert_eq!(
        call(app, "/optional", Some("customer_code=legacy_1")).await,
        (StatusCode::OK, "legacy_1".to_owned())
    );
}

#[tokio::test]
async fn without_the_layer_every_extractor_is_a_500_naming_it() {
    for path in ["/required", "/optional", "/lead"] {
        let (status, body) = call(routes(), path, Some("affitor_click_id=abc")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(
            body.contains("is `AffitorLayer` installed?"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_layer_without_a_client_is_a_500_naming_the_fix() {
    let (status, body) = call(routes().layer(AffitorLayer::new()), "/lead", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body.contains("AffitorLayer::new().client(client)"),
        "{body}"
    );
}

#[tokio::test]
async fn the_client_fills_in_the_request_click_id() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let app = routes().layer(AffitorLayer::new().client(client_for(&mock)));

    let cookie = format!("affitor_click_id={click_id}");
    let (status, body) = call(app, "/lead", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "Tracked");

    assert_one_lead(&mock, click_id.as_str(), "user_1");
}

#[tokio::test]
async fn a_click_id_set_by_the_handler_wins() {
    let mock = MockServer::start().await.unwrap();
    let app = routes().layer(AffitorLayer::new().client(client_for(&mock)));

    // The request's click id is unknown to the API; the handler's own one is sent instead.
    let _ = call(app, "/lead/own", Some("affitor_click_id=request_click")).await;
    let leads = mock.requests_to(affitor::client::Endpoint::Lead);
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].body["click_id"], "own_click");
}

/// A router state that holds the client, as an app with a database pool would.
#[derive(Clone, FromRef)]
struct AppState {
    affitor: Client,
}

async fn lead_from_state(affitor: AffitorClient<FromState>) -> Result<String, StatusCode> {
    let outcome = affitor
        .lead("user_3")
        .send()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(format!("{outcome:?}"))
}

#[tokio::test]
async fn the_client_can_come_from_the_router_state() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let app = Router::new()
        .route("/lead", post(lead_from_state))
        .layer(AffitorLayer::new())
        .with_state(AppState {
            affitor: client_for(&mock),
        });

    let cookie = format!("affitor_click_id={click_id}");
    let (status, body) = call(app, "/lead", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "Tracked");
    assert_one_lead(&mock, click_id.as_str(), "user_3");
}

#[tokio::test]
async fn the_state_client_wins_over_the_layer_client() {
    let layer_api = MockServer::start().await.unwrap();
    let state_api = MockServer::start().await.unwrap();
    let click_id = state_api.click("partner");
    let app = Router::new()
        .route("/lead", post(lead_from_state))
        .layer(AffitorLayer::new().client(client_for(&layer_api)))
        .with_state(AppState {
            affitor: client_for(&state_api),
        });

    let cookie = format!("affitor_click_id={click_id}");
    let (status, body) = call(app, "/lead", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(state_api.leads().len(), 1);
    assert!(layer_api.requests().is_empty());
}

#[tokio::test]
async fn the_state_client_still_needs_the_layer_for_the_click_id() {
    let mock = MockServer::start().await.unwrap();
    let app = Router::new()
        .route("/lead", post(lead_from_state))
        .with_state(AppState {
            affitor: client_for(&mock),
        });

    let (status, body) = call(app, "/lead", Some("affitor_click_id=abc")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("`AffitorLayer::new()` alone"), "{body}");
    assert!(mock.requests().is_empty());
}
