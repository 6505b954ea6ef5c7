//! Test event: the synthetic chain

use crate::support::*;

#[tokio::test]
async fn a_chain_answers_an_attributed_verdict() {
    let mock = MockServer::start().await.unwrap();
    let reply = post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let data = &reply.body["data"];
    assert_eq!(data["type"], "chain");
    assert_eq!(data["short_code"], "afftest42");
    assert_eq!(
        data["verdict"],
        json!({ "click": "attributed", "lead": "attributed", "sale": "attributed" })
    );
    assert_eq!(data["attributed"], true);
    let key = data["customer_key"].as_str().unwrap();
    let parts: Vec<&str> = key.split('_').collect();
    assert_eq!(parts[..4], ["aff", "test", "ck", "42"], "{key}");
    assert!(parts[4].parse::<u128>().is_ok(), "{key}");
    assert!(
        parts[5].len() == 6 && parts[5].bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    // All synthetic rows are test rows: nothing real is stored.
    assert!(mock.sales().is_empty());
}

#[tokio::test]
async fn chains_are_limited_to_ten_per_hour() {
    let mock = MockServer::start().await.unwrap();
    for _ in 0..10 {
        let reply = post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
        assert_eq!(reply.status, 200);
    }
    let reply = post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
    assert_eq!(reply.status, 429);
    let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(
        reply.body,
        json!({ "error": {
            "status": 429,
            "code": "rate_limited",
            "message": "Too many synthetic chains (max 10/program/hour).",
            "retry_after_seconds": retry_after,
        }})
    );
    // Legacy single events are not chains, and are not limited.
    let reply = post(&mock, Endpoint::TestEvent, json!({ "event_type": "click" })).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn legacy_test_events_and_rejections() {
    let mock = MockServer::start().await.unwrap();
    for kind in ["click", "lead", "sale"] {
        let reply = post(
            &mock,
            Endpoint::TestEvent,
            json!({ "event_type": kind, "program_id": 42 }),
        )
        .await;
        assert_eq!(reply.status, 200);
        let data = &reply.body["data"];
        assert_eq!(data["event_type"], kind);
        assert!(data["event_id"].is_u64());
        assert_eq!(data["received"], true);
        assert_eq!(data["attributed"], false);
        assert_eq!(data["message"], format!("Test {kind} event recorded"));
    }
    post(
        &mock,
        Endpoint::TestEvent,
        json!({ "event_type": "refund" }),
    )
    .await
    .assert_error(400, "Invalid event_type: expected click, lead or sale");
    post(&mock, Endpoint::TestEvent, json!({ "type": "single" }))
        .await
        .assert_error(400, r#"Invalid type: expected "chain""#);
    post(&mock, Endpoint::TestEvent, json!({}))
        .await
        .assert_error(400, r#"Send {"type":"chain"} (or a legacy "event_type")"#);
    post_anonymous(&mock, Endpoint::TestEvent, json!({ "type": "chain" }))
        .await
        .assert_error(401, "Invalid API token");
}
