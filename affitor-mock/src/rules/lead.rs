//! `POST /api/v1/track/lead`: Bearer optional; checked when present.

use std::time::SystemTime;

use serde_json::json;

use super::super::fields::{program_id_hint, string, test_mode};
use super::super::record::RecordedLead;
use super::super::state::{EventKind, State, Status};
use super::{Auth, Call, Reply};

impl State {
    pub(super) fn track_lead(&mut self, call: &Call<'_>, now: SystemTime) -> Reply {
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
            .because(super::no_customer(click_id, customer_key))
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
        super::super::state::push_bounded(
            &mut self.real_events,
            self.config.keep_last,
            (EventKind::Lead, now),
        );

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
}
