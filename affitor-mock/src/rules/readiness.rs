//! `GET /api/v1/programs/me/readiness`: read-only; the agent error envelope.

use std::time::SystemTime;

use http::StatusCode;
use serde_json::json;

use super::super::fields::query_param;
use super::super::state::State;
use super::{Auth, Call, Reply};

impl State {
    pub(super) fn get_readiness(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
        if self.auth(call.authorization) != Auth::Valid {
            return Reply {
                status: StatusCode::UNAUTHORIZED,
                body: json!({ "error": { "code": "invalid_key", "message": "Invalid API token." } }),
                retry_after: None,
                outcome: "unauthorized",
                subject: None,
                reason: None,
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
