//! Every delivery refused before anything reaches Affitor, and its answer.

use super::*;

fn body() -> String {
    fixture("stripe/checkout.session.completed.payment.json")
}

fn stripe_error(headers: &[(&str, &str)], body: &str, now: SystemTime) -> WebhookErrorKind {
    let error = stripe()
        .verify_at(headers.iter().copied(), body, now)
        .unwrap_err();
    assert!(!error.to_string().contains(STRIPE_SECRET), "{error}");
    error.kind()
}

#[test]
fn a_missing_signature() {
    let kind = stripe_error(
        &[("content-type", "application/json")],
        &body(),
        SystemTime::now(),
    );
    assert_eq!(kind, WebhookErrorKind::MissingSignature);
    let error = polar()
        .verify(
            [("webhook-id", "msg_1"), ("webhook-timestamp", "1")],
            body(),
        )
        .unwrap_err();
    assert_eq!(error.kind(), WebhookErrorKind::MissingSignature);
    assert_eq!(error.status(), 400);
}

#[test]
fn a_malformed_signature() {
    for header in ["", "v1=abc", "t=soon,v1=abc", "t=1743465600"] {
        let kind = stripe_error(&[("stripe-signature", header)], &body(), SystemTime::now());
        assert_eq!(kind, WebhookErrorKind::MalformedSignature, "{header}");
    }
    let headers = [
        ("webhook-id", "m"),
        ("webhook-timestamp", "yesterday"),
        ("webhook-signature", "v1,AAAA"),
    ];
    let error = polar().verify(headers, body()).unwrap_err();
    assert_eq!(error.kind(), WebhookErrorKind::MalformedSignature);
}

#[test]
fn a_wrong_secret() {
    let signed = SignedWebhook::stripe("whsec_someone_else", body());
    let error = stripe()
        .verify(signed.headers(), signed.body())
        .unwrap_err();
    assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);
    assert_eq!(error.status(), 400);

    let signed = SignedWebhook::polar("polar_whs_someone_else", body());
    let error = polar().verify(signed.headers(), signed.body()).unwrap_err();
    assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);
}

/// The answer to a forged delivery goes back to whoever sent it: it says what to check, and
/// nothing of what the verifier holds (its secrets, or how many it has).
#[test]
fn a_refusal_says_what_to_check_and_nothing_of_the_secrets() {
    let rotating = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .secret("whsec_the_next_one")
        .build()
        .unwrap();
    let signed = SignedWebhook::stripe("whsec_someone_else", body());
    let message = rotating
        .verify(signed.headers(), signed.body())
        .unwrap_err()
        .to_string();
    assert!(message.contains("check that the secret"), "{message}");
    assert!(
        message.contains("1 `v1` signature(s) in the header"),
        "{message}"
    );
    for secret_fact in ["secret(s)", "2 secret", STRIPE_SECRET, "whsec_the_next_one"] {
        assert!(!message.contains(secret_fact), "{message}");
    }
}

#[test]
fn a_tampered_body() {
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body());
    let tampered = signed.body().replace("4900", "4901");
    let error = stripe().verify(signed.headers(), tampered).unwrap_err();
    assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);

    // Re-serialised JSON is a different body too: verify the raw bytes.
    let reserialised = serde_json::from_str::<Value>(signed.body())
        .unwrap()
        .to_string();
    let error = stripe().verify(signed.headers(), reserialised).unwrap_err();
    assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);
}

