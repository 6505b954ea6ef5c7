//! The unit tests of `Error`: its kinds, its messages and what it never shows.

use super::*;

/// The error for an answer without `Retry-After`, sent with the key `k`.
fn answered(endpoint: Endpoint, status: StatusCode, body: &[u8]) -> Error {
    Error::from_response(endpoint, status, None, body, "k")
}

/// What `main` prints when it returns the error (`Box<dyn Error>`'s `Debug`) says what to
/// do, as `Display` does, and never the key.
#[test]
fn debug_leads_with_what_to_do() {
    let error = Error::new(ErrorKind::MissingApiKey);
    let debug = format!("{:?}", Box::<dyn StdError>::from(error));
    assert!(
        debug.starts_with(
            "Error { kind: MissingApiKey, message: \"no Affitor API key — set AFFITOR_API_KEY"
        ),
        "{debug}"
    );
    let error = Error::from_response(
        Endpoint::Lead,
        StatusCode::UNAUTHORIZED,
        None,
        br#"{"error":"Invalid API token aff_secret"}"#,
        "aff_secret",
    );
    let debug = format!("{error:?}");
    assert!(debug.contains("check AFFITOR_API_KEY"), "{debug}");
    assert!(
        debug.contains("api_message: \"Invalid API token [redacted]\""),
        "{debug}"
    );
    assert!(!debug.contains("aff_secret"), "{debug}");
}

#[test]
fn unauthorized_display_says_what_to_do() {
    let error = Error::from_response(
        Endpoint::Sale,
        StatusCode::UNAUTHORIZED,
        None,
        br#"{"error":"Invalid API token"}"#,
        "aff_secret",
    );
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.message(), Some("Invalid API token"));
    assert_eq!(
        error.to_string(),
        "401 Unauthorized from POST /api/v1/track/sale: Invalid API token — check \
         AFFITOR_API_KEY: it must be the program key (starting with `aff_`) from Program \
         Settings"
    );
    // The same call succeeds once the key is fixed: a webhook asks for redelivery.
    assert!(error.is_retryable());
}

#[test]
fn rate_limited_keeps_retry_after_from_header_or_body() {
    let body =
        br#"{"error":{"code":"rate_limited","message":"slow down","retry_after_seconds":1800}}"#;
    let from_body = answered(Endpoint::TestEvent, StatusCode::TOO_MANY_REQUESTS, body);
    assert_eq!(from_body.retry_after(), Some(Duration::from_secs(1800)));
    assert_eq!(from_body.code(), Some("rate_limited"));
    assert!(from_body.is_retryable());
    assert!(from_body.to_string().contains("wait 1800 s"), "{from_body}");
    let from_header = Error::from_response(
        Endpoint::TestEvent,
        StatusCode::TOO_MANY_REQUESTS,
        Some(Duration::from_secs(7)),
        body,
        "k",
    );
    assert_eq!(from_header.retry_after(), Some(Duration::from_secs(7)));
}

#[test]
fn kinds_by_status() {
    let cases = [
        (StatusCode::BAD_REQUEST, ErrorKind::Rejected, false),
        (StatusCode::FORBIDDEN, ErrorKind::Unauthorized, true),
        (StatusCode::NOT_FOUND, ErrorKind::Rejected, false),
        (StatusCode::CONFLICT, ErrorKind::Rejected, false),
        (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Server, true),
        (StatusCode::BAD_GATEWAY, ErrorKind::Server, true),
        (StatusCode::MOVED_PERMANENTLY, ErrorKind::Rejected, false),
        (StatusCode::REQUEST_TIMEOUT, ErrorKind::Timeout, true),
        (StatusCode::from_u16(425).unwrap(), ErrorKind::Timeout, true),
    ];
    for (status, kind, retryable) in cases {
        let error = answered(Endpoint::Lead, status, b"");
        assert_eq!(error.kind(), kind, "{status}");
        assert_eq!(error.is_retryable(), retryable, "{status}");
        assert_eq!(error.status(), Some(status));
        assert!(
            error.to_string().starts_with(&status.to_string()),
            "{error}"
        );
    }
}

