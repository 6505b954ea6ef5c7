//! The scenario suite: every scenario runs against every example app that offers its routes,
//! each app on a real port, against its own local Affitor API stand-in.
//!
//! A scenario is an async fn over a [`Running`](affitor_scenarios::Running) app, in the room of
//! what it drives: `signup` (the click id and the lead), `checkout` (a checkout and its payment
//! through the demo webhook), `providers` (the providers' own signed webhooks), `server` (the
//! Prometheus page's own address, and an answer to every request, however stalled). The `scenarios!`
//! table below turns each row into one test that runs it against every app of its kind, so a
//! framework difference shows as a failure that names the app.

use affitor_scenarios::{Kind, apps};
use example_support::{PaymentProvider, sample};
use reqwest::StatusCode;
use serde_json::json;

mod checkout;
mod providers;
mod server;
mod signup;

macro_rules! scenarios {
    ($($kind:ident: $room:ident::$scenario:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                for app in apps(Kind::$kind) {
                    let running = app.start().await;
                    $room::$scenario(&running).await;
                }
            }
        )*
    };
}

scenarios! {
    Signup: signup::signup_page_is_served;
    Signup: signup::click_id_in_the_header;
    Signup: signup::click_id_in_the_cookie;
    Signup: signup::click_id_in_the_legacy_cookie;
    Signup: signup::click_id_in_a_json_body;
    Signup: signup::click_id_in_a_form_body;
    Signup: signup::no_click_id;
    Signup: signup::header_wins_over_cookie_and_body;
    Signup: signup::invalid_values_are_ignored;
    Signup: signup::an_oversized_body_reaches_the_handler_whole;
    Signup: signup::a_chunked_body_reaches_the_handler_whole;
    Signup: signup::a_bad_signup_is_refused_and_not_tracked;
    Signup: signup::signup_does_not_wait_for_a_slow_api;
    Signup: signup::signup_succeeds_while_the_api_is_down;
    Checkout: checkout::checkout_carries_the_affitor_metadata;
    Checkout: checkout::an_unknown_user_cannot_check_out;
    Checkout: checkout::a_payment_is_tracked_as_an_attributed_sale;
    Checkout: checkout::a_redelivered_payment_is_recorded_once;
    Checkout: checkout::a_refund_reverses_the_commission;
    Checkout: checkout::the_webhook_answers_503_while_the_api_is_down_then_200;
    Checkout: checkout::the_webhook_answers_503_while_the_key_is_refused_then_200;
    Checkout: checkout::a_payment_that_cannot_be_tracked_is_kept_by_the_provider;
    Checkout: providers::a_stripe_sale_is_recorded_once_however_often_it_is_delivered;
    Checkout: providers::a_stripe_refund_reverses_the_commission;
    Checkout: providers::a_polar_order_and_its_refund;
    Checkout: providers::every_provider_sale_and_refund_reach_the_api_once;
    Checkout: providers::a_forged_stale_or_broken_webhook_is_refused_and_nothing_is_sent;
    Checkout: providers::a_webhook_with_nothing_to_track_is_acknowledged;
    Checkout: providers::a_webhook_is_redelivered_while_the_api_fails_and_recorded_once;
    Checkout: checkout::a_user_id_cannot_be_guessed;
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
