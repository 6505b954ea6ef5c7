//! Amounts in currencies the Affitor API does not take, converted before anything is sent.
//!
//! The API takes `USD`, `EUR` and `VND`. A payment in another currency is converted with the
//! verifier's [`CurrencyConverter`], in minor units on both sides (JPY has none, KWD three);
//! without one, the event is not sent and the provider is answered 500, so that it keeps the
//! event until a converter is configured and the event is sent again.
//!
//! Each provider counts minor units as its own docs say, which is not always ISO 4217's (Stripe
//! writes ISK with two decimals): an event's amount is read with its provider's table
//! (`STRIPE`, `PADDLE`, `POLAR`, `LEMON_SQUEEZY`) into ISO 4217 minor units
//! (`ISO_4217`), which is what a [`Sale`](super::Sale) or [`Refund`](super::Refund) holds.

use std::collections::HashMap;
use std::fmt;

use crate::{
    Error,
    client::{Currency, ErrorKind},
    endpoint::Endpoint,
};

/// Gives the exchange rate for amounts in a currency the Affitor API does not take.
///
/// Set one with [`Builder::currency_converter`](super::Builder::currency_converter). The
/// verifier does the arithmetic in minor units (the provider's `amount` of `¥500` is `500`, of
/// `KWD 1.250` is `1250`): the converter only says what one whole unit is worth. Rates change
/// slowly; keep them in memory and refresh them in the background, since this is called while
/// the provider waits.
///
/// ```
/// use affitor::client::Currency;
/// use affitor::webhook::CurrencyConverter;
///
/// /// Every amount in US dollars, at rates kept up to date elsewhere.
/// struct Rates;
///
/// impl CurrencyConverter for Rates {
///     fn rate(&self, from: &str) -> Option<(Currency, f64)> {
///         match from {
///             "GBP" => Some((Currency::Usd, 1.27)),
///             "JPY" => Some((Currency::Usd, 0.0067)),
///             _ => None,
///         }
///     }
/// }
/// ```
pub trait CurrencyConverter: Send + Sync + 'static {
    /// The currency to send an amount in `from` (an upper-case ISO 4217 code) as, and how many
    /// units of it one unit of `from` is worth; `None` when there is no rate.
    fn rate(&self, from: &str) -> Option<(Currency, f64)>;
}

/// A [`CurrencyConverter`] with fixed rates into one currency.
///
/// ```
/// use affitor::client::Currency;
/// use affitor::webhook::{ExchangeRates, Stripe, Verifier};
///
/// let rates = ExchangeRates::to(Currency::Usd)
///     .with_rate("GBP", 1.27)
///     .with_rate("JPY", 0.0067);
/// let stripe = Verifier::<Stripe>::builder().secret("whsec_test_signing").currency_converter(rates).build()?;
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ExchangeRates {
    into: Currency,
    rates: HashMap<String, f64>,
}

impl ExchangeRates {
    /// Rates into `currency`, none set yet.
    ///
    /// ```
    /// let rates = affitor::webhook::ExchangeRates::to(affitor::client::Currency::Eur);
    /// ```
    pub fn to(currency: Currency) -> Self {
        Self {
            into: currency,
            rates: HashMap::new(),
        }
    }

    /// Adds the rate of `code` (any case): what one unit of it is worth in the target
    /// currency. Setting a code again replaces its rate.
    ///
    /// ```
    /// let rates = affitor::webhook::ExchangeRates::to(affitor::client::Currency::Usd)
    ///     .with_rate("gbp", 1.27);
    /// ```
    ///
    /// # Panics
    ///
    /// When `rate` is not a positive finite number (zero, negative, NaN or infinite): no amount
    /// could be converted with it. A rate read at run time (from a file, a feed) is checked
    /// first, or given by a [`CurrencyConverter`] of your own, whose unusable rate fails only
    /// the events in its currency.
    ///
    /// ```should_panic
    /// let rates = affitor::webhook::ExchangeRates::to(affitor::client::Currency::Usd)
    ///     .with_rate("GBP", 0.0);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_rate(mut self, code: &str, rate: f64) -> Self {
        let code = code.trim().to_ascii_uppercase();
        assert!(
            rate.is_finite() && rate > 0.0,
            "ExchangeRates::with_rate: the rate of {code} is {rate}; a rate is a positive finite \
             number (what one unit of {code} is worth in the target currency)"
        );
        self.rates.insert(code, rate);
        self
    }
}

