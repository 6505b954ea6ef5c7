//! Payment webhooks signed as Stripe, Polar, Paddle and Lemon Squeezy sign them, for testing a
//! webhook handler; `sample.rs`: the events to sign, shaped as each provider sends them.

mod sample;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

pub use sample::{SampleEvent, SampleKind, WebhookProvider};

/// A webhook delivery signed like the payment provider signs it: its headers and its body, to
/// send to your webhook handler.
///
/// The body is sent as given: write it in the provider's shape. Then check what the stand-in
/// API received:
///
/// ```
/// use affitor::Client;
/// use affitor_mock::{MockServer, SignedWebhook};
/// use affitor::webhook::{Stripe, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = MockServer::start().await?;
/// let click_id = mock.click("partner"); // a visitor came through a partner's link
/// let client = Client::builder().base_url(mock.url()).api_key(mock.api_key()).build()?;
///
/// // Your webhook handler, here with the core's one call; yours may be an axum or actix app
/// // that you post `signed.headers()` and `signed.body()` to.
/// let stripe = Verifier::<Stripe>::new("whsec_test_secret_key")?;
/// let handler = |signed: SignedWebhook| {
///     let (stripe, client) = (stripe.clone(), client.clone());
///     async move { stripe.track(&client, signed.headers(), signed.body()).await.status() }
/// };
///
/// let event = serde_json::json!({
///     "id": "evt_1", "type": "checkout.session.completed",
///     "data": { "object": {
///         "id": "cs_test_1", "object": "checkout.session", "mode": "payment",
///         "payment_status": "paid", "payment_intent": "pi_1", "amount_total": 4900,
///         "currency": "usd", "metadata": { "affitor_click_id": click_id.as_str() },
///     }},
/// });
/// let signed = SignedWebhook::stripe("whsec_test_secret_key", event.to_string());
/// assert_eq!(handler(signed.clone()).await, 200);
/// assert_eq!(handler(signed).await, 200); // a redelivery: recorded once
///
/// assert_eq!(mock.sales().len(), 1);
/// assert_eq!(mock.sales()[0].transaction_id, "pi_1");
///
/// // A forged delivery is refused, and nothing reaches the API.
/// let forged = SignedWebhook::stripe("whsec_someone_else", event.to_string());
/// assert_eq!(handler(forged).await, 400);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SignedWebhook {
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl SignedWebhook {
    /// `body` signed now with the Stripe endpoint secret `secret`, in a `Stripe-Signature`
    /// header.
    ///
    /// ```
    /// let signed = affitor_mock::SignedWebhook::stripe("whsec_test_signing", "{}");
    /// assert!(signed.header("stripe-signature").is_some_and(|value| value.starts_with("t=")));
    /// ```
    pub fn stripe(secret: &str, body: impl Into<String>) -> Self {
        Self::stripe_at(secret, body, SystemTime::now())
    }

    /// `body` signed with the Stripe endpoint secret `secret`, as of `at`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    /// let stale = affitor_mock::SignedWebhook::stripe_at("whsec_test_signing", "{}", an_hour_ago);
    /// ```
    pub fn stripe_at(secret: &str, body: impl Into<String>, at: SystemTime) -> Self {
        let body = body.into();
        let timestamp = unix_seconds(at).to_string();
        let signature = sign(
            secret.as_bytes(),
            &[timestamp.as_bytes(), b".", body.as_bytes()],
        );
        let header = format!("t={timestamp},v1={}", hex(&signature));
        Self {
            headers: vec![
                ("content-type", "application/json; charset=utf-8".to_owned()),
                ("stripe-signature", header),
            ],
            body,
        }
    }

    /// `body` signed now with the Polar (Standard Webhooks) secret `secret`, with a fresh
    /// `webhook-id`.
    ///
    /// ```
    /// let signed = affitor_mock::SignedWebhook::polar("polar_whs_test_signing", "{}");
    /// assert!(signed.header("webhook-signature").is_some_and(|value| value.starts_with("v1,")));
    /// ```
    pub fn polar(secret: &str, body: impl Into<String>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let now = SystemTime::now();
        let id = format!(
            "msg_mock_{}_{}",
            unix_seconds(now),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self::polar_at(secret, &id, body, now)
    }

    /// `body` signed with the Polar (Standard Webhooks) secret `secret`, as the delivery `id`,
    /// as of `at`.
    ///
    /// ```
    /// use std::time::SystemTime;
    ///
    /// let signed = affitor_mock::SignedWebhook::polar_at("polar_whs_test_signing", "msg_1", "{}", SystemTime::now());
    /// assert_eq!(signed.header("webhook-id"), Some("msg_1"));
    /// ```
    pub fn polar_at(secret: &str, id: &str, body: impl Into<String>, at: SystemTime) -> Self {
        let body = body.into();
        // The Standard Webhooks secret: the decoded bytes of a `whsec_` secret, the UTF-8 bytes
        // of any other (as Polar's SDK reads its own).
        let key = secret
            .strip_prefix("whsec_")
            .and_then(|encoded| BASE64.decode(encoded).ok())
            .filter(|bytes| !bytes.is_empty())
            .unwrap_or_else(|| secret.as_bytes().to_vec());
        let timestamp = unix_seconds(at).to_string();
        let signature = sign(
            &key,
            &[
                id.as_bytes(),
                b".",
                timestamp.as_bytes(),
                b".",
                body.as_bytes(),
            ],
        );
        Self {
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", timestamp),
                (
                    "webhook-signature",
                    format!("v1,{}", BASE64.encode(signature)),
                ),
            ],
            body,
        }
    }

    /// `body` signed now with the Paddle notification destination's secret key `secret`, in a
    /// `Paddle-Signature` header.
    ///
    /// ```
    /// let signed = affitor_mock::SignedWebhook::paddle("pdl_ntfset_test_signing", "{}");
    /// assert!(signed.header("paddle-signature").is_some_and(|value| value.starts_with("ts=")));
    /// ```
    pub fn paddle(secret: &str, body: impl Into<String>) -> Self {
        Self::paddle_at(secret, body, SystemTime::now())
    }

    /// `body` signed with the Paddle secret key `secret`, as of `at`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    /// let stale = affitor_mock::SignedWebhook::paddle_at("pdl_ntfset_test_signing", "{}", an_hour_ago);
    /// ```
    pub fn paddle_at(secret: &str, body: impl Into<String>, at: SystemTime) -> Self {
        let body = body.into();
        let timestamp = unix_seconds(at).to_string();
        let signature = sign(
            secret.as_bytes(),
            &[timestamp.as_bytes(), b":", body.as_bytes()],
        );
        Self {
            headers: vec![
                ("content-type", "application/json".to_owned()),
                (
                    "paddle-signature",
                    format!("ts={timestamp};h1={}", hex(&signature)),
                ),
            ],
            body,
        }
    }

    /// `body` signed with the Lemon Squeezy webhook's signing secret `secret`, in an
    /// `X-Signature` header, with the `X-Event-Name` Lemon Squeezy sends beside it (read from
    /// the body's `meta.event_name`).
    ///
    /// ```
    /// let body = r#"{"meta":{"event_name":"order_created"},"data":{}}"#;
    /// let signed = affitor_mock::SignedWebhook::lemon_squeezy("a secret", body);
    /// assert_eq!(signed.header("x-signature").map(str::len), Some(64));
    /// assert_eq!(signed.header("x-event-name"), Some("order_created"));
    /// ```
    pub fn lemon_squeezy(secret: &str, body: impl Into<String>) -> Self {
        let body = body.into();
        let signature = sign(secret.as_bytes(), &[body.as_bytes()]);
        let event_name = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|event| Some(event.get("meta")?.get("event_name")?.as_str()?.to_owned()))
            .unwrap_or_default();
        Self {
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("x-event-name", event_name),
                ("x-signature", hex(&signature)),
            ],
            body,
        }
    }

    /// The headers to send, content type included, as `(name, value)` pairs.
    ///
    /// ```
    /// let signed = affitor_mock::SignedWebhook::stripe("whsec_test_signing", "{}");
    /// let names: Vec<&str> = signed.headers().map(|(name, _)| name).collect();
    /// assert_eq!(names, ["content-type", "stripe-signature"]);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
    }

    /// The value of the header `name` (lower case), if it is sent.
    ///
    /// ```
    /// let signed = affitor_mock::SignedWebhook::polar("polar_whs_test_signing", "{}");
    /// assert!(signed.header("webhook-timestamp").is_some());
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The body, exactly as signed.
    ///
    /// ```
    /// let signed = affitor_mock::SignedWebhook::stripe("whsec_test_signing", "{}");
    /// assert_eq!(signed.body(), "{}");
    /// ```
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// The HMAC-SHA256 of the concatenated `parts` under `key`: written here from the providers'
/// documents, not taken from the verifier, so that each checks the other.
fn sign(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes a key of any length")
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Seconds since the Unix epoch (negative before it).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
