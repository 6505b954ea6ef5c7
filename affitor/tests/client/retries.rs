//! Retries against the stand-in API's faults, over real HTTP on 127.0.0.1: what each endpoint
//! retries, timeouts and deadlines, answers lost after the API acted, an unreachable API or a
//! host that is not the API, and what errors, `Debug` output and spans never show.

use crate::support::*;
use std::time::{Duration, Instant};

use affitor::client::Endpoint;
use affitor::{
    Client,
    client::{ErrorKind, LeadOutcome, RefundOutcome, SaleOutcome},
};
use affitor_mock::{Fault, MockServer, RefundStatus};
use serde_json::json;
use test_support::Logs;

#[tokio::test]
async fn rate_limited_chain_is_not_retried() {
    let (mock, client) = setup().await;
    mock.inject(Fault::rate_limited(Duration::from_secs(1)).on(Endpoint::TestEvent));
    let error = client.verification().send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert!(error.is_retryable());
    assert_eq!(mock.requests_to(Endpoint::TestEvent).len(), 1);
    assert!(mock.requests_to(Endpoint::Readiness).is_empty());
}

#[tokio::test]
async fn server_error_then_success() {
    let (mock, client) = setup().await;
    customer(&mock, &client, "user_1").await;
    mock.inject(Fault::status(500).on(Endpoint::Sale).times(2));
    let outcome = client
        .sale("in_1", 100)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            SaleOutcome::Recorded {
                sale_id: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 3);
    assert_eq!(mock.sales().len(), 1);

    mock.inject(Fault::status(500).on(Endpoint::Readiness));
    client.readiness().send().await.unwrap();
    assert_eq!(mock.requests_to(Endpoint::Readiness).len(), 2);
}

#[tokio::test]
async fn server_errors_until_the_attempts_run_out() {
    let (mock, client) = setup().await;
    mock.inject(Fault::status(502).on(Endpoint::Sale).always());
    let error = client
        .sale("in_1", 100)
        .customer_key("u")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server);
    assert!(error.is_retryable());
    assert!(
        error.to_string().contains("gave up after 4 attempts"),
        "{error}"
    );
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 4);
}

