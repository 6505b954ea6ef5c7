//! The `AffitorClickId` and `AffitorClient` extractors: found, not found, misconfigured, and the
//! client that fills in the click id.

#![allow(clippy::unwrap_used)]

mod support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use affitor_actix::affitor::client::{LeadOutcome, SaleOutcome};
use affitor_actix::{
    Affitor, AffitorClickId, AffitorClient, ClickIdLookup, ClickIdRejection, Client,
    ClientRejection,
};
use affitor_mock::MockServer;

async fn required(AffitorClickId(id): AffitorClickId) -> String {
    format!("click {id}")
}

async fn optional(click_id: Option<AffitorClickId>) -> String {
    match click_id {
        Some(AffitorClickId(id)) => format!("click {id}"),
        None => "no click".to_owned(),
    }
}

async fn bound(affitor: AffitorClient) -> String {
    match affitor.click_id() {
        Some(id) => format!("click {id}"),
        None => "no click".to_owned(),
    }
}

/// Sends `request` to `handler` at `/`, with or without the middleware; returns the status and
/// the body.
async fn call<F, Args>(
    affitor: Option<Affitor>,
    handler: F,
    request: TestRequest,
) -> (StatusCode, String)
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let request = request.uri("/").to_request();
    let response = match affitor {
        Some(affitor) => {
            let app =
                test::init_service(App::new().wrap(affitor).route("/", web::to(handler))).await;
            test::call_service(&app, request).await
        }
        None => {
            let app = test::init_service(App::new().route("/", web::to(handler))).await;
            test::call_service(&app, request).await
        }
    };
    let status = response.status();
    let body = test::read_body(response).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn with_cookie() -> TestRequest {
    TestRequest::get().insert_header(("cookie", "affitor_click_id=abc"))
}

#[actix_web::test]
async fn affitor_click_id_when_found() {
    let (status, body) = call(Some(Affitor::new()), required, with_cookie()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "click abc"));
    let (status, body) = call(Some(Affitor::new()), optional, with_cookie()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "click abc"));

    let id: AffitorClickId = AffitorClickId("abc".parse().unwrap());
    assert_eq!(id.as_str(), "abc");
    assert_eq!(id.into_inner(), "abc");
}

#[actix_web::test]
async fn affitor_click_id_not_found_is_a_400_that_says_why() {
    let request = TestRequest::get().insert_header(("x-affitor-click-id", "bad value"));
    let (status, body) = call(Some(Affitor::new()), required, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "no valid click id in the request (header `x-affitor-click-id`: click id has the \
         forbidden byte 0x20 at position 3; only A-Z a-z 0-9 _ - . : are allowed): send the \
         Affitor click id where the `Affitor` middleware looks for it (by default the \
         `affitor_click_id` cookie, the `x-affitor-click-id` header or the `affitorClickId` body \
         field), or take `Option<AffitorClickId>` if it is optional"
    );
    // The value itself is never echoed.
    assert!(!body.contains("bad value"));

    let (status, body) = call(Some(Affitor::new()), optional, TestRequest::get()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "no click"));
}

#[actix_web::test]
async fn a_missing_middleware_is_a_500_that_says_to_install_it() {
    let (status, body) = call(None, required, with_cookie()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, ClickIdRejection::MissingMiddleware.to_string());
    assert!(
        body.contains("is the `Affitor` middleware installed?"),
        "{body}"
    );
    assert!(body.contains("`.wrap(Affitor::new())`"), "{body}");

    let (status, body) = call(None, bound, with_cookie()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, ClientRejection::MissingMiddleware.to_string());
    assert!(
        body.contains("`.wrap(Affitor::new().client(client))`"),
        "{body}"
    );
}

