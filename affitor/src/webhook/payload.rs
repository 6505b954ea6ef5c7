//! Lenient reading of event payloads: only the fields a sale or refund needs, each of which may
//! be missing, `null` or of an unexpected type without failing the event.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::{Map, Value};

use super::currency::Exponents;
use super::error::{WebhookError, WebhookErrorKind, excerpt};
use super::event::{Action, Ignored, Refund, Sale};
use super::refunds::RefundId;
use crate::{
    ClickId,
    client::{Currency, SaleType},
};

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

/// An amount in minor units, written as a number or as a string of digits (Paddle writes
/// `"1100"`); `None` when it is neither.
pub(super) fn minor_units<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    })
}

/// An id written as a string or as a number; `None` when it is neither, or empty.
pub(super) fn text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => non_empty(&text),
        Value::Number(number) => Some(number.to_string()),
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

/// The envelope both providers share: the event's type and its `data`, read as `D`, and when
/// the event happened.
#[derive(serde::Deserialize)]
struct Envelope<D> {
    #[serde(default, deserialize_with = "lenient")]
    id: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    event_type: Option<String>,
    data: Option<D>,
    /// Stripe: `false` for an event of test mode.
    #[serde(default, deserialize_with = "lenient")]
    livemode: Option<bool>,
    /// Stripe: when the event happened, in Unix seconds (the same on every redelivery).
    #[serde(default, deserialize_with = "lenient")]
    created: Option<i64>,
    /// Polar: when the event happened, in RFC 3339.
    #[serde(default, deserialize_with = "lenient")]
    timestamp: Option<String>,
}

/// A verified body read as an event of `D`.
pub(super) struct Parsed<D> {
    pub(super) event_type: String,
    pub(super) id: Option<String>,
    pub(super) data: D,
    /// Whether the provider says it is a test-mode event.
    pub(super) test_mode: bool,
    /// When the event happened, if the body says.
    pub(super) created: Option<SystemTime>,
}

/// A verified body read as `T`: an error when it is not JSON, or not shaped as `T`.
pub(super) fn read_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, WebhookError> {
    serde_json::from_slice(body).map_err(|error| {
        if error.is_data() {
            WebhookError::new(WebhookErrorKind::NotAnEvent).with_detail(error.to_string())
        } else {
            WebhookError::new(WebhookErrorKind::NotJson).with_detail(format!(
                "{error}; the body starts with {}",
                excerpt(body, 24)
            ))
        }
    })
}

/// Reads the envelope of a verified Stripe or Standard Webhooks body: an error when it is not
/// JSON or not an event.
pub(super) fn parse<D: DeserializeOwned>(body: &[u8]) -> Result<Parsed<D>, WebhookError> {
    let envelope: Envelope<D> = read_json(body)?;
    let Some(event_type) = envelope.event_type else {
        return Err(WebhookError::new(WebhookErrorKind::NotAnEvent).with_detail("no `type` string"));
    };
    let Some(data) = envelope.data else {
        return Err(WebhookError::new(WebhookErrorKind::NotAnEvent).with_detail("no `data` object"));
    };
    let created = envelope
        .created
        .and_then(|seconds| u64::try_from(seconds).ok())
        .and_then(|seconds| UNIX_EPOCH.checked_add(Duration::from_secs(seconds)))
        .or_else(|| envelope.timestamp.as_deref().and_then(rfc3339));
    Ok(Parsed {
        event_type,
        id: envelope.id,
        data,
        test_mode: envelope.livemode == Some(false),
        created,
    })
}

/// The time of an RFC 3339 timestamp such as `2025-06-01T10:00:00.123Z` or
/// `2025-06-01T12:00:00+02:00`, to the second; `None` when it is not one.
pub(super) fn rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Skip a fraction of a second, then read the offset.
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest[1..3].parse().ok()?;
            let minutes: i64 = rest[4..6].parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm), then seconds.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset;
    u64::try_from(seconds)
        .ok()
        .and_then(|seconds| UNIX_EPOCH.checked_add(Duration::from_secs(seconds)))
}

