//! Readiness

use crate::support::*;

#[tokio::test]
async fn readiness_requires_the_key_in_the_agent_envelope() {
    let mock = MockServer::start().await.unwrap();
    for auth in [None, Some("Bearer aff_wrong")] {
        let reply = send(mock.addr(), "GET", Endpoint::Readiness.path(), auth, b"")
            .await
            .unwrap();
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.body,
            json!({ "error": { "code": "invalid_key", "message": "Invalid API token." } })
        );
    }
}

#[tokio::test]
async fn readiness_follows_the_state_to_integration_verified() {
    let mock = MockServer::start().await.unwrap();
    let fresh = readiness(&mock).await;
    assert_eq!(fresh["program_id"], 42);
    assert_eq!(fresh["state"], "ready");
    assert_eq!(fresh["integration_verified"], false);
    assert_eq!(fresh["blocker"], "tracking");
    assert_eq!(fresh["gates"]["profile"]["status"], "pass");
    assert_eq!(fresh["gates"]["economics"]["status"], "pass");
    assert_eq!(
        fresh["gates"]["payout"],
        json!({ "status": "pass", "mode": "stripe" })
    );
    assert_eq!(fresh["gates"]["tracking"]["status"], "fail");
    assert_eq!(
        fresh["gates"]["tracking"]["next_action"],
        "install_tracker_or_send_events"
    );
    assert!(
        fresh["gates"]["tracking"]["checked_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(fresh["gates"]["live"]["status"], "fail");
    assert_eq!(
        fresh["gates"]["live"]["next_action"],
        "run_synthetic_sale_chain"
    );
    assert_eq!(fresh["key_rotated_at"], Value::Null);
    assert_eq!(fresh["poll"], json!({ "retry_after_seconds": 5 }));

    post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
    let verified = readiness(&mock).await;
    assert_eq!(verified["state"], "integration_verified");
    assert_eq!(verified["integration_verified"], true);
    assert_eq!(verified["blocker"], Value::Null);
    assert_eq!(verified["gates"]["tracking"]["detail"], "receiving_events");
    assert_eq!(
        verified["gates"]["live"],
        json!({ "status": "pass",
                "test_chain": { "click": "attributed", "lead": "attributed", "sale": "attributed" } })
    );
}

#[tokio::test]
async fn readiness_reports_real_events_and_live_verified() {
    let mock = MockServer::start().await.unwrap();
    post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    let tracking = readiness(&mock).await;
    assert_eq!(tracking["state"], "ready");
    assert_eq!(tracking["blocker"], "live");
    assert_eq!(tracking["integration_verified"], false);
    assert_eq!(tracking["counts_24h"]["clicks"], 1);
    assert!(tracking["last_event_at"]["click"].is_string());
    assert_eq!(tracking["last_event_at"]["sale"], Value::Null);

    seed_sale(&mock, "in_1", 100).await;
    // force_recheck is accepted, and recorded with the path.
    let reply = get(&mock, "/api/v1/programs/me/readiness?force_recheck=true").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["state"], "live_verified");
    assert_eq!(reply.body["integration_verified"], true);
    assert_eq!(
        reply.body["counts_24h"],
        json!({ "clicks": 2, "leads": 0, "sales": 1 })
    );
    let recorded = mock.requests_to(Endpoint::Readiness);
    assert_eq!(
        recorded.last().unwrap().path,
        "/api/v1/programs/me/readiness?force_recheck=true"
    );
}
