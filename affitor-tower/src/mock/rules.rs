//! The endpoint rules: what each endpoint answers, and what it stores, for a given state.
//!
//! Each rule follows the platform's documented behaviour: the validation order, the exact
//! error strings and the response shapes of the API reference.

use std::time::{Instant, SystemTime};

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::fields::{
    dollars, non_negative_integer, positive_integer, present, program_id_hint, proportional,
    query_param, string, test_mode, url_query,
};
use super::record::{
    Endpoint, RecordedClick, RecordedLead, RecordedRefund, RecordedSale, RefundStatus,
};
use super::state::{ChainVerdict, EventKind, JsonBody, State, Status};
use super::time;

/// One request, as the rules see it.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) endpoint: Endpoint,
    pub(crate) authorization: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) query: &'a str,
    pub(crate) body: &'a JsonBody,
}

/// The answer to a request, and what to say about it in the event log.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) retry_after: Option<u64>,
    /// A short label of what happened (`recorded`, `duplicate`, `rejected`, ...).
    pub(crate) outcome: &'static str,
    /// The transaction id or click id concerned, if any.
    pub(crate) subject: Option<String>,
}

impl Reply {
    fn ok(body: Value, outcome: &'static str) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            retry_after: None,
            outcome,
            subject: None,
        }
    }

    /// `{"error": message}`, the tracking endpoints' error shape.
    fn error(status: StatusCode, message: impl Into<String>, outcome: &'static str) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
            retry_after: None,
            outcome,
            subject: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, message, "rejected")
    }

    fn unauthorized() -> Self {
        Self::error(
            StatusCode::UNAUTHORIZED,
            "Invalid API token",
            "unauthorized",
        )
    }

    fn about(mut self, subject: Option<&str>) -> Self {
        self.subject = subject.map(str::to_owned);
        self
    }
}

/// What the `Authorization` header proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Absent,
    Valid,
    Invalid,
}

const SALE_COMMISSION_PERCENT: u64 = 20;
const CHAINS_PER_HOUR: usize = 10;
const HOUR_SECS: u64 = 60 * 60;

impl State {
    /// Answers one request to a known endpoint.
    pub(crate) fn handle(&mut self, call: &Call<'_>) -> Reply {
        let now = SystemTime::now();
        match call.endpoint {
            Endpoint::Click => self.track_click(call, now),
            Endpoint::Lead => self.track_lead(call, now),
            Endpoint::Sale => self.track_sale(call, now),
            Endpoint::Refund => self.track_refund(call),
            Endpoint::TestEvent => self.test_event(call, now),
            Endpoint::Readiness => self.get_readiness(call, now),
        }
    }

    fn auth(&self, authorization: Option<&str>) -> Auth {
        let Some(header) = authorization else {
            return Auth::Absent;
        };
        match header.strip_prefix("Bearer ").map(str::trim) {
            Some(token) if !token.is_empty() && token == self.config.api_key => Auth::Valid,
            _ => Auth::Invalid,
        }
    }

    fn test_mode_reply(&mut self, kind: &str, program_id: Option<u64>) -> Reply {
        let event_id = self.next_test_event_id();
        Reply::ok(
            json!({
                "success": true,
                "message": format!("Test {kind} event tracked successfully"),
                "data": { "eventId": event_id, "programId": program_id, "test_mode": true },
            }),
            "test",
        )
    }

    // POST /api/v1/track/click: no auth; the `aff` code is the credential.
    fn track_click(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
        let body = match call.body.object() {
            Ok(body) => body,
            Err(message) => return Reply::bad_request(message),
        };
        let existing = string(&body, "existing_click_id");
        let user_agent = string(&body, "user_agent")
            .or(call.user_agent)
            .map(str::to_owned);

        if test_mode(&body) {
            self.clicks.push(RecordedClick {
                click_id: None,
                partner_code: None,
                existing_click_id: existing.map(str::to_owned),
                user_agent,
                test: true,
            });
            return self.test_mode_reply("click", program_id_hint(&body));
        }

        let Some(url) = string(&body, "affiliate_url") else {
            return Reply::bad_request("affiliate_url is required");
        };
        let Some(query) = url_query(url) else {
            return Reply::bad_request("Invalid affiliate_url");
        };
        let Some(code) = query.and_then(|query| query_param(query, "aff")) else {
            return Reply::bad_request("No aff parameter found in affiliate_url");
        };
        let Some(link) = self.links.get(&code).copied() else {
            return Reply::bad_request("Referral link not found");
        };
        if !link.active {
            return Reply::ok(
                json!({ "success": false, "message": "Referral link is inactive" }),
                "inactive",
            );
        }

        let click_id = self.click(&code, link.program_id, existing, now);
        self.clicks.push(RecordedClick {
            click_id: Some(click_id.clone()),
            partner_code: Some(code.clone()),
            existing_click_id: existing.map(str::to_owned),
            user_agent,
            test: false,
        });
        Reply::ok(
            json!({
                "success": true,
                "click_id": click_id.as_str(),
                "partner_code": code,
                "cookie_window_days": self.config.cookie_window_days,
            }),
            "recorded",
        )
        .about(Some(click_id.as_str()))
    }