#[tokio::test]
async fn lead_and_click_retry_only_what_was_surely_not_processed() {
    let (mock, client) = setup().await;
    let click_id = mock.click("partner");
    // 503 and 429: retried.
    mock.inject(Fault::status(503).on(Endpoint::Lead));
    mock.inject(Fault::rate_limited(Duration::ZERO).on(Endpoint::Lead));
    let outcome = client
        .lead("user_1")
        .click_id(click_id.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(outcome, LeadOutcome::Tracked);
    assert_eq!(mock.requests_to(Endpoint::Lead).len(), 3);

    // 500: the lead may have been stored; not retried.
    mock.inject(Fault::status(500).on(Endpoint::Lead));
    let error = client
        .lead("user_1")
        .click_id(click_id.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server);
    assert_eq!(mock.requests_to(Endpoint::Lead).len(), 4);

    // A dropped connection: the request may have arrived; not retried.
    mock.inject(Fault::drop_connection().on(Endpoint::Click));
    let error = client
        .click("https://shop.example/?aff=partner")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
}

#[tokio::test]
async fn a_rate_limit_beyond_the_cap_ends_the_call_with_its_retry_after() {
    let (mock, client) = setup().await;
    customer(&mock, &client, "user_1").await;
    // Retry-After: 1 with a 50 ms cap: retrying at 50 ms would only hit the limit again.
    mock.inject(Fault::rate_limited(Duration::from_secs(1)).on(Endpoint::Sale));
    let error = client
        .sale("in_1", 100)
        .customer_key("user_1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert!(error.is_retryable(), "a later attempt can succeed");
    assert!(error.to_string().contains("wait 1 s"), "{error}");
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1);
    assert!(mock.sales().is_empty());

    // Within the cap, the wait is honoured and the call retried.
    mock.inject(Fault::rate_limited(Duration::ZERO).on(Endpoint::Sale));
    let outcome = client
        .sale("in_1", 100)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    assert!(outcome.is_recorded());
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured_in_full_below_the_cap() {
    let mock = MockServer::start().await.unwrap();
    let client = mock
        .client_builder()
        .retry(quick_retries().retry_after_cap(Duration::from_secs(2)))
        .build()
        .unwrap();
    mock.inject(Fault::rate_limited(Duration::from_secs(1)).on(Endpoint::Readiness));
    let started = Instant::now();
    client.readiness().send().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not waited"
    );
    assert_eq!(mock.requests_to(Endpoint::Readiness).len(), 2);
}

#[tokio::test]
async fn per_attempt_timeout() {
    let mock = MockServer::start().await.unwrap();
    let client = mock
        .client_builder()
        .timeout(Duration::from_millis(50))
        .retry(quick_retries())
        .build()
        .unwrap();
    let click_id = mock.click("partner");
    // A lead that times out is not retried: it may have been stored (and it was).
    mock.inject(Fault::delay(Duration::from_millis(300)).on(Endpoint::Lead));
    let error = client
        .lead("user_1")
        .click_id(click_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(error.is_retryable());
    assert_eq!(mock.requests_to(Endpoint::Lead).len(), 1);
    assert_eq!(mock.leads().len(), 1);

    // A sale that times out is retried; the retry finds it recorded and says so.
    mock.inject(Fault::delay(Duration::from_millis(300)).on(Endpoint::Sale));
    let outcome = client
        .sale("in_slow", 100)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            SaleOutcome::Recorded {
                sale_id: None,
                commission_id: None,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(mock.sales().len(), 1);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 2);
}

#[tokio::test]
async fn the_deadline_bounds_the_whole_call() {
    let mock = MockServer::start().await.unwrap();
    let client = mock
        .client_builder()
        .timeout(Duration::from_secs(5))
        .retry(quick_retries().deadline(Duration::from_millis(100)))
        .build()
        .unwrap();
    mock.inject(
        Fault::delay(Duration::from_millis(400))
            .on(Endpoint::Readiness)
            .always(),
    );
    let error = client.readiness().send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(mock.requests_to(Endpoint::Readiness).len(), 1);
}

#[tokio::test]
async fn lost_sale_response_is_recorded_once_and_reported_recorded() {
    let (mock, client) = setup().await;
    customer(&mock, &client, "user_1").await;
    mock.inject(Fault::drop_response().on(Endpoint::Sale));
    let outcome = client
        .sale("in_lost", 4900)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    // The first attempt recorded the sale; its answer was lost; the retry got a 409.
    assert!(
        matches!(
            outcome,
            SaleOutcome::Recorded {
                sale_id: None,
                commission_id: None,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(outcome.is_recorded());
    assert_eq!(mock.sales().len(), 1);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 2);

    // A duplicate delivery later is still AlreadyRecorded.
    let later = client
        .sale("in_lost", 4900)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    assert_eq!(later, SaleOutcome::AlreadyRecorded);
}

#[tokio::test]
async fn a_sale_recorded_without_its_commission_is_an_error_not_retried() {
    let (mock, client) = setup().await;
    customer(&mock, &client, "user_1").await;
    // The API writes the sale row, then fails to create the commission: it answers 500
    // `Failed to create commission`, and the transaction id is used up.
    mock.inject(
        Fault::response_after_processing(500, json!({"error": "Failed to create commission"}))
            .on(Endpoint::Sale),
    );
    let error = client
        .sale("in_no_commission", 4900)
        .customer_key("user_1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CommissionNotCreated);
    assert!(!error.is_retryable(), "a redelivery would only get a 409");
    assert_eq!(error.status().map(|status| status.as_u16()), Some(500));
    assert!(
        error.to_string().contains("contact Affitor support"),
        "{error}"
    );
    // Not retried: a retry would have been answered 409 and reported as recorded.
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1);
    assert_eq!(mock.sales().len(), 1);
}

#[tokio::test]
async fn dropped_connection_before_processing_is_retried_for_a_sale() {
    let (mock, client) = setup().await;
    customer(&mock, &client, "user_1").await;
    mock.inject(Fault::drop_connection().on(Endpoint::Sale));
    let outcome = client
        .sale("in_1", 100)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    // Nothing was processed the first time: the retry records it, with its ids.
    assert!(
        matches!(
            outcome,
            SaleOutcome::Recorded {
                sale_id: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(mock.sales().len(), 1);
}

#[tokio::test]
async fn lost_refund_response_is_reported_as_this_calls_reversal() {
    let (mock, client) = setup().await;
    customer(&mock, &client, "user_1").await;
    for transaction_id in ["in_full", "in_partial"] {
        client
            .sale(transaction_id, 4900)
            .customer_key("user_1")
            .send()
            .await
            .unwrap();
    }
    let commission_of = |transaction_id: &str| {
        mock.sales()
            .into_iter()
            .find(|sale| sale.transaction_id == transaction_id)
            .and_then(|sale| sale.commission_id)
    };

    // The first attempt reverses the commission; its answer is lost; the retry is `skipped`.
    mock.inject(Fault::drop_response().on(Endpoint::Refund).times(1));
    let outcome = client.refund("in_full").send().await.unwrap();
    match outcome {
        RefundOutcome::Reversed {
            commission_id,
            deduction_amount,
            ..
        } => {
            assert_eq!(commission_id, commission_of("in_full"));
            assert_eq!(deduction_amount, None);
        }
        other => panic!("expected Reversed, got {other:?}"),
    }
    assert!(commission_of("in_full").is_some());
    let statuses: Vec<RefundStatus> = mock.refunds().iter().map(|refund| refund.status).collect();
    assert_eq!(statuses, [RefundStatus::Reversed, RefundStatus::Skipped]);

    // A partial refund whose answer is lost is reported as the partial refund it was.
    mock.inject(Fault::drop_response().on(Endpoint::Refund).times(1));
    let outcome = client
        .refund("in_partial")
        .amount_cents(1000)
        .send()
        .await
        .unwrap();
    match outcome {
        RefundOutcome::PartiallyRefunded {
            commission_id,
            deduction_amount,
            ..
        } => {
            assert_eq!(commission_id, commission_of("in_partial"));
            assert_eq!(deduction_amount, None);
        }
        other => panic!("expected PartiallyRefunded, got {other:?}"),
    }

    // A later duplicate delivery is still a skip.
    let again = client.refund("in_full").send().await.unwrap();
    assert!(matches!(again, RefundOutcome::Skipped { .. }), "{again:?}");
}

#[tokio::test]
async fn refund_waits_for_a_sale_on_its_way() {
    let mock = MockServer::start().await.unwrap();
    let client = mock
        .client_builder()
        .retry(
            // Two attempts: the window, not the attempt budget, keeps the refund waiting.
            quick_retries()
                .max_attempts(2)
                .base_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(40))
                .refund_not_found_window(Duration::from_secs(3)),
        )
        .build()
        .unwrap();
    customer(&mock, &client, "user_1").await;
    let refund = client.refund("in_late").send();
    let sale = async {
        // Report the sale once the refund has been refused at least once.
        while mock.requests_to(Endpoint::Refund).is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        client
            .sale("in_late", 100)
            .customer_key("user_1")
            .send()
            .await
    };
    let (refund, sale) = tokio::join!(refund, sale);
    assert!(sale.unwrap().is_recorded());
    assert!(matches!(refund.unwrap(), RefundOutcome::Reversed { .. }));
    assert!(mock.requests_to(Endpoint::Refund).len() >= 2);
}

#[tokio::test]
async fn connection_refused_is_retried_until_the_api_is_back() {
    let mock = MockServer::start().await.unwrap();
    let client = mock
        .client_builder()
        .retry(
            quick_retries()
                .max_attempts(30)
                .base_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(40)),
        )
        .build()
        .unwrap();
    let click_id = mock.click("partner");
    mock.refuse_connections_for(Duration::from_millis(150))
        .await;
    // A lead is retried when the request never reached the API.
    let outcome = client
        .lead("user_1")
        .click_id(click_id)
        .send()
        .await
        .unwrap();
    assert_eq!(outcome, LeadOutcome::Tracked);
    assert_eq!(mock.requests_to(Endpoint::Lead).len(), 1);
}

#[tokio::test]
async fn a_wrong_host_answering_html_is_never_a_success() {
    // AFFITOR_API_URL points at some web server: every path answers 200 with a page.
    let app = axum::Router::new().fallback(|| async {
        axum::response::Html("<!doctype html><html><body>Welcome to nginx!</body></html>")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::builder()
        .api_key("aff_key")
        .base_url(url)
        .retry(quick_retries())
        .build()
        .unwrap();

    let errors = [
        client
            .sale("in_1", 100)
            .customer_key("u")
            .send()
            .await
            .unwrap_err(),
        client.lead("u").send().await.unwrap_err(),
        client.refund("in_1").send().await.unwrap_err(),
        client
            .click("https://shop.example/?aff=abc")
            .send()
            .await
            .unwrap_err(),
        client.readiness().send().await.unwrap_err(),
        client.verification().polls(1).send().await.unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("AFFITOR_API_URL"), "{error}");
    }
}

/// A refund that names two ids, of a sale Affitor knows under neither: one deadline and one
/// window for its sale, not one each. The first id waits the window out; the second, tried
/// after it, goes once.
#[tokio::test]
async fn a_refund_under_two_ids_waits_for_its_sale_once() {
    let mock = MockServer::start().await.unwrap();
    let policy = affitor::client::RetryPolicy::default()
        .base_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(50))
        .refund_not_found_window(Duration::from_millis(300));
    let client = mock.client_builder().retry(policy).build().unwrap();
    let error = client
        .refund("in_unknown")
        .or_transaction_id("pi_unknown")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SaleNotFound, "{error:?}");
    let under = |id: &str| {
        mock.requests_to(Endpoint::Refund)
            .iter()
            .filter(|request| request.body["transaction_id"] == id)
            .count()
    };
    assert!(under("in_unknown") > 1, "the first id waits for its sale");
    assert_eq!(
        under("pi_unknown"),
        1,
        "the window is spent: the second id goes once"
    );
}

/// A host whose connections never complete (its SYNs dropped, as in a failover, here a
/// listener whose queue is full and who never accepts): the request never left, so a lead is
/// tried again, and the error is a connect error, not an attempt's timeout that "may have
/// been processed".
#[tokio::test]
async fn a_connect_that_never_completes_is_retried_as_never_sent() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let address = listener.local_addr().unwrap();
    // Connections that fill the accept queue: the kernel drops the SYNs after them.
    let mut held = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(address),
        )
        .await
        {
            held.push(stream);
        }
    }
    let client = Client::builder()
        .api_key("aff_key_for_a_full_host")
        .base_url(format!("http://{address}"))
        .timeout(Duration::from_secs(2))
        .retry(quick_retries().max_attempts(2))
        .build()
        .unwrap();
    let error = client.lead("u").send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{error:?}");
    let debug = format!("{error:?}");
    assert!(debug.contains("attempts: 2"), "tried again: {debug}");
    drop((held, listener));
}

#[tokio::test]
async fn unreachable_api_is_a_connect_error() {
    // A port with nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::builder()
        .api_key("aff_key_for_nowhere")
        .base_url(url)
        .retry(quick_retries().max_attempts(2))
        .build()
        .unwrap();
    let error = client
        .sale("in_1", 100)
        .customer_key("u")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{error:?}");
    assert!(error.is_retryable());
    assert!(
        std::error::Error::source(&error).is_some(),
        "the reqwest error is kept"
    );
    assert!(error.to_string().contains("AFFITOR_API_URL"), "{error}");
}

#[tokio::test]
async fn the_key_never_appears_in_debug_or_errors() {
    const KEY: &str = "aff_live_9f8e7d6c5b4a_top_secret";
    let mock = MockServer::builder().api_key(KEY).start().await.unwrap();
    let builder = Client::builder()
        .api_key(KEY)
        .base_url(mock.url())
        .timeout(Duration::from_millis(50))
        .retry(quick_retries().max_attempts(2));
    let mut shown = vec![format!("{builder:?}"), format!("{builder:#?}")];
    let client = builder.build().unwrap();
    shown.push(format!("{client:?}"));
    shown.push(format!("{client:#?}"));
    shown.push(format!("{:?}", client.lead("u").email("a@example.com")));
    shown.push(format!("{:?}", client.sale("in", 1)));
    shown.push(format!("{:?}", client.refund("in")));
    shown.push(format!(
        "{:?}",
        client.click("https://x.example/?aff=partner")
    ));
    shown.push(format!("{:?}", client.readiness()));
    shown.push(format!("{:?}", client.verification()));

    let wrong_key = Client::builder()
        .api_key("aff_wrong_but_also_secret")
        .base_url(mock.url())
        .build()
        .unwrap();
    let mut errors = vec![
        client.lead("").send().await.unwrap_err(),
        client.lead("stranger").send().await.unwrap_err(),
        wrong_key
            .sale("in", 1)
            .customer_key("u")
            .send()
            .await
            .unwrap_err(),
        wrong_key.readiness().send().await.unwrap_err(),
    ];
    mock.inject(
        Fault::delay(Duration::from_millis(200))
            .on(Endpoint::Readiness)
            .times(2),
    );
    errors.push(client.readiness().send().await.unwrap_err());
    mock.inject(Fault::status(500).on(Endpoint::Sale).always());
    errors.push(
        client
            .sale("in", 1)
            .customer_key("u")
            .send()
            .await
            .unwrap_err(),
    );
    mock.clear_faults();
    // A server that echoes the key back in its message.
    mock.inject(
        Fault::response(400, json!({"error": format!("bad token {KEY}")})).on(Endpoint::Lead),
    );
    errors.push(client.lead("u").send().await.unwrap_err());
    mock.inject(Fault::drop_connection().on(Endpoint::Lead));
    errors.push(client.lead("u").send().await.unwrap_err());
    mock.shutdown().await;
    errors.push(
        client
            .sale("in", 1)
            .customer_key("u")
            .send()
            .await
            .unwrap_err(),
    );

    for error in &errors {
        shown.push(error.to_string());
        shown.push(format!("{error:?}"));
        shown.push(format!("{error:#?}"));
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            shown.push(format!("{inner} {inner:?}"));
            source = inner.source();
        }
    }
    for text in &shown {
        assert!(!text.contains("top_secret"), "the key leaked: {text}");
        assert!(!text.contains("also_secret"), "the key leaked: {text}");
        assert!(!text.contains("a@example.com"), "the email leaked: {text}");
    }
    assert!(errors[6].message().unwrap().contains("[redacted]"));
}

