//! The program's readiness verdict and the synthetic verification chain, decoded leniently.

use std::time::Duration;

use serde_json::{Map, Value};

use super::outcome::{id, string};

/// The readiness of the program behind the API key: five gates and the state they add up to.
///
/// Read with [`Client::readiness`](crate::Client::readiness); [`Client::verify`](crate::Client::verify)
/// runs the synthetic chain first and then polls it. Decoding is lenient: the body may be bare
/// or wrapped in `{"data": ...}`, unknown values land in `Other(..)` variants and missing
/// fields take defaults.
///
/// ```
/// use affitor_tower::readiness::{Gate, GateStatus, Readiness, ReadinessState};
///
/// fn next_step(readiness: &Readiness) -> String {
///     if readiness.integration_verified {
///         return "done".into();
///     }
///     match readiness.blocking_gate() {
///         Some((gate, report)) => format!(
///             "{gate:?} gate: {}",
///             report.next_action.as_deref().unwrap_or("see the dashboard")
///         ),
///         None => "wait and poll again".into(),
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// The program id, when given.
    pub program_id: Option<u64>,
    /// Where the program is in its set-up.
    pub state: ReadinessState,
    /// Whether the integration is verified (`state` is `integration_verified` or
    /// `live_verified`).
    pub integration_verified: bool,
    /// The first failing gate, in the order profile, economics, payout, tracking, live.
    pub blocker: Option<Gate>,
    /// Each gate's report.
    pub gates: Gates,
    /// When the last real (not test) event of each type arrived, as ISO 8601 text.
    pub last_event_at: EventTimes,
    /// Real events of the last 24 hours.
    pub counts_24h: EventCounts,
    /// When the API key was last rotated, as ISO 8601 text.
    pub key_rotated_at: Option<String>,
    /// How long to wait before reading again (`poll.retry_after_seconds`, 5 s when absent).
    /// [`Client::verify`](crate::Client::verify) waits that long between its reads, at most
    /// [`VerifyRequest::poll_interval`](crate::readiness::VerifyRequest::poll_interval).
    pub poll_interval: Duration,
}

impl Readiness {
    /// The gate that blocks the program and its report: the `blocker` gate, else the first gate
    /// that does not pass, as the Affitor CLI reads it. `None` when every gate passes.
    ///
    /// ```
    /// # use affitor_tower::readiness::Readiness;
    /// fn show(readiness: &Readiness) {
    ///     if let Some((gate, report)) = readiness.blocking_gate() {
    ///         println!("blocked at {gate:?}: {:?}", report.next_action);
    ///     }
    /// }
    /// ```
    pub fn blocking_gate(&self) -> Option<(Gate, &GateReport)> {
        let named = self
            .blocker
            .as_ref()
            .and_then(|blocker| self.gates.iter().find(|(gate, _)| gate == blocker));
        named.or_else(|| {
            self.gates
                .iter()
                .find(|(_, report)| report.status != GateStatus::Pass)
        })
    }

    pub(crate) fn from_json(value: &Value) -> Self {
        let object = unwrap_envelope(value);
        let state = match object.get("state") {
            Some(Value::String(state)) => ReadinessState::parse(state),
            _ => ReadinessState::Other(String::new()),
        };
        let integration_verified = match object.get("integration_verified") {
            Some(Value::Bool(verified)) => *verified,
            _ => matches!(
                state,
                ReadinessState::IntegrationVerified | ReadinessState::LiveVerified
            ),
        };
        let gates = object_field(object, "gates");
        let last_event_at = object_field(object, "last_event_at");
        let counts = object_field(object, "counts_24h");
        let poll = object_field(object, "poll");
        Self {
            program_id: id(object, "program_id"),
            state,
            integration_verified,
            blocker: match object.get("blocker") {
                Some(Value::String(gate)) if !gate.is_empty() => Some(Gate::parse(gate)),
                _ => None,
            },
            gates: Gates {
                profile: GateReport::from_json(gates.get("profile")),
                economics: GateReport::from_json(gates.get("economics")),
                payout: GateReport::from_json(gates.get("payout")),
                tracking: GateReport::from_json(gates.get("tracking")),
                live: GateReport::from_json(gates.get("live")),
            },
            last_event_at: EventTimes {
                click: string(last_event_at, "click", ""),
                lead: string(last_event_at, "lead", ""),
                sale: string(last_event_at, "sale", ""),
            },
            counts_24h: EventCounts {
                clicks: id(counts, "clicks").unwrap_or(0),
                leads: id(counts, "leads").unwrap_or(0),
                sales: id(counts, "sales").unwrap_or(0),
            },
            key_rotated_at: string(object, "key_rotated_at", ""),
            poll_interval: Duration::from_secs(
                id(poll, "retry_after_seconds")
                    .filter(|secs| *secs > 0)
                    .unwrap_or(5),
            ),
        }
    }
}

