//! The checkout apps' `POST /api/checkout`: the request, and the checkout it would create.

use affitor::ClickId;
use affitor::webhook::{LemonSqueezy, Paddle, Polar, Stripe, checkout_fields};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::environment::SetupError;
use crate::provider::PaymentProvider;
use crate::users::User;

/// The body of `POST /api/checkout`.
#[derive(Clone, Debug, Deserialize)]
pub struct CheckoutRequest {
    /// The paying user's id.
    #[serde(rename = "userId")]
    pub user_id: String,
    /// The Stripe price to buy (default `price_pro_monthly`).
    #[serde(rename = "priceId")]
    pub price_id: Option<String>,
    /// Whose checkout: `stripe` (the default), `polar`, `paddle` or `lemonsqueezy`.
    pub provider: Option<String>,
}

impl CheckoutRequest {
    /// The provider asked for, Stripe unless named.
    pub fn provider(&self) -> Result<PaymentProvider, SetupError> {
        self.provider
            .as_deref()
            .map_or(Ok(PaymentProvider::Stripe), str::parse)
    }
}

/// The checkout the app would create for `user` with `provider`: for Stripe, the Checkout
/// Session's parameters; for the others, the fields that carry the Affitor keys, as
/// [`checkout_fields`] gives them.
///
/// The click id is the request's, or else the one the user signed up with; the program id goes
/// beside it (for Stripe in `metadata` and `subscription_data.metadata`, so that renewals are
/// attributed too).
pub fn checkout_session(
    user: &User,
    request_click_id: Option<&ClickId>,
    price_id: Option<&str>,
    program_id: &str,
    provider: PaymentProvider,
) -> Value {
    let click_id = request_click_id.or(user.click_id.as_ref());
    let (id, program) = (user.id.as_str(), Some(program_id));
    let mut fields = match provider {
        PaymentProvider::Stripe => checkout_fields::<Stripe>(id, click_id, program),
        PaymentProvider::Polar => checkout_fields::<Polar>(id, click_id, program),
        PaymentProvider::Paddle => checkout_fields::<Paddle>(id, click_id, program),
        PaymentProvider::LemonSqueezy => checkout_fields::<LemonSqueezy>(id, click_id, program),
    };
    if provider != PaymentProvider::Stripe {
        fields["provider"] = json!(provider.to_string());
        return fields;
    }
    let mut session = json!({
        "mode": "subscription",
        "line_items": [{ "price": price_id.unwrap_or("price_pro_monthly"), "quantity": 1 }],
        "customer_email": user.email,
        "success_url": "http://localhost:3000/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost:3000/cancel",
    });
    if let (Some(session), Value::Object(fields)) = (session.as_object_mut(), fields) {
        session.extend(fields);
    }
    session
}