impl CurrencyConverter for ExchangeRates {
    fn rate(&self, from: &str) -> Option<(Currency, f64)> {
        self.rates.get(from).map(|rate| (self.into.clone(), *rate))
    }
}

/// The converter a verifier holds, printed without its rates.
#[derive(Clone)]
pub(crate) struct Converter(pub(crate) std::sync::Arc<dyn CurrencyConverter>);

impl fmt::Debug for Converter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurrencyConverter(..)")
    }
}

/// How many decimals the amounts of a currency have, as one source counts them: the minor unit
/// its amounts are written in. Only the currencies listed are known; an amount in any other is
/// refused, never guessed (a wrong guess pays a hundred times the sale, or a hundredth).
#[derive(Debug)]
pub(crate) struct Exponents {
    /// Whose count it is, for the log of a currency it does not know.
    pub(crate) source: &'static str,
    /// The currencies without decimals (an amount of `500` is ¥500), sorted.
    zero: &'static [&'static str],
    /// The currencies with two (an amount of `4900` is $49.00), sorted.
    two: &'static [&'static str],
    /// The currencies with three (an amount of `1250` is KWD 1.250), sorted.
    three: &'static [&'static str],
}

impl Exponents {
    /// The number of decimals of `code` (an upper-case ISO 4217 code); `None` when this source
    /// is not known to write it.
    pub(crate) fn of(&self, code: &str) -> Option<u8> {
        [(0, self.zero), (2, self.two), (3, self.three)]
            .into_iter()
            .find_map(|(decimals, codes)| codes.binary_search(&code).is_ok().then_some(decimals))
    }

    /// `amount`, counted as this source counts `currency`, in ISO 4217 minor units: what the
    /// verifier's events hold and its converter is given; `None` when this source or ISO 4217
    /// does not know the currency. Only where the source's minor unit is not ISO's does the
    /// amount change (Stripe's ISK: 100000 is kr 1,000, which ISO counts as 1000). A division
    /// rounds half up and never makes a payment nothing.
    pub(crate) fn to_iso(&self, amount: u64, currency: &Currency) -> Option<u64> {
        let code = currency.to_string();
        let (from, to) = (self.of(&code)?, ISO_4217.of(&code)?);
        Some(if to >= from {
            amount.saturating_mul(10u64.pow(u32::from(to - from)))
        } else {
            let unit = 10u64.pow(u32::from(from - to));
            (amount / unit + u64::from(amount % unit >= unit.div_ceil(2)))
                .max(u64::from(amount > 0))
        })
    }
}

/// ISO 4217's minor units (the list of 1 January 2026, <https://www.six-group.com/en/products-services/financial-information/data-standards.html>),
/// and three codes withdrawn since that Stripe still lists (ANG, BGN, STD, two decimals when
/// they were current): the unit the verifier's events count in, whichever provider sent them,
/// and the arithmetic of the converter. MGA and MRU, whose minor unit is a fifth, are written
/// with two decimals; the units of account of four decimals (CLF, UYW) are left out.
pub(crate) const ISO_4217: Exponents = Exponents {
    source: "ISO 4217",
    zero: &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ],
    two: &[
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
        "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
        "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD",
        "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
        "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW",
        "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT",
        "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
        "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR",
        "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STD", "STN", "SVC",
        "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN",
        "UYU", "UZS", "VED", "VES", "WST", "XAD", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
    ],
    three: &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"],
};

