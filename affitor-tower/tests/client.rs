//! The client against the local stand-in API (`affitor_tower::mock`), over real HTTP on
//! 127.0.0.1: every endpoint and outcome, validation without I/O, retries and faults, headers,
//! and the key never leaking.
#![cfg(all(feature = "client", feature = "mock"))]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::time::{Duration, Instant};

use affitor_tower::mock::{Endpoint, Fault, MockServer, RefundStatus};
use affitor_tower::readiness::{Gate, ReadinessState, StepVerdict};
use affitor_tower::{
    ClickId, ClickOutcome, Client, Currency, Error, ErrorKind, LeadOutcome, RefundOutcome,
    RetryPolicy, SaleOutcome,
};
use serde_json::json;

/// Short waits so that retry tests stay fast.
fn fast_policy() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(4)
        .base_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(20))
        .retry_after_cap(Duration::from_millis(50))
        .deadline(Duration::from_secs(5))
        .refund_not_found_window(Duration::from_millis(100))
}

fn client_for(mock: &MockServer) -> Client {
    Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .timeout(Duration::from_secs(2))
        .retry(fast_policy())
        .build()
        .unwrap()
}

async fn setup() -> (MockServer, Client) {
    let mock = MockServer::start().await.unwrap();
    let client = client_for(&mock);
    (mock, client)
}

/// A customer with a click and a lead, known to the stand-in as `customer_key`.
async fn customer(mock: &MockServer, client: &Client, customer_key: &str) -> ClickId {
    let click_id = mock.click("partner");
    let outcome = client
        .lead(customer_key)
        .click_id(click_id.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(outcome, LeadOutcome::Tracked);
    click_id
}

#[tokio::test]
async fn lead_sale_and_refund_outcomes() {
    let (mock, client) = setup().await;
    customer(&mock, &client, "user_1").await;

    let outcome = client
        .sale("in_1", 4900)
        .customer_key("user_1")
        .currency(Currency::Eur)
        .send()
        .await
        .unwrap();
    let SaleOutcome::Recorded {
        sale_id,
        commission_id,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!(Some(sales[0].sale_id), sale_id);
    assert_eq!(sales[0].commission_id, commission_id);
    assert_eq!(sales[0].currency, "EUR");
    assert_eq!(sales[0].partner_code.as_deref(), Some("partner"));

    // The same transaction again: a duplicate delivery, not an error.
    let again = client
        .sale("in_1", 4900)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    assert_eq!(again, SaleOutcome::AlreadyRecorded);
    assert!(again.is_recorded());
    assert_eq!(mock.sales().len(), 1);
    assert_eq!(
        mock.requests_to(Endpoint::Sale).len(),
        2,
        "a 409 is not retried"
    );

    let refund = client
        .refund("in_1")
        .reason("customer_request")
        .send()
        .await
        .unwrap();
    let RefundOutcome::Reversed {
        commission_id: reversed,
        deduction_amount,
        ..
    } = refund
    else {
        panic!("{refund:?}")
    };
    assert_eq!(reversed, commission_id);
    assert!(deduction_amount.unwrap() > 0.0);
    assert_eq!(mock.refunds()[0].status, RefundStatus::Reversed);
    assert_eq!(
        mock.refunds()[0].reason.as_deref(),
        Some("customer_request")
    );

    let repeat = client.refund("in_1").send().await.unwrap();
    assert!(
        matches!(&repeat, RefundOutcome::Skipped { reason: Some(reason), .. } if reason == "already reversed"),
        "{repeat:?}"
    );
}

#[tokio::test]
async fn partial_refund_and_sale_by_click_id() {
    let (mock, client) = setup().await;
    let click_id = mock.click("partner");
    let outcome = client
        .sale("in_2", 10_000)
        .click_id(click_id)
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
    let refund = client
        .refund("in_2")
        .amount_cents(2_500)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(
            refund,
            RefundOutcome::PartiallyRefunded {
                commission_id: Some(_),
                ..
            }
        ),
        "{refund:?}"
    );
    assert_eq!(mock.refunds()[0].refund_amount_cents, Some(2_500));
}

#[tokio::test]
async fn sale_outside_the_window_is_not_attributed() {
    let mock = MockServer::builder()
        .attribution_window_days(30)
        .start()
        .await
        .unwrap();
    let client = client_for(&mock);
    let click_id = mock.click_at("partner", 45);
    let outcome = client
        .sale("in_old", 100)
        .click_id(click_id)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(
            &outcome,
            SaleOutcome::NotAttributed { reason, click_age_days: Some(45), window_days: Some(30), .. }
                if reason == "attribution_window_expired"
        ),
        "{outcome:?}"
    );
    assert!(!outcome.is_recorded());
    assert!(mock.sales().is_empty());
}