/// The currency of a code such as Stripe's lower-cased `usd`; `None`, with a warning naming
/// what is wrong, for a code the client would refuse. An amount is not sent without its
/// currency: the API would take it for USD.
pub(super) fn currency(code: Option<&str>) -> Option<Currency> {
    match Currency::from_code(code?) {
        Ok(currency) => Some(currency),
        Err(error) => {
            tracing::warn!(%error, "webhook: the event's currency cannot be read");
            None
        }
    }
}

/// `amount`, as `exponents`' provider counts `currency`, in ISO 4217 minor units; `None`, with a
/// warning naming the currency and what to do, for a currency whose minor unit the provider's
/// table does not list: a guess could pay a hundred times the sale.
pub(super) fn in_iso_units(exponents: &Exponents, amount: u64, currency: &Currency) -> Option<u64> {
    let amount = exponents.to_iso(amount, currency);
    if amount.is_none() {
        tracing::warn!(
            currency = %currency,
            provider = exponents.source,
            "webhook: an amount in {currency}, a currency whose minor unit affitor does not know \
             for {}: nothing is sent and the provider keeps the event (500); update affitor, or \
             report the currency at https://github.com/affitor/affitor-rs/issues, then resend \
             the event from the provider's dashboard",
            exponents.source
        );
    }
    amount
}

/// The click id of a metadata value, noted as found in the provider's event; `None`, with a
/// warning, when it is not a valid click id.
pub(super) fn click_id(value: Option<String>) -> Option<ClickId> {
    let value = value?;
    match value.parse::<ClickId>() {
        Ok(click_id) => Some(click_id.found_in("the provider's event")),
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
    pub(super) test_mode: bool,
    /// The provider's reason for the payment (see [`Sale::reason`]).
    pub(super) reason: Option<String>,
    /// Whether it pays for a change of plan: an upgrade or a proration.
    pub(super) upgrade: bool,
    /// Whether it is its subscription's first payment, which at 0 starts a trial (a later one
    /// at 0, a card's change or a downgrade's credit, starts nothing).
    pub(super) opens_subscription: bool,
}

impl Payment {
    /// The sale, or why there is none. `fields` names the event's transaction id and currency
    /// fields, for the reason.
    pub(super) fn into_action(self, fields: PaymentFields) -> Action {
        let amount_cents = match self.amount_cents.map(u64::try_from) {
            Some(Ok(0)) => {
                // A subscription that begins without a payment: its first paid invoice,
                // labelled a renewal by the provider, will be its first sale.
                return Action::Ignore(match self.subscription_id {
                    Some(subscription_id) if self.opens_subscription => {
                        Ignored::TrialStarted(subscription_id)
                    }
                    _ => Ignored::NoAmount,
                });
            }
            Some(Ok(amount)) => amount,
            // Absent, negative, or not a number: a payment whose amount is unknown is kept with
            // the provider (a 5xx), never acknowledged as one of nothing.
            None | Some(Err(_)) => return Action::Unreadable(fields.amount),
        };
        let Some(transaction_id) = self.transaction_id else {
            return Action::Ignore(Ignored::MissingField(fields.transaction_id));
        };
        let click_id = click_id(self.click_id);
        if self.customer_key.is_none() && click_id.is_none() {
            return Action::Ignore(Ignored::NoCustomer);
        }
        let Some(currency) = currency(self.currency.as_deref()) else {
            return Action::Unreadable(fields.currency);
        };
        let Some(amount_cents) = in_iso_units(fields.exponents, amount_cents, &currency) else {
            return Action::Unreadable(fields.currency);
        };
        Action::Sale(Sale {
            transaction_id,
            amount_cents,
            currency,
            customer_key: self.customer_key,
            click_id,
            sale_type: self.sale_type,
            is_recurring: self.is_recurring,
            subscription_id: self.subscription_id,
            test_mode: self.test_mode,
            reason: self.reason,
            upgrade: self.upgrade,
        })
    }
}

/// The names of a provider's payment fields, for the reason an event is not a sale, and how it
/// counts amounts.
#[derive(Clone, Copy)]
pub(super) struct PaymentFields {
    pub(super) transaction_id: &'static str,
    pub(super) amount: &'static str,
    pub(super) currency: &'static str,
    /// How the provider counts the amount's minor units.
    pub(super) exponents: &'static Exponents,
}

/// How much of its sale a refund event returns.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refunded {
    /// All of it: the refund is sent without an amount.
    Full,
    /// This much, in the minor units of the event's currency.
    Part(u64),
    /// The event does not say it is full, and what it returns cannot be read: sent without an
    /// amount, it would reverse the whole commission.
    Unreadable,
}

