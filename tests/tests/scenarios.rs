//! The scenario suite: every scenario runs against every example app that offers its routes,
//! each app on a real port, against its own local Affitor API stand-in.
//!
//! A scenario is an async fn over a [`Running`] app; the `scenarios!` table below turns each row
//! into one test that runs it against every app of its kind, so a framework difference shows as
//! a failure that names the app.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::{Fault, RefundStatus, SignedWebhook};
use affitor_scenarios::{Kind, Running, apps, user_id, wait_until};
use example_support::{PaymentProvider, sample};
use reqwest::StatusCode;
use serde_json::{Value, json};

macro_rules! scenarios {
    ($($kind:ident: $scenario:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                for app in apps(Kind::$kind) {
                    let running = app.start().await;
                    scenario::$scenario(&running).await;
                }
            }
        )*
    };
}

scenarios! {
    Signup: signup_page_is_served;
    Signup: click_id_in_the_header;
    Signup: click_id_in_the_cookie;
    Signup: click_id_in_the_legacy_cookie;
    Signup: click_id_in_a_json_body;
    Signup: click_id_in_a_form_body;
    Signup: no_click_id;
    Signup: header_wins_over_cookie_and_body;
    Signup: invalid_values_are_ignored;
    Signup: an_oversized_body_reaches_the_handler_whole;
    Signup: a_chunked_body_reaches_the_handler_whole;
    Signup: a_bad_signup_is_refused_and_not_tracked;
    Signup: signup_does_not_wait_for_a_slow_api;
    Signup: signup_succeeds_while_the_api_is_down;
    Checkout: checkout_carries_the_affitor_metadata;
    Checkout: an_unknown_user_cannot_check_out;
    Checkout: a_payment_is_tracked_as_an_attributed_sale;
    Checkout: a_redelivered_payment_is_recorded_once;
    Checkout: a_refund_reverses_the_commission;
    Checkout: the_webhook_answers_503_while_the_api_is_down_then_200;
    Checkout: the_webhook_answers_503_while_the_key_is_refused_then_200;
    Checkout: a_payment_that_cannot_be_tracked_is_kept_by_the_provider;
    Checkout: a_stripe_sale_is_recorded_once_however_often_it_is_delivered;
    Checkout: a_stripe_refund_reverses_the_commission;
    Checkout: a_polar_order_and_its_refund;
    Checkout: every_provider_sale_and_refund_reach_the_api_once;
    Checkout: a_forged_stale_or_broken_webhook_is_refused_and_nothing_is_sent;
    Checkout: a_webhook_with_nothing_to_track_is_acknowledged;
    Checkout: a_webhook_is_redelivered_while_the_api_fails_and_recorded_once;
    Checkout: a_user_id_cannot_be_guessed;
}

/// Without their secrets, and away from the stand-in, the checkout apps mount no webhook: not
/// the providers' (a verifier on a secret anyone can read would take forged sales), and not
/// the unsigned demo route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_without_its_secret_is_not_mounted() {
    let none = example_support::PaymentWebhooks::default();
    for app in apps(Kind::Checkout) {
        let running = app.start_with_webhooks(none.clone()).await;
        for provider in PaymentProvider::ALL {
            let event = sample::sale(provider, "key_u1", 4900, "user_x", None);
            let path = format!("/webhooks/{provider}");
            let answer = running
                .post_signed(&path, &provider.demo_signed(event.to_string()))
                .await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}: {path}", app.name);
        }
        let payment = json!({"type": "payment.succeeded",
            "data": {"userId": "user_x", "amountCents": 4999, "invoiceId": "in_u1"}});
        let answer = running.post_json("/webhooks/payment", &payment, &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", app.name);
        assert!(running.mock.requests().is_empty(), "{}", app.name);
    }
}

mod scenario {
    use super::*;

    pub(super) async fn signup_page_is_served(app: &Running) {
        let answer = app.get("/").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", app.app.name);
        assert!(answer.text.contains("affitor_click_id"), "{}", app.app.name);
        assert!(answer.text.contains("affitorClickId"), "{}", app.app.name);
    }