/// Stripe's, from <https://docs.stripe.com/currencies>: its presentment currencies, with its
/// zero-decimal and three-decimal lists ("Minor units in API amounts"). Not ISO's in two
/// places, its special cases (<https://docs.stripe.com/currencies#special-cases>): ISK and UGX,
/// zero-decimal currencies that Stripe's API keeps two-decimal "for backwards compatibility"
/// (an amount of `100` is 1 króna, or 1 shilling; ISK amounts must be multiples of 100 since
/// 2023: <https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds>).
/// HUF and TWD, special cases too, are two-decimal in charges (zero-decimal only in payouts), as
/// in ISO. Stripe lists MGA as zero-decimal.
pub(crate) const STRIPE: Exponents = Exponents {
    source: "Stripe",
    zero: &[
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF",
        "XOF", "XPF",
    ],
    two: &[
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
        "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY",
        "COP", "CRC", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ETB", "EUR", "FJD", "FKP", "GBP",
        "GEL", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "ISK",
        "JMD", "KES", "KGS", "KHR", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL",
        "MKD", "MMK", "MNT", "MOP", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO",
        "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB",
        "SAR", "SBD", "SCR", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "STD", "SVC", "SZL", "THB",
        "TJS", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "WST", "XCD",
        "XCG", "YER", "ZAR", "ZMW",
    ],
    three: &["BHD", "JOD", "KWD", "OMR", "TND"],
};

/// Paddle Billing's, from <https://developer.paddle.com/api-reference/currencies> (amounts are
/// strings "in the lowest denomination", two decimals but for the currencies whose
/// `decimal_places` is 0: "100 JPY is `"100"`") and the currencies it sells in (the
/// `CurrencyCode` of its API, <https://developer.paddle.com/concepts/sell/supported-currencies>):
/// CLP, JPY, KRW and VND have no decimals; none of its currencies has three.
pub(crate) const PADDLE: Exponents = Exponents {
    source: "Paddle",
    zero: &["CLP", "JPY", "KRW", "VND"],
    two: &[
        "ARS", "AUD", "BRL", "CAD", "CHF", "CNY", "COP", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF",
        "ILS", "INR", "MXN", "NOK", "NZD", "PEN", "PLN", "RUB", "SEK", "SGD", "THB", "TRY", "TWD",
        "UAH", "USD", "ZAR",
    ],
    three: &[],
};

/// Polar's: its amounts are "in cents" of the order's currency, one of its presentment
/// currencies (the `PresentmentCurrency` of its API, <https://docs.polar.sh/api-reference>),
/// and its own arithmetic (`server/polar/kit/currency.py` in polarsource/polar, 2026) divides the
/// amounts of its zero-decimal list by 1 and every other by 100, as Stripe, which charges them,
/// counts them (UGX and ISK in hundredths). None has three decimals.
pub(crate) const POLAR: Exponents = Exponents {
    source: "Polar",
    zero: &[
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF",
        "XOF", "XPF",
    ],
    two: &[
        "AED", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BMD", "BND",
        "BOB", "BRL", "BSD", "BWP", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CVE", "CZK",
        "DKK", "DOP", "DZD", "EGP", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GIP", "GMD", "GTQ",
        "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "ISK", "JMD", "KES", "KGS", "KHR",
        "KYD", "KZT", "LAK", "LKR", "LRD", "LSL", "MAD", "MDL", "MKD", "MNT", "MOP", "MUR", "MVR",
        "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK",
        "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "SAR", "SBD", "SCR", "SEK", "SGD", "SHP", "SOS",
        "SRD", "SZL", "THB", "TJS", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU",
        "UZS", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW",
    ],
    three: &[],
};

/// Lemon Squeezy's: amounts are "a positive integer in cents ... in the order currency"
/// (<https://docs.lemonsqueezy.com/api/orders>), which it formats by the currency's ISO 4217
/// minor unit (a TND amount as `TND0.000`); its docs name no exception, so ISO's table.
pub(crate) const LEMON_SQUEEZY: Exponents = Exponents {
    source: "Lemon Squeezy",
    ..ISO_4217
};

