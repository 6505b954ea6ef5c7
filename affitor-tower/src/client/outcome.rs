//! What the API did with each call, decoded leniently from its answers.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value};

use super::endpoint::Endpoint;
use super::error::{Error, clean_message};
use crate::ClickId;

/// The cookie lifetime assumed when a click answer does not give one, in days.
const DEFAULT_COOKIE_WINDOW_DAYS: u32 = 60;

/// What the API did with a sale.
///
/// Every variant is a success for a webhook handler: the sale is where it belongs.
///
/// ```
/// use affitor_tower::SaleOutcome;
///
/// fn describe(outcome: &SaleOutcome) -> &'static str {
///     match outcome {
///         SaleOutcome::Recorded { .. } => "commission created",
///         SaleOutcome::AlreadyRecorded => "duplicate delivery, nothing to do",
///         SaleOutcome::NotAttributed { .. } => "organic sale",
///         SaleOutcome::Test { .. } => "test event",
///         _ => "something new",
///     }
/// }
/// assert_eq!(describe(&SaleOutcome::AlreadyRecorded), "duplicate delivery, nothing to do");
/// assert!(SaleOutcome::AlreadyRecorded.is_recorded());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaleOutcome {
    /// The sale and its commission were created by this call.
    ///
    /// The ids are `None` only when the answer to the attempt that recorded the sale was lost
    /// (a timeout, a broken connection, a 5xx) and the retry found the transaction id already
    /// recorded (409).
    #[non_exhaustive]
    Recorded {
        /// The id of the sale.
        sale_id: Option<u64>,
        /// The id of the partner's commission.
        commission_id: Option<u64>,
    },
    /// The transaction id was recorded before this call (409): a duplicate delivery.
    AlreadyRecorded,
    /// The customer's attribution window had expired: the sale is organic and nothing was
    /// created (the transaction id stays free).
    #[non_exhaustive]
    NotAttributed {
        /// Why, such as `"attribution_window_expired"`.
        reason: String,
        /// Days since the customer's first click, when given.
        click_age_days: Option<u32>,
        /// The program's attribution window in days, when given.
        window_days: Option<u32>,
    },
    /// A test-mode event was stored; nothing touched attribution or commissions.
    #[non_exhaustive]
    Test {
        /// The id of the test event, when given.
        event_id: Option<u64>,
    },
}

impl SaleOutcome {
    /// Whether the sale is recorded: by this call ([`SaleOutcome::Recorded`]) or by an earlier
    /// one ([`SaleOutcome::AlreadyRecorded`]).
    ///
    /// ```
    /// use affitor_tower::SaleOutcome;
    /// assert!(SaleOutcome::AlreadyRecorded.is_recorded());
    /// ```
    pub fn is_recorded(&self) -> bool {
        matches!(self, Self::Recorded { .. } | Self::AlreadyRecorded)
    }
}

/// What the API did with a lead.
///
/// ```
/// use affitor_tower::LeadOutcome;
/// assert_ne!(LeadOutcome::Tracked, LeadOutcome::Provisional);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeadOutcome {
    /// The lead is recorded and tied to the customer.
    Tracked,
    /// The lead is recorded as provisional: the program requires a server-side lead to settle
    /// attribution. (The client always sends the key, so this is rare.)
    Provisional,
    /// A test-mode event was stored.
    #[non_exhaustive]
    Test {
        /// The id of the test event, when given.
        event_id: Option<u64>,
    },
}

/// What the API did with a refund.
///
/// ```
/// use affitor_tower::RefundOutcome;
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
    /// Nothing to do: the refund was processed before this call, by an earlier one (the API
    /// never reverses twice): a duplicate delivery.
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

/// What the API did with a click.
///
/// ```
/// use affitor_tower::ClickOutcome;
///
/// fn cookie_days(outcome: &ClickOutcome) -> Option<u32> {
///     match outcome {
///         ClickOutcome::Recorded { cookie_window_days, .. } => Some(*cookie_window_days),
///         _ => None,
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClickOutcome {
    /// The click is recorded: store `click_id` in the `affitor_click_id` cookie for
    /// `cookie_window_days` days.
    #[non_exhaustive]
    Recorded {
        /// The click id to store.
        click_id: ClickId,
        /// The partner's code, when given.
        partner_code: Option<String>,
        /// The cookie lifetime in days (60 when the answer does not say).
        cookie_window_days: u32,
    },
    /// The referral link exists but is inactive; nothing was recorded.
    #[non_exhaustive]
    Inactive {
        /// The API's message, such as `"Referral link is inactive"`.
        message: String,
    },
    /// A test-mode event was stored.
    #[non_exhaustive]
    Test {
        /// The id of the test event, when given.
        event_id: Option<u64>,
    },
}

