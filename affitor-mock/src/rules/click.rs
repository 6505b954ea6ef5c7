//! `POST /api/v1/track/click`: no auth; the `aff` code is the credential.

use std::time::SystemTime;

use serde_json::json;

use super::super::fields::{program_id_hint, query_param, string, test_mode, url_query};
use super::super::record::RecordedClick;
use super::super::state::State;
use super::{Call, Reply};

impl State {
    pub(super) fn track_click(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
        let body = match call.body.object() {
            Ok(body) => body,
            Err(message) => return Reply::bad_request(message),
        };
        let existing = string(&body, "existing_click_id");
        let user_agent = string(&body, "user_agent")
            .or(call.user_agent)
            .map(str::to_owned);

        if test_mode(&body) {
            super::super::state::push_bounded(
                &mut self.clicks,
                self.config.keep_last,
                RecordedClick {
                    click_id: None,
                    partner_code: None,
                    existing_click_id: existing.map(str::to_owned),
                    user_agent,
                    affiliate_url: string(&body, "affiliate_url").map(str::to_owned),
                    referrer_url: string(&body, "referrer_url").map(str::to_owned),
                    test: true,
                },
            );
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
        super::super::state::push_bounded(
            &mut self.clicks,
            self.config.keep_last,
            RecordedClick {
                click_id: Some(click_id.clone()),
                partner_code: Some(code.clone()),
                existing_click_id: existing.map(str::to_owned),
                user_agent,
                affiliate_url: Some(url.to_owned()),
                referrer_url: string(&body, "referrer_url").map(str::to_owned),
                test: false,
            },
        );
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
}
