//! Click

use crate::support::*;

#[tokio::test]
async fn a_click_is_recorded_without_auth_and_answers_a_click_id() {
    let mock = MockServer::start().await.unwrap();
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body["success"], true);
    assert_eq!(reply.body["partner_code"], "partner");
    assert_eq!(reply.body["cookie_window_days"], 60);
    let click_id = reply.body["click_id"].as_str().unwrap();
    assert!(is_cust_click_id(click_id), "{click_id}");

    let clicks = mock.clicks();
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0].click_id.as_ref().unwrap().as_str(), click_id);
    assert_eq!(clicks[0].partner_code.as_deref(), Some("partner"));
    assert_eq!(clicks[0].user_agent.as_deref(), Some("mock-tests/1"));
    assert!(!clicks[0].test);

    // The `user_agent` field wins over the header.
    let mut body = click_body("partner");
    body["user_agent"] = json!("Browser/2");
    post_anonymous(&mock, Endpoint::Click, body).await;
    assert_eq!(mock.clicks()[1].user_agent.as_deref(), Some("Browser/2"));
}

#[tokio::test]
async fn click_cookie_window_follows_the_builder() {
    let mock = MockServer::builder()
        .cookie_window_days(90)
        .start()
        .await
        .unwrap();
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.body["cookie_window_days"], 90);
}

#[tokio::test]
async fn click_rejections_use_the_documented_strings() {
    let mock = MockServer::start().await.unwrap();
    let cases = [
        (json!({}), "affiliate_url is required"),
        (json!({ "affiliate_url": "" }), "affiliate_url is required"),
        (
            json!({ "affiliate_url": null }),
            "affiliate_url is required",
        ),
        (
            json!({ "affiliate_url": "pricing?aff=partner" }),
            "Invalid affiliate_url",
        ),
        (
            json!({ "affiliate_url": "https://?aff=partner" }),
            "Invalid affiliate_url",
        ),
        (
            json!({ "affiliate_url": "https://shop.example/pricing" }),
            "No aff parameter found in affiliate_url",
        ),
        (
            json!({ "affiliate_url": "https://shop.example/?aff=" }),
            "No aff parameter found in affiliate_url",
        ),
        (
            json!({ "affiliate_url": "https://shop.example/?aff=nobody" }),
            "Referral link not found",
        ),
    ];
    for (body, message) in cases {
        post_anonymous(&mock, Endpoint::Click, body)
            .await
            .assert_error(400, message);
    }
    assert!(mock.clicks().is_empty());
}

#[tokio::test]
async fn an_inactive_link_answers_200_with_success_false() {
    let mock = MockServer::start().await.unwrap();
    mock.inactive_link("OLD");
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("OLD")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({ "success": false, "message": "Referral link is inactive" })
    );
    assert!(mock.clicks().is_empty());

    // Re-activated, the same link records clicks again.
    mock.link("OLD");
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("OLD")).await;
    assert_eq!(reply.body["success"], true);
}

#[tokio::test]
async fn existing_click_id_reuses_the_customer_and_the_last_click_wins() {
    let mock = MockServer::start().await.unwrap();
    mock.link("FIRST");
    mock.link("SECOND");
    let first = mock.click("FIRST");

    let mut body = click_body("SECOND");
    body["existing_click_id"] = json!(first.as_str());
    let reply = post_anonymous(&mock, Endpoint::Click, body).await;
    assert_eq!(reply.body["partner_code"], "SECOND");
    let second = reply.body["click_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first.as_str());
    // Same customer: `cust_<customer>_...` shares the customer part.
    let customer = |id: &str| id.split('_').nth(1).unwrap().to_owned();
    assert_eq!(customer(&second), customer(first.as_str()));
    assert_eq!(
        mock.clicks()[1].existing_click_id.as_deref(),
        Some(first.as_str())
    );

    // A sale through the FIRST click id is credited to the last partner.
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "amount_cents": 1000, "click_id": first.as_str() }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(mock.sales()[0].partner_code.as_deref(), Some("SECOND"));

    // Without existing_click_id, a click makes a new customer.
    let fresh = post_anonymous(&mock, Endpoint::Click, click_body("FIRST")).await;
    assert_ne!(
        customer(fresh.body["click_id"].as_str().unwrap()),
        customer(first.as_str())
    );
}

#[tokio::test]
#[should_panic(expected = "no referral link `nobody`")]
async fn seeding_a_click_on_an_unknown_link_explains_what_to_do() {
    let mock = MockServer::start().await.unwrap();
    mock.click("nobody");
}
