//! Amounts in currencies the Affitor API does not take, converted before anything is sent.
//!
//! The API takes `USD`, `EUR` and `VND`. A payment in another currency is converted with the
//! verifier's [`CurrencyConverter`], in minor units on both sides (JPY has none, KWD three);
//! without one, the event is not sent and the provider is answered 500, so that it keeps the
//! event until a converter is configured and the event is sent again.

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
///     .rate("GBP", 1.27)
///     .rate("JPY", 0.0067);
/// let stripe = Verifier::<Stripe>::builder().secret("whsec_test").currency_converter(rates).build()?;
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

    /// What one unit of `code` (any case) is worth in the target currency. A rate that is not
    /// a positive finite number is left out.
    ///
    /// ```
    /// let rates = affitor::webhook::ExchangeRates::to(affitor::client::Currency::Usd)
    ///     .rate("gbp", 1.27);
    /// ```
    #[must_use]
    pub fn rate(mut self, code: &str, rate: f64) -> Self {
        if rate.is_finite() && rate > 0.0 {
            self.rates.insert(code.trim().to_ascii_uppercase(), rate);
        }
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

/// Whether the Affitor API takes amounts in `currency`.
pub(crate) fn is_supported(currency: &Currency) -> bool {
    !matches!(currency, Currency::Other(_))
}

/// The number of decimals of a currency's minor unit, as payment providers count amounts:
/// 0 for JPY, KRW, VND and the other zero-decimal currencies, 3 for BHD, JOD, KWD, OMR, TND
/// (and IQD, LYD), 2 for the rest.
pub(crate) fn minor_unit_exponent(code: &str) -> i32 {
    const ZERO: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    if ZERO.contains(&code) {
        0
    } else if THREE.contains(&code) {
        3
    } else {
        2
    }
}

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
    if is_supported(from) {
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
    if !is_supported(&into) || !rate.is_finite() || rate <= 0.0 {
        return Err(unsupported("the converter's rate is not usable"));
    }
    let scale = minor_unit_exponent(&into.to_string()) - minor_unit_exponent(&code);
    // f64 holds every amount up to 2^53 minor units exactly; the rate is approximate anyway.
    #[allow(clippy::cast_precision_loss)]
    let converted = (amount as f64) * rate * 10f64.powi(scale);
    // `i64::MAX as f64` is 2^63, one past the largest amount the API takes: the float is
    // clamped to it and the integer to the API's bound (a float cast saturates).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let converted = (converted.round().clamp(1.0, i64::MAX as f64) as u64).min(i64::MAX as u64);
    Ok((converted, into))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Converter {
        Converter(std::sync::Arc::new(
            ExchangeRates::to(Currency::Usd)
                .rate("JPY", 0.0067)
                .rate("KWD", 3.25)
                .rate("GBP", 1.27)
                .rate("XXX", f64::NAN),
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
            ExchangeRates::to(Currency::Usd).rate("GBP", 1e9),
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
        // A rate that is not a positive number was never kept.
        let xxx = Currency::from_code("XXX").unwrap();
        assert!(to_supported(Endpoint::Sale, 1000, &xxx, Some(&rates())).is_err());
    }
}
