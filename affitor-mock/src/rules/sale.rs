//! `POST /api/v1/track/sale`: Bearer required, even in test mode.

use std::time::SystemTime;

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::super::fields::{positive_integer, present, string, test_mode};
use super::super::record::RecordedSale;
use super::super::state::{EventKind, State, Status};
use super::super::time;
use super::{Auth, Call, Reply};

const SALE_COMMISSION_PERCENT: u64 = 20;

impl State {
    pub(super) fn track_sale(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
        if self.auth(call.authorization) != Auth::Valid {
            return Reply::unauthorized();
        }
        let body = match call.body.object() {
            Ok(body) => body,
            Err(message) => return Reply::bad_request(message),
        };
        let test = test_mode(&body);

        let transaction_id = match present(&body, "transaction_id") {
            None if test => None,
            Some(Value::String(id)) if !id.is_empty() => Some(id.as_str()),
            _ => {
                return Reply::bad_request("transaction_id is required and must be a string");
            }
        };
        let amount_cents = match present(&body, "amount_cents") {
            None if test => Some(0),
            Some(amount) => positive_integer(amount),
            None => None,
        };
        let Some(amount_cents) = amount_cents else {
            return Reply::bad_request("amount_cents is required and must be a positive integer")
                .about(transaction_id);
        };
        let currency = match one_of(&body, "currency", &["USD", "EUR", "VND"]) {
            Ok(currency) => currency.unwrap_or("USD"),
            Err(reply) => return reply.about(transaction_id),
        };
        let checks = [
            one_of(&body, "sale_type", &["payment", "subscription"]),
            one_of(
                &body,
                "subscription_interval",
                &["monthly", "quarterly", "annual"],
            ),
        ];
        for check in checks {
            if let Err(reply) = check {
                return reply.about(transaction_id);
            }
        }
        if present(&body, "is_recurring").is_some_and(|value| !value.is_boolean()) {
            return Reply::bad_request("is_recurring must be a boolean").about(transaction_id);
        }
        if let Some(id) = transaction_id.filter(|id| self.transaction_ids.contains(*id)) {
            return Reply::error(
                StatusCode::CONFLICT,
                "Duplicate transaction_id. This sale has already been recorded.",
                "duplicate",
            )
            .about(Some(id));
        }
        let customer_key = string(&body, "customer_key");
        let click_id = string(&body, "click_id");
        let mut sale = RecordedSale {
            transaction_id: String::new(),
            amount_cents,
            currency: currency.to_owned(),
            customer_key: customer_key.map(str::to_owned),
            click_id: click_id.map(str::to_owned),
            partner_code: None,
            sale_id: 0,
            commission_id: None,
            commission_cents: 0,
            refunded: false,
            test,
        };

        if test {
            // Test sales never touch attribution or commissions, but their ids are used up.
            sale.transaction_id = match transaction_id {
                Some(id) => {
                    self.transaction_ids.insert(id.to_owned());
                    id.to_owned()
                }
                None => format!("test_txn_{}", time::epoch_millis(now)),
            };
            sale.sale_id = self.next_sale_id();
            let subject = sale.transaction_id.clone();
            self.sales.push(sale);
            let program_id = Some(self.config.program_id);
            return self
                .test_mode_reply("sale", program_id)
                .about(Some(&subject));
        }
        let Some(transaction_id) = transaction_id else {
            return Reply::bad_request("transaction_id is required and must be a string");
        };

        // The customer key is tried first, then the click id.
        let found = customer_key
            .and_then(|key| self.customer_keys.get(key))
            .or_else(|| click_id.and_then(|id| self.click_ids.get(id)))
            .copied();
        let Some(customer) = found.and_then(|index| self.customers.get_mut(index)) else {
            return Reply::bad_request("Customer not found. Provide customer_key or click_id.")
                .because(super::no_customer(click_id, customer_key))
                .about(Some(transaction_id));
        };
        if customer.program_id != self.config.program_id {
            return Reply::bad_request(
                "No affiliate attribution found for this customer in this program",
            )
            .about(Some(transaction_id));
        }
        let click_age_days = time::whole_days_between(customer.first_click_at, now);
        let window_days = u64::from(self.config.attribution_window_days);
        if click_age_days > window_days {
            // The sale is organic: nothing is created, and the transaction id stays free.
            return Reply::ok(
                json!({
                    "success": true,
                    "attributed": false,
                    "reason": "attribution_window_expired",
                    "click_age_days": click_age_days,
                    "window_days": window_days,
                    "sale_id": null,
                    "commission_id": null,
                }),
                "not_attributed",
            )
            .about(Some(transaction_id));
        }

        customer.status = Status::Conversion;
        sale.partner_code = Some(customer.partner_code.clone());
        sale.transaction_id = transaction_id.to_owned();
        sale.commission_cents = (amount_cents.saturating_mul(SALE_COMMISSION_PERCENT) + 50) / 100;
        sale.sale_id = self.next_sale_id();
        let commission_id = self.next_commission_id();
        sale.commission_id = Some(commission_id);
        let sale_id = sale.sale_id;
        self.transaction_ids.insert(transaction_id.to_owned());
        self.sales.push(sale);
        self.received_events = true;
        self.attributed_sale_seen = true;
        super::super::state::push_bounded(
            &mut self.real_events,
            self.config.keep_last,
            (EventKind::Sale, now),
        );
        Reply::ok(
            json!({
                "success": true,
                "sale_id": sale_id,
                "commission_id": commission_id,
                "message": "Sale tracked successfully",
            }),
            "recorded",
        )
        .about(Some(transaction_id))
    }
}

/// An optional string field that must be one of `allowed` when present.
fn one_of<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, Reply> {
    match present(body, name) {
        None => Ok(None),
        Some(Value::String(text)) if allowed.contains(&text.as_str()) => Ok(Some(text.as_str())),
        Some(_) => Err(Reply::bad_request(format!(
            "{name} must be one of {}",
            allowed.join(", ")
        ))),
    }
}
