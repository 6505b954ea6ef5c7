//! Readiness (`GET /api/v1/programs/me/readiness`): the program's five gates and the state they
//! add up to, decoded leniently; `verify.rs` runs the synthetic chain and polls this.

mod verification;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

pub use self::verification::{ChainRun, Verification, VerificationRequest};
use super::Client;
use super::answer::Answer;
use super::endpoint::Endpoint;
use super::error::{Error, clean_message};
use super::lenient;
use super::transport::Call;

/// The readiness of the program behind the API key: five gates and the state they add up to.
///
/// Read with [`Client::readiness`](crate::Client::readiness); [`Client::verification`](crate::Client::verification)
/// runs the synthetic chain first and then polls it. Decoding is lenient: the body may be bare
/// or wrapped in `{"data": ...}`, unknown values land in `Other(..)` variants and missing
/// fields take defaults.
///
/// ```
/// use affitor::readiness::Readiness;
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
    /// [`Client::verification`](crate::Client::verification) waits that long between its reads, at most
    /// [`VerificationRequest::poll_interval`](crate::readiness::VerificationRequest::poll_interval).
    pub poll_interval: Duration,
}

impl Readiness {
    /// The gate that blocks the program and its report: the `blocker` gate, else the first gate
    /// that does not pass, as the Affitor CLI reads it. `None` when every gate passes.
    ///
    /// ```
    /// # use affitor::readiness::Readiness;
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

    fn from_wire(wire: ReadinessAnswer) -> Self {
        let wire = wire.unwrap_envelope();
        let state = wire
            .state
            .flatten()
            .map_or(ReadinessState::Other(String::new()), |state| {
                ReadinessState::parse(&state)
            });
        let integration_verified = wire.integration_verified.unwrap_or(matches!(
            state,
            ReadinessState::IntegrationVerified | ReadinessState::LiveVerified
        ));
        let gates = wire.gates.unwrap_or_default();
        let times = wire.last_event_at.unwrap_or_default();
        let counts = wire.counts_24h.unwrap_or_default();
        let poll = wire.poll.unwrap_or_default();
        Self {
            program_id: wire.program_id,
            state,
            integration_verified,
            blocker: wire
                .blocker
                .filter(|gate| !gate.is_empty())
                .map(|gate| Gate::parse(&gate)),
            gates: Gates {
                profile: GateReport::from_wire(gates.profile),
                economics: GateReport::from_wire(gates.economics),
                payout: GateReport::from_wire(gates.payout),
                tracking: GateReport::from_wire(gates.tracking),
                live: GateReport::from_wire(gates.live),
            },
            last_event_at: EventTimes {
                click: clean(times.click),
                lead: clean(times.lead),
                sale: clean(times.sale),
            },
            counts_24h: EventCounts {
                clicks: counts.clicks.unwrap_or(0),
                leads: counts.leads.unwrap_or(0),
                sales: counts.sales.unwrap_or(0),
            },
            key_rotated_at: clean(wire.key_rotated_at),
            poll_interval: Duration::from_secs(
                poll.retry_after_seconds
                    .filter(|secs| *secs > 0)
                    .unwrap_or(5),
            ),
        }
    }
}

/// The state of a program's set-up.
///
/// ```
/// use affitor::readiness::ReadinessState;
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

    /// The state as the API writes it (`integration_verified`); an unknown state's own word,
    /// empty when the API gave none.
    ///
    /// ```
    /// use affitor::readiness::ReadinessState;
    ///
    /// assert_eq!(ReadinessState::IntegrationVerified.as_str(), "integration_verified");
    /// assert_eq!(ReadinessState::Other("wiring".into()).to_string(), "wiring");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::Draft => "draft",
            Self::Configuring => "configuring",
            Self::Ready => "ready",
            Self::IntegrationVerified => "integration_verified",
            Self::LiveVerified => "live_verified",
            Self::Other(other) => other,
        }
    }
}

/// One of the five readiness gates.
///
/// ```
/// use affitor::readiness::Gate;
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

    /// The gate's name, as the API writes it (`payout`).
    ///
    /// ```
    /// use affitor::readiness::Gate;
    ///
    /// assert_eq!(Gate::Payout.as_str(), "payout");
    /// assert_eq!(format!("the {} gate", Gate::Economics), "the economics gate");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::Profile => "profile",
            Self::Economics => "economics",
            Self::Payout => "payout",
            Self::Tracking => "tracking",
            Self::Live => "live",
            Self::Other(other) => other,
        }
    }
}