#[actix_web::test]
async fn an_optional_click_id_without_the_middleware_is_none_but_logged() {
    if !test_support::alone!() {
        return;
    }
    let (logs, _guard) = test_support::Logs::capture("trace");
    let (status, body) = call(None, optional, with_cookie()).await;
    // actix-web turns the extractor's error into `None`...
    assert_eq!((status, body.as_str()), (StatusCode::OK, "no click"));
    // ...but the misconfiguration is still reported.
    let text = logs.text();
    assert!(text.contains("ERROR"), "{text}");
    assert!(
        text.contains(
            "an Affitor extractor ran on a request that the Affitor middleware did not see"
        ),
        "{text}"
    );
}

#[actix_web::test]
async fn affitor_client_finds_its_client_in_the_middleware_or_the_app_data() {
    let client = Client::builder().api_key("aff_test_key").build().unwrap();

    // From the middleware.
    let (status, body) = call(
        Some(Affitor::new().client(client.clone())),
        bound,
        with_cookie(),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "click abc"));

    // From `web::Data<Client>`, and from a plain `Client`.
    for data in [
        App::new().app_data(web::Data::new(client.clone())),
        App::new().app_data(client.clone()),
    ] {
        let app = test::init_service(data.wrap(Affitor::new()).route("/", web::to(bound))).await;
        let response = test::call_service(&app, with_cookie().uri("/").to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(test::read_body(response).await, "click abc");
    }

    // Without a click id, the client is still there.
    let (status, body) = call(
        Some(Affitor::new().client(client.clone())),
        bound,
        TestRequest::get(),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "no click"));
}

#[actix_web::test]
async fn affitor_client_without_a_client_is_a_500_that_says_to_give_one() {
    let (status, body) = call(Some(Affitor::new()), bound, with_cookie()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, ClientRejection::MissingClient.to_string());
    assert!(body.contains("`.app_data(client)`"), "{body}");
}

#[actix_web::test]
async fn rejections_answer_their_status_as_plain_text() {
    use actix_web::ResponseError;
    for (error, status) in [
        (
            ClickIdRejection::NotFound(ClickIdLookup::not_found(Vec::new())),
            StatusCode::BAD_REQUEST,
        ),
        (
            ClickIdRejection::MissingMiddleware,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ] {
        let response = error.error_response();
        assert_eq!(response.status(), status);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/plain; charset=utf-8"
        );
    }
    assert_eq!(
        ClientRejection::MissingClient.error_response().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

async fn signup(affitor: AffitorClient) -> HttpResponse {
    match affitor.lead("user_1").email("ada@example.com").send().await {
        Ok(LeadOutcome::Tracked) => HttpResponse::Ok().body("tracked"),
        Ok(other) => HttpResponse::Ok().body(format!("{other:?}")),
        Err(error) => HttpResponse::BadGateway().body(error.to_string()),
    }
}

async fn payment(affitor: AffitorClient) -> HttpResponse {
    let sale = affitor.sale("in_1", 4_999).customer_key("user_1");
    match sale.send().await {
        Ok(SaleOutcome::Recorded { .. }) => HttpResponse::Ok().body("recorded"),
        Ok(other) => HttpResponse::Ok().body(format!("{other:?}")),
        Err(error) => HttpResponse::BadGateway().body(error.to_string()),
    }
}

#[actix_web::test]
async fn affitor_client_fills_in_the_click_id_of_the_request() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = mock.client();
    let app = test::init_service(
        App::new()
            .wrap(Affitor::new().client(client))
            .route("/api/signup", web::post().to(signup))
            .route("/webhooks/payment", web::post().to(payment)),
    )
    .await;

    // The click id travels in the JSON body, as the signup page sends it.
    let request = TestRequest::post()
        .uri("/api/signup")
        .set_json(serde_json::json!({ "email": "ada@example.com", "affitorClickId": click_id }))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(test::read_body(response).await, "tracked");
    let leads = mock.leads();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].click_id.as_deref(), Some(click_id.as_str()));
    assert_eq!(leads[0].customer_key.as_deref(), Some("user_1"));

    // A webhook carries no click id: the sale goes by the customer key.
    let request = TestRequest::post().uri("/webhooks/payment").to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(test::read_body(response).await, "recorded");
    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].click_id, None);
    assert_eq!(sales[0].customer_key.as_deref(), Some("user_1"));
}
