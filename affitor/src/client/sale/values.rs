//! The values only a sale carries: its currency, its type and its renewal interval.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::endpoint::Endpoint;
use crate::client::error::{Error, ErrorKind};

/// A three-letter currency code, sent upper-case.
///
/// The API documents `USD`, `EUR` and `VND`; other ISO 4217 codes go in [`Currency::Other`].
/// Without a currency the API assumes `USD`.
///
/// ```
/// use affitor::client::Currency;
///
/// assert_eq!(Currency::from_code("eur")?, Currency::Eur);
/// assert_eq!("gbp".parse::<Currency>()?, Currency::Other("GBP".into()));
/// assert_eq!(Currency::Vnd.to_string(), "VND");
/// assert!(Currency::from_code("dollars").is_err());
/// # Ok::<(), affitor::Error>(())
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
    /// Another three-letter code, such as `GBP`. It is checked and upper-cased when the sale is
    /// sent; [`Currency::from_code`] checks it at once.
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

    pub(super) fn validate(&self) -> Result<(), Error> {
        if is_currency_code(self.code()) {
            Ok(())
        } else {
            Err(invalid_currency(self.code()))
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