#[tokio::test]
async fn test_mode_outcomes() {
    let mock = MockServer::start().await.unwrap();
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .retry(fast_policy())
        .test_mode(true)
        .program_id(mock.program_id().to_string())
        .build()
        .unwrap();
    let lead = client.lead("test_customer").send().await.unwrap();
    assert!(
        matches!(
            lead,
            LeadOutcome::Test {
                event_id: Some(_),
                ..
            }
        ),
        "{lead:?}"
    );
    let sale = client
        .sale("test_in_1", 999)
        .customer_key("test_customer")
        .send()
        .await
        .unwrap();
    assert!(
        matches!(
            sale,
            SaleOutcome::Test {
                event_id: Some(_),
                ..
            }
        ),
        "{sale:?}"
    );
    let click = client
        .click("https://shop.example/?aff=partner")
        .send()
        .await
        .unwrap();
    assert!(matches!(click, ClickOutcome::Test { .. }), "{click:?}");
    // A test sale has no commission to reverse.
    let refund = client.refund("test_in_1").send().await.unwrap();
    assert_eq!(refund, RefundOutcome::NoCommission);
    for request in mock.requests_to(Endpoint::Sale) {
        assert_eq!(request.body["additional_data"]["test_mode"], json!(true));
    }
    assert!(mock.sales()[0].test);
    // The click, sent without the key, names the program; the others have the key.
    let click = &mock.requests_to(Endpoint::Click)[0];
    assert_eq!(
        click.body["additional_data"],
        json!({"test_mode": true, "program_id": mock.program_id().to_string()})
    );
    for endpoint in [Endpoint::Lead, Endpoint::Sale] {
        let request = &mock.requests_to(endpoint)[0];
        assert_eq!(request.body["additional_data"].get("program_id"), None);
    }

    // Outside test mode, the program id is not sent.
    let live = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .program_id("42")
        .build()
        .unwrap();
    let _ = live.click("https://shop.example/?aff=partner").send().await;
    let click = mock.requests_to(Endpoint::Click).pop().unwrap();
    assert_eq!(click.body.get("additional_data"), None, "{}", click.body);
}