/// The state of a program's set-up.
///
/// ```
/// use affitor_tower::readiness::ReadinessState;
/// assert_ne!(ReadinessState::Ready, ReadinessState::Other("wiring".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadinessState {
    /// `draft`.
    Draft,
    /// `configuring`.
    Configuring,
    /// `ready`: every gate but the verification passes.
    Ready,
    /// `integration_verified`: the synthetic chain went through; no real event yet.
    IntegrationVerified,
    /// `live_verified`: a real event went through.
    LiveVerified,
    /// A state this version does not know (such as `wiring`), or none.
    Other(String),
}

impl ReadinessState {
    fn parse(value: &str) -> Self {
        match value {
            "draft" => Self::Draft,
            "configuring" => Self::Configuring,
            "ready" => Self::Ready,
            "integration_verified" => Self::IntegrationVerified,
            "live_verified" => Self::LiveVerified,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One of the five readiness gates.
///
/// ```
/// use affitor_tower::readiness::Gate;
/// assert_ne!(Gate::Payout, Gate::Live);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Gate {
    /// The program profile.
    Profile,
    /// The commission policy.
    Economics,
    /// How partners are paid.
    Payout,
    /// Whether events arrive.
    Tracking,
    /// Whether the synthetic chain (or a real event) went through.
    Live,
    /// A gate this version does not know.
    Other(String),
}

impl Gate {
    fn parse(value: &str) -> Self {
        match value {
            "profile" => Self::Profile,
            "economics" => Self::Economics,
            "payout" => Self::Payout,
            "tracking" => Self::Tracking,
            "live" => Self::Live,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The reports of the five gates.
///
/// ```
/// # fn show(readiness: &affitor_tower::readiness::Readiness) {
/// for (gate, report) in readiness.gates.iter() {
///     println!("{gate:?}: {:?}", report.status);
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gates {
    /// The program profile.
    pub profile: GateReport,
    /// The commission policy.
    pub economics: GateReport,
    /// How partners are paid.
    pub payout: GateReport,
    /// Whether events arrive.
    pub tracking: GateReport,
    /// Whether the synthetic chain (or a real event) went through.
    pub live: GateReport,
}

impl Gates {
    /// The gates in their canonical order, with their names.
    ///
    /// ```
    /// use affitor_tower::readiness::{Gate, Gates};
    ///
    /// let names: Vec<Gate> = Gates::default().iter().map(|(gate, _)| gate).collect();
    /// assert_eq!(names, [Gate::Profile, Gate::Economics, Gate::Payout, Gate::Tracking, Gate::Live]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (Gate, &GateReport)> {
        [
            (Gate::Profile, &self.profile),
            (Gate::Economics, &self.economics),
            (Gate::Payout, &self.payout),
            (Gate::Tracking, &self.tracking),
            (Gate::Live, &self.live),
        ]
        .into_iter()
    }
}

/// One gate's report. Only `status` is always there; the rest depends on the gate.
///
/// ```
/// use affitor_tower::readiness::{GateReport, GateStatus};
/// assert_eq!(GateReport::default().status, GateStatus::Unknown);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GateReport {
    /// Whether the gate passes.
    pub status: GateStatus,
    /// What to do to make it pass, such as `set_commission_policy`.
    pub next_action: Option<String>,
    /// The tracking gate's detail, such as `receiving_events`.
    pub detail: Option<String>,
    /// When the tracking gate was last checked, as ISO 8601 text.
    pub checked_at: Option<String>,
    /// The payout gate's mode, such as `stripe` or `manual`.
    pub mode: Option<String>,
    /// The payout gate's Stripe Connect endpoint, when it fails.
    pub endpoint: Option<String>,
    /// The live gate's last synthetic chain.
    pub test_chain: Option<ChainVerdict>,
}

impl GateReport {
    fn from_json(value: Option<&Value>) -> Self {
        let Some(Value::Object(object)) = value else {
            return Self::default();
        };
        Self {
            status: match object.get("status") {
                Some(Value::String(status)) => GateStatus::parse(status),
                _ => GateStatus::Unknown,
            },
            next_action: string(object, "next_action", ""),
            detail: string(object, "detail", ""),
            checked_at: string(object, "checked_at", ""),
            mode: string(object, "mode", ""),
            endpoint: string(object, "endpoint", ""),
            test_chain: match object.get("test_chain") {
                Some(Value::Object(verdict)) => Some(ChainVerdict::from_object(verdict)),
                _ => None,
            },
        }
    }
}

/// Whether a gate passes.
///
/// ```
/// assert_eq!(affitor_tower::readiness::GateStatus::default(), affitor_tower::readiness::GateStatus::Unknown);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GateStatus {
    /// `pass`.
    Pass,
    /// `fail`.
    Fail,
    /// `unknown`, or not given.
    #[default]
    Unknown,
    /// A status this version does not know.
    Other(String),
}

impl GateStatus {
    fn parse(value: &str) -> Self {
        match value {
            "pass" => Self::Pass,
            "fail" => Self::Fail,
            "unknown" => Self::Unknown,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// When the last real event of each type arrived, as ISO 8601 text.
///
/// ```
/// let times = affitor_tower::readiness::EventTimes::default();
/// assert_eq!(times.sale, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventTimes {
    /// The last click.
    pub click: Option<String>,
    /// The last lead.
    pub lead: Option<String>,
    /// The last sale.
    pub sale: Option<String>,
}

/// How many real events of each type arrived.
///
/// ```
/// let counts = affitor_tower::readiness::EventCounts::default();
/// assert_eq!(counts.sales, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventCounts {
    /// Clicks.
    pub clicks: u64,
    /// Leads.
    pub leads: u64,
    /// Sales.
    pub sales: u64,
}

/// The verdict of each step of a synthetic click → lead → sale chain.
///
/// ```
/// use affitor_tower::readiness::{ChainVerdict, StepVerdict};
/// assert_eq!(ChainVerdict::default().sale, StepVerdict::Pending);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainVerdict {
    /// The click.
    pub click: StepVerdict,
    /// The lead.
    pub lead: StepVerdict,
    /// The sale.
    pub sale: StepVerdict,
}

impl ChainVerdict {
    /// Whether every step is attributed.
    ///
    /// ```
    /// assert!(!affitor_tower::readiness::ChainVerdict::default().all_attributed());
    /// ```
    pub fn all_attributed(&self) -> bool {
        [&self.click, &self.lead, &self.sale]
            .iter()
            .all(|step| **step == StepVerdict::Attributed)
    }

    fn from_object(object: &Map<String, Value>) -> Self {
        let step = |name| match object.get(name) {
            Some(Value::String(verdict)) => StepVerdict::parse(verdict),
            _ => StepVerdict::Pending,
        };
        Self {
            click: step("click"),
            lead: step("lead"),
            sale: step("sale"),
        }
    }
}

/// The verdict of one step of the synthetic chain.
///
/// ```
/// assert_eq!(affitor_tower::readiness::StepVerdict::default(), affitor_tower::readiness::StepVerdict::Pending);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepVerdict {
    /// The step reached the right partner.
    Attributed,
    /// The step was not attributed (for a sale: often no active commission policy).
    Unattributed,
    /// The step was attributed to another partner.
    WrongPartner,
    /// Not evaluated (yet), or not given.
    #[default]
    Pending,
    /// A verdict this version does not know.
    Other(String),
}

impl StepVerdict {
    fn parse(value: &str) -> Self {
        match value {
            "attributed" => Self::Attributed,
            "unattributed" => Self::Unattributed,
            "wrong_partner" => Self::WrongPartner,
            "pending" => Self::Pending,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One run of the synthetic verification chain (`POST /api/v1/cli/test-event`).
///
/// ```
/// # fn show(run: &affitor_tower::readiness::ChainRun) {
/// if !run.attributed {
///     println!("the synthetic sale was not attributed: {:?}", run.verdict.sale);
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainRun {
    /// The synthetic referral code used.
    pub short_code: Option<String>,
    /// The synthetic customer key threaded through the three steps.
    pub customer_key: Option<String>,
    /// The verdict of each step.
    pub verdict: ChainVerdict,
    /// Whether the synthetic sale was attributed: the chain's success.
    pub attributed: bool,
}

impl ChainRun {
    pub(crate) fn from_json(value: &Value) -> Self {
        let object = unwrap_envelope(value);
        let verdict = match object.get("verdict") {
            Some(Value::Object(verdict)) => ChainVerdict::from_object(verdict),
            _ => ChainVerdict::default(),
        };
        let attributed = match object.get("attributed") {
            Some(Value::Bool(attributed)) => *attributed,
            _ => verdict.sale == StepVerdict::Attributed,
        };
        Self {
            short_code: string(object, "short_code", ""),
            customer_key: string(object, "customer_key", ""),
            verdict,
            attributed,
        }
    }
}

/// The result of [`Client::verify`](crate::Client::verify): the synthetic chain, then the
/// readiness read after it.
///
/// ```
/// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
/// let verification = client.verify().send().await?;
/// if verification.is_verified() {
///     println!("integration verified");
/// } else if let Some((gate, report)) = verification.readiness.blocking_gate() {
///     println!("blocked at {gate:?}: {:?}", report.next_action);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// The synthetic chain's verdict.
    pub chain: ChainRun,
    /// The last readiness read.
    pub readiness: Readiness,
}

impl Verification {
    /// Whether the chain was attributed and the program reports its integration verified.
    ///
    /// ```
    /// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
    /// let verification = client.verify().send().await?;
    /// assert_eq!(
    ///     verification.is_verified(),
    ///     verification.chain.attributed && verification.readiness.integration_verified
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_verified(&self) -> bool {
        self.chain.attributed && self.readiness.integration_verified
    }
}

/// The object inside a `{"data": {...}}` envelope, or the body itself.
fn unwrap_envelope(value: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    let empty = || EMPTY.get_or_init(Map::new);
    match value {
        Value::Object(object) => match object.get("data") {
            Some(Value::Object(data)) if !object.contains_key("state") => data,
            _ => object,
        },
        _ => empty(),
    }
}

fn object_field<'a>(object: &'a Map<String, Value>, name: &str) -> &'a Map<String, Value> {
    match object.get(name) {
        Some(Value::Object(field)) => field,
        _ => unwrap_envelope(&Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OA_EXAMPLE: &str = r#"{
        "program_id": 42,
        "state": "integration_verified",
        "integration_verified": true,
        "blocker": null,
        "gates": {
            "profile": { "status": "pass" },
            "economics": { "status": "pass" },
            "payout": { "status": "pass", "mode": "stripe" },
            "tracking": { "status": "pass", "detail": "receiving_events", "checked_at": "2026-06-11T00:00:00.000Z" },
            "live": { "status": "pass", "test_chain": { "click": "attributed", "lead": "attributed", "sale": "attributed" } }
        },
        "last_event_at": { "click": null, "lead": null, "sale": "2026-06-10T00:00:00.000Z" },
        "counts_24h": { "clicks": 3, "leads": 2, "sales": 1 },
        "key_rotated_at": null,
        "poll": { "retry_after_seconds": 5 }
    }"#;

    #[test]
    fn decodes_the_openapi_example() {
        let readiness = Readiness::from_json(&serde_json::from_str(OA_EXAMPLE).unwrap());
        assert_eq!(readiness.program_id, Some(42));
        assert_eq!(readiness.state, ReadinessState::IntegrationVerified);
        assert!(readiness.integration_verified);
        assert_eq!(readiness.blocker, None);
        assert_eq!(readiness.gates.payout.mode.as_deref(), Some("stripe"));
        assert_eq!(
            readiness.gates.tracking.detail.as_deref(),
            Some("receiving_events")
        );
        assert!(
            readiness
                .gates
                .live
                .test_chain
                .as_ref()
                .unwrap()
                .all_attributed()
        );
        assert_eq!(readiness.last_event_at.click, None);
        assert_eq!(
            readiness.last_event_at.sale.as_deref(),
            Some("2026-06-10T00:00:00.000Z")
        );
        assert_eq!(readiness.counts_24h.clicks, 3);
        assert_eq!(readiness.poll_interval, Duration::from_secs(5));
        assert_eq!(readiness.blocking_gate(), None);
    }

    #[test]
    fn accepts_the_data_envelope_and_unknown_values() {
        let body = r#"{"data":{"program_id":7,"state":"wiring","integration_verified":false,
            "blocker":"payout","gates":{"profile":{"status":"pass"},"economics":{"status":"pass"},
            "payout":{"status":"fail","mode":"s2s","next_action":"surface_stripe_connect_url"},
            "tracking":{"status":"maybe"}},"poll":{"retry_after_seconds":2}}}"#;
        let readiness = Readiness::from_json(&serde_json::from_str(body).unwrap());
        assert_eq!(readiness.program_id, Some(7));
        assert_eq!(readiness.state, ReadinessState::Other("wiring".into()));
        assert_eq!(readiness.blocker, Some(Gate::Payout));
        assert_eq!(readiness.gates.payout.mode.as_deref(), Some("s2s"));
        assert_eq!(
            readiness.gates.tracking.status,
            GateStatus::Other("maybe".into())
        );
        assert_eq!(readiness.gates.live, GateReport::default());
        assert_eq!(readiness.poll_interval, Duration::from_secs(2));
        let (gate, report) = readiness.blocking_gate().unwrap();
        assert_eq!(gate, Gate::Payout);
        assert_eq!(
            report.next_action.as_deref(),
            Some("surface_stripe_connect_url")
        );
    }