/// `amount` minor units of `from`, in a currency the API takes: as they are when it takes
/// `from`, else converted with `converter`.
///
/// # Errors
///
/// [`ErrorKind::UnsupportedCurrency`] without a converter, or when it has no rate for `from`.
pub(crate) fn to_supported(
    endpoint: Endpoint,
    amount: u64,
    from: &Currency,
    converter: Option<&Converter>,
) -> Result<(u64, Currency), Error> {
    if from.is_supported() {
        return Ok((amount, from.clone()));
    }
    let code = from.to_string();
    let unsupported = |why: &str| {
        Error::new(ErrorKind::UnsupportedCurrency)
            .with_endpoint(endpoint)
            .with_detail(format!(
            "an amount in {code}, which the Affitor API does not take (USD, EUR, VND), and {why}: \
             set a currency converter on the webhook verifier \
             (`Builder::currency_converter`), then have the provider send the event again"
        ))
    };
    let Some(converter) = converter else {
        return Err(unsupported("no currency converter is set"));
    };
    let Some((into, rate)) = converter.0.rate(&code) else {
        return Err(unsupported("the currency converter has no rate for it"));
    };
    if !into.is_supported() || !rate.is_finite() || rate <= 0.0 {
        return Err(unsupported("the converter's rate is not usable"));
    }
    // Both sides in ISO 4217 minor units: the provider's amount was read into them.
    let (Some(to), Some(from)) = (ISO_4217.of(&into.to_string()), ISO_4217.of(&code)) else {
        return Err(unsupported("ISO 4217 names no minor unit for it"));
    };
    let scale = i32::from(to) - i32::from(from);
    // f64 holds every amount up to 2^53 minor units exactly; the rate is approximate anyway.
    #[allow(clippy::cast_precision_loss)]
    let converted = (amount as f64) * rate * 10f64.powi(scale);
    // `i64::MAX as f64` is 2^63, one past the largest amount the API takes: the float is
    // clamped to it and the integer to the API's bound (a float cast saturates).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let converted = (converted.round().clamp(1.0, i64::MAX as f64) as u64).min(i64::MAX as u64);
    Ok((converted, into))
}

/// What a converted sale was sent as: its amount in the provider's currency and in the one the
/// API took. A payment state keeps it, so that the sale's redeliveries and twin events send what
/// was sent the first time, and its refunds convert at the sale's rate: at a later day's rate, a
/// full refund reads to the API as a partial one (or as more than the sale).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SaleRate {
    from: Currency,
    original: u64,
    into: Currency,
    sent: u64,
}

/// What the key of a sale's rate opens with.
const RATE: &str = "rate:";

impl SaleRate {
    /// The rate of a sale of `original` in `from`, sent as `sent` in `into`; `None` for an
    /// amount of 0.
    pub(crate) fn new(from: Currency, original: u64, into: Currency, sent: u64) -> Option<Self> {
        (original > 0 && sent > 0).then_some(Self {
            from,
            original,
            into,
            sent,
        })
    }

    /// The key of the fact that keeps the rate of `provider`'s sale `transaction_id`.
    pub(crate) fn key(provider: &str, transaction_id: &str) -> String {
        format!("{RATE}{provider}:{transaction_id}")
    }

    /// Whether `key` is the key of a sale's rate.
    pub(crate) fn is_key(key: &str) -> bool {
        key.starts_with(RATE)
    }

    /// The fact's value, such as `GBP 4900 USD 6223` (amounts in minor units).
    pub(crate) fn value(&self) -> String {
        format!(
            "{} {} {} {}",
            self.from, self.original, self.into, self.sent
        )
    }

    /// The rate a fact's value holds; `None` when it holds none, or none this verifier would
    /// have kept (into a currency the API does not take, say).
    pub(crate) fn read(value: &str) -> Option<Self> {
        let mut parts = value.split_whitespace();
        let from = Currency::from_code(parts.next()?).ok()?;
        let original = parts.next()?.parse().ok()?;
        let into = Currency::from_code(parts.next()?).ok()?;
        let sent = parts.next()?.parse().ok()?;
        let usable = parts.next().is_none() && into.is_supported() && !from.is_supported();
        usable
            .then(|| Self::new(from, original, into, sent))
            .flatten()
    }

    /// A sale of `amount` in `from` under the same transaction id (a redelivery, or its twin
    /// event), as this rate sends it: the same amount is what was sent before, another its
    /// share; `None` when it is in another currency.
    pub(crate) fn sale(&self, amount: u64, from: &Currency) -> Option<(u64, Currency)> {
        (*from == self.from).then(|| (self.share(amount), self.into.clone()))
    }