#[tokio::test]
async fn click_outcomes() {
    let mock = MockServer::builder()
        .cookie_window_days(90)
        .start()
        .await
        .unwrap();
    let client = client_for(&mock);
    mock.link("SPRING");
    mock.inactive_link("OLD");

    let outcome = client
        .click("https://shop.example/pricing?aff=SPRING")
        .page_title("Pricing")
        .user_agent("Mozilla/5.0 (test)")
        .send()
        .await
        .unwrap();
    let ClickOutcome::Recorded {
        click_id,
        partner_code,
        cookie_window_days,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(partner_code.as_deref(), Some("SPRING"));
    assert_eq!(cookie_window_days, 90);
    assert_eq!(mock.clicks()[0].click_id.as_ref(), Some(&click_id));
    assert_eq!(
        mock.clicks()[0].user_agent.as_deref(),
        Some("Mozilla/5.0 (test)")
    );

    // The click id works for a lead.
    let lead = client
        .lead("user_9")
        .click_id(click_id)
        .send()
        .await
        .unwrap();
    assert_eq!(lead, LeadOutcome::Tracked);

    let inactive = client
        .click("https://shop.example/?aff=OLD")
        .send()
        .await
        .unwrap();
    assert!(
        matches!(&inactive, ClickOutcome::Inactive { message, .. } if message == "Referral link is inactive"),
        "{inactive:?}"
    );

    let error = client
        .click("https://shop.example/?aff=NOPE")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(error.message(), Some("Referral link not found"));
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn provisional_lead_is_decoded() {
    let (mock, client) = setup().await;
    mock.inject(
        Fault::response(
            200,
            json!({"success": true, "provisional": true, "message": "Lead recorded as provisional."}),
        )
        .on(Endpoint::Lead),
    );
    let outcome = client.lead("user_1").send().await.unwrap();
    assert_eq!(outcome, LeadOutcome::Provisional);
}

#[tokio::test]
async fn api_refusals_are_typed_errors() {
    let (mock, client) = setup().await;
    // A lead for a customer the API does not know.
    let error = client.lead("stranger").send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected);
    assert_eq!(
        error.message(),
        Some("Customer not found. Provide a valid click_id or customer_key.")
    );
    assert!(!error.is_retryable());
    assert_eq!(mock.requests_to(Endpoint::Lead).len(), 1);

    // A refund of a sale that never comes: 404, retried for a while, then reported as final.
    let error = client.refund("in_never").send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SaleNotFound);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(error.message(), Some("Sale not found for transaction_id"));
    assert!(!error.is_retryable(), "a webhook must not ask for it again");
    assert!(mock.requests_to(Endpoint::Refund).len() > 1);
}

#[tokio::test]
async fn refund_of_an_organic_sale_is_final() {
    let (mock, client) = setup().await;
    // An organic customer: the API refuses the sale (400), so it records nothing.
    let error = client
        .sale("in_organic", 4900)
        .customer_key("organic_user")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected);
    assert!(mock.sales().is_empty());

    // Its refund finds no sale: after the short not-found window, a final error that says why.
    let error = client.refund("in_organic").send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::SaleNotFound);
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(
        text.contains("no sale was recorded under this transaction id"),
        "{text}"
    );
    assert!(text.contains("nothing to reverse"), "{text}");
    assert!(mock.refunds().is_empty());
}

#[tokio::test]
async fn wrong_key_is_unauthorized_and_not_repeated_by_the_client() {
    let mock = MockServer::start().await.unwrap();
    let client = Client::builder()
        .api_key("aff_wrong_key_123")
        .base_url(mock.url())
        .retry(fast_policy())
        .build()
        .unwrap();
    let error = client
        .sale("in_1", 100)
        .customer_key("u")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(error.message(), Some("Invalid API token"));
    assert!(
        error.to_string().contains("check AFFITOR_API_KEY"),
        "{error}"
    );
    // Not repeated by the client itself (one request), yet retryable later: once the key is
    // fixed, the same call succeeds.
    assert!(error.is_retryable());
    assert_eq!(mock.requests().len(), 1);

    // The agent error envelope on readiness.
    let error = client.readiness().send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.code(), Some("invalid_key"));
    assert_eq!(error.message(), Some("Invalid API token."));
}

#[tokio::test]
async fn validation_errors_make_no_request() {
    let (mock, client) = setup().await;
    let click_id: ClickId = "c1".parse().unwrap();
    let errors: Vec<(Error, ErrorKind)> = vec![
        (
            client.lead("").send().await.unwrap_err(),
            ErrorKind::MissingCustomer,
        ),
        (
            client.sale("in_1", 100).send().await.unwrap_err(),
            ErrorKind::MissingCustomer,
        ),
        (
            client
                .sale("in_1", 0)
                .customer_key("u")
                .send()
                .await
                .unwrap_err(),
            ErrorKind::InvalidAmount,
        ),
        (
            client
                .sale("in_1", u64::MAX)
                .click_id(click_id.clone())
                .send()
                .await
                .unwrap_err(),
            ErrorKind::InvalidAmount,
        ),
        (
            client
                .sale("", 100)
                .customer_key("u")
                .send()
                .await
                .unwrap_err(),
            ErrorKind::MissingTransactionId,
        ),
        (
            client
                .sale("in_1", 100)
                .customer_key("u")
                .currency(Currency::Other("dollars".into()))
                .send()
                .await
                .unwrap_err(),
            ErrorKind::InvalidCurrency,
        ),
        (
            client.refund(" ").send().await.unwrap_err(),
            ErrorKind::MissingTransactionId,
        ),
        (
            client
                .refund("in_1")
                .amount_cents(u64::MAX)
                .send()
                .await
                .unwrap_err(),
            ErrorKind::InvalidAmount,
        ),
        (
            client.click("").send().await.unwrap_err(),
            ErrorKind::MissingAffiliateUrl,
        ),
    ];
    for (error, kind) in errors {
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.status(), None);
        assert!(!error.is_retryable());
    }
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
}

