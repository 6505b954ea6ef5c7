//! The secrets never appear in `Debug` output, errors or logs.

use super::*;

#[test]
fn not_in_debug_output() {
    let stripe = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .secret("whsec_the_second_one")
        .build()
        .unwrap();
    let polar = Verifier::<Polar>::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let builder = Verifier::<Polar>::builder().secret(POLAR_SECRET);
    let shown = format!("{stripe:?} {polar:?} {builder:?}");
    for secret in [
        STRIPE_SECRET,
        "whsec_the_second_one",
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

/// `LEMONSQUEEZY_WEBHOOK_SECRET="my shop 2024"` is one secret, chosen in Lemon Squeezy's
/// dashboard, spaces included: the deliveries it signs are accepted, and a forgery signed with a
/// word of it (`my`, which a split made a key of) is refused.
#[test]
fn a_lemon_squeezy_secret_with_spaces_is_one_secret() {
    use affitor::webhook::{LemonSqueezy, Provider};

    const PHRASE: &str = "my shop 2024";
    // The variable is set for a child process of this binary that runs this test alone:
    // setting it here would race the tests on other threads.
    if std::env::var(LemonSqueezy::SECRET_VARIABLE).as_deref() != Ok(PHRASE) {
        let test = "secrets::a_lemon_squeezy_secret_with_spaces_is_one_secret";
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--test-threads=1"])
            .env(LemonSqueezy::SECRET_VARIABLE, PHRASE)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("test result: ok. 1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let lemon_squeezy = Verifier::<LemonSqueezy>::from_env().unwrap();
    assert!(format!("{lemon_squeezy:?}").contains("secrets: 1"));
    let body = fixture("lemonsqueezy/order_created.json");
    let real = SignedWebhook::lemon_squeezy(PHRASE, body.clone());
    assert!(lemon_squeezy.verify(real.headers(), real.body()).is_ok());
    for word in ["my", "shop", "2024"] {
        let forged = SignedWebhook::lemon_squeezy(word, body.clone());
        let error = lemon_squeezy
            .verify(forged.headers(), forged.body())
            .unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch, "{word}");
    }
}

/// A Stripe rotation in the variable, `new,old`, still accepts what either signed.
#[test]
fn a_rotation_of_issued_secrets_is_split() {
    use affitor::webhook::Provider;

    let (new, old) = (
        "whsec_0123456789abcdefABCDEF0123",
        "whsec_3210FEDCBAfedcba9876543210",
    );
    let value = format!("{new}, {old}\n");
    let secrets = Stripe::split_secrets(&value);
    assert_eq!(secrets, [new, old]);
    let mut builder = Verifier::<Stripe>::builder();
    for secret in secrets {
        builder = builder.secret(secret);
    }
    let stripe = builder.build().unwrap();
    let body = fixture("stripe/checkout.session.completed.payment.json");
    for secret in [new, old] {
        let signed = SignedWebhook::stripe(secret, body.clone());
        assert!(stripe.verify(signed.headers(), signed.body()).is_ok());
    }
}

/// A secret that is its provider's prefix and little more, or a placeholder such as
/// `whsec_...`, is refused when the verifier is built: anyone could sign sales with it.
/// Counted after the prefix, a real one passes.
#[test]
fn a_prefix_alone_or_a_placeholder_is_refused() {
    fn refused<P: affitor::webhook::Provider>(secret: &str, says: &str) {
        let error = Verifier::<P>::new(secret).expect_err(secret);
        assert_eq!(error.kind(), WebhookErrorKind::InvalidSecret, "{secret}");
        assert!(error.to_string().contains(says), "{secret}: {error}");
        let hidden = secret.rsplit('_').next().unwrap_or_default();
        assert!(
            hidden.is_empty() || !error.to_string().contains(hidden),
            "{error}"
        );
    }
    for secret in ["whsec_", "whsec_xxx", "whsec_0123456789a"] {
        refused::<Stripe>(secret, "after `whsec_`");
    }
    refused::<Stripe>("whsec_...0123456789abcdef", "placeholder");
    for secret in ["polar_whs_", "polar_whs_abc", "whsec_QQ=="] {
        refused::<Polar>(secret, "after `");
    }
    for secret in ["pdl_ntfset_", "pdl_ntfset_01h8short"] {
        refused::<affitor::webhook::Paddle>(secret, "after `pdl_ntfset_`");
    }
    Verifier::<Stripe>::new("whsec_0123456789abcdefABCDEF0123456789").unwrap();
    Verifier::<Polar>::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    Verifier::<affitor::webhook::Paddle>::new(
        "pdl_ntfset_01h8bkrhyz5z3dxzw4hxxd9y7a_0123456789abcdef",
    )
    .unwrap();
}
