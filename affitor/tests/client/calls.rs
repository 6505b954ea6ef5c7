//! The client against the local stand-in API (`affitor_mock`), over real HTTP on
//! 127.0.0.1: every endpoint and outcome, validation without I/O, headers, readiness and
//! verification, and the key never leaking.

use crate::support::*;
use std::time::{Duration, Instant};

use affitor::client::Endpoint;
use affitor::readiness::{Gate, ReadinessState, StepVerdict};
use affitor::{
    ClickId, Client, Error,
    client::{ClickOutcome, Currency, ErrorKind, LeadOutcome, RefundOutcome, SaleOutcome},
};
use affitor_mock::{Fault, MockServer, RefundStatus};
use serde_json::json;

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
    let client = mock.client();
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
    let client = mock
        .client_builder()
        .retry(quick_retries())
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
    let live = mock.client_builder().program_id("42").build().unwrap();
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
    let client = mock.client();
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
        .retry(quick_retries())
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
    client.verification().polls(1).send().await.unwrap();
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
    let client = mock
        .client_builder()
        .user_agent("my-shop/2.0")
        .build()
        .unwrap();
    client.readiness().send().await.unwrap();
    assert_eq!(mock.requests()[0].header("user-agent"), Some("my-shop/2.0"));
}

/// A readiness answer that echoes the API key (a proxy's, say) never carries it into what the
/// caller shows: its texts are kept whole, but for the key.
#[tokio::test]
async fn a_readiness_answer_echoing_the_key_is_shown_without_it() {
    let mock = MockServer::start().await.unwrap();
    let client = mock.client();
    let key = mock.api_key().to_owned();
    let echoing = json!({"data": {"state": "ready", "gates": {"payout": {
        "status": "pass", "endpoint": format!("https://x.example/?token={key}")}}}});
    mock.inject(Fault::response(200, echoing).on(Endpoint::Readiness));
    let readiness = client.readiness().send().await.unwrap();
    let shown = format!("{readiness:?}");
    assert!(!shown.contains(&key), "{shown}");
    assert_eq!(
        readiness.gates.payout.endpoint.as_deref(),
        Some("https://x.example/?token=[redacted]")
    );
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
    let verification = client.verification().polls(3).send().await.unwrap();
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
        .verification()
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
    let verification = client.verification().polls(5).send().await.unwrap();
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
        .verification()
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
