//! The verification of the integration, as `affitor onboard` does it: the synthetic chain
//! (`POST /api/v1/cli/test-event`), then readiness reads until it is verified.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{ChainVerdict, Readiness, ReadinessRead, StepVerdict, VerdictAnswer, clean};
use crate::client::Client;
use crate::client::answer::Answer;
use crate::client::endpoint::Endpoint;
use crate::client::error::Error;
use crate::client::lenient;
use crate::client::transport::{Call, json_body};

/// A verification of the integration, as `affitor onboard` does it: run the synthetic click →
/// lead → sale chain, then poll readiness until the integration is verified. Made by
/// [`Client::verification`].
///
/// ```
/// # async fn check(client: affitor::Client) -> Result<(), affitor::Error> {
/// use std::time::Duration;
///
/// let verification = client
///     .verification()
///     .polls(3)
///     .poll_interval(Duration::from_secs(3))
///     .send()
///     .await?;
/// println!("verified: {}", verification.is_verified());
/// # Ok(())
/// # }
/// ```
#[must_use = "a verification does nothing until you call `send`"]
#[derive(Debug)]
pub struct VerificationRequest {
    client: Client,
    polls: u32,
    poll_interval: Duration,
}

impl VerificationRequest {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            polls: 6,
            poll_interval: DEFAULT_MAX_POLL_INTERVAL,
        }
    }

    /// How many times readiness is read at most (at least 1). Default 6.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let verification = client.verification().polls(3).send().await?;
    /// println!("verified within 3 reads: {}", verification.is_verified());
    /// # Ok(())
    /// # }
    /// ```
    pub fn polls(mut self, polls: u32) -> Self {
        self.polls = polls.max(1);
        self
    }

    /// The longest wait between two readiness reads. Default 5 s.
    ///
    /// The wait is the one the API asks for in each answer (`poll.retry_after_seconds`, 5 s
    /// when it gives none), but never longer than this: a verification takes at most about
    /// `polls` × `poll_interval` plus the calls themselves, whatever the API says. The API's
    /// wait is honoured in full while it is shorter.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use std::time::Duration;
    ///
    /// let verification = client.verification().poll_interval(Duration::from_secs(1)).send().await?;
    /// println!("verified: {}", verification.is_verified());
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Runs the chain once, then reads readiness until `integration_verified` or until the
    /// polls run out (once only, when the chain was not attributed).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::RateLimited`](crate::client::ErrorKind::RateLimited) with [`Error::retry_after`] when the program ran too many
    /// chains (10 per hour; never retried), the API's refusal, or the transport failure.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let verification = client.verification().send().await?;
    /// println!("verified: {}", verification.is_verified());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<Verification, Error> {
        let transport = self.client.transport();
        let chain = transport.call(&ChainPayload::default()).await?;
        let polls = if chain.attributed { self.polls } else { 1 };
        let read = ReadinessRead {
            force_recheck: false,
        };
        let mut readiness = transport.call(&read).await?;
        for _ in 1..polls {
            if readiness.integration_verified {
                break;
            }
            tokio::time::sleep(poll_wait(&readiness, self.poll_interval)).await;
            readiness = transport.call(&read).await?;
        }
        Ok(Verification { chain, readiness })
    }
}

/// One run of the synthetic verification chain (`POST /api/v1/cli/test-event`).
///
/// ```
/// # fn show(run: &affitor::readiness::ChainRun) {
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

/// The result of [`Client::verification`](crate::Client::verification): the synthetic chain, then the
/// readiness read after it.
///
/// ```
/// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
/// let verification = client.verification().send().await?;
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
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let verification = client.verification().send().await?;
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

/// The body of a chain run: `{"type":"chain"}`.
#[derive(Debug, Serialize)]
struct ChainPayload {
    #[serde(rename = "type")]
    kind: &'static str,
}

impl Default for ChainPayload {
    fn default() -> Self {
        Self { kind: "chain" }
    }
}

/// What the client reads of the API's answer to a chain run, bare or in a `{"data": ...}`
/// envelope.
#[derive(Debug, Deserialize)]
struct ChainAnswer {
    /// `Some` when the field is there at all: the body is then bare.
    #[serde(default, deserialize_with = "lenient::present_text")]
    state: Option<Option<String>>,
    #[serde(default, deserialize_with = "lenient::text")]
    short_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    customer_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    verdict: Option<VerdictAnswer>,
    #[serde(default, deserialize_with = "lenient::flag")]
    attributed: Option<bool>,
    #[serde(default, deserialize_with = "lenient::object")]
    data: Option<Box<ChainAnswer>>,
}