    /// Asserts that `lead` is the lead of `user_id`, carrying `click_id`, or no click id.
    fn assert_lead(app: &Running, lead: &Value, user_id: &str, click_id: Option<&str>) {
        let name = app.app.name;
        assert_eq!(lead["customer_key"], user_id, "{name}: {lead}");
        match click_id {
            Some(click_id) => assert_eq!(lead["click_id"], click_id, "{name}: {lead}"),
            None => assert!(lead.get("click_id").is_none(), "{name}: {lead}"),
        }
    }

    /// Signs up with the click id sent one way, and checks the lead carries it.
    async fn lead_carries(app: &Running, click_id: &str, extra: Value, headers: &[(&str, &str)]) {
        let user_id = app.signup("ada@example.com", &extra, headers).await;
        let leads = app.leads_received(1).await;
        assert_lead(app, &leads[0], &user_id, Some(click_id));
        assert_eq!(leads[0]["email"], "ada@example.com", "{}", app.app.name);
    }

    pub(super) async fn click_id_in_the_header(app: &Running) {
        let click_id = app.mock.click("partner");
        let header = [("x-affitor-click-id", click_id.as_str())];
        lead_carries(app, click_id.as_str(), json!({}), &header).await;
        // The click id was known to the API: the lead is attributed.
        wait_until(app.app.name, "a tracked lead", || {
            (app.mock.leads().len() == 1).then_some(())
        })
        .await;
    }

    pub(super) async fn click_id_in_the_cookie(app: &Running) {
        let click_id = app.mock.click("partner");
        let cookie = format!("theme=dark; affitor_click_id={click_id}");
        lead_carries(app, click_id.as_str(), json!({}), &[("cookie", &cookie)]).await;
    }

    pub(super) async fn click_id_in_the_legacy_cookie(app: &Running) {
        let click_id = app.mock.click("partner");
        let cookie = format!("customer_code={click_id}");
        lead_carries(app, click_id.as_str(), json!({}), &[("cookie", &cookie)]).await;
    }

    pub(super) async fn click_id_in_a_json_body(app: &Running) {
        let click_id = app.mock.click("partner");
        let extra = json!({ "affitorClickId": click_id.as_str() });
        lead_carries(app, click_id.as_str(), extra, &[]).await;
    }

