//! A refund: reverses the commission of an earlier sale (`POST /api/v1/track/refund`).

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::answer::Answer;
use super::endpoint::Endpoint;
use super::error::{Error, clean_message};
use super::lenient;
use super::request::{check_amount, check_transaction_id, non_empty};
use super::transport::{Call, Transport, json_body};
use super::{Client, ErrorKind, Outcome};

/// A refund: reverses the commission of an earlier sale. Made by [`Client::refund`].
///
/// ```
/// # async fn refunded(client: affitor::Client) -> Result<(), affitor::Error> {
/// let outcome = client
///     .refund("in_1QxYz") // the original sale's transaction id
///     .amount_cents(1000) // a partial refund; leave it out for a full one
///     .reason("customer_request")
///     .send()
///     .await?;
/// println!("{outcome:?}");
/// # Ok(())
/// # }
/// ```
#[must_use = "a refund does nothing until you call `send`"]
#[derive(Debug)]
pub struct RefundRequest {
    pub(super) client: Client,
    payload: RefundPayload,
}

impl RefundRequest {
    pub(super) fn new(client: Client, transaction_id: String) -> Self {
        Self {
            client,
            payload: RefundPayload {
                transaction_id,
                refund_amount_cents: None,
                refund_reason: None,
                other_transaction_id: None,
            },
        }
    }

    /// The refunded amount, for a partial refund. 0 means a full refund, as does leaving it out.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.refund("in_1001").amount_cents(1000).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn amount_cents(mut self, amount_cents: u64) -> Self {
        self.payload.refund_amount_cents = (amount_cents > 0).then_some(amount_cents);
        self
    }

    /// Why the payment was refunded, kept for audit.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.refund("in_1001").reason("customer_request").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.payload.refund_reason = non_empty(reason);
        self
    }

    /// Another transaction id the sale may be recorded under, tried when Affitor knows no sale
    /// under the first: a payment that has two ids (a Stripe invoice and the payment intent
    /// that paid it). Affitor reverses a sale's commission once, under whichever id it has.
    /// Both ids share the call's one [`deadline`](crate::client::RetryPolicy::deadline) and
    /// [window for its sale](crate::client::RetryPolicy::refund_not_found_window).
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.refund("in_1001").or_transaction_id("pi_3Q").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn or_transaction_id(mut self, transaction_id: impl Into<String>) -> Self {
        self.payload.other_transaction_id =
            non_empty(transaction_id).filter(|other| *other != self.payload.transaction_id);
        self
    }

    /// Sends the refund, with retries (a 404 is retried for a short while, in case the sale
    /// is still on its way), and says what the API did with it.
    ///
    /// # Errors
    ///
    /// Before any I/O: [`ErrorKind::MissingTransactionId`](crate::client::ErrorKind::MissingTransactionId), [`ErrorKind::InvalidAmount`](crate::client::ErrorKind::InvalidAmount). Then
    /// the API's refusal (404 when no sale has the transaction id) or the transport failure.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::RefundOutcome;
    ///
    /// match client.refund("in_1001").send().await? {
    ///     RefundOutcome::NoCommission => println!("nothing to reverse"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<RefundOutcome, Error> {
        let (client, payload) = self.into_payload()?;
        let answer = payload.send(client.transport(), None).await;
        client.sent(payload, &answer, Outcome::Refund);
        answer
    }

    /// Validates the refund and returns the client and the payload to send.
    pub(super) fn into_payload(self) -> Result<(Client, RefundPayload), Error> {
        let Self { client, payload } = self;
        check_transaction_id(Endpoint::Refund, &payload.transaction_id)?;
        if let Some(amount) = payload.refund_amount_cents {
            check_amount(Endpoint::Refund, amount, true)?;
        }
        if let Some(other) = &payload.other_transaction_id {
            check_transaction_id(Endpoint::Refund, other)?;
        }
        Ok((client, payload))
    }
}

/// The body of `POST /api/v1/track/refund`. Unset fields are omitted, never `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RefundPayload {
    pub(super) transaction_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) refund_amount_cents: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) refund_reason: Option<String>,
    /// The id tried when Affitor knows no sale under `transaction_id`
    /// ([`RefundRequest::or_transaction_id`]): the client's, never sent.
    #[serde(skip)]
    pub(super) other_transaction_id: Option<String>,
}

impl RefundPayload {
    /// Sends the refund under its transaction id, then, when Affitor knows no sale under it
    /// and the refund names another, under that one, within what is left of the one deadline
    /// and window for its sale; adds the retries to `retries` when given.
    pub(super) async fn send(
        &self,
        transport: &Transport,
        retries: Option<&AtomicU64>,
    ) -> Result<RefundOutcome, Error> {
        let started = Instant::now();
        let sent = transport.call_since(self, retries, started).await.result;
        match (sent, &self.other_transaction_id) {
            (Err(error), Some(other))
                if error.kind() == ErrorKind::SaleNotFound
                    && transport.retry.has_time_for_an_attempt(started.elapsed()) =>
            {
                let again = Self {
                    transaction_id: other.clone(),
                    other_transaction_id: None,
                    ..self.clone()
                };
                transport.call_since(&again, retries, started).await.result
            }
            (sent, _) => sent,
        }
    }
}