#[tokio::test]
async fn bearer_on_everything_but_click_and_our_user_agent() {
    let (mock, client) = setup().await;
    let click_id = customer(&mock, &client, "user_1").await;
    client
        .sale("in_1", 100)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    client.refund("in_1").send().await.unwrap();
    client
        .click("https://shop.example/?aff=partner")
        .existing_click_id(click_id)
        .send()
        .await
        .unwrap();
    client.verify().polls(1).send().await.unwrap();
    client.readiness().force_recheck(true).send().await.unwrap();

    let requests = mock.requests();
    let user_agent = concat!("affitor-rs/", env!("CARGO_PKG_VERSION"));
    let mut endpoints = Vec::new();
    for request in &requests {
        let endpoint = request.endpoint.unwrap();
        endpoints.push(endpoint);
        assert_eq!(
            request.header("user-agent"),
            Some(user_agent),
            "{endpoint:?}"
        );
        if endpoint == Endpoint::Click {
            assert_eq!(request.header("authorization"), None);
        } else {
            assert_eq!(request.bearer_token(), Some(mock.api_key()), "{endpoint:?}");
        }
        if endpoint != Endpoint::Readiness {
            assert_eq!(request.header("content-type"), Some("application/json"));
        }
    }
    for endpoint in [
        Endpoint::Click,
        Endpoint::Lead,
        Endpoint::Sale,
        Endpoint::Refund,
        Endpoint::TestEvent,
        Endpoint::Readiness,
    ] {
        assert!(endpoints.contains(&endpoint), "{endpoint:?} not called");
    }
    assert_eq!(
        requests.last().unwrap().path,
        "/api/v1/programs/me/readiness?force_recheck=true"
    );
    assert_eq!(
        mock.requests_to(Endpoint::TestEvent)[0].body,
        json!({"type": "chain"})
    );
}

#[tokio::test]
async fn custom_user_agent() {
    let mock = MockServer::start().await.unwrap();
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .user_agent("my-shop/2.0")
        .build()
        .unwrap();
    client.readiness().send().await.unwrap();
    assert_eq!(mock.requests()[0].header("user-agent"), Some("my-shop/2.0"));
}

