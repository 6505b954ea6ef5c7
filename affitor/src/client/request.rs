//! What every request builder shares: cleaning the fields it is given, the checks `send` runs
//! before any I/O, and the redaction of personal data in `Debug` output.

use std::fmt;

use serde_json::{Map, Value};

use super::endpoint::Endpoint;
use super::error::{Error, ErrorKind};

/// The largest amount the API accepts, in cents.
pub(super) const MAX_AMOUNT_CENTS: u64 = i64::MAX as u64;

/// The longest customer key or transaction id, in bytes: well within what a Postgres index
/// entry holds (about 2,700), and far beyond any id a payment provider or an app makes.
pub(super) const MAX_KEY_LEN: usize = 1024;

/// `Some(value)` unless it is empty or only whitespace.
pub(super) fn non_empty(value: impl Into<String>) -> Option<String> {
    let value = value.into();
    (!value.trim().is_empty()).then_some(value)
}

/// `additional_data` with `test_mode: true` for a test event, and without a `test_mode` of the
/// caller's otherwise: whether a call is a test is the client's or the call's decision only,
/// never the data's (an app that forwards form or UTM fields would let a visitor mark their own
/// lead as a test, which credits no partner).
pub(super) fn with_test_mode(
    test_mode: bool,
    additional_data: Option<Map<String, Value>>,
) -> Option<Map<String, Value>> {
    let mut data = additional_data.unwrap_or_default();
    if test_mode {
        data.insert("test_mode".to_owned(), Value::Bool(true));
    } else if data.remove("test_mode").is_some() {
        tracing::debug!(
            "additional_data.test_mode left out: a live call is a test only when the client's or \
             the request's `test_mode` says so"
        );
    }
    (!data.is_empty()).then_some(data)
}

/// Checks an amount in cents: positive (unless `zero_allowed`) and within what the API takes.
pub(super) fn check_amount(
    endpoint: Endpoint,
    amount_cents: u64,
    zero_allowed: bool,
) -> Result<(), Error> {
    let problem = if amount_cents == 0 && !zero_allowed {
        "it is 0; it must be a positive whole number of cents (skip zero-amount payments)"
    } else if amount_cents > MAX_AMOUNT_CENTS {
        "it is larger than the API accepts (at most i64::MAX cents)"
    } else {
        return Ok(());
    };
    Err(Error::new(ErrorKind::InvalidAmount)
        .with_endpoint(endpoint)
        .with_detail(problem))
}

/// Checks that a transaction id is not blank, and is a key ([`check_key`]).
pub(super) fn check_transaction_id(endpoint: Endpoint, transaction_id: &str) -> Result<(), Error> {
    if transaction_id.trim().is_empty() {
        return Err(Error::new(ErrorKind::MissingTransactionId).with_endpoint(endpoint));
    }
    check_key(endpoint, "transaction id", Some(transaction_id))
}

/// Checks that `key` (`what`: "customer key", "transaction id"), when given, is one a store can
/// index: no NUL character (Postgres's text refuses it) and at most [`MAX_KEY_LEN`] bytes.
pub(super) fn check_key(endpoint: Endpoint, what: &str, key: Option<&str>) -> Result<(), Error> {
    match key {
        Some(key) if key.contains('\0') => {
            Err(invalid_key(endpoint, what, "holds a NUL character"))
        }
        Some(key) if key.len() > MAX_KEY_LEN => Err(invalid_key(
            endpoint,
            what,
            &format!("is {} bytes long", key.len()),
        )),
        _ => Ok(()),
    }
}

fn invalid_key(endpoint: Endpoint, what: &str, problem: &str) -> Error {
    Error::new(ErrorKind::InvalidKey)
        .with_endpoint(endpoint)
        .with_detail(format!("{what} {problem}"))
}

/// The error of a lead or a sale that names neither a customer key nor a click id.
pub(super) fn missing_customer(endpoint: Endpoint) -> Error {
    Error::new(ErrorKind::MissingCustomer).with_endpoint(endpoint)
}

/// Shown in `Debug` output in place of personal data (a customer key, an email).
pub(super) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::Client;
    use super::*;

    /// A client outside test mode, for the request builders' unit tests.
    pub(in crate::client) fn client() -> Client {
        Client::builder().api_key("aff_test_key").build().unwrap()
    }

    /// A client in test mode.
    pub(in crate::client) fn test_client() -> Client {
        Client::builder()
            .api_key("aff_test_key")
            .test_mode(true)
            .build()
            .unwrap()
    }

    /// The JSON a payload is sent as.
    pub(in crate::client) fn body<T: serde::Serialize>(payload: &T) -> Value {
        serde_json::to_value(payload).unwrap()
    }

    #[test]
    fn blank_values_are_none() {
        assert_eq!(non_empty(" \n"), None);
        assert_eq!(non_empty("a"), Some("a".to_owned()));
        assert_eq!(format!("{:?}", Some(Redacted)), "Some(<redacted>)");
    }
}