/// What the API did with a refund.
///
/// ```
/// use affitor::client::RefundOutcome;
///
/// fn settled(outcome: &RefundOutcome) -> bool {
///     !matches!(outcome, RefundOutcome::NoCommission)
/// }
/// assert!(!settled(&RefundOutcome::NoCommission));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RefundOutcome {
    /// The commission was reversed in full by this call.
    ///
    /// Also when the answer to the attempt that reversed it was lost (a timeout, a broken
    /// connection, a 5xx) and the retry found it already reversed: then `deduction_amount` is
    /// `None`.
    #[non_exhaustive]
    Reversed {
        /// The reversed commission, when given.
        commission_id: Option<u64>,
        /// The amount taken off the commission, in the currency's main unit (dollars, not
        /// cents) as the API reports it, when given.
        deduction_amount: Option<f64>,
    },
    /// The commission was reduced in proportion to a partial refund, by this call (also when
    /// the answer to the attempt that did it was lost, as for [`RefundOutcome::Reversed`]).
    #[non_exhaustive]
    PartiallyRefunded {
        /// The reduced commission, when given.
        commission_id: Option<u64>,
        /// The amount taken off the commission, in the currency's main unit, when given.
        deduction_amount: Option<f64>,
    },
    /// Nothing to do: the API had processed a refund of this sale before (it reverses a sale's
    /// commission once): a duplicate delivery, or a later refund of the same sale.
    #[non_exhaustive]
    Skipped {
        /// Why, such as `"already reversed"`, when given.
        reason: Option<String>,
        /// The commission concerned, when given.
        commission_id: Option<u64>,
    },
    /// The sale had no commission to reverse.
    NoCommission,
    /// A status this version of the client does not know.
    #[non_exhaustive]
    Other {
        /// The status as the API sent it.
        status: String,
        /// The commission concerned, when given.
        commission_id: Option<u64>,
    },
}

/// What the client reads of the API's answer to a refund.
#[derive(Debug, Deserialize)]
struct RefundAnswer {
    #[serde(default, deserialize_with = "lenient::flag")]
    success: Option<bool>,
    #[serde(default, deserialize_with = "lenient::any_text")]
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "lenient::id")]
    commission_id: Option<u64>,
    /// The API's spelling; `deduction_amount` is read too.
    #[serde(
        default,
        rename = "deductionAmount",
        deserialize_with = "lenient::number"
    )]
    deduction_amount_camel: Option<f64>,
    #[serde(default, deserialize_with = "lenient::number")]
    deduction_amount: Option<f64>,
}

/// Reads the answer to a refund. `partial`: the refund named an amount, so that a reversal
/// this call made but whose answer was lost is reported as the partial refund it was.
pub(super) fn decode(answer: &Answer, key: &str, partial: bool) -> Result<RefundOutcome, Error> {
    let wire: RefundAnswer = answer.read(Endpoint::Refund)?;
    if wire.success == Some(false) {
        return Err(answer.refusal(Endpoint::Refund, key));
    }
    let commission_id = wire.commission_id;
    let deduction_amount = wire.deduction_amount_camel.or(wire.deduction_amount);
    let status = wire.status.map(|status| status.trim().to_ascii_lowercase());
    Ok(match status.as_deref() {
        None | Some("reversed") => RefundOutcome::Reversed {
            commission_id,
            deduction_amount,
        },
        Some("refunded" | "partially_refunded" | "partial") => RefundOutcome::PartiallyRefunded {
            commission_id,
            deduction_amount,
        },
        // An earlier attempt of this very call was processed and its answer lost: the
        // reversal the API found is this call's, as a sale's 409 then means recorded.
        Some("skipped") if answer.after_uncertain_attempt && partial => {
            RefundOutcome::PartiallyRefunded {
                commission_id,
                deduction_amount: None,
            }
        }
        Some("skipped") if answer.after_uncertain_attempt => RefundOutcome::Reversed {
            commission_id,
            deduction_amount: None,
        },
        Some("skipped") => RefundOutcome::Skipped {
            reason: wire.reason.map(|reason| clean_message(&reason, key)),
            commission_id,
        },
        Some("no_commission") => RefundOutcome::NoCommission,
        Some(other) => RefundOutcome::Other {
            status: clean_message(other, key),
            commission_id,
        },
    })
}

impl Call for RefundPayload {
    const ENDPOINT: Endpoint = Endpoint::Refund;
    type Outcome = RefundOutcome;

    fn body(&self) -> Result<Option<Bytes>, serde_json::Error> {
        json_body(self)
    }

    fn decode(&self, answer: &Answer, key: &str) -> Result<RefundOutcome, Error> {
        let partial = self.refund_amount_cents.is_some_and(|amount| amount > 0);
        decode(answer, key, partial)
    }

