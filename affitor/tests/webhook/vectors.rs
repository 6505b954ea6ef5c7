//! Expected signatures computed with Python's `hmac` and `hashlib`, not with this crate:
//!
//! ```text
//! python3 -c 'import hmac, hashlib, base64
//! body = b"{\"id\":\"evt_vector\",...}"   # STRIPE_BODY below
//! print(hmac.new(b"whsec_test_affitor_vector", b"1743465600." + body, hashlib.sha256).hexdigest())
//! print(base64.b64encode(hmac.new(b"polar_whs_affitor_vector",
//!       b"msg_vector.1743465600." + polar_body, hashlib.sha256).digest()))'
//! ```

use super::*;

const STRIPE_BODY: &str =
    r#"{"id":"evt_vector","object":"event","type":"customer.created","data":{"object":{}}}"#;
const STRIPE_V1: &str = "3de78f9faab45fd00d286fb83df2e309466d7a1b8bc885dd64b5399ff97964d5";
/// The same body and time, signed with `whsec_old_affitor_vector`.
const STRIPE_V1_OLD_SECRET: &str =
    "acb7ee945347bcfbb0dcd4da46ca653389b9e2db0f733b0daeaa04beb0378e5c";

const POLAR_BODY: &str =
    r#"{"type":"checkout.created","timestamp":"2025-04-01T00:00:00Z","data":{"id":"chk_1"}}"#;
const POLAR_V1: &str = "NOM+r9le+p7ku9O+UboRKMCYeFEyv+LQSN8Kj+4uoew=";

fn stripe_header(v1: &str) -> String {
    format!("t={SIGNED_AT},v1={v1}")
}

#[test]
fn a_stripe_signature_computed_elsewhere_verifies() {
    let header = stripe_header(STRIPE_V1);
    let event = stripe()
        .verify_at(
            [("Stripe-Signature", header.as_str())],
            STRIPE_BODY,
            at(SIGNED_AT + 10),
        )
        .unwrap();
    assert_eq!(event.id, "evt_vector");
    assert_eq!(event.event_type, "customer.created");
    assert_eq!(event.action, Action::Ignore(Ignored::EventType));
}

#[test]
fn the_stand_in_signs_stripe_events_as_stripe_does() {
    let signed = SignedWebhook::stripe_at(STRIPE_SECRET, STRIPE_BODY, at(SIGNED_AT));
    assert_eq!(
        signed.header("stripe-signature"),
        Some(stripe_header(STRIPE_V1).as_str())
    );
    assert_eq!(signed.body(), STRIPE_BODY);
}

#[test]
fn any_v1_of_any_secret_verifies_during_a_rotation() {
    // Stripe sends one v1 per active secret while the old one is rolled.
    let header = format!(
        "t={SIGNED_AT},v1={},v0=ignored,v1={STRIPE_V1_OLD_SECRET}",
        "0".repeat(64)
    );
    let only_new = stripe();
    let error = only_new
        .verify_at(
            [("stripe-signature", header.as_str())],
            STRIPE_BODY,
            at(SIGNED_AT),
        )
        .unwrap_err();
    assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);

    let rotating = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .secret("whsec_old_affitor_vector")
        .build()
        .unwrap();
    rotating
        .verify_at(
            [("stripe-signature", header.as_str())],
            STRIPE_BODY,
            at(SIGNED_AT),
        )
        .unwrap();
}

#[test]
fn the_standard_webhooks_published_vector_verifies() {
    // The example of the Standard Webhooks specification (standard-webhooks/standard-webhooks
    // on GitHub, as reproduced by its libraries' tests): a `whsec_` secret is base64.
    let polar = Verifier::<Polar>::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let headers = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ];
    let error = polar
        .verify_at(headers, r#"{"test": 2432232314}"#, at(1_614_265_330))
        .unwrap_err();
    // Authentic, and not an event: the signature passed, the body has no `type`.
    assert_eq!(error.kind(), WebhookErrorKind::NotAnEvent);

    let tampered = polar
        .verify_at(headers, r#"{"test": 2432232315}"#, at(1_614_265_330))
        .unwrap_err();
    assert_eq!(tampered.kind(), WebhookErrorKind::SignatureMismatch);
}

#[test]
fn a_polar_secret_is_used_as_its_bytes() {
    let headers = [
        ("Webhook-Id", "msg_vector"),
        ("Webhook-Timestamp", "1743465600"),
        (
            "Webhook-Signature",
            "v1,bm90IHRoaXMgb25lIGF0IGFsbCwgbm90IGF0IGFsbCE= v1,NOM+r9le+p7ku9O+UboRKMCYeFEyv+LQSN8Kj+4uoew=",
        ),
    ];
    let event = polar()
        .verify_at(headers, POLAR_BODY, at(SIGNED_AT - 60))
        .unwrap();
    assert_eq!(event.id, "msg_vector");
    assert_eq!(event.event_type, "checkout.created");

    let signed = SignedWebhook::polar_at(POLAR_SECRET, "msg_vector", POLAR_BODY, at(SIGNED_AT));
    assert_eq!(
        signed.header("webhook-signature"),
        Some(format!("v1,{POLAR_V1}").as_str())
    );
}

/// A Polar secret that starts with `whsec_` verifies what was signed with its UTF-8 bytes (as
/// Polar's SDK keys it, whatever the prefix) and what was signed with the base64 after the
/// prefix decoded (the Standard Webhooks convention). Signatures computed with Python's `hmac`.
#[test]
fn a_whsec_polar_secret_verifies_both_readings() {
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let polar = Verifier::<Polar>::new(WHSEC).unwrap();
    for v1 in [
        "HM4gfykVwNc4DeA/2ZgY3vRBtKc4blH1DqzG7PPcSJA=",
        "5OD4SXzHGk8sYJeFTgQao7xV51tl1qcGKRu0yLP9DyA=",
    ] {
        let signature = format!("v1,{v1}");
        let headers = [
            ("Webhook-Id", "msg_vector"),
            ("Webhook-Timestamp", "1743465600"),
            ("Webhook-Signature", signature.as_str()),
        ];
        let event = polar.verify_at(headers, POLAR_BODY, at(SIGNED_AT)).unwrap();
        assert_eq!(event.id, "msg_vector", "{v1}");
    }
}
