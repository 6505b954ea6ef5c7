//! The values only a sale carries: its currency, its type and its renewal interval.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::endpoint::Endpoint;
use crate::client::error::{Error, ErrorKind};

/// A three-letter currency code, sent upper-case.
///
/// The API takes `USD`, `EUR` and `VND`; without a currency it assumes `USD`. Other ISO 4217
/// codes, such as a payment provider reports, read as [`Currency::Other`], and a sale in one is
/// refused before it is sent ([`ErrorKind::UnsupportedCurrency`]): convert its amount first (a
/// payment webhook does, with `webhook::Builder::currency_converter`).
///
/// ```
/// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
/// use affitor::client::{Currency, ErrorKind};
///
/// assert_eq!(Currency::from_code("eur")?, Currency::Eur);
/// assert_eq!(Currency::Vnd.to_string(), "VND");
/// assert!(Currency::from_code("dollars").is_err());
///
/// let pounds = "gbp".parse::<Currency>()?;
/// assert_eq!(pounds, Currency::Other("GBP".into()));
/// let refused = client.sale("in_1001", 4900).customer_key("user_123").currency(pounds);
/// assert_eq!(refused.send().await.unwrap_err().kind(), ErrorKind::UnsupportedCurrency);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Currency {
    /// US dollar, `USD` (the API's default).
    Usd,
    /// Euro, `EUR`.
    Eur,
    /// Vietnamese đồng, `VND`.
    Vnd,
    /// Another three-letter code, such as `GBP`, which the API does not take: a sale in it is
    /// refused before it is sent. [`Currency::from_code`] checks a code at once.
    Other(String),
}

impl Currency {
    /// Reads a three-letter code, in any case.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidCurrency`] unless `code` is three ASCII letters.
    ///
    /// ```
    /// use affitor::client::{Currency, ErrorKind};
    ///
    /// assert_eq!(Currency::from_code("Usd")?, Currency::Usd);
    /// assert_eq!(Currency::from_code("US").unwrap_err().kind(), ErrorKind::InvalidCurrency);
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn from_code(code: &str) -> Result<Self, Error> {
        let code = code.trim();
        if !is_currency_code(code) {
            return Err(invalid_currency(code));
        }
        Ok(match code.to_ascii_uppercase().as_str() {
            "USD" => Self::Usd,
            "EUR" => Self::Eur,
            "VND" => Self::Vnd,
            other => Self::Other(other.to_owned()),
        })
    }

    fn code(&self) -> &str {
        match self {
            Self::Usd => "USD",
            Self::Eur => "EUR",
            Self::Vnd => "VND",
            Self::Other(code) => code,
        }
    }

    /// Whether the Affitor API takes amounts in this currency.
    pub(crate) fn is_supported(&self) -> bool {
        !matches!(self, Self::Other(_))
    }

    /// The currency as a sale sends it: read again from its code, so that an `Other("usd")`
    /// is `Usd`, and refused unless the API takes it.
    pub(super) fn checked(&self) -> Result<Self, Error> {
        let currency = Self::from_code(self.code())?;
        if currency.is_supported() {
            Ok(currency)
        } else {
            Err(Error::new(ErrorKind::UnsupportedCurrency)
                .with_endpoint(Endpoint::Sale)
                .with_detail(format!(
                    "an amount in {currency}, which the Affitor API does not take (USD, EUR, \
                     VND): convert it into one of them first (a payment webhook converts with \
                     `webhook::Builder::currency_converter`)"
                )))
        }
    }
}

fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_alphabetic())
}

fn invalid_currency(code: &str) -> Error {
    // Show at most a few characters of what was given: it is the caller's input.
    let shown: String = code
        .chars()
        .take(8)
        .flat_map(char::escape_default)
        .collect();
    let ellipsis = if code.chars().count() > 8 { "…" } else { "" };
    Error::new(ErrorKind::InvalidCurrency)
        .with_endpoint(Endpoint::Sale)
        .with_detail(format!("`{shown}{ellipsis}`"))
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.code().chars() {
            fmt::Write::write_char(f, c.to_ascii_uppercase())?;
        }
        Ok(())
    }
}

impl FromStr for Currency {
    type Err = Error;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::from_code(code)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::from_code(&code).map_err(serde::de::Error::custom)
    }
}

/// What kind of sale it is. Without one the API assumes a one-time payment.
///
/// ```
/// let sale_type = affitor::client::SaleType::Subscription;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SaleType {
    /// A one-time payment, `payment`.
    Payment,
    /// A subscription payment, `subscription`.
    Subscription,
}

/// How often a subscription renews.
///
/// ```
/// let interval = affitor::client::SubscriptionInterval::Monthly;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubscriptionInterval {
    /// `monthly`.
    Monthly,
    /// `quarterly`.
    Quarterly,
    /// `annual`.
    Annual,
}
