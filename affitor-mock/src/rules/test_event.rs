//! `POST /api/v1/cli/test-event`: the synthetic chain, or a legacy single test event.

use std::time::{Instant, SystemTime};

use http::StatusCode;
use serde_json::json;

use super::super::fields::present;
use super::super::state::{ChainVerdict, State};
use super::super::time;
use super::{Auth, Call, Reply};

const CHAINS_PER_HOUR: usize = 10;
const HOUR_SECS: u64 = 60 * 60;

impl State {
    pub(super) fn test_event(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
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
                reason: None,
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
}
