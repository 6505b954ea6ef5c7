//! The stand-in's program: links, customers, stored rows, and what it received.
//!
//! Everything lives behind one `std::sync::Mutex` in the server; nothing here awaits. The
//! endpoint rules themselves are in `rules/`, a file per endpoint.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Instant, SystemTime};

use serde_json::{Map, Value, json};

use super::fault::Faults;
use super::record::{RecordedClick, RecordedLead, RecordedRefund, RecordedRequest, RecordedSale};
use super::time::{self, DAY};
use affitor::ClickId;

/// The program the stand-in plays, as set on the builder.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) api_key: String,
    pub(crate) program_id: u64,
    pub(crate) attribution_window_days: u32,
    pub(crate) cookie_window_days: u32,
    pub(crate) lead_auth_server_required: bool,
    pub(crate) log_events: bool,
    pub(crate) record_requests: bool,
    /// How many of the last requests, clicks and real events are kept.
    pub(crate) keep_last: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            api_key: "aff_test_key".to_owned(),
            program_id: 42,
            attribution_window_days: 60,
            cookie_window_days: 60,
            lead_auth_server_required: false,
            log_events: false,
            record_requests: true,
            keep_last: DEFAULT_KEEP_LAST,
        }
    }
}

/// How many of the last requests, clicks and real events the stand-in keeps unless set: its
/// memory stays bounded however long an example runs.
pub(crate) const DEFAULT_KEEP_LAST: usize = 10_000;

/// Appends `item`, dropping the oldest past `keep`.
pub(crate) fn push_bounded<T>(ring: &mut VecDeque<T>, keep: usize, item: T) {
    if keep == 0 {
        return;
    }
    while ring.len() >= keep {
        ring.pop_front();
    }
    ring.push_back(item);
}

/// A referral link: the partner's short code belongs to one program and may be switched off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) program_id: u64,
    pub(crate) active: bool,
}

/// Where a customer is in the funnel; it never goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Click,
    Lead,
    Conversion,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Click => "click",
            Self::Lead => "lead",
            Self::Conversion => "conversion",
        }
    }
}

/// A visitor who clicked a partner link: the row every click id names.
#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub(crate) id: u64,
    pub(crate) program_id: u64,
    pub(crate) status: Status,
    /// The partner of the last click.
    pub(crate) partner_code: String,
    /// The first-click anchor the attribution window is measured from.
    pub(crate) first_click_at: SystemTime,
}

/// The per-step verdict of a synthetic chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainVerdict {
    pub(crate) click: &'static str,
    pub(crate) lead: &'static str,
    pub(crate) sale: &'static str,
}

impl ChainVerdict {
    pub(crate) fn to_json(self) -> Value {
        json!({ "click": self.click, "lead": self.lead, "sale": self.sale })
    }
}

/// The kinds of real (non-test) events the readiness verdict reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Click,
    Lead,
    Sale,
}

/// Everything the stand-in knows.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) links: HashMap<String, Link>,
    pub(crate) customers: Vec<Customer>,
    /// Click id -> index in `customers`.
    pub(crate) click_ids: HashMap<String, usize>,
    /// Customer key -> index in `customers` (the latest lead wins).
    pub(crate) customer_keys: HashMap<String, usize>,
    /// Every transaction id a sale was stored under (uniqueness is global).
    pub(crate) transaction_ids: HashSet<String>,

    pub(crate) requests: VecDeque<RecordedRequest>,
    pub(crate) clicks: VecDeque<RecordedClick>,
    pub(crate) leads: Vec<RecordedLead>,
    pub(crate) sales: Vec<RecordedSale>,
    pub(crate) refunds: Vec<RecordedRefund>,
    pub(crate) faults: Faults,

    next_sale_id: u64,
    next_commission_id: u64,
    next_test_event_id: u64,
    next_random: u64,

    /// When each synthetic chain of the last hour ran, oldest first.
    pub(crate) chains: VecDeque<Instant>,
    pub(crate) last_chain: Option<ChainVerdict>,
    /// Whether any click, lead or sale (test mode included) or chain was received.
    pub(crate) received_events: bool,
    /// Whether a chain or a real sale was attributed: the `live` gate.
    pub(crate) attributed_sale_seen: bool,
    /// Real (non-test) events, for `last_event_at` and `counts_24h`.
    pub(crate) real_events: VecDeque<(EventKind, SystemTime)>,
}

impl State {
    /// The short code of the link every stand-in starts with.
    pub(crate) const DEFAULT_LINK: &'static str = "partner";