#[tokio::test]
async fn readiness_and_verification() {
    let (mock, client) = setup().await;
    let readiness = client.readiness().send().await.unwrap();
    assert_eq!(readiness.program_id, Some(mock.program_id()));
    assert!(!readiness.integration_verified);
    assert_eq!(readiness.blocker, Some(Gate::Tracking));
    assert_eq!(
        readiness.gates.tracking.next_action.as_deref(),
        Some("install_tracker_or_send_events")
    );

    // The chain is the first event: right after it, the integration is verified.
    let verification = client.verify().polls(3).send().await.unwrap();
    assert!(verification.chain.attributed);
    assert!(verification.chain.verdict.all_attributed());
    assert!(verification.is_verified());
    assert_eq!(
        verification.readiness.state,
        ReadinessState::IntegrationVerified
    );
    assert_eq!(verification.readiness.blocking_gate(), None);
    assert_eq!(mock.requests_to(Endpoint::TestEvent).len(), 1);
    assert_eq!(mock.requests_to(Endpoint::Readiness).len(), 1 + 1);

    // Readiness that lags behind the chain is polled again, up to `polls` reads.
    let lagging =
        json!({"data": {"state": "ready", "integration_verified": false, "blocker": "live"}});
    mock.inject(
        Fault::response(200, lagging)
            .on(Endpoint::Readiness)
            .times(2),
    );
    let verification = client
        .verify()
        .polls(3)
        .poll_interval(Duration::from_millis(10))
        .send()
        .await
        .unwrap();
    assert!(verification.is_verified());
    assert_eq!(mock.requests_to(Endpoint::Readiness).len(), 2 + 3);

    // A chain that was not attributed: readiness is read once, and reported.
    mock.inject(
        Fault::response(
            200,
            json!({"data": {"type": "chain",
                "verdict": {"click": "attributed", "lead": "attributed", "sale": "unattributed"},
                "attributed": false}}),
        )
        .on(Endpoint::TestEvent),
    );
    mock.inject(
        Fault::response(
            200,
            json!({"state": "ready", "integration_verified": false, "blocker": "economics",
            "gates": {"economics": {"status": "fail", "next_action": "set_commission_policy"}}}),
        )
        .on(Endpoint::Readiness)
        .always(),
    );
    let verification = client.verify().polls(5).send().await.unwrap();
    assert!(!verification.is_verified());
    assert_eq!(verification.chain.verdict.sale, StepVerdict::Unattributed);
    let (gate, report) = verification.readiness.blocking_gate().unwrap();
    assert_eq!(gate, Gate::Economics);
    assert_eq!(report.next_action.as_deref(), Some("set_commission_policy"));
    assert_eq!(mock.requests_to(Endpoint::Readiness).len(), 5 + 1);
}

#[tokio::test]
async fn verification_waits_as_long_as_the_api_asks_between_polls() {
    let (mock, client) = setup().await;
    // The first read lags behind the chain and asks for a 1 s wait; the next one is verified.
    mock.inject(
        Fault::response(
            200,
            json!({"state": "ready", "integration_verified": false, "blocker": "live",
                   "poll": {"retry_after_seconds": 1}}),
        )
        .on(Endpoint::Readiness),
    );
    let started = Instant::now();
    let verification = client
        .verify()
        .polls(2)
        .poll_interval(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(verification.is_verified());
    assert_eq!(mock.requests_to(Endpoint::Readiness).len(), 2);
    // The API's 1 s, not the 60 s bound.
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(waited < Duration::from_secs(60), "{waited:?}");
}

#[tokio::test]
async fn rate_limited_chain_is_not_retried() {
    let (mock, client) = setup().await;
    mock.inject(Fault::rate_limited(Duration::from_secs(1)).on(Endpoint::TestEvent));
    let error = client.verify().send().await.unwrap_err();
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
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .retry(fast_policy().retry_after_cap(Duration::from_secs(2)))
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
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .timeout(Duration::from_millis(50))
        .retry(fast_policy())
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
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .timeout(Duration::from_secs(5))
        .retry(fast_policy().deadline(Duration::from_millis(100)))
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
    // The API writes the sale row, then fails to create the commission (NOTES §4).
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
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .retry(
            // Two attempts: the window, not the attempt budget, keeps the refund waiting.
            fast_policy()
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
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .retry(
            fast_policy()
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
        .retry(fast_policy())
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
        client.verify().polls(1).send().await.unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("AFFITOR_API_URL"), "{error}");
    }
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
        .retry(fast_policy().max_attempts(2))
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
        .retry(fast_policy().max_attempts(2));
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
    shown.push(format!("{:?}", client.verify()));

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

/// A `tracing` writer that keeps what the subscriber prints.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn spans_name_the_endpoint_and_the_outcome_never_the_key_or_the_email() {
    const KEY: &str = "aff_live_tracing_secret_42";
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("affitor_tower::client=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mock = MockServer::builder().api_key(KEY).start().await.unwrap();
    let client = client_for(&mock);
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

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
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
