//! The secrets never appear in `Debug` output, errors or logs.

use super::*;

#[test]
fn not_in_debug_output() {
    let stripe = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .secret("whsec_second_one")
        .build()
        .unwrap();
    let polar = Verifier::<Polar>::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let builder = Verifier::<Polar>::builder().secret(POLAR_SECRET);
    let shown = format!("{stripe:?} {polar:?} {builder:?}");
    for secret in [
        STRIPE_SECRET,
        "whsec_second_one",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        POLAR_SECRET,
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("secrets: 2"), "{shown}");
}

#[tokio::test(flavor = "current_thread")]
async fn not_in_errors_or_logs() {
    if !test_support::alone!() {
        return;
    }
    let (captured, _guard) = test_support::Logs::capture("trace");

    let mock = MockServer::start().await.unwrap();
    let client = mock.client();
    let body = fixture("stripe/checkout.session.completed.payment.json");
    let mut shown = String::new();
    for signed in [
        SignedWebhook::stripe(STRIPE_SECRET, body.clone()),
        SignedWebhook::stripe("whsec_someone_else", body.clone()),
        SignedWebhook::stripe_at(STRIPE_SECRET, body.clone(), at(SIGNED_AT)),
    ] {
        let tracked = stripe()
            .track(&client, signed.headers(), signed.body())
            .await;
        shown.push_str(&format!("{tracked:?}"));
    }
    let signed = SignedWebhook::polar(POLAR_SECRET, fixture("polar/order.paid.json"));
    shown.push_str(&format!(
        "{:?}",
        polar()
            .track(&client, signed.headers(), signed.body())
            .await
    ));

    let logs = captured.text();
    assert!(
        logs.contains("webhook"),
        "the deliveries were logged: {logs}"
    );
    for secret in [STRIPE_SECRET, POLAR_SECRET] {
        assert!(!logs.contains(secret), "{logs}");
        assert!(!shown.contains(secret), "{shown}");
    }
}