    pub(crate) fn new(config: Config) -> Self {
        let mut state = Self {
            config,
            links: HashMap::new(),
            customers: Vec::new(),
            click_ids: HashMap::new(),
            customer_keys: HashMap::new(),
            transaction_ids: HashSet::new(),
            requests: VecDeque::new(),
            clicks: VecDeque::new(),
            leads: Vec::new(),
            sales: Vec::new(),
            refunds: Vec::new(),
            faults: Faults::default(),
            next_sale_id: 1,
            next_commission_id: 1,
            next_test_event_id: 1,
            next_random: 0,
            chains: VecDeque::new(),
            last_chain: None,
            received_events: false,
            attributed_sale_seen: false,
            real_events: VecDeque::new(),
        };
        state.set_link(Self::DEFAULT_LINK, false, true);
        state
    }

    /// Adds or replaces the link `code`, in this program or in another one.
    pub(crate) fn set_link(&mut self, code: &str, other_program: bool, active: bool) {
        let program_id = if other_program {
            self.config.program_id.wrapping_add(1)
        } else {
            self.config.program_id
        };
        self.links
            .insert(code.to_owned(), Link { program_id, active });
    }

    /// What the browser tracker does when a visitor lands through `?aff=code`, `days_ago` days
    /// ago: a new customer, its click id, and the click recorded.
    /// With `fixed`, the click id is that one instead of a new `cust_<id>_<ms>`.
    pub(crate) fn seed_click(
        &mut self,
        code: &str,
        days_ago: u32,
        fixed: Option<ClickId>,
    ) -> Result<ClickId, String> {
        let link = match self.links.get(code) {
            Some(link) if link.active => *link,
            Some(_) => {
                return Err(format!(
                    "the referral link `{code}` is inactive: seed it with `mock.link({code:?})` first"
                ));
            }
            None => {
                return Err(format!(
                    "no referral link `{code}`: seed it with `mock.link({code:?})` first"
                ));
            }
        };
        let taken = fixed
            .as_ref()
            .filter(|id| self.click_ids.contains_key(id.as_str()));
        if let Some(fixed) = taken {
            return Err(format!("the click id `{fixed}` is taken: choose another"));
        }
        let at = time::days_before(SystemTime::now(), days_ago);
        let click_id = self.click(code, link.program_id, None, at);
        let click_id = match fixed {
            Some(fixed) => {
                if let Some(index) = self.click_ids.remove(click_id.as_str()) {
                    self.click_ids.insert(fixed.as_str().to_owned(), index);
                }
                fixed
            }
            None => click_id,
        };
        push_bounded(
            &mut self.clicks,
            self.config.keep_last,
            RecordedClick {
                click_id: Some(click_id.clone()),
                partner_code: Some(code.to_owned()),
                existing_click_id: None,
                user_agent: None,
                affiliate_url: None,
                referrer_url: None,
                test: false,
            },
        );
        Ok(click_id)
    }

    /// Records a click on the link `code` at `at`: reuses the customer of `existing` when it is a
    /// click id of the same program (the partner is overwritten: last click), or creates one.
    pub(crate) fn click(
        &mut self,
        code: &str,
        program_id: u64,
        existing: Option<&str>,
        at: SystemTime,
    ) -> ClickId {
        let reused = existing
            .and_then(|click_id| self.click_ids.get(click_id).copied())
            .filter(|&index| {
                self.customers
                    .get(index)
                    .is_some_and(|customer| customer.program_id == program_id)
            });
        let index = match reused {
            Some(index) => index,
            None => {
                let id = self.customers.len() as u64 + 1;
                self.customers.push(Customer {
                    id,
                    program_id,
                    status: Status::Click,
                    partner_code: code.to_owned(),
                    first_click_at: at,
                });
                self.customers.len() - 1
            }
        };
        let customer_id = match self.customers.get_mut(index) {
            Some(customer) => {
                customer.partner_code = code.to_owned();
                customer.id
            }
            None => 0,
        };
        // `cust_<customerId>_<epochMs>`, made unique if the same customer clicks twice in a ms.
        let mut millis = time::epoch_millis(at);
        let click_id = loop {
            let candidate = format!("cust_{customer_id}_{millis}");
            if !self.click_ids.contains_key(&candidate) {
                break candidate;
            }
            millis += 1;
        };
        self.click_ids.insert(click_id.clone(), index);
        self.received_events = true;
        push_bounded(
            &mut self.real_events,
            self.config.keep_last,
            (EventKind::Click, at),
        );
        ClickId::try_from(click_id).expect("`cust_<digits>_<digits>` is a valid click id")
    }