#[test]
fn refund_not_found_is_sale_not_found_and_final() {
    let error = answered(
        Endpoint::Refund,
        StatusCode::NOT_FOUND,
        br#"{"error":"Sale not found for transaction_id"}"#,
    )
    .with_attempts(3);
    assert_eq!(error.kind(), ErrorKind::SaleNotFound);
    assert!(!error.is_retryable());
    assert_eq!(error.message(), Some("Sale not found for transaction_id"));
    assert_eq!(
        error.to_string(),
        "404 Not Found from POST /api/v1/track/refund: Sale not found for transaction_id \
         — no sale was recorded under this transaction id: it was never tracked, or was \
         not attributed; nothing to reverse (gave up after 3 attempts)"
    );
    // A 404 that is not the API's (a wrong AFFITOR_API_URL) stays a plain refusal.
    let error = answered(
        Endpoint::Refund,
        StatusCode::NOT_FOUND,
        b"<html>Not Found</html>",
    );
    assert_eq!(error.kind(), ErrorKind::Rejected);
    assert!(!error.is_retryable());
    // Only a refund's 404 means that.
    let error = answered(
        Endpoint::Sale,
        StatusCode::NOT_FOUND,
        br#"{"error":"Not found"}"#,
    );
    assert_eq!(error.kind(), ErrorKind::Rejected);
}

/// The API's message with its cause after it is the same failure: retried, the sale would be
/// answered 409 and read as recorded, its commission lost in silence.
#[test]
fn a_lost_commission_with_its_cause_is_still_a_lost_commission() {
    for body in [
        &br#"{"error":"Failed to create commission: partnerId required"}"#[..],
        br#"{"error":"failed to create commission."}"#,
    ] {
        let error = answered(Endpoint::Sale, StatusCode::INTERNAL_SERVER_ERROR, body);
        assert_eq!(error.kind(), ErrorKind::CommissionNotCreated, "{error}");
    }
    let other = answered(
        Endpoint::Sale,
        StatusCode::INTERNAL_SERVER_ERROR,
        br#"{"error":"Sale tracking failed"}"#,
    );
    assert_eq!(other.kind(), ErrorKind::Server);
}

#[test]
fn a_lost_commission_is_its_own_final_kind() {
    let error = answered(
        Endpoint::Sale,
        StatusCode::INTERNAL_SERVER_ERROR,
        br#"{"error":"Failed to create commission"}"#,
    );
    assert_eq!(error.kind(), ErrorKind::CommissionNotCreated);
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        "500 Internal Server Error from POST /api/v1/track/sale: Failed to create \
         commission — the sale was recorded but its commission was not: do not retry (the \
         transaction id is used up); contact Affitor support with the transaction id"
    );
    // The other sale failure is a plain, retryable server error.
    let error = answered(
        Endpoint::Sale,
        StatusCode::INTERNAL_SERVER_ERROR,
        br#"{"error":"Sale tracking failed"}"#,
    );
    assert_eq!(error.kind(), ErrorKind::Server);
    assert!(error.is_retryable());
    // Only a sale has a commission to create.
    let error = answered(
        Endpoint::Lead,
        StatusCode::INTERNAL_SERVER_ERROR,
        br#"{"error":"Failed to create commission"}"#,
    );
    assert_eq!(error.kind(), ErrorKind::Server);
}

