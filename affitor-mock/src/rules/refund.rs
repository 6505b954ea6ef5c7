//! `POST /api/v1/track/refund`: Bearer required; keyed by the original sale's transaction id.

use http::StatusCode;
use serde_json::json;

use super::super::fields::{dollars, non_negative_integer, present, proportional, string};
use super::super::record::{RecordedRefund, RefundStatus};
use super::super::state::State;
use super::{Auth, Call, Reply};

impl State {
    pub(super) fn track_refund(&mut self, call: &Call<'_>) -> Reply {
        if self.auth(call.authorization) != Auth::Valid {
            return Reply::unauthorized();
        }
        let body = match call.body.object() {
            Ok(body) => body,
            Err(message) => return Reply::bad_request(message),
        };
        let Some(transaction_id) = string(&body, "transaction_id") else {
            return Reply::bad_request("transaction_id is required");
        };
        // Absent, null or 0: a full refund.
        let refund_amount_cents = match present(&body, "refund_amount_cents") {
            None => None,
            Some(amount) => match non_negative_integer(amount) {
                Some(0) => None,
                Some(amount) => Some(amount),
                None => {
                    return Reply::bad_request(
                        "refund_amount_cents must be a non-negative integer (omit it, or send 0, \
                         for a full refund)",
                    )
                    .about(Some(transaction_id));
                }
            },
        };
        let Some(sale) = self
            .sales
            .iter_mut()
            .find(|sale| sale.transaction_id == transaction_id)
        else {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "Sale not found for transaction_id",
                "not_found",
            )
            .about(Some(transaction_id));
        };

        let (status, deduction_cents, response) = match sale.commission_id {
            None => (
                RefundStatus::NoCommission,
                0,
                json!({ "success": true, "status": "no_commission",
                        "message": "Sale has no commission to reverse" }),
            ),
            // The commission row is claimed once: a repeat never deducts twice.
            Some(commission_id) if sale.refunded => (
                RefundStatus::Skipped,
                0,
                json!({ "success": true, "status": "skipped", "reason": "already reversed",
                        "commission_id": commission_id }),
            ),
            Some(commission_id) => {
                let (status, deduction) = match refund_amount_cents {
                    Some(amount) if amount < sale.amount_cents => (
                        RefundStatus::Refunded,
                        proportional(sale.commission_cents, amount, sale.amount_cents),
                    ),
                    _ => (RefundStatus::Reversed, sale.commission_cents),
                };
                (
                    status,
                    deduction,
                    json!({ "success": true, "status": status.as_str(),
                            "deductionAmount": dollars(deduction),
                            "commission_id": commission_id }),
                )
            }
        };
        sale.refunded = true;
        let commission_id = sale.commission_id;
        self.refunds.push(RecordedRefund {
            transaction_id: transaction_id.to_owned(),
            refund_amount_cents,
            reason: string(&body, "refund_reason").map(str::to_owned),
            status,
            deduction_cents,
            commission_id,
        });
        Reply::ok(response, status.as_str()).about(Some(transaction_id))
    }
}