    pub(super) async fn click_id_in_a_form_body(app: &Running) {
        let click_id = app.mock.click("partner");
        let form =
            format!("email=ada%40example.com&password=correct+horse&affitor_click_id={click_id}");
        let answer = app.post_form("/api/signup", &form, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}: {}",
            app.app.name,
            answer.text
        );
        let user_id = user_id(&answer);
        let leads = app.leads_received(1).await;
        assert_lead(app, &leads[0], &user_id, Some(click_id.as_str()));
        assert_eq!(leads[0]["email"], "ada@example.com", "{}", app.app.name);
    }

    pub(super) async fn no_click_id(app: &Running) {
        let user_id = app.signup("ada@example.com", &json!({}), &[]).await;
        let leads = app.leads_received(1).await;
        assert_lead(app, &leads[0], &user_id, None);
    }

    pub(super) async fn header_wins_over_cookie_and_body(app: &Running) {
        let header = app.mock.click("partner");
        let cookie = app.mock.click("partner");
        let body = app.mock.click("partner");
        let cookie = format!("affitor_click_id={cookie}");
        let headers = [
            ("x-affitor-click-id", header.as_str()),
            ("cookie", cookie.as_str()),
        ];
        let extra = json!({ "affitorClickId": body.as_str() });
        lead_carries(app, header.as_str(), extra, &headers).await;
    }

    pub(super) async fn invalid_values_are_ignored(app: &Running) {
        // An invalid header and cookie are passed over; the valid body field wins.
        let click_id = app.mock.click("partner");
        let long = "a".repeat(129);
        let headers = [
            ("x-affitor-click-id", long.as_str()),
            (
                "cookie",
                "affitor_click_id=\"a b\"; customer_code=%3Cscript%3E",
            ),
        ];
        let extra = json!({ "affitorClickId": click_id.as_str() });
        lead_carries(app, click_id.as_str(), extra, &headers).await;

        // With only invalid values, the signup goes on without a click id.
        let extra = json!({ "affitorClickId": "x\r\nSet-Cookie: a=b" });
        let user_id = app.signup("bob@example.com", &extra, &headers).await;
        let leads = app.leads_received(2).await;
        assert_lead(app, &leads[1], &user_id, None);
    }

    pub(super) async fn an_oversized_body_reaches_the_handler_whole(app: &Running) {
        // Past the 64 KiB limit the body is not searched, but the handler reads all of it.
        let click_id = app.mock.click("partner");
        let extra =
            json!({ "affitorClickId": click_id.as_str(), "padding": "p".repeat(100 * 1024) });
        let user_id = app.signup("ada@example.com", &extra, &[]).await;
        let leads = app.leads_received(1).await;
        assert_lead(app, &leads[0], &user_id, None);
        assert_eq!(leads[0]["email"], "ada@example.com", "{}", app.app.name);

        // The cookie is still read, whatever the body's size.
        let cookie = format!("affitor_click_id={click_id}");
        let user_id = app
            .signup("bob@example.com", &extra, &[("cookie", &cookie)])
            .await;
        let leads = app.leads_received(2).await;
        assert_lead(app, &leads[1], &user_id, Some(click_id.as_str()));
    }

    pub(super) async fn a_chunked_body_reaches_the_handler_whole(app: &Running) {
        let click_id = app.mock.click("partner");
        let body = format!(
            r#"{{"email":"ada@example.com","password":"correct horse","affitorClickId":"{click_id}"}}"#
        );
        let bytes = body.as_bytes();
        // Frames of 1, 7, 3, 16 bytes and the rest, splitting keys and values.
        let cuts = [1, 8, 11, 27];
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(&bytes[start..cut]);
            start = cut;
        }
        chunks.push(&bytes[start..]);
        let answer = app
            .post_chunked("/api/signup", "application/json", &chunks)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}: {}",
            app.app.name,
            answer.text
        );
        let user_id = user_id(&answer);
        let leads = app.leads_received(1).await;
        assert_lead(app, &leads[0], &user_id, Some(click_id.as_str()));
    }

    pub(super) async fn a_bad_signup_is_refused_and_not_tracked(app: &Running) {
        let body = json!({ "email": "not-an-email", "password": "correct horse" });
        let answer = app.post_json("/api/signup", &body, &[]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", app.app.name);
        assert!(
            answer.json["error"].is_string(),
            "{}: {}",
            app.app.name,
            answer.text
        );

        let answer = app
            .post_json("/api/signup", &json!({ "email": 1 }), &[])
            .await;
        assert!(
            answer.status.is_client_error(),
            "{}: {}",
            app.app.name,
            answer.status
        );

        app.signup("ada@example.com", &json!({}), &[]).await;
        let body = json!({ "email": "ADA@example.com", "password": "correct horse" });
        let answer = app.post_json("/api/signup", &body, &[]).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", app.app.name);

        // Only the one good signup was tracked.
        app.leads_received(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            app.mock.requests_to(Endpoint::Lead).len(),
            1,
            "{}",
            app.app.name
        );
    }

    pub(super) async fn signup_does_not_wait_for_a_slow_api(app: &Running) {
        // The stand-in records the lead at once but answers it only after 5 s.
        app.mock
            .inject(Fault::delay(Duration::from_secs(5)).always());
        let click_id = app.mock.click("partner");
        let extra = json!({ "affitorClickId": click_id.as_str() });
        app.signup("ada@example.com", &extra, &[]).await;
        // The signup has answered, and the API has not: the lead is still being delivered.
        assert_eq!(
            app.affitor.delivery_stats().delivered,
            0,
            "{}",
            app.app.name
        );
        let leads = app.leads_received(1).await;
        assert_eq!(leads[0]["click_id"], click_id.as_str(), "{}", app.app.name);
        assert_eq!(
            app.affitor.delivery_stats().delivered,
            0,
            "{}",
            app.app.name
        );
    }

    pub(super) async fn signup_succeeds_while_the_api_is_down(app: &Running) {
        app.mock.inject(Fault::status(500).always());
        let answer = app
            .post_json(
                "/api/signup",
                &json!({ "email": "ada@example.com", "password": "correct horse" }),
                &[],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}: {}",
            app.app.name,
            answer.text
        );
        user_id(&answer);
    }

    /// Signs up through a partner's click, and waits for the lead to be recorded.
    async fn referred_user(app: &Running) -> (String, String) {
        let click_id = app.mock.click("partner");
        let cookie = format!("affitor_click_id={click_id}");
        let user_id = app
            .signup("ada@example.com", &json!({}), &[("cookie", &cookie)])
            .await;
        wait_until(app.app.name, "the recorded lead", || {
            (app.mock.leads().len() == 1).then_some(())
        })
        .await;
        (user_id, click_id.into_string())
    }

    fn payment(kind: &str, user_id: &str, invoice_id: &str) -> Value {
        json!({
            "type": kind,
            "data": { "userId": user_id, "amountCents": 4999, "invoiceId": invoice_id, "currency": "usd" },
        })
    }

    /// Posts `event` to the payment webhook, as the payment provider does, and checks the
    /// status it answers.
    async fn deliver(app: &Running, event: &Value, expected: StatusCode) {
        let answer = app.post_json("/webhooks/payment", event, &[]).await;
        assert_eq!(answer.status, expected, "{}: {}", app.app.name, answer.text);
    }

    pub(super) async fn checkout_carries_the_affitor_metadata(app: &Running) {
        let (user_id, click_id) = referred_user(app).await;
        let body = json!({ "userId": user_id, "priceId": "price_team_annual" });
        let answer = app.post_json("/api/checkout", &body, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}: {}",
            app.app.name,
            answer.text
        );
        let expected = json!({
            "affitor_click_id": click_id,
            "affitor_customer_key": user_id,
            "program_id": app.mock.program_id().to_string(),
        });
        assert_eq!(answer.json["metadata"], expected, "{}", app.app.name);
        assert_eq!(
            answer.json["subscription_data"]["metadata"], expected,
            "{}",
            app.app.name
        );
        assert_eq!(
            answer.json["line_items"][0]["price"], "price_team_annual",
            "{}",
            app.app.name
        );
        assert_eq!(answer.json["client_reference_id"], json!(user_id));

        // The other providers' checkouts carry the same keys where each reads them back.
        let keys = json!({ "affitor_click_id": click_id, "affitor_customer_key": user_id });
        for (provider, pointer) in [
            ("polar", "/metadata"),
            ("paddle", "/custom_data"),
            ("lemonsqueezy", "/checkout_data/custom"),
        ] {
            let body = json!({ "userId": user_id, "provider": provider });
            let answer = app.post_json("/api/checkout", &body, &[]).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{}: {provider}",
                app.app.name
            );
            assert_eq!(
                answer.json.pointer(pointer),
                Some(&keys),
                "{}: {provider}",
                app.app.name
            );
        }
        let body = json!({ "userId": user_id, "provider": "paypal" });
        let answer = app.post_json("/api/checkout", &body, &[]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", app.app.name);
    }

    /// A checkout answers the user's email and click id: no one gets another user's by trying
    /// the ids next to their own.
    pub(super) async fn a_user_id_cannot_be_guessed(app: &Running) {
        let first = app.signup("ada@example.com", &json!({}), &[]).await;
        let second = app.signup("grace@example.com", &json!({}), &[]).await;
        for id in [&first, &second] {
            let random = id.strip_prefix("user_").unwrap_or_default();
            assert!(
                random.len() == 24 && random.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: {id}",
                app.app.name
            );
        }
        assert_ne!(first, second, "{}", app.app.name);
        for guess in ["user_1", "user_2", "user_0", "1"] {
            let answer = app
                .post_json("/api/checkout", &json!({ "userId": guess }), &[])
                .await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{}: {guess}",
                app.app.name
            );
            assert!(!answer.text.contains("example.com"), "{}", app.app.name);
        }
    }

    pub(super) async fn an_unknown_user_cannot_check_out(app: &Running) {
        let answer = app
            .post_json("/api/checkout", &json!({ "userId": "nobody" }), &[])
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", app.app.name);
        assert!(
            answer.json["error"].is_string(),
            "{}: {}",
            app.app.name,
            answer.text
        );
    }

    pub(super) async fn a_payment_is_tracked_as_an_attributed_sale(app: &Running) {
        let (user_id, _) = referred_user(app).await;
        let event = payment("payment.succeeded", &user_id, "in_1");
        deliver(app, &event, StatusCode::OK).await;
        let sales = app.mock.sales();
        assert_eq!(sales.len(), 1, "{}", app.app.name);
        assert_eq!(sales[0].transaction_id, "in_1", "{}", app.app.name);
        assert_eq!(sales[0].amount_cents, 4999, "{}", app.app.name);
        assert_eq!(sales[0].currency, "USD", "{}", app.app.name);
        assert!(
            sales[0].commission_id.is_some(),
            "{}: {:?}",
            app.app.name,
            sales[0]
        );
    }

    pub(super) async fn a_redelivered_payment_is_recorded_once(app: &Running) {
        let (user_id, _) = referred_user(app).await;
        let event = payment("payment.succeeded", &user_id, "in_2");
        for _ in 0..3 {
            deliver(app, &event, StatusCode::OK).await;
        }
        assert_eq!(
            app.mock.requests_to(Endpoint::Sale).len(),
            3,
            "{}",
            app.app.name
        );
        assert_eq!(app.mock.sales().len(), 1, "{}", app.app.name);
    }

    pub(super) async fn a_refund_reverses_the_commission(app: &Running) {
        let (user_id, _) = referred_user(app).await;
        let sale = payment("payment.succeeded", &user_id, "in_3");
        deliver(app, &sale, StatusCode::OK).await;
        let refund = payment("payment.refunded", &user_id, "in_3");
        for _ in 0..2 {
            deliver(app, &refund, StatusCode::OK).await;
        }
        let refunds = app.mock.refunds();
        assert_eq!(refunds.len(), 2, "{}: {refunds:?}", app.app.name);
        assert_eq!(refunds[0].transaction_id, "in_3", "{}", app.app.name);
        assert!(app.mock.sales()[0].refunded, "{}", app.app.name);
    }

    pub(super) async fn the_webhook_answers_503_while_the_api_is_down_then_200(app: &Running) {
        webhook_redelivered_after(app, Fault::status(500), "in_4").await;
    }

    pub(super) async fn the_webhook_answers_503_while_the_key_is_refused_then_200(app: &Running) {
        // A regenerated key invalidates the old one at once: until the new one is deployed,
        // the payment must stay with the provider, not be acknowledged and lost.
        let refused = Fault::response(401, json!({ "error": "Invalid API token" }));
        webhook_redelivered_after(app, refused, "in_6").await;
    }

    /// While `fault` answers every call the webhook asks for redelivery (503); once it is
    /// cleared, the redelivered payment is recorded, once.
    async fn webhook_redelivered_after(app: &Running, fault: Fault, invoice_id: &str) {
        let (user_id, _) = referred_user(app).await;
        let event = payment("payment.succeeded", &user_id, invoice_id);
        app.mock.inject(fault.always());
        deliver(app, &event, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(app.mock.sales().is_empty(), "{}", app.app.name);

        app.mock.clear_faults();
        for _ in 0..2 {
            deliver(app, &event, StatusCode::OK).await;
        }
        assert_eq!(app.mock.sales().len(), 1, "{}", app.app.name);
    }

    pub(super) async fn a_payment_that_cannot_be_tracked_is_kept_by_the_provider(app: &Running) {
        // A payment of 0 has nothing to track: acknowledged, nothing sent.
        let mut event = payment("payment.succeeded", "user_1", "in_5");
        event["data"]["amountCents"] = json!(0);
        deliver(app, &event, StatusCode::OK).await;
        // An amount in no currency it can name is not sent (the API would take it for USD),
        // and not acknowledged either: the provider keeps it until the app is mended.
        event["data"]["amountCents"] = json!(100);
        event["data"]["currency"] = json!("dollars");
        deliver(app, &event, StatusCode::INTERNAL_SERVER_ERROR).await;
        assert!(
            app.mock.requests_to(Endpoint::Sale).is_empty(),
            "{}",
            app.app.name
        );

        // A malformed event is the provider's bug: a 4xx says so.
        let answer = app
            .post_json("/webhooks/payment", &json!({ "type": "nope" }), &[])
            .await;
        assert!(
            answer.status.is_client_error(),
            "{}: {}",
            app.app.name,
            answer.status
        );
    }

    /// `event` signed with the app's demo secret of `provider`, now.
    fn signed(provider: PaymentProvider, event: &Value) -> SignedWebhook {
        provider.demo_signed(event.to_string())
    }

    pub(super) async fn every_provider_sale_and_refund_reach_the_api_once(app: &Running) {
        let name = app.app.name;
        let (user_id, click_id) = referred_user(app).await;
        for provider in PaymentProvider::ALL {
            let key = format!("{provider}_sale_1");
            let sale = sample::sale(provider, &key, 2500, &user_id, Some(&click_id));
            for _ in 0..2 {
                deliver_signed(app, provider, &signed(provider, &sale), StatusCode::OK).await;
            }
            let refund = sample::refund(provider, &key, 2500, 1000);
            deliver_signed(app, provider, &signed(provider, &refund), StatusCode::OK).await;

            let transaction_id = sample::transaction_id(provider, &key);
            let sales: Vec<_> = app
                .mock
                .sales()
                .into_iter()
                .filter(|sale| sale.transaction_id == transaction_id)
                .collect();
            assert_eq!(sales.len(), 1, "{name}: {provider}: {sales:?}");
            assert_eq!(sales[0].amount_cents, 2500, "{name}: {provider}");
            assert_eq!(
                sales[0].customer_key.as_deref(),
                Some(user_id.as_str()),
                "{name}: {provider}"
            );
            assert_eq!(
                sales[0].partner_code.as_deref(),
                Some("partner"),
                "{name}: {provider}"
            );
            let refunds: Vec<_> = app
                .mock
                .refunds()
                .into_iter()
                .filter(|refund| refund.transaction_id == transaction_id)
                .collect();
            assert_eq!(refunds.len(), 1, "{name}: {provider}: {refunds:?}");
            assert_eq!(
                refunds[0].refund_amount_cents,
                Some(1000),
                "{name}: {provider}"
            );
            assert_eq!(
                refunds[0].status,
                RefundStatus::Refunded,
                "{name}: {provider}"
            );
        }
    }

    /// Posts `signed` to the provider's webhook and checks the status it answers.
    async fn deliver_signed(
        app: &Running,
        provider: PaymentProvider,
        signed: &SignedWebhook,
        expected: StatusCode,
    ) {
        let answer = app
            .post_signed(&format!("/webhooks/{provider}"), signed)
            .await;
        assert_eq!(
            answer.status, expected,
            "{}: {provider}: {}",
            app.app.name, answer.text
        );
    }

    pub(super) async fn a_stripe_sale_is_recorded_once_however_often_it_is_delivered(
        app: &Running,
    ) {
        let (user_id, click_id) = referred_user(app).await;
        let event = sample::stripe_checkout_completed("pi_s1", 4900, &user_id, Some(&click_id));
        let delivery = signed(PaymentProvider::Stripe, &event);
        for _ in 0..3 {
            deliver_signed(app, PaymentProvider::Stripe, &delivery, StatusCode::OK).await;
        }
        // The provider signs each redelivery anew: the same event still records one sale.
        deliver_signed(
            app,
            PaymentProvider::Stripe,
            &signed(PaymentProvider::Stripe, &event),
            StatusCode::OK,
        )
        .await;
        let name = app.app.name;
        assert_eq!(app.mock.requests_to(Endpoint::Sale).len(), 4, "{name}");
        let sales = app.mock.sales();
        assert_eq!(sales.len(), 1, "{name}");
        assert_eq!(sales[0].transaction_id, "pi_s1", "{name}");
        assert_eq!(sales[0].amount_cents, 4900, "{name}");
        assert_eq!(
            sales[0].customer_key.as_deref(),
            Some(user_id.as_str()),
            "{name}"
        );
        assert_eq!(sales[0].partner_code.as_deref(), Some("partner"), "{name}");
    }

    pub(super) async fn a_stripe_refund_reverses_the_commission(app: &Running) {
        let (user_id, click_id) = referred_user(app).await;
        let sale = sample::stripe_checkout_completed("pi_s2", 4900, &user_id, Some(&click_id));
        deliver_signed(
            app,
            PaymentProvider::Stripe,
            &signed(PaymentProvider::Stripe, &sale),
            StatusCode::OK,
        )
        .await;
        let refund = sample::stripe_charge_refunded("pi_s2", 4900, 4900);
        for _ in 0..2 {
            deliver_signed(
                app,
                PaymentProvider::Stripe,
                &signed(PaymentProvider::Stripe, &refund),
                StatusCode::OK,
            )
            .await;
        }
        let name = app.app.name;
        let refunds = app.mock.refunds();
        assert_eq!(refunds.len(), 2, "{name}: {refunds:?}");
        assert_eq!(refunds[0].transaction_id, "pi_s2", "{name}");
        assert_eq!(refunds[0].status, RefundStatus::Reversed, "{name}");
        assert_eq!(
            refunds[1].status,
            RefundStatus::Skipped,
            "{name}: a redelivery"
        );
        assert!(app.mock.sales()[0].refunded, "{name}");
    }

    pub(super) async fn a_polar_order_and_its_refund(app: &Running) {
        let (user_id, click_id) = referred_user(app).await;
        let paid =
            sample::polar_order("order.paid", "order_p1", 1900, 0, &user_id, Some(&click_id));
        deliver_signed(
            app,
            PaymentProvider::Polar,
            &signed(PaymentProvider::Polar, &paid),
            StatusCode::OK,
        )
        .await;
        let refunded = sample::polar_order(
            "order.refunded",
            "order_p1",
            1900,
            500,
            &user_id,
            Some(&click_id),
        );
        deliver_signed(
            app,
            PaymentProvider::Polar,
            &signed(PaymentProvider::Polar, &refunded),
            StatusCode::OK,
        )
        .await;
        let name = app.app.name;
        let sales = app.mock.sales();
        assert_eq!(sales.len(), 1, "{name}");
        assert_eq!(sales[0].transaction_id, "order_p1", "{name}");
        let refunds = app.mock.refunds();
        assert_eq!(refunds[0].status, RefundStatus::Refunded, "{name}");
        assert_eq!(refunds[0].refund_amount_cents, Some(500), "{name}");
    }

    pub(super) async fn a_forged_stale_or_broken_webhook_is_refused_and_nothing_is_sent(
        app: &Running,
    ) {
        let name = app.app.name;
        let event = sample::stripe_checkout_completed("pi_s3", 4900, "user_1", None);
        let body = event.to_string();
        let secret = PaymentProvider::Stripe.demo_secret();
        let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        let valid = SignedWebhook::stripe(secret, body.clone());
        let cases = [
            (
                "a wrong secret",
                SignedWebhook::stripe("whsec_not_the_apps", body.clone()),
                400,
            ),
            (
                "an expired signature",
                SignedWebhook::stripe_at(secret, body.clone(), an_hour_ago),
                400,
            ),
            ("not JSON", SignedWebhook::stripe(secret, "not json"), 400),
            (
                "not an event",
                SignedWebhook::stripe(secret, "{\"hello\":1}"),
                400,
            ),
            (
                "over the limit",
                SignedWebhook::stripe(secret, format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20))),
                413,
            ),
            (
                "Polar's headers on Stripe's route",
                SignedWebhook::polar(PaymentProvider::Polar.demo_secret(), body.clone()),
                400,
            ),
        ];
        for (case, signed, status) in cases {
            let answer = app.post_signed("/webhooks/stripe", &signed).await;
            assert_eq!(
                answer.status.as_u16(),
                status,
                "{name}: {case}: {}",
                answer.text
            );
            assert!(!answer.text.contains(secret), "{name}: {case}");
        }
        // A missing signature, and a tampered body.
        let answer = app.post_json("/webhooks/stripe", &event, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            answer.text
        );
        let signature = valid.header("stripe-signature").unwrap_or_default();
        let tampered = body.replace("4900", "4901");
        let answer = app
            .post_form(
                "/webhooks/stripe",
                &tampered,
                &[
                    ("stripe-signature", signature),
                    ("content-type", "application/json"),
                ],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            answer.text
        );
        assert!(
            app.mock.requests().is_empty(),
            "{name}: {:?}",
            app.mock.requests()
        );
    }

    pub(super) async fn a_webhook_with_nothing_to_track_is_acknowledged(app: &Running) {
        let name = app.app.name;
        let other = json!({"id": "evt_other", "type": "customer.created", "data": {"object": {}}});
        let free = sample::stripe_checkout_completed("pi_s4", 0, "user_1", None);
        for event in [other, free] {
            deliver_signed(
                app,
                PaymentProvider::Stripe,
                &signed(PaymentProvider::Stripe, &event),
                StatusCode::OK,
            )
            .await;
        }
        assert!(
            app.mock.requests().is_empty(),
            "{name}: {:?}",
            app.mock.requests()
        );
        // The refund of a sale Affitor does not know: while it is new, the sale may still be on
        // its way (the provider is asked to deliver it again); a day later, it never will.
        let mut refund = sample::stripe_charge_refunded("pi_never_sold", 4900, 4900);
        deliver_signed(
            app,
            PaymentProvider::Stripe,
            &signed(PaymentProvider::Stripe, &refund),
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        let two_days = 2 * 24 * 3600;
        refund["created"] = json!(refund["created"].as_u64().unwrap_or_default() - two_days);
        deliver_signed(
            app,
            PaymentProvider::Stripe,
            &signed(PaymentProvider::Stripe, &refund),
            StatusCode::OK,
        )
        .await;
        assert!(app.mock.refunds().is_empty(), "{name}");
    }

    pub(super) async fn a_webhook_is_redelivered_while_the_api_fails_and_recorded_once(
        app: &Running,
    ) {
        let (user_id, click_id) = referred_user(app).await;
        let event = sample::stripe_checkout_completed("pi_s5", 4900, &user_id, Some(&click_id));
        // Every attempt of the first two deliveries fails: the provider is asked to redeliver.
        app.mock.inject(Fault::status(503).always());
        for _ in 0..2 {
            deliver_signed(
                app,
                PaymentProvider::Stripe,
                &signed(PaymentProvider::Stripe, &event),
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await;
        }
        assert!(app.mock.sales().is_empty(), "{}", app.app.name);
        app.mock.clear_faults();
        for _ in 0..2 {
            deliver_signed(
                app,
                PaymentProvider::Stripe,
                &signed(PaymentProvider::Stripe, &event),
                StatusCode::OK,
            )
            .await;
        }
        assert_eq!(app.mock.sales().len(), 1, "{}", app.app.name);
    }
}