    // POST /api/v1/track/lead: Bearer optional; checked when present.
    fn track_lead(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
        let auth = self.auth(call.authorization);
        if auth == Auth::Invalid {
            return Reply::unauthorized();
        }
        let authenticated = auth == Auth::Valid;
        let body = match call.body.object() {
            Ok(body) => body,
            Err(message) => return Reply::bad_request(message),
        };
        let click_id = string(&body, "click_id");
        let customer_key = string(&body, "customer_key");
        let email = string(&body, "email");
        let mut lead = RecordedLead {
            click_id: click_id.map(str::to_owned),
            customer_key: customer_key.map(str::to_owned),
            email: email.map(str::to_owned),
            partner_code: None,
            authenticated,
            provisional: false,
            test: false,
        };

        if test_mode(&body) {
            lead.test = true;
            self.leads.push(lead);
            let program_id = if authenticated {
                Some(self.config.program_id)
            } else {
                program_id_hint(&body)
            };
            return self.test_mode_reply("lead", program_id).about(click_id);
        }

        if click_id.is_none() && customer_key.is_none() {
            return Reply::bad_request("click_id or customer_key is required");
        }
        let found = click_id
            .and_then(|id| self.click_ids.get(id))
            .or_else(|| customer_key.and_then(|key| self.customer_keys.get(key)))
            .copied();
        let Some((index, customer)) =
            found.and_then(|index| Some((index, self.customers.get_mut(index)?)))
        else {
            return Reply::bad_request(
                "Customer not found. Provide a valid click_id or customer_key.",
            )
            .about(click_id);
        };
        if authenticated && customer.program_id != self.config.program_id {
            return Reply::bad_request("Customer does not belong to this program").about(click_id);
        }
        if customer.status == Status::Conversion {
            return Reply::bad_request(format!(
                "Customer status cannot be updated to lead. Current status: {}",
                customer.status.as_str()
            ))
            .about(click_id);
        }

        customer.status = Status::Lead;
        lead.partner_code = Some(customer.partner_code.clone());
        lead.provisional = !authenticated && self.config.lead_auth_server_required;
        let provisional = lead.provisional;
        if let Some(key) = customer_key {
            self.customer_keys.insert(key.to_owned(), index);
        }
        self.leads.push(lead);
        self.received_events = true;
        self.real_events.push((EventKind::Lead, now));

        if provisional {
            Reply::ok(
                json!({
                    "success": true,
                    "provisional": true,
                    "message": "Lead recorded as provisional. This program requires server-side \
                                (Bearer) lead tracking to settle attribution.",
                }),
                "provisional",
            )
        } else {
            Reply::ok(
                json!({ "success": true, "message": "Lead tracked successfully" }),
                "tracked",
            )
        }
        .about(click_id)
    }