    #[test]
    fn missing_fields_default() {
        let readiness = Readiness::from_json(&serde_json::json!({}));
        assert_eq!(readiness.state, ReadinessState::Other(String::new()));
        assert!(!readiness.integration_verified);
        assert_eq!(readiness.counts_24h, EventCounts::default());
        assert_eq!(readiness.poll_interval, Duration::from_secs(5));
        // No blocker named: the first gate that does not pass.
        assert_eq!(readiness.blocking_gate().unwrap().0, Gate::Profile);
        let not_json = Readiness::from_json(&Value::Null);
        assert_eq!(not_json, readiness);
        // The state alone implies verification.
        let verified = Readiness::from_json(&serde_json::json!({"state": "live_verified"}));
        assert!(verified.integration_verified);
        // A named blocker that is unknown falls back to the first failing gate.
        let odd = Readiness::from_json(&serde_json::json!({
            "blocker": "legal",
            "gates": {"profile": {"status": "pass"}, "economics": {"status": "fail"}}
        }));
        assert_eq!(odd.blocker, Some(Gate::Other("legal".into())));
        assert_eq!(odd.blocking_gate().unwrap().0, Gate::Economics);
    }

    #[test]
    fn chain_runs() {
        let body = r#"{"data":{"type":"chain","short_code":"afftest42","customer_key":"aff_test_ck_42_1714000000000_ab12cd",
            "verdict":{"click":"attributed","lead":"attributed","sale":"attributed"},"attributed":true}}"#;
        let run = ChainRun::from_json(&serde_json::from_str(body).unwrap());
        assert_eq!(run.short_code.as_deref(), Some("afftest42"));
        assert!(run.attributed);
        assert!(run.verdict.all_attributed());
        let bare = serde_json::json!({"verdict":{"click":"attributed","lead":"wrong_partner","sale":"unattributed"}});
        let run = ChainRun::from_json(&bare);
        assert!(!run.attributed);
        assert_eq!(run.verdict.lead, StepVerdict::WrongPartner);
        assert_eq!(run.verdict.sale, StepVerdict::Unattributed);
        let implied = serde_json::json!({"verdict":{"sale":"attributed","click":"new_thing"}});
        let run = ChainRun::from_json(&implied);
        assert!(run.attributed);
        assert_eq!(run.verdict.click, StepVerdict::Other("new_thing".into()));
        assert_eq!(run.verdict.lead, StepVerdict::Pending);
    }
}