    pub(crate) fn next_sale_id(&mut self) -> u64 {
        let id = self.next_sale_id;
        self.next_sale_id += 1;
        id
    }

    pub(crate) fn next_commission_id(&mut self) -> u64 {
        let id = self.next_commission_id;
        self.next_commission_id += 1;
        id
    }

    /// The next test event id; test events are also events received.
    pub(crate) fn next_test_event_id(&mut self) -> u64 {
        let id = self.next_test_event_id;
        self.next_test_event_id += 1;
        self.received_events = true;
        id
    }

    /// Six random hex digits.
    pub(crate) fn random_hex(&mut self) -> String {
        use std::hash::{BuildHasher, RandomState};
        self.next_random += 1;
        let random = RandomState::new().hash_one(self.next_random);
        format!("{:06x}", random & 0x00ff_ffff)
    }

    /// The readiness verdict for the program, as of `now`.
    pub(crate) fn readiness(&self, now: SystemTime) -> Value {
        let checked_at = time::iso8601(now);
        let tracking_passes = self.received_events;
        let live_passes = self.attributed_sale_seen;
        let test_chain = self.last_chain.map_or(Value::Null, ChainVerdict::to_json);

        let tracking = if tracking_passes {
            json!({ "status": "pass", "detail": "receiving_events", "checked_at": checked_at })
        } else {
            json!({ "status": "fail", "checked_at": checked_at,
                    "next_action": "install_tracker_or_send_events" })
        };
        let live = if live_passes {
            json!({ "status": "pass", "test_chain": test_chain })
        } else {
            json!({ "status": "fail", "test_chain": test_chain,
                    "next_action": "run_synthetic_sale_chain" })
        };
        // Profile, economics and payout are always set up on the stand-in's program.
        let blocker = if !tracking_passes {
            Some("tracking")
        } else if !live_passes {
            Some("live")
        } else {
            None
        };
        let state = match blocker {
            Some(_) => "ready",
            None if self.real_events.is_empty() => "integration_verified",
            None => "live_verified",
        };

        let last = |kind: EventKind| {
            self.real_events
                .iter()
                .filter(|(event, _)| *event == kind)
                .map(|(_, at)| *at)
                .max()
                .map_or(Value::Null, |at| Value::String(time::iso8601(at)))
        };
        let day_ago = now.checked_sub(DAY).unwrap_or(SystemTime::UNIX_EPOCH);
        let count = |kind: EventKind| {
            self.real_events
                .iter()
                .filter(|(event, at)| *event == kind && *at >= day_ago)
                .count()
        };

        json!({
            "program_id": self.config.program_id,
            "state": state,
            "integration_verified": blocker.is_none(),
            "blocker": blocker,
            "gates": {
                "profile": { "status": "pass" },
                "economics": { "status": "pass" },
                "payout": { "status": "pass", "mode": "stripe" },
                "tracking": tracking,
                "live": live,
            },
            "last_event_at": {
                "click": last(EventKind::Click),
                "lead": last(EventKind::Lead),
                "sale": last(EventKind::Sale),
            },
            "counts_24h": {
                "clicks": count(EventKind::Click),
                "leads": count(EventKind::Lead),
                "sales": count(EventKind::Sale),
            },
            "key_rotated_at": null,
            "poll": { "retry_after_seconds": 5 },
        })
    }
}

/// A request body, parsed once by the server.
#[derive(Debug)]
pub(crate) enum JsonBody {
    Empty,
    Json(Value),
    Malformed(String),
}

impl JsonBody {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Self::Empty;
        }
        match serde_json::from_slice(bytes) {
            Ok(value) => Self::Json(value),
            Err(error) => Self::Malformed(error.to_string()),
        }
    }

    /// The value to record: `Null` when empty or not JSON.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Self::Json(value) => value,
            Self::Empty | Self::Malformed(_) => Value::Null,
        }
    }

    /// The body as a JSON object; an empty body is an empty object.
    pub(crate) fn object(&self) -> Result<Cow<'_, Map<String, Value>>, String> {
        match self {
            Self::Empty => Ok(Cow::Owned(Map::new())),
            Self::Json(Value::Object(map)) => Ok(Cow::Borrowed(map)),
            Self::Json(_) => Err("Request body must be a JSON object".to_owned()),
            Self::Malformed(error) => Err(format!("Malformed JSON body: {error}")),
        }
    }
}
