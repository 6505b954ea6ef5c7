//! Lifecycle and logs

use crate::support::*;
use test_support::Logs;

#[tokio::test]
async fn shutdown_closes_the_port_and_dropping_the_handle_stops_the_server() {
    let mock = MockServer::start().await.unwrap();
    let addr = mock.addr();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    mock.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
    let mut buffer = [0_u8; 16];
    assert!(matches!(idle.read(&mut buffer).await, Ok(0) | Err(_)));

    let mock = MockServer::start().await.unwrap();
    let addr = mock.addr();
    drop(mock);
    let closed = poll_until(Duration::from_secs(5), async || {
        TcpStream::connect(addr).await.err()
    })
    .await;
    assert!(
        closed.is_some(),
        "the server kept listening after the handle was dropped"
    );
}

// Current-thread runtimes, so the server's tasks log to this thread's subscriber; each test
// alone in a process of its own, so its capture misses nothing.
#[tokio::test(flavor = "current_thread")]
async fn log_events_logs_one_line_per_event_without_secrets() {
    if !test_support::alone!() {
        return;
    }
    let (captured, _guard) = Logs::capture("info");
    let mock = MockServer::builder()
        .api_key("aff_secret_key")
        .log_events(true)
        .start()
        .await
        .unwrap();
    let click = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    let click_id = click.body["click_id"].as_str().unwrap().to_owned();
    post(
        &mock,
        Endpoint::Lead,
        json!({ "click_id": click_id, "customer_key": "u1", "email": "someone@example.com" }),
    )
    .await;
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_logged", "amount_cents": 100, "customer_key": "u1" }),
    )
    .await;
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "bad\nid", "amount_cents": 100 }),
    )
    .await;

    let output = captured.text();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 4, "{output}");
    assert!(lines[0].contains("endpoint=\"click\""), "{output}");
    assert!(lines[0].contains("outcome=\"recorded\""), "{output}");
    assert!(lines[0].contains(&click_id), "{output}");
    assert!(lines[1].contains("outcome=\"tracked\""), "{output}");
    assert!(
        lines[2].contains("in_logged") && lines[2].contains("status=200"),
        "{output}"
    );
    assert!(lines[3].contains("<6 bytes, not shown>"), "{output}");
    assert!(!output.contains("aff_secret_key"), "{output}");
    assert!(!output.contains("someone@example.com"), "{output}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_call_is_logged_with_why_in_the_words_of_what_it_sent() {
    if !test_support::alone!() {
        return;
    }
    let (captured, _guard) = Logs::capture("info");
    let mock = MockServer::builder()
        .log_events(true)
        .start()
        .await
        .unwrap();
    let lead = json!({ "click_id": "cust_unknown", "customer_key": "user_1" });
    let refused = post(&mock, Endpoint::Lead, lead).await;
    // The answer is the API's own.
    assert_eq!(refused.status, 400);
    let error = refused.body["error"].as_str().unwrap();
    assert_eq!(
        error,
        "Customer not found. Provide a valid click_id or customer_key."
    );
    let sale = json!({ "transaction_id": "in_1", "amount_cents": 100, "customer_key": "user_9" });
    assert_eq!(post(&mock, Endpoint::Sale, sale).await.status, 400);
    // The demo click is known once recorded.
    let lead = json!({ "click_id": mock.demo_click().as_str(), "customer_key": "user_2" });
    assert_eq!(post(&mock, Endpoint::Lead, lead).await.status, 200);

    let output = captured.text();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 3, "{output}");
    assert!(lines[0].contains("lead rejected: no click has the click_id `cust_unknown`"));
    assert!(
        lines[0].contains("no lead has the customer_key `user_1`"),
        "{output}"
    );
    assert!(lines[1].contains("sale rejected: no lead has the customer_key `user_9`"));
    assert!(!lines[1].contains("click_id `"), "{output}");
    assert!(lines[2].contains("lead tracked"), "{output}");
    assert!(lines[2].contains(affitor_mock::DEMO_CLICK_ID), "{output}");
}

#[tokio::test(flavor = "current_thread")]
async fn without_log_events_the_stand_in_is_quiet() {
    if !test_support::alone!() {
        return;
    }
    let (captured, _guard) = Logs::capture("info");
    let mock = MockServer::start().await.unwrap();
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(captured.text(), "");
}

/// A stand-in that runs for days keeps the last requests and clicks only: its memory does not
/// grow with the visits.
#[tokio::test]
async fn it_keeps_the_last_requests_and_clicks_only() {
    let mock = MockServer::builder().keep_last(5).start().await.unwrap();
    mock.link("partner");
    for n in 0..8 {
        let body = serde_json::json!({ "affiliate_url": format!("https://shop.example/?aff=partner&n={n}") });
        let reply = post_anonymous(&mock, Endpoint::Click, body).await;
        assert_eq!(reply.status, 200);
    }
    let requests = mock.requests();
    assert_eq!(requests.len(), 5);
    // The oldest went first: the last five remain, in order.
    let last = requests.last().unwrap().body["affiliate_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last.ends_with("n=7"), "{last}");
    assert_eq!(mock.clicks().len(), 5);
    mock.shutdown().await;
}
