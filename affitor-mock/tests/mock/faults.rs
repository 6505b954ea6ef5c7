//! Faults

use crate::support::*;

#[tokio::test]
async fn a_status_fault_answers_the_documented_body_then_wears_off() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::status(500).on(Endpoint::Sale).times(2));
    let body =
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": click_id.as_str() });

    // Other endpoints are not affected.
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.status, 200);

    for _ in 0..2 {
        post(&mock, Endpoint::Sale, body.clone())
            .await
            .assert_error(500, "Sale tracking failed");
    }
    assert!(
        mock.sales().is_empty(),
        "a status fault does not process the request"
    );
    let reply = post(&mock, Endpoint::Sale, body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 3);
}

#[tokio::test]
async fn status_faults_on_every_endpoint() {
    let mock = MockServer::start().await.unwrap();
    mock.inject(Fault::status(500).times(6));
    let cases = [
        (Endpoint::Click, json!({ "error": "Click tracking failed" })),
        (Endpoint::Lead, json!({ "error": "Lead tracking failed" })),
        (Endpoint::Sale, json!({ "error": "Sale tracking failed" })),
        (
            Endpoint::Refund,
            json!({ "error": "Refund tracking failed" }),
        ),
        (
            Endpoint::TestEvent,
            json!({ "error": { "code": "internal_error", "message": "Test event failed", "status": 500 } }),
        ),
    ];
    for (endpoint, expected) in cases {
        let reply = post(&mock, endpoint, json!({})).await;
        assert_eq!((reply.status, reply.body), (500, expected), "{endpoint}");
    }
    let reply = get(&mock, Endpoint::Readiness.path()).await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.body,
        json!({ "error": { "code": "internal_error", "status": 500, "retry_after_seconds": 10,
                           "message": "Failed to compute readiness. Retry shortly." } })
    );

    mock.inject(Fault::status(503));
    post(&mock, Endpoint::Sale, json!({}))
        .await
        .assert_error(503, "Service Unavailable");
}

#[tokio::test]
async fn a_rate_limit_fault_sets_retry_after() {
    let mock = MockServer::start().await.unwrap();
    mock.inject(Fault::rate_limited(Duration::from_secs(1)).times(1));
    let reply = post(&mock, Endpoint::Lead, json!({})).await;
    reply.assert_error(429, "Too many requests");
    assert_eq!(reply.header("retry-after"), Some("1"));

    mock.inject(Fault::rate_limited(Duration::from_millis(10)).on(Endpoint::TestEvent));
    let reply = post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.body["error"]["code"], "rate_limited");
    assert_eq!(reply.body["error"]["retry_after_seconds"], 1);
}

#[tokio::test]
async fn a_response_fault_answers_exactly_the_given_body() {
    let mock = MockServer::start().await.unwrap();
    let body = json!({ "error": "Invalid referral link configuration" });
    mock.inject(Fault::response(400, body.clone()).on(Endpoint::Click));
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!((reply.status, reply.body), (400, body));
}

#[tokio::test]
async fn faults_always_apply_until_cleared() {
    let mock = MockServer::start().await.unwrap();
    mock.inject(Fault::status(502).always());
    for _ in 0..3 {
        assert_eq!(
            post_anonymous(&mock, Endpoint::Click, click_body("partner"))
                .await
                .status,
            502
        );
    }
    mock.clear_faults();
    assert_eq!(
        post_anonymous(&mock, Endpoint::Click, click_body("partner"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_delay_fault_does_the_work_then_answers_late() {
    let mock = Arc::new(MockServer::start().await.unwrap());
    let click_id = mock.click("partner");
    // Long enough that a slow machine never sees the answer before the check below.
    mock.inject(Fault::delay(Duration::from_secs(2)).on(Endpoint::Sale));
    let body =
        json!({ "transaction_id": "in_slow", "amount_cents": 100, "click_id": click_id.as_str() });
    let request = tokio::spawn({
        let mock = Arc::clone(&mock);
        async move { post(&mock, Endpoint::Sale, body).await }
    });
    // The sale is stored while the answer is still being held back.
    let mut polls = 0;
    while mock.sales().is_empty() {
        polls += 1;
        assert!(polls < 1000, "the sale was never recorded");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(!request.is_finished(), "the answer should still be delayed");
    let reply = request.await.unwrap();
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_dropped_connection_processes_nothing() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::drop_connection().on(Endpoint::Sale).times(1));
    let body =
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": click_id.as_str() });
    let auth = bearer(&mock);
    let result = send(
        mock.addr(),
        "POST",
        Endpoint::Sale.path(),
        Some(&auth),
        body.to_string().as_bytes(),
    )
    .await;
    assert!(result.is_err(), "{result:?}");
    assert!(mock.sales().is_empty());
    assert_eq!(
        mock.requests_to(Endpoint::Sale).len(),
        1,
        "the attempt is still recorded"
    );

    // The retry goes through.
    assert_eq!(post(&mock, Endpoint::Sale, body).await.status, 200);
    assert_eq!(mock.sales().len(), 1);
}

#[tokio::test]
async fn a_dropped_response_is_a_lost_answer_and_the_retry_is_a_409() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::drop_response().on(Endpoint::Sale));
    let body =
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": click_id.as_str() });
    let auth = bearer(&mock);
    let result = send(
        mock.addr(),
        "POST",
        Endpoint::Sale.path(),
        Some(&auth),
        body.to_string().as_bytes(),
    )
    .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(
        mock.sales().len(),
        1,
        "the sale was recorded before the connection closed"
    );

    post(&mock, Endpoint::Sale, body).await.assert_error(
        409,
        "Duplicate transaction_id. This sale has already been recorded.",
    );
}

#[tokio::test]
async fn refusing_connections_closes_everything_then_listens_on_the_same_port() {
    let mock = MockServer::start().await.unwrap();
    let addr = mock.addr();
    seed_sale(&mock, "in_1", 100).await;

    // A kept-alive connection, as a pooled client would hold.
    let mut pooled = TcpStream::connect(addr).await.unwrap();
    pooled
        .write_all(&request_bytes(
            "POST",
            Endpoint::Click.path(),
            None,
            click_body("partner").to_string().as_bytes(),
        ))
        .await
        .unwrap();
    assert_eq!(read_reply(&mut pooled).await.unwrap().status, 200);

    mock.refuse_connections_for(Duration::from_millis(200))
        .await;
    let refused = TcpStream::connect(addr).await;
    assert_eq!(
        refused.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    let mut buffer = [0_u8; 16];
    let closed = pooled.read(&mut buffer).await;
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");

    // Back on the same port, with the same state.
    let mut attempts = 0;
    let reply = loop {
        match send(
            addr,
            "GET",
            Endpoint::Readiness.path(),
            Some(&bearer(&mock)),
            b"",
        )
        .await
        {
            Ok(reply) => break reply,
            Err(_) => {
                attempts += 1;
                assert!(attempts < 500, "the port was never re-bound");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(reply.status, 200);
    assert_eq!(mock.addr(), addr);
    post(&mock, Endpoint::Refund, json!({ "transaction_id": "in_1" })).await;
    assert_eq!(mock.refunds().len(), 1);
}
