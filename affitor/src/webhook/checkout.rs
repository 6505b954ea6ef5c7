//! The fields a checkout carries so that its payment's webhook finds the partner.

use serde_json::{Map, Value, json};

use super::verifier::Provider;
use crate::ClickId;

/// The fields to put in the checkout you create with the provider `P`, so that the webhook of
/// its payment carries the click id and the customer key back: one call, whatever the provider.
///
/// `customer_key` is your id of the customer (the one its lead was tracked with); `click_id`
/// the request's (the `AffitorClickId` extractor's), when it came through a partner;
/// `program_id` your Affitor program's id, when you have it (Program Settings), which the
/// Affitor guides put beside them. The answer is the part of the provider's checkout-creation request that holds them, as JSON to
/// merge into yours (or to read into your SDK's fields):
///
/// | `P` | Fields |
/// |---|---|
/// | [`Stripe`](super::Stripe) | `client_reference_id`, `metadata` and `subscription_data.metadata` of a Checkout Session (leave `subscription_data` out in `payment` mode: Stripe takes it only for subscriptions, whose renewals read it) |
/// | [`Polar`](super::Polar) | `metadata` of a checkout session |
/// | [`Paddle`](super::Paddle) | `custom_data` of a transaction (Paddle.js: `customData`) |
/// | [`LemonSqueezy`](super::LemonSqueezy) | `checkout_data.custom` of a checkout |
///
/// Each map holds `affitor_customer_key` and, when given, `affitor_click_id` and
/// `program_id`: what the [`Verifier`](super::Verifier) of `P` reads from its events.
///
/// # Stripe Payment Links and the pricing table
///
/// A Payment Link or a pricing table makes its Checkout Session without your server, so no
/// metadata can be set: the click id travels in the session's `client_reference_id` instead,
/// behind the prefix `affitor_` (`client_reference_id=affitor_cust_42_1714000000000`). The
/// Stripe verifier reads a `client_reference_id` with that prefix as the click id, never as the
/// customer key (metadata's `affitor_click_id` wins when both are there). Stripe takes up to 200
/// letters, digits, `-` and `_` there and drops any other value silently; Affitor's click ids
/// (`cust_<customer>_<ms>`, at most 128 characters) fit. Two lines of page script append it to
/// every Payment Link and pricing table of the page, from the tracker's cookie:
///
/// ```html
/// <script>
/// const id = document.cookie.match(/(?:^|; )affitor_click_id=([\w-]{1,128})(?:;|$)/)?.[1];
/// if (id) { document.querySelectorAll('a[href^="https://buy.stripe.com/"]').forEach((a) => { const url = new URL(a.href); url.searchParams.set('client_reference_id', 'affitor_' + id); a.href = url; }); document.querySelectorAll('stripe-pricing-table').forEach((table) => table.setAttribute('client-reference-id', 'affitor_' + id)); }
/// </script>
/// ```
///
/// The sale is then attributed through the click alone; a customer key, when you know one,
/// still goes in metadata (`affitor_customer_key`).
///
/// ```
/// use affitor::ClickId;
/// use affitor::webhook::{LemonSqueezy, Paddle, Stripe, checkout_fields};
///
/// let click_id: ClickId = "cust_2Hq9kQ0Xx1".parse()?;
/// let stripe = checkout_fields::<Stripe>("user_42", Some(&click_id), Some("42"));
/// assert_eq!(stripe["client_reference_id"], "user_42");
/// assert_eq!(stripe["metadata"]["affitor_click_id"], "cust_2Hq9kQ0Xx1");
/// assert_eq!(stripe["metadata"]["program_id"], "42");
/// assert_eq!(stripe["subscription_data"]["metadata"]["affitor_customer_key"], "user_42");
/// assert_eq!(stripe["subscription_data"]["metadata"]["program_id"], "42");
///
/// let paddle = checkout_fields::<Paddle>("user_42", None, None);
/// assert_eq!(paddle, serde_json::json!({ "custom_data": { "affitor_customer_key": "user_42" } }));
///
/// let lemon_squeezy = checkout_fields::<LemonSqueezy>("user_42", Some(&click_id), None);
/// assert_eq!(lemon_squeezy["checkout_data"]["custom"]["affitor_click_id"], "cust_2Hq9kQ0Xx1");
/// # Ok::<(), affitor::InvalidClickId>(())
/// ```
pub fn checkout_fields<P: Provider>(
    customer_key: &str,
    click_id: Option<&ClickId>,
    program_id: Option<&str>,
) -> Value {
    let mut metadata = Map::new();
    metadata.insert("affitor_customer_key".to_owned(), json!(customer_key));
    if let Some(click_id) = click_id {
        metadata.insert("affitor_click_id".to_owned(), json!(click_id.as_str()));
    }
    if let Some(program_id) = program_id.map(str::trim).filter(|id| !id.is_empty()) {
        metadata.insert("program_id".to_owned(), json!(program_id));
    }
    P::checkout_fields(customer_key, Value::Object(metadata))
}
