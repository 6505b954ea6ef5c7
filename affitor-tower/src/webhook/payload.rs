//! Lenient reading of event payloads: only the fields a sale or refund needs, each of which may
//! be missing, `null` or of an unexpected type without failing the event.

use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::{Map, Value};

use super::error::{WebhookError, WebhookErrorKind, excerpt};
use super::{Action, Ignored, Sale};
use crate::{ClickId, Currency, SaleType};

/// A field read as `T`, or `None` when it is absent, `null` or of another type: a provider that
/// changes a field's type must not make every event unreadable.
pub(super) fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).ok())
}

/// An id that Stripe may expand into its object: the string, or the object's `id`.
pub(super) fn expandable<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::String(id) => non_empty(&id),
        Value::Object(object) => object.get("id").and_then(Value::as_str).and_then(non_empty),
        _ => None,
    })
}

/// A metadata map (string keys, values of any type). Absent or not an object reads as empty.
#[derive(Debug, Default)]
pub(super) struct Metadata(Map<String, Value>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        })
    }
}

impl Metadata {
    /// The non-empty value of `key`, as text (a number is written out).
    pub(super) fn get(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(text) => non_empty(text),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }

    /// The first of `keys` that has a value.
    pub(super) fn first(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| self.get(key))
    }
}

pub(super) fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The envelope both providers share: the event's type and its `data`, read as `D`.
#[derive(serde::Deserialize)]
pub(super) struct Envelope<D> {
    #[serde(default, deserialize_with = "lenient")]
    pub(super) id: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    pub(super) event_type: Option<String>,
    pub(super) data: Option<D>,
}

/// Reads the envelope of a verified body: an error when it is not JSON or not an event.
pub(super) fn parse<D: DeserializeOwned>(
    body: &[u8],
) -> Result<(String, Option<String>, D), WebhookError> {
    let envelope: Envelope<D> = serde_json::from_slice(body).map_err(|error| {
        if error.is_data() {
            WebhookError::new(WebhookErrorKind::NotAnEvent).with_detail(error.to_string())
        } else {
            WebhookError::new(WebhookErrorKind::NotJson).with_detail(format!(
                "{error}; the body starts with {}",
                excerpt(body, 24)
            ))
        }
    })?;
    let Some(event_type) = envelope.event_type else {
        return Err(WebhookError::new(WebhookErrorKind::NotAnEvent).with_detail("no `type` string"));
    };
    let Some(data) = envelope.data else {
        return Err(WebhookError::new(WebhookErrorKind::NotAnEvent).with_detail("no `data` object"));
    };
    Ok((event_type, envelope.id, data))
}

/// The currency of a code such as Stripe's lower-cased `usd`; `None`, with a warning, for a
/// code the client would refuse (the API then assumes USD).
pub(super) fn currency(code: Option<&str>) -> Option<Currency> {
    let code = code?;
    match Currency::from_code(code) {
        Ok(currency) => Some(currency),
        Err(error) => {
            tracing::warn!(%error, "webhook: the event's currency is left out");
            None
        }
    }
}

/// The click id of a metadata value; `None`, with a warning, when it is not a valid click id.
pub(super) fn click_id(value: Option<String>) -> Option<ClickId> {
    let value = value?;
    match value.parse::<ClickId>() {
        Ok(click_id) => Some(click_id),
        Err(error) => {
            tracing::warn!(%error, "webhook: the event's click id is left out");
            None
        }
    }
}

/// What a payment read from an event becomes: a sale, or the reason it is none.
pub(super) struct Payment {
    pub(super) transaction_id: Option<String>,
    pub(super) amount_cents: Option<i64>,
    pub(super) currency: Option<String>,
    pub(super) customer_key: Option<String>,
    pub(super) click_id: Option<String>,
    pub(super) sale_type: SaleType,
    pub(super) is_recurring: bool,
    pub(super) subscription_id: Option<String>,
}

impl Payment {
    pub(super) fn into_action(self, transaction_field: &'static str) -> Action {
        let amount_cents = match self
            .amount_cents
            .and_then(|amount| u64::try_from(amount).ok())
        {
            Some(amount) if amount > 0 => amount,
            _ => return Action::Ignore(Ignored::NoAmount),
        };
        let Some(transaction_id) = self.transaction_id else {
            return Action::Ignore(Ignored::MissingField(transaction_field));
        };
        let click_id = click_id(self.click_id);
        if self.customer_key.is_none() && click_id.is_none() {
            return Action::Ignore(Ignored::NoCustomer);
        }
        Action::Sale(Sale {
            transaction_id,
            amount_cents,
            currency: currency(self.currency.as_deref()),
            customer_key: self.customer_key,
            click_id,
            sale_type: self.sale_type,
            is_recurring: self.is_recurring,
            subscription_id: self.subscription_id,
        })
    }
}

/// A refund of `refunded` out of `total`: `None` when it is full.
pub(super) fn partial(refunded: Option<i64>, total: Option<i64>, full: bool) -> Option<u64> {
    let refunded = u64::try_from(refunded?).ok().filter(|amount| *amount > 0)?;
    let total = total.and_then(|total| u64::try_from(total).ok());
    match total {
        Some(total) if !full && refunded < total => Some(refunded),
        _ => None,
    }
}