impl ChainRun {
    fn from_wire(wire: ChainAnswer) -> Self {
        let wire = match wire.data {
            Some(data) if wire.state.is_none() => *data,
            _ => wire,
        };
        let verdict = wire
            .verdict
            .map(ChainVerdict::from_wire)
            .unwrap_or_default();
        let attributed = wire
            .attributed
            .unwrap_or(verdict.sale == StepVerdict::Attributed);
        Self {
            short_code: clean(wire.short_code),
            customer_key: clean(wire.customer_key),
            verdict,
            attributed,
        }
    }
}

impl Call for ChainPayload {
    const ENDPOINT: Endpoint = Endpoint::TestEvent;
    type Outcome = ChainRun;

    fn body(&self) -> Result<Option<Bytes>, serde_json::Error> {
        json_body(self)
    }

    fn decode(&self, answer: &Answer, key: &str) -> Result<ChainRun, Error> {
        answer
            .read_without(Endpoint::TestEvent, key)
            .map(ChainRun::from_wire)
    }

    fn label(run: &ChainRun) -> &'static str {
        if run.attributed {
            "attributed"
        } else {
            "not_attributed"
        }
    }
}

/// The default bound of the wait between two readiness reads: the API's own default
/// `poll.retry_after_seconds`, so that by default its wait is honoured.
const DEFAULT_MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The wait before the next readiness read: the API's `poll.retry_after_seconds`, at most
/// `max`.
fn poll_wait(readiness: &Readiness, max: Duration) -> Duration {
    readiness.poll_interval.min(max)
}

#[cfg(test)]
mod tests {
    use super::super::tests::read_readiness;
    use super::*;
    use crate::client::request::tests::client;

    /// A chain run read from a JSON object, as the transport does.
    fn chain_run(body: &str) -> ChainRun {
        let answer = Answer {
            status: http::StatusCode::OK,
            body: Bytes::from(body.to_owned()),
            after_uncertain_attempt: false,
        };
        ChainPayload::default().decode(&answer, "").unwrap()
    }

    #[test]
    fn the_chain_body() {
        let body = ChainPayload::default().body().unwrap().unwrap();
        assert_eq!(&body[..], br#"{"type":"chain"}"#);
    }

    #[test]
    fn chain_runs() {
        let body = r#"{"data":{"type":"chain","short_code":"afftest42","customer_key":"aff_test_ck_42_1714000000000_ab12cd",
            "verdict":{"click":"attributed","lead":"attributed","sale":"attributed"},"attributed":true}}"#;
        let run = chain_run(body);
        assert_eq!(run.short_code.as_deref(), Some("afftest42"));
        assert!(run.attributed);
        assert!(run.verdict.all_attributed());
        let bare =
            r#"{"verdict":{"click":"attributed","lead":"wrong_partner","sale":"unattributed"}}"#;
        let run = chain_run(bare);
        assert!(!run.attributed);
        assert_eq!(run.verdict.lead, StepVerdict::WrongPartner);
        assert_eq!(run.verdict.sale, StepVerdict::Unattributed);
        let implied = r#"{"verdict":{"sale":"attributed","click":"new_thing"}}"#;
        let run = chain_run(implied);
        assert!(run.attributed);
        assert_eq!(run.verdict.click, StepVerdict::Other("new_thing".into()));
        assert_eq!(run.verdict.lead, StepVerdict::Pending);
    }

    #[test]
    fn the_api_sets_the_poll_wait_within_the_bound() {
        let with_hint = |seconds: u64| {
            read_readiness(&format!(
                r#"{{"state": "ready", "poll": {{"retry_after_seconds": {seconds}}}}}"#
            ))
        };
        let max = Duration::from_secs(5);
        // The API's wait, in full while it is shorter than the bound.
        assert_eq!(poll_wait(&with_hint(1), max), Duration::from_secs(1));
        assert_eq!(poll_wait(&with_hint(5), max), Duration::from_secs(5));
        // Never longer than the bound.
        assert_eq!(poll_wait(&with_hint(600), max), max);
        assert_eq!(poll_wait(&with_hint(5), Duration::ZERO), Duration::ZERO);
        // No hint: the API's documented default of 5 s, within the bound.
        let no_hint = read_readiness(r#"{"state": "ready"}"#);
        assert_eq!(
            poll_wait(&no_hint, Duration::from_secs(60)),
            Duration::from_secs(5)
        );
        assert_eq!(
            poll_wait(&no_hint, Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(
            VerificationRequest::new(client()).poll_interval,
            DEFAULT_MAX_POLL_INTERVAL
        );
    }
}
