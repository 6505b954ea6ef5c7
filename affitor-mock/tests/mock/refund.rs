//! Refund

use crate::support::*;

#[tokio::test]
async fn a_full_refund_reverses_once_then_is_skipped() {
    let mock = MockServer::start().await.unwrap();
    let commission_id = seed_sale(&mock, "in_1", 10_000).await;

    let reply = post(
        &mock,
        Endpoint::Refund,
        json!({ "transaction_id": "in_1", "refund_reason": "customer_request" }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({ "success": true, "status": "reversed", "deductionAmount": 20.0,
                "commission_id": commission_id })
    );
    assert!(mock.sales()[0].refunded);

    let reply = post(&mock, Endpoint::Refund, json!({ "transaction_id": "in_1" })).await;
    assert_eq!(
        reply.body,
        json!({ "success": true, "status": "skipped", "reason": "already reversed",
                "commission_id": commission_id })
    );

    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[0].status, RefundStatus::Reversed);
    assert_eq!(refunds[0].deduction_cents, 2000);
    assert_eq!(refunds[0].reason.as_deref(), Some("customer_request"));
    assert_eq!(refunds[0].refund_amount_cents, None);
    assert_eq!(refunds[1].status, RefundStatus::Skipped);
    assert_eq!(refunds[1].deduction_cents, 0);
}

#[tokio::test]
async fn partial_and_zero_amount_refunds() {
    let mock = MockServer::start().await.unwrap();
    seed_sale(&mock, "in_partial", 10_000).await;
    seed_sale(&mock, "in_zero", 10_000).await;
    seed_sale(&mock, "in_more", 10_000).await;

    let reply = post(
        &mock,
        Endpoint::Refund,
        json!({ "transaction_id": "in_partial", "refund_amount_cents": 2500 }),
    )
    .await;
    assert_eq!(reply.body["status"], "refunded");
    assert_eq!(reply.body["deductionAmount"], 5.0);

    // 0 means a full refund, as does an amount of at least the sale's.
    for id in ["in_zero", "in_more"] {
        let amount = if id == "in_zero" { 0 } else { 20_000 };
        let reply = post(
            &mock,
            Endpoint::Refund,
            json!({ "transaction_id": id, "refund_amount_cents": amount }),
        )
        .await;
        assert_eq!(reply.body["status"], "reversed", "{id}: {reply:?}");
        assert_eq!(reply.body["deductionAmount"], 20.0);
    }
    let refunds = mock.refunds();
    assert_eq!(refunds[0].status, RefundStatus::Refunded);
    assert_eq!(refunds[0].refund_amount_cents, Some(2500));
    assert_eq!(refunds[0].deduction_cents, 500);
    assert_eq!(refunds[1].refund_amount_cents, None);
}

#[tokio::test]
async fn refund_rejections() {
    let mock = MockServer::start().await.unwrap();
    seed_sale(&mock, "in_1", 100).await;
    post(
        &mock,
        Endpoint::Refund,
        json!({ "transaction_id": "in_unknown" }),
    )
    .await
    .assert_error(404, "Sale not found for transaction_id");
    post(&mock, Endpoint::Refund, json!({}))
        .await
        .assert_error(400, "transaction_id is required");
    post(&mock, Endpoint::Refund, json!({ "transaction_id": "in_1", "refund_amount_cents": -5 }))
        .await
        .assert_error(
            400,
            "refund_amount_cents must be a non-negative integer (omit it, or send 0, for a full refund)",
        );
    post_anonymous(&mock, Endpoint::Refund, json!({ "transaction_id": "in_1" }))
        .await
        .assert_error(401, "Invalid API token");
    assert!(mock.refunds().is_empty());
    assert!(!mock.sales()[0].refunded);
}

#[tokio::test]
async fn refunding_a_test_sale_finds_no_commission() {
    let mock = MockServer::start().await.unwrap();
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "test_1", "amount_cents": 100,
                "additional_data": { "test_mode": true } }),
    )
    .await;
    let reply = post(
        &mock,
        Endpoint::Refund,
        json!({ "transaction_id": "test_1" }),
    )
    .await;
    assert_eq!(
        reply.body,
        json!({ "success": true, "status": "no_commission",
                "message": "Sale has no commission to reverse" })
    );
    assert_eq!(mock.refunds()[0].status, RefundStatus::NoCommission);
}
