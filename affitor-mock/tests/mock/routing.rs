//! Bodies, routing and recording

use crate::support::*;

#[tokio::test]
async fn malformed_bodies_get_a_400_that_says_so() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    for endpoint in [
        Endpoint::Click,
        Endpoint::Lead,
        Endpoint::Sale,
        Endpoint::Refund,
        Endpoint::TestEvent,
    ] {
        let reply = send(
            mock.addr(),
            "POST",
            endpoint.path(),
            Some(&auth),
            b"{\"transaction_id\":",
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 400, "{endpoint}");
        let message = reply.body["error"].as_str().unwrap();
        assert!(message.starts_with("Malformed JSON body: "), "{message}");

        let reply = send(mock.addr(), "POST", endpoint.path(), Some(&auth), b"[1, 2]")
            .await
            .unwrap();
        reply.assert_error(400, "Request body must be a JSON object");
    }
    // The recorded body of a malformed request is Null.
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.body.is_null() || r.body.is_array())
    );
}

#[tokio::test]
async fn requests_are_recorded_in_order_with_headers_and_bodies() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    post(&mock, Endpoint::Sale, json!({ "transaction_id": "in_x" })).await;
    send(mock.addr(), "GET", "/nowhere?x=1", Some(&auth), b"")
        .await
        .unwrap();

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, http::Method::POST);
    assert_eq!(requests[0].path, "/api/v1/track/click");
    assert_eq!(requests[0].endpoint, Some(Endpoint::Click));
    assert_eq!(requests[0].bearer_token(), None);
    assert_eq!(requests[0].body, click_body("partner"));
    assert_eq!(requests[1].bearer_token(), Some("aff_test_key"));
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer aff_test_key")
    );
    assert_eq!(requests[1].header("user-agent"), Some("mock-tests/1"));
    assert_eq!(requests[1].body, json!({ "transaction_id": "in_x" }));
    assert_eq!(requests[2].path, "/nowhere?x=1");
    assert_eq!(requests[2].endpoint, None);
    assert_eq!(requests[2].body, Value::Null);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1);

    // Debug never shows the key.
    let debug = format!("{:?}", requests[1]);
    assert!(!debug.contains("aff_test_key"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_the_legacy_alias() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    send(
        mock.addr(),
        "POST",
        "/api/v1/track/nothing",
        Some(&auth),
        b"{}",
    )
    .await
    .unwrap()
    .assert_error(404, "Not found");
    let reply = send(mock.addr(), "GET", "/api/v1/track/sale", Some(&auth), b"")
        .await
        .unwrap();
    reply.assert_error(405, "Method not allowed: use POST");
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = send(
        mock.addr(),
        "POST",
        Endpoint::Readiness.path(),
        Some(&auth),
        b"{}",
    )
    .await
    .unwrap();
    reply.assert_error(405, "Method not allowed: use GET");

    // `/api/tracking/*` is the legacy alias of the tracking endpoints.
    let body = click_body("partner").to_string();
    let reply = send(
        mock.addr(),
        "POST",
        "/api/tracking/click",
        None,
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(reply.body["success"], true);
    assert_eq!(
        mock.requests().last().unwrap().endpoint,
        Some(Endpoint::Click)
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    let mut big = b"{\"transaction_id\":\"".to_vec();
    big.resize(1024 * 1024 + 1, b'a');
    let reply = send(
        mock.addr(),
        "POST",
        Endpoint::Sale.path(),
        Some(&auth),
        &big,
    )
    .await
    .unwrap();
    reply.assert_error(413, "Request body too large: the limit is 1 MiB");
    assert!(mock.sales().is_empty());

    // Just under the limit is read (and rejected for what it is).
    let mut json = b"{\"pad\":\"".to_vec();
    json.resize(1024 * 1024 - 2, b'a');
    json.extend_from_slice(b"\"}");
    let reply = send(
        mock.addr(),
        "POST",
        Endpoint::Sale.path(),
        Some(&auth),
        &json,
    )
    .await
    .unwrap();
    reply.assert_error(400, "transaction_id is required and must be a string");
}

#[tokio::test]
async fn no_input_crashes_the_server() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    let deep = "[".repeat(10_000);
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"\"text\"".to_vec(),
        b"12".to_vec(),
        b"{\"amount_cents\": 1e400}".to_vec(),
        b"{\"transaction_id\": \"in\", \"amount_cents\": 18446744073709551615, \"click_id\": []}"
            .to_vec(),
        b"{\"transaction_id\": \"in\", \"amount_cents\": 1.7976931348623157e308}".to_vec(),
        b"{\"refund_amount_cents\": {}, \"transaction_id\": {}}".to_vec(),
        b"{\"affiliate_url\": \"https://x/?aff=%ff%fe\", \"additional_data\": 5}".to_vec(),
        b"{\"additional_data\": {\"test_mode\": \"true\", \"program_id\": [1]}}".to_vec(),
        b"{\"type\": null, \"event_type\": 3}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        deep.into_bytes(),
    ];
    for endpoint in [
        Endpoint::Click,
        Endpoint::Lead,
        Endpoint::Sale,
        Endpoint::Refund,
        Endpoint::TestEvent,
        Endpoint::Readiness,
    ] {
        for body in &bodies {
            for auth in [None, Some(auth.as_str())] {
                let method = endpoint.method();
                let reply = send(mock.addr(), method.as_str(), endpoint.path(), auth, body)
                    .await
                    .unwrap();
                assert!(
                    [200, 400, 401, 404, 409].contains(&reply.status),
                    "{endpoint} {:?}: {reply:?}",
                    String::from_utf8_lossy(body)
                );
                assert!(reply.body.is_object(), "{reply:?}");
            }
        }
    }
    // Still serving.
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.body["success"], true);
}