    // POST /api/v1/track/sale: Bearer required, even in test mode.
    fn track_sale(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
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
        if let Some(id) = transaction_id
            && self.transaction_ids.contains(id)
        {
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
        self.real_events.push((EventKind::Sale, now));
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

    // POST /api/v1/track/refund: Bearer required; keyed by the original sale's transaction id.
    fn track_refund(&mut self, call: &Call<'_>) -> Reply {
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

    // POST /api/v1/cli/test-event: the synthetic chain, or a legacy single test event.
    fn test_event(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
        if self.auth(call.authorization) != Auth::Valid {
            return Reply::unauthorized();
        }
        let body = match call.body.object() {
            Ok(body) => body,
            Err(message) => return Reply::bad_request(message),
        };
        if let Some(kind) = present(&body, "type") {
            return match kind.as_str() {
                Some("chain") => self.chain(now),
                _ => Reply::bad_request(r#"Invalid type: expected "chain""#),
            };
        }
        if let Some(kind) = present(&body, "event_type") {
            return match kind.as_str() {
                Some(kind @ ("click" | "lead" | "sale")) => {
                    let event_id = self.next_test_event_id();
                    Reply::ok(
                        json!({ "data": {
                            "event_type": kind,
                            "event_id": event_id,
                            "received": true,
                            "attributed": false,
                            "message": format!("Test {kind} event recorded"),
                        }}),
                        "legacy_event",
                    )
                }
                _ => Reply::bad_request("Invalid event_type: expected click, lead or sale"),
            };
        }
        Reply::bad_request(r#"Send {"type":"chain"} (or a legacy "event_type")"#)
    }

    fn chain(&mut self, now: SystemTime) -> Reply {
        let started = Instant::now();
        while self
            .chains
            .front()
            .is_some_and(|at| started.duration_since(*at).as_secs() >= HOUR_SECS)
        {
            self.chains.pop_front();
        }
        if self.chains.len() >= CHAINS_PER_HOUR {
            let oldest_age = self
                .chains
                .front()
                .map_or(0, |at| started.duration_since(*at).as_secs());
            let retry_after = HOUR_SECS.saturating_sub(oldest_age).max(1);
            return Reply {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: json!({ "error": {
                    "status": 429,
                    "code": "rate_limited",
                    "message": "Too many synthetic chains (max 10/program/hour).",
                    "retry_after_seconds": retry_after,
                }}),
                retry_after: Some(retry_after),
                outcome: "rate_limited",
                subject: None,
            };
        }
        self.chains.push_back(started);

        let program_id = self.config.program_id;
        let customer_key = format!(
            "aff_test_ck_{program_id}_{}_{}",
            time::epoch_millis(now),
            self.random_hex()
        );
        // One test event per step: click, lead, sale.
        for _ in 0..3 {
            self.next_test_event_id();
        }
        let verdict = ChainVerdict {
            click: "attributed",
            lead: "attributed",
            sale: "attributed",
        };
        self.last_chain = Some(verdict);
        self.attributed_sale_seen = true;
        Reply::ok(
            json!({ "data": {
                "type": "chain",
                "short_code": format!("afftest{program_id}"),
                "customer_key": customer_key,
                "verdict": verdict.to_json(),
                "attributed": verdict.sale == "attributed",
            }}),
            "chain",
        )
    }

    // GET /api/v1/programs/me/readiness: read-only; agent error envelope.
    fn get_readiness(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
        if self.auth(call.authorization) != Auth::Valid {
            return Reply {
                status: StatusCode::UNAUTHORIZED,
                body: json!({ "error": { "code": "invalid_key", "message": "Invalid API token." } }),
                retry_after: None,
                outcome: "unauthorized",
                subject: None,
            };
        }
        // `force_recheck` bypasses a cache the stand-in does not have: every read is fresh.
        let forced = query_param(call.query, "force_recheck").is_some_and(|value| value == "true");
        Reply::ok(
            self.readiness(now),
            if forced { "forced_recheck" } else { "read" },
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_like_a_browser_would() {
        assert_eq!(
            url_query("https://shop.example/p?aff=abc#top"),
            Some(Some("aff=abc"))
        );
        assert_eq!(
            url_query("http://shop.example?aff=abc"),
            Some(Some("aff=abc"))
        );
        assert_eq!(url_query("https://shop.example/pricing"), Some(None));
        assert_eq!(url_query("shop.example/?aff=abc"), None);
        assert_eq!(url_query("https://?aff=abc"), None);
        assert_eq!(url_query("https://shop example/?aff=abc"), None);
        assert_eq!(url_query("1http://shop.example/"), None);
    }

    #[test]
    fn the_aff_parameter_is_decoded_and_must_not_be_empty() {
        assert_eq!(
            query_param("x=1&aff=P%41RT+1&aff=second", "aff").as_deref(),
            Some("PART 1")
        );
        assert_eq!(query_param("aff=", "aff"), None);
        assert_eq!(query_param("affx=1", "aff"), None);
        assert_eq!(query_param("aff=%zz%", "aff").as_deref(), Some("%zz%"));
    }

    #[test]
    fn amounts_follow_javascript_integers() {
        assert_eq!(positive_integer(&json!(10)), Some(10));
        assert_eq!(positive_integer(&json!(10.0)), Some(10));
        for bad in [
            json!(0),
            json!(-1),
            json!(9.9),
            json!("10"),
            json!(1e300),
            json!(null),
        ] {
            assert_eq!(positive_integer(&bad), None, "{bad}");
        }
        assert_eq!(non_negative_integer(&json!(0)), Some(0));
    }

    #[test]
    fn partial_deductions_are_proportional_and_rounded() {
        assert_eq!(proportional(2000, 2500, 10_000), 500);
        assert_eq!(proportional(1, 1, 2), 1);
        assert_eq!(proportional(u64::MAX, u64::MAX, 1), u64::MAX);
        assert_eq!(proportional(10, 1, 0), 0);
        assert!((dollars(1999) - 19.99).abs() < f64::EPSILON);
    }
}