    fn label(outcome: &RefundOutcome) -> &'static str {
        match outcome {
            RefundOutcome::Reversed { .. } => "reversed",
            RefundOutcome::PartiallyRefunded { .. } => "partially_refunded",
            RefundOutcome::Skipped { .. } => "skipped",
            RefundOutcome::NoCommission => "no_commission",
            RefundOutcome::Other { .. } => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::client::ErrorKind;
    use crate::client::request::tests::{body, client, test_client};

    const KEY: &str = "aff_test_key";

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_owned()),
            after_uncertain_attempt: false,
        }
    }

    #[test]
    fn bodies() {
        let (_, refund) = client().refund("in_1").into_payload().unwrap();
        assert_eq!(body(&refund), json!({"transaction_id": "in_1"}));
        let (_, refund) = client()
            .refund("in_1")
            .amount_cents(500)
            .reason("customer_request")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&refund),
            json!({"transaction_id": "in_1", "refund_amount_cents": 500, "refund_reason": "customer_request"})
        );
        let (_, refund) = client()
            .refund("in_1")
            .amount_cents(0)
            .into_payload()
            .unwrap();
        assert_eq!(body(&refund), json!({"transaction_id": "in_1"}));
        // Refunds have no additional_data in the API, not even in test mode.
        let (_, refund) = test_client().refund("in_1").into_payload().unwrap();
        assert_eq!(body(&refund), json!({"transaction_id": "in_1"}));
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            client().refund("").into_payload().unwrap_err().kind(),
            ErrorKind::MissingTransactionId
        );
        assert_eq!(
            client()
                .refund("in_1")
                .amount_cents(u64::MAX)
                .into_payload()
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidAmount
        );
    }

    #[test]
    fn refund_outcomes() {
        let cases = [
            (
                r#"{"success":true,"commission_id":456}"#,
                RefundOutcome::Reversed {
                    commission_id: Some(456),
                    deduction_amount: None,
                },
            ),
            (
                r#"{"success":true,"status":"reversed","deductionAmount":12.5,"commission_id":456}"#,
                RefundOutcome::Reversed {
                    commission_id: Some(456),
                    deduction_amount: Some(12.5),
                },
            ),
            (
                r#"{"success":true,"status":"refunded","deductionAmount":5,"commission_id":456}"#,
                RefundOutcome::PartiallyRefunded {
                    commission_id: Some(456),
                    deduction_amount: Some(5.0),
                },
            ),
            (
                r#"{"success":true,"status":"skipped","reason":"already reversed","commission_id":456}"#,
                RefundOutcome::Skipped {
                    reason: Some("already reversed".into()),
                    commission_id: Some(456),
                },
            ),
            (
                r#"{"success":true,"status":"no_commission","message":"Sale has no commission to reverse"}"#,
                RefundOutcome::NoCommission,
            ),
            (
                r#"{"success":true,"status":"frozen","commission_id":1}"#,
                RefundOutcome::Other {
                    status: "frozen".into(),
                    commission_id: Some(1),
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                decode(&answer(200, body), KEY, false).unwrap(),
                expected,
                "{body}"
            );
        }
    }

    #[test]
    fn a_skipped_refund_after_a_lost_answer_is_this_calls_reversal() {
        let skipped = r#"{"success":true,"status":"skipped","reason":"already reversed","commission_id":456}"#;
        let mut retried = answer(200, skipped);
        retried.after_uncertain_attempt = true;
        assert_eq!(
            decode(&retried, KEY, false).unwrap(),
            RefundOutcome::Reversed {
                commission_id: Some(456),
                deduction_amount: None
            }
        );
        assert_eq!(
            decode(&retried, KEY, true).unwrap(),
            RefundOutcome::PartiallyRefunded {
                commission_id: Some(456),
                deduction_amount: None
            }
        );
        // Without a lost answer, it is a duplicate delivery.
        assert_eq!(
            decode(&answer(200, skipped), KEY, true).unwrap(),
            RefundOutcome::Skipped {
                reason: Some("already reversed".into()),
                commission_id: Some(456)
            }
        );
        // Other statuses after a lost answer keep their meaning.
        let mut no_commission = answer(200, r#"{"success":true,"status":"no_commission"}"#);
        no_commission.after_uncertain_attempt = true;
        assert_eq!(
            decode(&no_commission, KEY, false).unwrap(),
            RefundOutcome::NoCommission
        );
    }

    #[test]
    fn a_camel_case_deduction_wins_and_a_refusal_is_an_error() {
        let outcome = decode(
            &answer(200, r#"{"deductionAmount":2,"deduction_amount":3}"#),
            KEY,
            false,
        );
        assert_eq!(
            outcome.unwrap(),
            RefundOutcome::Reversed {
                commission_id: None,
                deduction_amount: Some(2.0)
            }
        );
        let outcome = decode(&answer(200, r#"{"deduction_amount":3}"#), KEY, false);
        assert_eq!(
            outcome.unwrap(),
            RefundOutcome::Reversed {
                commission_id: None,
                deduction_amount: Some(3.0)
            }
        );
        let refused = decode(&answer(200, r#"{"success":false}"#), KEY, false).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Rejected);
    }
}