#[tokio::test(flavor = "current_thread")]
async fn spans_name_the_endpoint_and_the_outcome_never_the_key_or_the_email() {
    const KEY: &str = "aff_live_tracing_secret_42";
    if !test_support::alone!() {
        return;
    }
    let (capture, _guard) = Logs::capture("affitor::client=trace");

    let mock = MockServer::builder().api_key(KEY).start().await.unwrap();
    let client = mock.client();
    let click_id = mock.click("partner");
    client
        .lead("user_tracing")
        .click_id(click_id)
        .email("grace@example.com")
        .send()
        .await
        .unwrap();
    client
        .sale("in_traced", 100)
        .customer_key("user_tracing")
        .send()
        .await
        .unwrap();
    mock.inject(Fault::status(503).on(Endpoint::Sale).times(1));
    client
        .sale("in_traced", 100)
        .customer_key("user_tracing")
        .send()
        .await
        .unwrap();
    client.refund("in_unknown").send().await.unwrap_err();

    let logs = capture.text();
    assert!(logs.contains(r#"endpoint="lead""#), "{logs}");
    assert!(logs.contains(r#"outcome="tracked""#), "{logs}");
    assert!(logs.contains(r#"outcome="recorded""#), "{logs}");
    assert!(logs.contains(r#"outcome="already_recorded""#), "{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    assert!(logs.contains(r#"endpoint="refund""#), "{logs}");
    assert!(logs.contains(r#"outcome="SaleNotFound""#), "{logs}");
    assert!(!logs.contains(KEY), "the key leaked: {logs}");
    assert!(
        !logs.contains("grace@example.com"),
        "the email leaked: {logs}"
    );
    assert!(!logs.contains("user_tracing"), "a raw value leaked: {logs}");
}