impl Refunded {
    /// A refund of `refunded` out of `total`; `full` when the event says the whole sale was
    /// refunded. When the total cannot be read, the refunded amount is sent: Affitor takes a
    /// refund of the whole sale's amount as a full one.
    pub(super) fn of(refunded: Option<i64>, total: Option<i64>, full: bool) -> Self {
        if full {
            return Self::Full;
        }
        let Some(refunded) = refunded
            .and_then(|amount| u64::try_from(amount).ok())
            .filter(|amount| *amount > 0)
        else {
            return Self::Unreadable;
        };
        match total.and_then(|total| u64::try_from(total).ok()) {
            Some(total) if refunded >= total => Self::Full,
            _ => Self::Part(refunded),
        }
    }

    /// The refund of the sale `transaction_id`, or the field that cannot be read: the refunded
    /// amount, or the currency of a partial refund.
    pub(super) fn into_action(self, refund: RefundKeys, currency_code: Option<&str>) -> Action {
        let (amount_cents, currency) = match self {
            Self::Full => (None, currency(currency_code)),
            Self::Part(amount) => {
                let read = currency(currency_code).and_then(|currency| {
                    let amount = in_iso_units(refund.fields.exponents, amount, &currency)?;
                    Some((Some(amount), Some(currency)))
                });
                match read {
                    Some(read) => read,
                    None => return Action::Unreadable(refund.fields.currency),
                }
            }
            Self::Unreadable => return Action::Unreadable(refund.fields.amount),
        };
        Action::Refund(Refund {
            transaction_id: refund.transaction_id,
            other_transaction_id: refund.other_transaction_id,
            amount_cents,
            currency,
            reason: refund.reason,
            identity: refund.identity,
        })
    }
}

/// What a refund names besides its amount: its sale's keys, its reason, its identity, and the names of the
/// provider's amount and currency fields (for the reason an event is not sent).
pub(super) struct RefundKeys {
    pub(super) transaction_id: String,
    pub(super) other_transaction_id: Option<String>,
    pub(super) reason: Option<String>,
    /// What tells this refund from the sale's others.
    pub(super) identity: Option<RefundId>,
    pub(super) fields: RefundFields,
}

/// The names of a provider's refund amount and currency fields, and how it counts amounts.
#[derive(Clone, Copy)]
pub(super) struct RefundFields {
    pub(super) amount: &'static str,
    pub(super) currency: &'static str,
    /// How the provider counts the amount's minor units.
    pub(super) exponents: &'static Exponents,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(time: Option<SystemTime>) -> Option<u64> {
        time.map(|time| time.duration_since(UNIX_EPOCH).unwrap().as_secs())
    }

    #[test]
    fn rfc3339_timestamps_are_read_to_the_second() {
        assert_eq!(unix(rfc3339("1970-01-01T00:00:00Z")), Some(0));
        assert_eq!(unix(rfc3339("2025-06-01T10:00:00Z")), Some(1_748_772_000));
        assert_eq!(
            unix(rfc3339("2025-06-01T10:00:00.123456Z")),
            Some(1_748_772_000)
        );
        assert_eq!(
            unix(rfc3339("2025-06-01T12:00:00+02:00")),
            Some(1_748_772_000)
        );
        assert_eq!(
            unix(rfc3339("2024-02-29T00:00:00-00:30")),
            Some(1_709_166_600)
        );
        for text in [
            "",
            "2025-06-01",
            "2025-13-01T00:00:00Z",
            "2025-06-01T10:00:00",
            "x025-06-01T10:00:00Z",
            "2025-06-01T10:00:00+2:00",
        ] {
            assert_eq!(rfc3339(text), None, "{text}");
        }
    }

    #[test]
    fn a_click_id_read_from_an_event_is_noted_as_found_there() {
        let found = click_id(Some("abc123".to_owned())).unwrap();
        assert_eq!(found.as_str(), "abc123");
        assert_eq!(found.source(), Some("the provider's event"));
        assert_eq!(click_id(Some("not a click id".to_owned())), None);
        assert_eq!(click_id(None), None);
    }
}