#[test]
fn messages_are_bounded_cleaned_and_never_hold_the_key() {
    let key = "aff_live_0123456789";
    let body = format!(r#"{{"error":"bad token {key}\r\nX-Injected: 1"}}"#);
    let error = Error::from_response(
        Endpoint::Lead,
        StatusCode::BAD_REQUEST,
        None,
        body.as_bytes(),
        key,
    );
    let message = error.message().unwrap();
    assert!(!message.contains(key));
    assert!(!message.contains('\n'));
    assert!(message.contains("[redacted]"));
    let long = format!(r#"{{"error":"{}"}}"#, "é".repeat(1000));
    let error = Error::from_response(
        Endpoint::Lead,
        StatusCode::BAD_REQUEST,
        None,
        long.as_bytes(),
        key,
    );
    assert!(error.message().unwrap().len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
}

#[test]
fn retryable_means_a_later_attempt_could_succeed() {
    // A lead whose connection broke may have been recorded; trying again is still safe.
    for kind in [
        ErrorKind::Network,
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Server,
        ErrorKind::RateLimited,
        ErrorKind::Unauthorized,
    ] {
        for endpoint in [Endpoint::Lead, Endpoint::Click, Endpoint::Sale] {
            let error = Error::new(kind).with_endpoint(endpoint);
            assert!(error.is_retryable(), "{kind:?} {endpoint:?}");
        }
    }
    for kind in [
        ErrorKind::Decode,
        ErrorKind::Rejected,
        ErrorKind::SaleNotFound,
        ErrorKind::CommissionNotCreated,
        ErrorKind::InvalidAmount,
    ] {
        assert!(!Error::new(kind).is_retryable(), "{kind:?}");
    }
}

#[test]
fn source_is_kept() {
    let io = std::io::Error::other("boom");
    let error = Error::new(ErrorKind::Connect)
        .with_endpoint(Endpoint::Sale)
        .with_source(io)
        .with_attempts(3);
    assert_eq!(StdError::source(&error).unwrap().to_string(), "boom");
    assert!(
        error.to_string().contains("gave up after 3 attempts"),
        "{error}"
    );
    assert!(format!("{error:?}").contains("boom"));
}

/// The cause is the source, never repeated in `Display`: a report that walks the chain shows it
/// once.
#[test]
fn the_source_is_not_repeated_in_the_message() {
    for error in [
        Error::not_stored("database is locked"),
        Error::new(ErrorKind::HttpClient).with_source(std::io::Error::other("database is locked")),
        Error::new(ErrorKind::Connect)
            .with_endpoint(Endpoint::Sale)
            .with_source(std::io::Error::other("database is locked")),
    ] {
        let message = error.to_string();
        assert!(!message.contains("database is locked"), "{message}");
        assert_eq!(
            StdError::source(&error).map(ToString::to_string).as_deref(),
            Some("database is locked")
        );
    }
    let message = Error::not_stored("database is locked").to_string();
    assert!(message.contains("must come again"), "{message}");
}

/// A lead refused for the customer its click id names (unknown, another program's, already
/// converted) is told apart from every other refusal, in the API's words whatever their case.
#[test]
fn a_refused_click_id_is_told_apart() {
    for message in [
        "Customer not found. Provide a valid click_id or customer_key.",
        "Customer does not belong to this program",
        "Customer status cannot be updated to lead. Current status: conversion",
        "CUSTOMER NOT FOUND",
    ] {
        let body = serde_json::json!({ "error": message }).to_string();
        let error = answered(Endpoint::Lead, StatusCode::BAD_REQUEST, body.as_bytes());
        assert!(error.is_click_id_refused(), "{message}");
        assert!(!error.is_retryable());
    }
    let refused = br#"{"error":"Customer not found"}"#;
    // Another endpoint's, another status's, or another message's refusal is not one.
    assert!(!answered(Endpoint::Sale, StatusCode::BAD_REQUEST, refused).is_click_id_refused());
    assert!(!answered(Endpoint::Lead, StatusCode::BAD_GATEWAY, refused).is_click_id_refused());
    assert!(
        !answered(Endpoint::Lead, StatusCode::MOVED_PERMANENTLY, refused).is_click_id_refused()
    );
    let other = br#"{"error":"click_id or customer_key is required"}"#;
    assert!(!answered(Endpoint::Lead, StatusCode::BAD_REQUEST, other).is_click_id_refused());
    assert!(!answered(Endpoint::Lead, StatusCode::BAD_REQUEST, b"").is_click_id_refused());
    assert!(!Error::new(ErrorKind::MissingCustomer).is_click_id_refused());
}