#[test]
fn an_expired_signature_and_the_future() {
    let signed = SignedWebhook::stripe_at(STRIPE_SECRET, body(), at(SIGNED_AT));
    let headers: Vec<_> = signed.headers().collect();
    stripe()
        .verify_at(headers.clone(), signed.body(), at(SIGNED_AT + 300))
        .unwrap();
    let kind = stripe_error(&headers, signed.body(), at(SIGNED_AT + 301));
    assert_eq!(kind, WebhookErrorKind::Expired);
    // Stripe's own libraries accept a timestamp ahead of the clock; so does this.
    stripe()
        .verify_at(headers.clone(), signed.body(), at(SIGNED_AT - 3600))
        .unwrap();
    // A wider tolerance accepts an older signature.
    let patient = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .tolerance(Duration::from_secs(600))
        .build()
        .unwrap();
    patient
        .verify_at(headers, signed.body(), at(SIGNED_AT + 500))
        .unwrap();

    // Standard Webhooks refuses both ways.
    let signed = SignedWebhook::polar_at(POLAR_SECRET, "msg_1", body(), at(SIGNED_AT));
    for now in [SIGNED_AT + 301, SIGNED_AT - 301] {
        let error = polar()
            .verify_at(signed.headers(), signed.body(), at(now))
            .unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::Expired, "at {now}");
    }
    polar()
        .verify_at(signed.headers(), signed.body(), at(SIGNED_AT - 299))
        .unwrap();
}

#[test]
fn a_body_over_the_limit() {
    let small = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .body_limit(1024)
        .build()
        .unwrap();
    assert_eq!(small.body_limit(), 1024);
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body());
    let error = small.verify(signed.headers(), signed.body()).unwrap_err();
    assert_eq!(error.kind(), WebhookErrorKind::BodyTooLarge);
    assert_eq!(error.status(), 413);
}

#[test]
fn a_body_that_is_not_json_or_not_an_event() {
    for (body, expected) in [
        ("not json", WebhookErrorKind::NotJson),
        ("{\"type\":", WebhookErrorKind::NotJson),
        ("[1, 2]", WebhookErrorKind::NotAnEvent),
        (r#"{"data":{"object":{}}}"#, WebhookErrorKind::NotAnEvent),
        (r#"{"type":"invoice.paid"}"#, WebhookErrorKind::NotAnEvent),
        (
            r#"{"type":"invoice.paid","data":"nope"}"#,
            WebhookErrorKind::NotAnEvent,
        ),
    ] {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
        let error = stripe()
            .verify(signed.headers(), signed.body())
            .unwrap_err();
        assert_eq!(error.kind(), expected, "{body}");
        assert_eq!(error.status(), 400, "{body}");
    }
}

#[test]
fn a_verifier_needs_a_usable_secret() {
    assert_eq!(
        Verifier::<Stripe>::builder().build().unwrap_err().kind(),
        WebhookErrorKind::MissingSecret
    );
    assert_eq!(
        Verifier::<Stripe>::new("  ").unwrap_err().kind(),
        WebhookErrorKind::InvalidSecret
    );
    assert_eq!(
        Verifier::<Polar>::new(" ").unwrap_err().kind(),
        WebhookErrorKind::InvalidSecret
    );
}

/// A verifier built without a secret names its own provider's variable, not another's.
#[test]
fn a_missing_secret_names_the_providers_variable() {
    use affitor::webhook::{LemonSqueezy, Paddle, Provider};

    fn message<P: Provider>() -> String {
        let error = Verifier::<P>::builder().build().unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::MissingSecret);
        error.to_string()
    }
    let variables = [
        Stripe::SECRET_VARIABLE,
        Polar::SECRET_VARIABLE,
        Paddle::SECRET_VARIABLE,
        LemonSqueezy::SECRET_VARIABLE,
    ];
    for (index, message) in [
        message::<Stripe>(),
        message::<Polar>(),
        message::<Paddle>(),
        message::<LemonSqueezy>(),
    ]
    .into_iter()
    .enumerate()
    {
        for (other, variable) in variables.iter().enumerate() {
            assert_eq!(message.contains(variable), index == other, "{message}");
        }
    }
    let paddle = message::<Paddle>();
    assert!(
        paddle.starts_with(
            "no webhook signing secret: set PADDLE_WEBHOOK_SECRET, or give the secret to the \
             verifier"
        ),
        "{paddle}"
    );
    if std::env::var_os(Paddle::SECRET_VARIABLE).is_none() {
        let error = Verifier::<Paddle>::from_env().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("PADDLE_WEBHOOK_SECRET is unset or empty"),
            "{error}"
        );
        assert!(!error.to_string().contains("STRIPE"), "{error}");
    }
}