    /// A refund of `amount` in `from`, in the currency the sale was sent in: the whole sale is
    /// exactly what was sent, a part its share (never more than the sale); `None` when the
    /// refund is not in the sale's currency.
    pub(crate) fn refund(&self, amount: u64, from: &Currency) -> Option<u64> {
        (*from == self.from).then(|| self.share(amount.min(self.original)))
    }

    /// `amount` at this rate, rounded, never 0: `original` is exactly `sent`.
    fn share(&self, amount: u64) -> u64 {
        let (amount, original, sent) = (
            u128::from(amount),
            u128::from(self.original),
            u128::from(self.sent),
        );
        let share = (amount * sent + original / 2) / original;
        u64::try_from(share).map_or(u64::MAX, |share| share.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_converts_at_its_sales_rate() {
        let gbp = Currency::from_code("GBP").unwrap();
        let rate = SaleRate::new(gbp.clone(), 5000, Currency::Usd, 3350).unwrap();
        assert_eq!(rate.value(), "GBP 5000 USD 3350");
        let rate = SaleRate::read(&rate.value()).unwrap();
        assert_eq!(
            rate.sale(5000, &gbp),
            Some((3350, Currency::Usd)),
            "sent as before"
        );
        assert_eq!(
            rate.sale(10000, &gbp),
            Some((6700, Currency::Usd)),
            "at the same rate"
        );
        assert_eq!(
            rate.refund(5000, &gbp),
            Some(3350),
            "the whole sale is what was sent"
        );
        assert_eq!(
            rate.refund(9000, &gbp),
            Some(3350),
            "never more than the sale"
        );
        assert_eq!(rate.refund(2500, &gbp), Some(1675));
        assert_eq!(rate.refund(1, &gbp), Some(1), "never 0");
        let yen = Currency::from_code("JPY").unwrap();
        assert_eq!(rate.refund(2500, &yen), None, "not the sale's currency");
        assert_eq!(rate.sale(5000, &yen), None, "not the sale's currency");
        for unusable in [
            "GBP 5000 USD 0",
            "GBP 0 USD 10",
            "GBP 5000 USD",
            "GBP 1 USD 1 x",
            "GBP 1 CHF 2",
            "USD 1 EUR 2",
            "",
        ] {
            assert_eq!(SaleRate::read(unusable), None, "{unusable:?}");
        }
    }

    fn rates() -> Converter {
        Converter(std::sync::Arc::new(
            ExchangeRates::to(Currency::Usd)
                .with_rate("JPY", 0.0067)
                .with_rate("KWD", 3.25)
                .with_rate("GBP", 1.27),
        ))
    }

    #[test]
    fn minor_units_are_counted_per_currency() {
        // ¥500 (no decimals) is $3.35.
        assert_eq!(
            to_supported(
                Endpoint::Sale,
                500,
                &Currency::from_code("JPY").unwrap(),
                Some(&rates())
            )
            .unwrap(),
            (335, Currency::Usd)
        );
        // KWD 1.250 (three decimals) is $4.06 (4.0625, rounded).
        assert_eq!(
            to_supported(
                Endpoint::Sale,
                1250,
                &Currency::from_code("kwd").unwrap(),
                Some(&rates())
            )
            .unwrap(),
            (406, Currency::Usd)
        );
        // £10.00 is $12.70.
        assert_eq!(
            to_supported(
                Endpoint::Sale,
                1000,
                &Currency::from_code("GBP").unwrap(),
                Some(&rates())
            )
            .unwrap(),
            (1270, Currency::Usd)
        );
        // A tiny amount is never converted to nothing.
        assert_eq!(
            to_supported(
                Endpoint::Sale,
                1,
                &Currency::from_code("JPY").unwrap(),
                Some(&rates())
            )
            .unwrap()
            .0,
            1
        );
    }

    fn iso(table: &Exponents, amount: u64, code: &str) -> u64 {
        table
            .to_iso(amount, &Currency::from_code(code).unwrap())
            .unwrap_or_else(|| panic!("{} knows {code}", table.source))
    }

    const TABLES: [&Exponents; 5] = [&ISO_4217, &STRIPE, &PADDLE, &POLAR, &LEMON_SQUEEZY];

    /// Each list is sorted (it is searched by halves), no currency is in two, and ISO 4217
    /// knows every currency a provider's table does (the converter reckons in its units).
    #[test]
    fn every_table_is_sorted_disjoint_and_within_iso() {
        for table in TABLES {
            let lists = [table.zero, table.two, table.three];
            for list in lists {
                assert!(list.is_sorted(), "{}: {list:?}", table.source);
            }
            let all: Vec<&str> = lists.concat();
            let mut unique = all.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(
                unique.len(),
                all.len(),
                "{}: a code listed twice",
                table.source
            );
            for code in all {
                assert!(ISO_4217.of(code).is_some(), "{}: {code}", table.source);
            }
        }
    }

    /// A currency a provider's table does not list has no count: an amount in it is refused,
    /// never taken for two decimals.
    #[test]
    fn a_currency_a_table_does_not_list_is_unknown() {
        let unknown =
            |table: &Exponents, code: &str| table.to_iso(4900, &Currency::from_code(code).unwrap());
        // Real currencies the providers do not sell in, and a code no one issues.
        assert_eq!(unknown(&PADDLE, "KWD"), None);
        assert_eq!(unknown(&PADDLE, "ISK"), None);
        assert_eq!(unknown(&POLAR, "BHD"), None);
        assert_eq!(unknown(&STRIPE, "IQD"), None);
        for table in TABLES {
            assert_eq!(unknown(table, "XYZ"), None, "{}", table.source);
        }
    }

    #[test]
    fn stripe_counts_isk_in_hundredths_which_iso_does_not() {
        // kr 1,000 is `100000` in Stripe's API, 1000 krónur in ISO minor units.
        assert_eq!(iso(&STRIPE, 100_000, "ISK"), 1000);
        assert_eq!(STRIPE.of("ISK"), Some(2));
        assert_eq!(ISO_4217.of("ISK"), Some(0));
        // Zero-decimal and three-decimal currencies are Stripe's as they are ISO's.
        assert_eq!(iso(&STRIPE, 500, "JPY"), 500);
        assert_eq!(iso(&STRIPE, 1250, "KWD"), 1250);
        assert_eq!(iso(&STRIPE, 4900, "USD"), 4900);
        // HUF and TWD are two-decimal in Stripe's charges, as in ISO. UGX is ISK's case: USh
        // 5,000 is `500000` in Stripe's API (it was read as USh 500,000 before).
        assert_eq!(iso(&STRIPE, 150_000, "HUF"), 150_000);
        assert_eq!(iso(&STRIPE, 150_000, "TWD"), 150_000);
        assert_eq!(iso(&STRIPE, 500_000, "UGX"), 5000);
        assert_eq!(STRIPE.of("UGX"), Some(2));
        // A fraction of a króna (before 2023) rounds half up, and a payment stays one.
        assert_eq!(iso(&STRIPE, 150, "ISK"), 2);
        assert_eq!(iso(&STRIPE, 149, "ISK"), 1);
        assert_eq!(iso(&STRIPE, 20, "ISK"), 1);
        assert_eq!(iso(&STRIPE, 0, "ISK"), 0);
        // Stripe's MGA has no decimals, ISO's two (a fifth): read into ISO's.
        assert_eq!(iso(&STRIPE, 5000, "MGA"), 500_000);
    }

    #[test]
    fn paddle_polar_and_lemon_squeezy_count_zero_decimal_currencies_whole() {
        for table in [&PADDLE, &POLAR, &LEMON_SQUEEZY] {
            assert_eq!(table.of("JPY"), Some(0));
            assert_eq!(iso(table, 500, "JPY"), 500);
            assert_eq!(iso(table, 4900, "EUR"), 4900);
        }
        assert_eq!(iso(&PADDLE, 55_000, "KRW"), 55_000);
        assert_eq!(iso(&LEMON_SQUEEZY, 55_000, "KRW"), 55_000);
        // Polar sells in Stripe's zero-decimal currencies, whole (CLP 5,000 is `5000`), and in
        // ISK and UGX in hundredths, as Stripe charges them.
        assert_eq!(iso(&POLAR, 5000, "CLP"), 5000);
        assert_eq!(iso(&POLAR, 500_000, "UGX"), 5000);
        assert_eq!(iso(&POLAR, 100_000, "ISK"), 1000);
    }

    #[test]
    fn only_stripe_and_lemon_squeezy_take_three_decimal_currencies() {
        // Paddle's and Polar's currencies have none: their tables list none.
        assert!(PADDLE.three.is_empty());
        assert!(POLAR.three.is_empty());
        assert_eq!(STRIPE.three, ["BHD", "JOD", "KWD", "OMR", "TND"]);
        // Lemon Squeezy formats TND with three decimals: ISO's count.
        assert_eq!(LEMON_SQUEEZY.of("TND"), Some(3));
        assert_eq!(iso(&LEMON_SQUEEZY, 1250, "KWD"), 1250);
    }

    #[test]
    fn the_converter_reckons_in_iso_units() {
        // A Stripe sale of kr 1,000 (`100000`), read as 1000 krónur, at $0.0072 a króna.
        let isk = Currency::from_code("ISK").unwrap();
        let converter = Converter(std::sync::Arc::new(
            ExchangeRates::to(Currency::Usd).with_rate("ISK", 0.0072),
        ));
        let amount = iso(&STRIPE, 100_000, "ISK");
        assert_eq!(
            to_supported(Endpoint::Sale, amount, &isk, Some(&converter)).unwrap(),
            (720, Currency::Usd)
        );
    }

    #[test]
    fn supported_currencies_pass_unchanged() {
        for currency in [Currency::Usd, Currency::Eur, Currency::Vnd] {
            assert_eq!(
                to_supported(Endpoint::Sale, 4900, &currency, None).unwrap(),
                (4900, currency)
            );
        }
    }

    #[test]
    fn a_converted_amount_stays_within_what_the_api_takes() {
        let gbp = Currency::from_code("GBP").unwrap();
        let converter = Converter(std::sync::Arc::new(
            ExchangeRates::to(Currency::Usd).with_rate("GBP", 1e9),
        ));
        let (amount, _) =
            to_supported(Endpoint::Sale, u64::MAX / 2, &gbp, Some(&converter)).unwrap();
        assert_eq!(amount, i64::MAX as u64);
    }

    #[test]
    fn without_a_rate_the_error_says_what_to_do() {
        let gbp = Currency::from_code("GBP").unwrap();
        let error = to_supported(Endpoint::Sale, 1000, &gbp, None).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnsupportedCurrency);
        assert!(error.to_string().contains("currency_converter"), "{error}");
        let chf = Currency::from_code("CHF").unwrap();
        let error = to_supported(Endpoint::Sale, 1000, &chf, Some(&rates())).unwrap_err();
        assert!(error.to_string().contains("no rate"), "{error}");
    }

    /// A converter of your own that gives an unusable rate fails the event, not the process.
    #[test]
    fn an_unusable_rate_of_a_converter_is_an_error() {
        struct Broken;
        impl CurrencyConverter for Broken {
            fn rate(&self, _: &str) -> Option<(Currency, f64)> {
                Some((Currency::Usd, f64::NAN))
            }
        }
        let gbp = Currency::from_code("GBP").unwrap();
        let converter = Converter(std::sync::Arc::new(Broken));
        let error = to_supported(Endpoint::Sale, 1000, &gbp, Some(&converter)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnsupportedCurrency);
        assert!(error.to_string().contains("not usable"), "{error}");
    }

    #[test]
    fn exchange_rates_refuse_a_rate_that_is_not_positive_and_finite() {
        for rate in [0.0, -1.27, f64::NAN, f64::INFINITY] {
            let set = std::panic::catch_unwind(|| {
                ExchangeRates::to(Currency::Usd).with_rate("gbp", rate)
            });
            let panic = set.expect_err("refused");
            let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(message.contains("the rate of GBP is"), "{message}");
            assert!(message.contains("positive finite"), "{message}");
        }
    }
}