/// The reports of the five gates.
///
/// ```
/// # fn show(readiness: &affitor::readiness::Readiness) {
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
    /// use affitor::readiness::{Gate, Gates};
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
/// use affitor::readiness::{GateReport, GateStatus};
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
    fn from_wire(wire: Option<GateAnswer>) -> Self {
        let Some(wire) = wire else {
            return Self::default();
        };
        Self {
            status: wire
                .status
                .map_or(GateStatus::Unknown, |status| GateStatus::parse(&status)),
            next_action: clean(wire.next_action),
            detail: clean(wire.detail),
            checked_at: clean(wire.checked_at),
            mode: clean(wire.mode),
            endpoint: clean(wire.endpoint),
            test_chain: wire.test_chain.map(ChainVerdict::from_wire),
        }
    }
}

/// Whether a gate passes.
///
/// ```
/// assert_eq!(affitor::readiness::GateStatus::default(), affitor::readiness::GateStatus::Unknown);
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

    /// The status as the API writes it (`pass`, `fail`, `unknown`).
    ///
    /// ```
    /// use affitor::readiness::GateStatus;
    ///
    /// assert_eq!(GateStatus::Pass.as_str(), "pass");
    /// assert_eq!(GateStatus::default().to_string(), "unknown");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Unknown => "unknown",
            Self::Other(other) => other,
        }
    }
}

/// When the last real event of each type arrived, as ISO 8601 text.
///
/// ```
/// let times = affitor::readiness::EventTimes::default();
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
/// let counts = affitor::readiness::EventCounts::default();
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
/// use affitor::readiness::{ChainVerdict, StepVerdict};
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
    /// assert!(!affitor::readiness::ChainVerdict::default().all_attributed());
    /// ```
    pub fn all_attributed(&self) -> bool {
        [&self.click, &self.lead, &self.sale]
            .iter()
            .all(|step| **step == StepVerdict::Attributed)
    }

    pub(super) fn from_wire(wire: VerdictAnswer) -> Self {
        let step = |verdict: Option<String>| {
            verdict.map_or(StepVerdict::Pending, |verdict| StepVerdict::parse(&verdict))
        };
        Self {
            click: step(wire.click),
            lead: step(wire.lead),
            sale: step(wire.sale),
        }
    }
}

/// The verdict of one step of the synthetic chain.
///
/// ```
/// assert_eq!(affitor::readiness::StepVerdict::default(), affitor::readiness::StepVerdict::Pending);
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

    /// The verdict as the API writes it (`attributed`, `wrong_partner`).
    ///
    /// ```
    /// use affitor::readiness::StepVerdict;
    ///
    /// assert_eq!(StepVerdict::WrongPartner.as_str(), "wrong_partner");
    /// assert_eq!(StepVerdict::default().to_string(), "pending");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::Attributed => "attributed",
            Self::Unattributed => "unattributed",
            Self::WrongPartner => "wrong_partner",
            Self::Pending => "pending",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for ReadinessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for GateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for StepVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A read of the program's readiness. Made by [`Client::readiness`].
///
/// ```
/// # async fn check(client: affitor::Client) -> Result<(), affitor::Error> {
/// let readiness = client.readiness().send().await?;
/// println!("{:?}, verified: {}", readiness.state, readiness.integration_verified);
/// # Ok(())
/// # }
/// ```
#[must_use = "a readiness read does nothing until you call `send`"]
#[derive(Debug)]
pub struct ReadinessRequest {
    client: Client,
    force_recheck: bool,
}

impl ReadinessRequest {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            force_recheck: false,
        }
    }

    /// Bypasses the API's tracking-gate cache (`?force_recheck=true`). The API allows one
    /// forced read per program per minute.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// // Just after fixing a gate: read it again now, not from the API's cache.
    /// let readiness = client.readiness().force_recheck(true).send().await?;
    /// println!("tracking: {:?}", readiness.gates.tracking.status);
    /// # Ok(())
    /// # }
    /// ```
    pub fn force_recheck(mut self, force_recheck: bool) -> Self {
        self.force_recheck = force_recheck;
        self
    }

    /// Reads the readiness, with retries.
    ///
    /// # Errors
    ///
    /// The API's refusal (401 for a bad key) or the transport failure.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let readiness = client.readiness().send().await?;
    /// println!("verified: {}", readiness.integration_verified);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<Readiness, Error> {
        let read = ReadinessRead {
            force_recheck: self.force_recheck,
        };
        self.client.transport().call(&read).await
    }
}