/// A final answer of the API, handed to the endpoint's decoder.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    /// Whether an earlier attempt of the same call may have been processed although its answer
    /// was lost (see [`Failure::may_have_been_processed`](super::retry::Failure)).
    pub(crate) after_uncertain_attempt: bool,
}

impl Answer {
    /// The body as a JSON object. Every success of the API carries one: anything else (empty,
    /// not JSON, an array, an HTML page) means the answer is not the API's (a wrong
    /// `AFFITOR_API_URL`), and is a [`Decode`](crate::ErrorKind::Decode) error rather than a
    /// success read from the status alone.
    pub(crate) fn object(&self, endpoint: Endpoint) -> Result<Map<String, Value>, Error> {
        match serde_json::from_slice(&self.body) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(Error::decode(
                endpoint,
                format!(
                    "the {} answer is not a JSON object, so it is not the Affitor API's",
                    self.status
                ),
            )),
        }
    }

    /// A 2xx answer with `success: false` (other than an inactive click) is a refusal.
    fn refused(&self, endpoint: Endpoint, object: &Map<String, Value>, key: &str) -> Option<Error> {
        (object.get("success") == Some(&Value::Bool(false)))
            .then(|| Error::from_response(endpoint, self.status, None, &self.body, key))
    }
}

pub(crate) fn decode_sale(answer: &Answer, key: &str) -> Result<SaleOutcome, Error> {
    // The one final answer read from its status alone: its body is an error message.
    if answer.status == StatusCode::CONFLICT {
        return Ok(if answer.after_uncertain_attempt {
            SaleOutcome::Recorded {
                sale_id: None,
                commission_id: None,
            }
        } else {
            SaleOutcome::AlreadyRecorded
        });
    }
    let object = answer.object(Endpoint::Sale)?;
    if let Some(event_id) = test_event(&object) {
        return Ok(SaleOutcome::Test { event_id });
    }
    if object.get("attributed") == Some(&Value::Bool(false)) {
        return Ok(SaleOutcome::NotAttributed {
            reason: string(&object, "reason", key).unwrap_or_else(|| "not_attributed".to_owned()),
            click_age_days: small(&object, "click_age_days"),
            window_days: small(&object, "window_days"),
        });
    }
    if let Some(error) = answer.refused(Endpoint::Sale, &object, key) {
        return Err(error);
    }
    Ok(SaleOutcome::Recorded {
        sale_id: id(&object, "sale_id"),
        commission_id: id(&object, "commission_id"),
    })
}

pub(crate) fn decode_lead(answer: &Answer, key: &str) -> Result<LeadOutcome, Error> {
    let object = answer.object(Endpoint::Lead)?;
    if let Some(event_id) = test_event(&object) {
        return Ok(LeadOutcome::Test { event_id });
    }
    if let Some(error) = answer.refused(Endpoint::Lead, &object, key) {
        return Err(error);
    }
    if object.get("provisional") == Some(&Value::Bool(true)) {
        return Ok(LeadOutcome::Provisional);
    }
    Ok(LeadOutcome::Tracked)
}

/// `partial`: the refund named an amount, so that a reversal this call made but whose answer
/// was lost is reported as the partial refund it was.
pub(crate) fn decode_refund(
    answer: &Answer,
    key: &str,
    partial: bool,
) -> Result<RefundOutcome, Error> {
    let object = answer.object(Endpoint::Refund)?;
    if let Some(error) = answer.refused(Endpoint::Refund, &object, key) {
        return Err(error);
    }
    let commission_id = id(&object, "commission_id");
    let deduction_amount = ["deductionAmount", "deduction_amount"]
        .iter()
        .find_map(|name| object.get(*name).and_then(Value::as_f64));
    let status = match object.get("status") {
        Some(Value::String(status)) => Some(status.trim().to_ascii_lowercase()),
        _ => None,
    };
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
            reason: string(&object, "reason", key),
            commission_id,
        },
        Some("no_commission") => RefundOutcome::NoCommission,
        Some(other) => RefundOutcome::Other {
            status: clean_message(other, key),
            commission_id,
        },
    })
}

pub(crate) fn decode_click(answer: &Answer, key: &str) -> Result<ClickOutcome, Error> {
    let object = answer.object(Endpoint::Click)?;
    if let Some(event_id) = test_event(&object) {
        return Ok(ClickOutcome::Test { event_id });
    }
    if object.get("success") == Some(&Value::Bool(false)) {
        return Ok(ClickOutcome::Inactive {
            message: string(&object, "message", key)
                .unwrap_or_else(|| "Referral link is inactive".to_owned()),
        });
    }
    let click_id = match object.get("click_id") {
        Some(Value::String(value)) => value.parse::<ClickId>().map_err(|reason| {
            Error::decode(
                Endpoint::Click,
                format!("the returned click_id is invalid ({reason})"),
            )
        })?,
        _ => return Err(Error::decode(Endpoint::Click, "the answer has no click_id")),
    };
    Ok(ClickOutcome::Recorded {
        click_id,
        partner_code: string(&object, "partner_code", key),
        cookie_window_days: small(&object, "cookie_window_days")
            .filter(|days| *days > 0)
            .unwrap_or(DEFAULT_COOKIE_WINDOW_DAYS),
    })
}

/// `Some(event id)` when the answer is a `TestModeResponse`.
fn test_event(object: &Map<String, Value>) -> Option<Option<u64>> {
    let Some(Value::Object(data)) = object.get("data") else {
        return None;
    };
    let test = data.get("test_mode") == Some(&Value::Bool(true)) || data.contains_key("eventId");
    test.then(|| id(data, "eventId"))
}

/// An id: a non-negative integer, or a string of digits.
pub(crate) fn id(object: &Map<String, Value>, name: &str) -> Option<u64> {
    match object.get(name)? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A small count such as a number of days.
pub(crate) fn small(object: &Map<String, Value>, name: &str) -> Option<u32> {
    id(object, name).and_then(|value| u32::try_from(value).ok())
}

/// A non-empty string field, cleaned for display.
pub(crate) fn string(object: &Map<String, Value>, name: &str, key: &str) -> Option<String> {
    match object.get(name)? {
        Value::String(text) if !text.trim().is_empty() => Some(clean_message(text, key)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_owned()),
            after_uncertain_attempt: false,
        }
    }

    const KEY: &str = "aff_test_key";

    const TEST_MODE: &str = r#"{"success":true,"message":"Test sale event tracked successfully","data":{"eventId":77,"programId":42,"test_mode":true}}"#;

    #[test]
    fn sale_outcomes() {
        assert_eq!(
            decode_sale(
                &answer(
                    200,
                    r#"{"success":true,"sale_id":123,"commission_id":456,"message":"Sale tracked successfully"}"#
                ),
                KEY
            )
            .unwrap(),
            SaleOutcome::Recorded {
                sale_id: Some(123),
                commission_id: Some(456)
            }
        );
        assert_eq!(
            decode_sale(
                &answer(
                    200,
                    r#"{"success":true,"attributed":false,"reason":"attribution_window_expired","click_age_days":75,"window_days":60,"sale_id":null,"commission_id":null}"#
                ),
                KEY
            )
            .unwrap(),
            SaleOutcome::NotAttributed {
                reason: "attribution_window_expired".into(),
                click_age_days: Some(75),
                window_days: Some(60)
            }
        );
        assert_eq!(
            decode_sale(&answer(200, TEST_MODE), KEY).unwrap(),
            SaleOutcome::Test { event_id: Some(77) }
        );
        let duplicate =
            r#"{"error":"Duplicate transaction_id. This sale has already been recorded."}"#;
        assert_eq!(
            decode_sale(&answer(409, duplicate), KEY).unwrap(),
            SaleOutcome::AlreadyRecorded
        );
        let mut lost = answer(409, duplicate);
        lost.after_uncertain_attempt = true;
        assert_eq!(
            decode_sale(&lost, KEY).unwrap(),
            SaleOutcome::Recorded {
                sale_id: None,
                commission_id: None
            }
        );
    }

    #[test]
    fn sale_decoding_is_lenient() {
        // Extra fields, string ids.
        assert_eq!(
            decode_sale(
                &answer(
                    200,
                    r#"{"success":true,"sale_id":"9","commission_id":10,"new":[1]}"#
                ),
                KEY
            )
            .unwrap(),
            SaleOutcome::Recorded {
                sale_id: Some(9),
                commission_id: Some(10)
            }
        );
        assert_eq!(
            decode_sale(&answer(201, "{}"), KEY).unwrap(),
            SaleOutcome::Recorded {
                sale_id: None,
                commission_id: None
            }
        );
        // A 409 is read from its status, whatever its body.
        assert_eq!(
            decode_sale(&answer(409, ""), KEY).unwrap(),
            SaleOutcome::AlreadyRecorded
        );
        assert_eq!(
            decode_sale(&answer(200, r#"{"attributed":false}"#), KEY).unwrap(),
            SaleOutcome::NotAttributed {
                reason: "not_attributed".into(),
                click_age_days: None,
                window_days: None
            }
        );
        let refused =
            decode_sale(&answer(200, r#"{"success":false,"error":"nope"}"#), KEY).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Rejected);
        assert_eq!(refused.message(), Some("nope"));
    }

    #[test]
    fn lead_outcomes() {
        assert_eq!(
            decode_lead(
                &answer(
                    200,
                    r#"{"success":true,"message":"Lead tracked successfully"}"#
                ),
                KEY
            )
            .unwrap(),
            LeadOutcome::Tracked
        );
        assert_eq!(
            decode_lead(
                &answer(
                    200,
                    r#"{"success":true,"provisional":true,"message":"Lead recorded as provisional. This program requires server-side (Bearer) lead tracking to settle attribution."}"#
                ),
                KEY
            )
            .unwrap(),
            LeadOutcome::Provisional
        );
        assert_eq!(
            decode_lead(&answer(200, TEST_MODE), KEY).unwrap(),
            LeadOutcome::Test { event_id: Some(77) }
        );
        assert_eq!(
            decode_lead(&answer(200, r#"{"data":{"test_mode":true}}"#), KEY).unwrap(),
            LeadOutcome::Test { event_id: None }
        );
        assert_eq!(
            decode_lead(&answer(200, "{}"), KEY).unwrap(),
            LeadOutcome::Tracked
        );
    }

    #[test]
    fn a_success_without_a_json_object_is_not_the_apis() {
        let html = "<!doctype html><html><body>Welcome to nginx!</body></html>";
        for body in ["", "OK", html, "[1,2]", "\"recorded\"", "{\"success\":"] {
            let sale = decode_sale(&answer(200, body), KEY).unwrap_err();
            let lead = decode_lead(&answer(201, body), KEY).unwrap_err();
            let refund = decode_refund(&answer(200, body), KEY, false).unwrap_err();
            let click = decode_click(&answer(200, body), KEY).unwrap_err();
            for error in [&sale, &lead, &refund, &click] {
                assert_eq!(error.kind(), ErrorKind::Decode, "{body}");
                assert!(!error.is_retryable());
                let text = error.to_string();
                assert!(text.contains("not the Affitor API's"), "{text}");
                assert!(text.contains("AFFITOR_API_URL"), "{text}");
            }
        }
        assert_eq!(
            decode_sale(&answer(200, html), KEY)
                .unwrap_err()
                .to_string(),
            "unexpected answer to the sale call: the 200 OK answer is not a JSON object, so it \
             is not the Affitor API's — check that AFFITOR_API_URL points at the Affitor API"
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
                decode_refund(&answer(200, body), KEY, false).unwrap(),
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
            decode_refund(&retried, KEY, false).unwrap(),
            RefundOutcome::Reversed {
                commission_id: Some(456),
                deduction_amount: None
            }
        );
        assert_eq!(
            decode_refund(&retried, KEY, true).unwrap(),
            RefundOutcome::PartiallyRefunded {
                commission_id: Some(456),
                deduction_amount: None
            }
        );
        // Without a lost answer, it is a duplicate delivery.
        assert_eq!(
            decode_refund(&answer(200, skipped), KEY, true).unwrap(),
            RefundOutcome::Skipped {
                reason: Some("already reversed".into()),
                commission_id: Some(456)
            }
        );
        // Other statuses after a lost answer keep their meaning.
        let mut no_commission = answer(200, r#"{"success":true,"status":"no_commission"}"#);
        no_commission.after_uncertain_attempt = true;
        assert_eq!(
            decode_refund(&no_commission, KEY, false).unwrap(),
            RefundOutcome::NoCommission
        );
    }

    #[test]
    fn click_outcomes() {
        assert_eq!(
            decode_click(
                &answer(
                    200,
                    r#"{"success":true,"click_id":"cust_42_1714000000000","partner_code":"abc123","cookie_window_days":90}"#
                ),
                KEY
            )
            .unwrap(),
            ClickOutcome::Recorded {
                click_id: "cust_42_1714000000000".parse().unwrap(),
                partner_code: Some("abc123".into()),
                cookie_window_days: 90
            }
        );
        assert_eq!(
            decode_click(&answer(200, r#"{"success":true,"click_id":"c1"}"#), KEY).unwrap(),
            ClickOutcome::Recorded {
                click_id: "c1".parse().unwrap(),
                partner_code: None,
                cookie_window_days: 60
            }
        );
        assert_eq!(
            decode_click(
                &answer(
                    200,
                    r#"{"success":false,"message":"Referral link is inactive"}"#
                ),
                KEY
            )
            .unwrap(),
            ClickOutcome::Inactive {
                message: "Referral link is inactive".into()
            }
        );
        let mut test_click = TEST_MODE.replace("sale", "click");
        test_click.push(' ');
        assert_eq!(
            decode_click(&answer(200, &test_click), KEY).unwrap(),
            ClickOutcome::Test { event_id: Some(77) }
        );
        let missing = decode_click(&answer(200, r#"{"success":true}"#), KEY).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Decode);
        let invalid = decode_click(&answer(200, r#"{"click_id":"a b"}"#), KEY).unwrap_err();
        assert_eq!(invalid.kind(), ErrorKind::Decode);
        assert!(
            invalid.to_string().contains("click_id is invalid"),
            "{invalid}"
        );
    }
}