/// A readiness read, as the transport sends it.
#[derive(Debug)]
pub(super) struct ReadinessRead {
    pub(super) force_recheck: bool,
}

impl Call for ReadinessRead {
    const ENDPOINT: Endpoint = Endpoint::Readiness;
    type Outcome = Readiness;

    fn body(&self) -> Result<Option<Bytes>, serde_json::Error> {
        Ok(None)
    }

    fn force_recheck(&self) -> bool {
        self.force_recheck
    }

    fn decode(&self, answer: &Answer, key: &str) -> Result<Readiness, Error> {
        answer
            .read_without(Endpoint::Readiness, key)
            .map(Readiness::from_wire)
    }

    fn label(readiness: &Readiness) -> &'static str {
        if readiness.integration_verified {
            "verified"
        } else {
            "not_verified"
        }
    }
}

/// What the client reads of the API's readiness answer, bare or in a `{"data": ...}`
/// envelope.
#[derive(Debug, Default, Deserialize)]
struct ReadinessAnswer {
    /// `Some` when the field is there at all, whatever its type: the body is then bare.
    #[serde(default, deserialize_with = "lenient::present_text")]
    state: Option<Option<String>>,
    #[serde(default, deserialize_with = "lenient::flag")]
    integration_verified: Option<bool>,
    #[serde(default, deserialize_with = "lenient::id")]
    program_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::any_text")]
    blocker: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    gates: Option<GatesAnswer>,
    #[serde(default, deserialize_with = "lenient::object")]
    last_event_at: Option<EventTimesAnswer>,
    #[serde(default, deserialize_with = "lenient::object")]
    counts_24h: Option<CountsAnswer>,
    #[serde(default, deserialize_with = "lenient::text")]
    key_rotated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    poll: Option<PollAnswer>,
    #[serde(default, deserialize_with = "lenient::object")]
    data: Option<Box<ReadinessAnswer>>,
}

impl ReadinessAnswer {
    /// The object inside a `{"data": {...}}` envelope, or the body itself.
    fn unwrap_envelope(self) -> Self {
        match self.data {
            Some(data) if self.state.is_none() => *data,
            _ => self,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct GatesAnswer {
    #[serde(default, deserialize_with = "lenient::object")]
    profile: Option<GateAnswer>,
    #[serde(default, deserialize_with = "lenient::object")]
    economics: Option<GateAnswer>,
    #[serde(default, deserialize_with = "lenient::object")]
    payout: Option<GateAnswer>,
    #[serde(default, deserialize_with = "lenient::object")]
    tracking: Option<GateAnswer>,
    #[serde(default, deserialize_with = "lenient::object")]
    live: Option<GateAnswer>,
}

#[derive(Debug, Default, Deserialize)]
struct GateAnswer {
    #[serde(default, deserialize_with = "lenient::any_text")]
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    next_action: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    detail: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    checked_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    mode: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    endpoint: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    test_chain: Option<VerdictAnswer>,
}

/// The verdict of each step of a synthetic chain, as the API sends it.
#[derive(Debug, Default, Deserialize)]
pub(super) struct VerdictAnswer {
    #[serde(default, deserialize_with = "lenient::any_text")]
    click: Option<String>,
    #[serde(default, deserialize_with = "lenient::any_text")]
    lead: Option<String>,
    #[serde(default, deserialize_with = "lenient::any_text")]
    sale: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct EventTimesAnswer {
    #[serde(default, deserialize_with = "lenient::text")]
    click: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    lead: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    sale: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CountsAnswer {
    #[serde(default, deserialize_with = "lenient::id")]
    clicks: Option<u64>,
    #[serde(default, deserialize_with = "lenient::id")]
    leads: Option<u64>,
    #[serde(default, deserialize_with = "lenient::id")]
    sales: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct PollAnswer {
    #[serde(default, deserialize_with = "lenient::id")]
    retry_after_seconds: Option<u64>,
}

/// A text field from the API, cleaned for display.
pub(super) fn clean(text: Option<String>) -> Option<String> {
    text.map(|text| clean_message(&text, ""))
}

#[cfg(test)]
pub(super) mod tests;
