//! The retry policy, and the pure functions that decide whether and when to try again.

use std::time::Duration;

use http::StatusCode;

use super::endpoint::Endpoint;

/// How the client retries a failed call: how many attempts, how long it waits between them,
/// and how long one call may take in all.
///
/// What is retried depends on the endpoint, and follows what is safe for each:
/// - a **sale** retries timeouts, broken connections, 5xx, and 408, 425 and 429 (the request
///   was not processed): its transaction id makes a repeat harmless (the API answers 409,
///   which the client reports as recorded). Except a 500 `Failed to create commission`: the
///   sale is recorded without its commission, and is returned at once as
///   [`ErrorKind::CommissionNotCreated`](crate::client::ErrorKind);
/// - a **refund** retries the same (the API never reverses twice), and also a 404 for a short
///   while ([`RetryPolicy::refund_not_found_window`], 2 s by default, whatever the attempt
///   count), since the sale may still be on its way;
/// - a **lead** and a **click** retry only when the request never reached the API, or on 408,
///   425, 429 and 503;
/// - **readiness** (read-only) retries timeouts, broken connections, 5xx, 408, 425 and 429;
/// - the verification **chain** retries only when the request never reached the API, or on
///   503; its 429 is returned at once as [`ErrorKind::RateLimited`](crate::client::ErrorKind).
///
/// Waits grow exponentially from [`base_delay`](RetryPolicy::base_delay) up to
/// [`max_delay`](RetryPolicy::max_delay), with full jitter. A `Retry-After` from the API is
/// honoured, up to [`retry_after_cap`](RetryPolicy::retry_after_cap): a rate limit (429) that
/// asks for a longer wait ends the call at once with [`ErrorKind::RateLimited`](crate::client::ErrorKind)
/// and its [`Error::retry_after`](crate::Error::retry_after), rather than retrying into the
/// limit; an event sent in the background, which has no caller to decide, waits it out (up to
/// 5 minutes in all). No retry starts after the call's [`deadline`](RetryPolicy::deadline).
///
/// ```
/// use std::time::Duration;
/// use affitor::{Client, client::RetryPolicy};
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .base_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(2))
///     .retry_after_cap(Duration::from_secs(5))
///     .deadline(Duration::from_secs(15));
/// let client = Client::builder().api_key("aff_key").retry(policy).build()?;
///
/// // Or no retries at all:
/// let client = Client::builder().api_key("aff_key").retry(RetryPolicy::none()).build()?;
/// # Ok::<(), affitor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) retry_after_cap: Duration,
    pub(crate) deadline: Duration,
    pub(crate) refund_not_found_window: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, waits from 200 ms up to 5 s, `Retry-After` honoured up to 10 s, 30 s per
    /// call, refund 404s retried for 2 s.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            retry_after_cap: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            refund_not_found_window: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries: one attempt per call.
    ///
    /// ```
    /// let policy = affitor::client::RetryPolicy::none();
    /// assert_eq!(policy, affitor::client::RetryPolicy::default().max_attempts(1));
    /// ```
    pub fn none() -> Self {
        Self::default().max_attempts(1)
    }

    /// The most attempts per call, the first one included (at least 1). Default 4.
    ///
    /// ```
    /// let policy = affitor::client::RetryPolicy::default().max_attempts(6);
    /// ```
    #[must_use]
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// The wait before the first retry; each later wait may be twice as long. The actual wait
    /// is chosen at random between zero and that bound (full jitter). Default 200 ms.
    ///
    /// ```
    /// let policy = affitor::client::RetryPolicy::default()
    ///     .base_delay(std::time::Duration::from_millis(50));
    /// ```
    #[must_use]
    pub fn base_delay(mut self, base_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self
    }

    /// The longest wait between two attempts, before jitter. Default 5 s.
    ///
    /// ```
    /// let policy = affitor::client::RetryPolicy::default()
    ///     .max_delay(std::time::Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The longest wait that a `Retry-After` answer can impose before the next attempt.
    /// Default 10 s.
    ///
    /// A rate limit (429) that asks for more ends the call with
    /// [`ErrorKind::RateLimited`](crate::client::ErrorKind) and [`Error::retry_after`](crate::Error::retry_after)
    /// set, so that the caller decides (a webhook answers 503 and is redelivered later). Any
    /// other answer's wait hint (a 5xx `retry_after_seconds`, say) is waited up to this cap.
    ///
    /// ```
    /// let policy = affitor::client::RetryPolicy::default()
    ///     .retry_after_cap(std::time::Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn retry_after_cap(mut self, retry_after_cap: Duration) -> Self {
        self.retry_after_cap = retry_after_cap;
        self
    }

    /// The most time one call may take, all attempts and waits included. No attempt starts
    /// after it, and an attempt in flight is cut at it. Default 30 s.
    ///
    /// ```
    /// let policy = affitor::client::RetryPolicy::default()
    ///     .deadline(std::time::Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// How long after its first attempt a refund answered with 404 (sale not found) is still
    /// retried, in case the sale is on its way. Default 2 s.
    ///
    /// Within the window such a refund is retried with the usual backoff whatever
    /// [`max_attempts`](Self::max_attempts) says (unless it is 1: [`RetryPolicy::none`] never
    /// retries), the last time when the window closes. A refund of a sale that was never
    /// recorded (an organic customer's, say) is answered 404 every time, so `.send().await`
    /// takes the whole window to return [`ErrorKind::SaleNotFound`](crate::client::ErrorKind): widen it
    /// when your payment provider may deliver a refund long before its sale, keep it well
    /// under your webhook timeout.
    ///
    /// ```
    /// let policy = affitor::client::RetryPolicy::default()
    ///     .refund_not_found_window(std::time::Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn refund_not_found_window(mut self, window: Duration) -> Self {
        self.refund_not_found_window = window;
        self
    }
}

/// Why an attempt did not produce a final answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection could not be made: the request never reached the API.
    Connect,
    /// The request was sent and no answer came in time.
    Timeout,
    /// The connection broke after the request was (perhaps) sent.
    Network,
    /// The API answered with a status that is not a final outcome for the endpoint.
    Status(StatusCode),
    /// A sale answered 500 `Failed to create commission`: the sale row exists and its
    /// transaction id is used up, so a retry could only be answered 409.
    CommissionNotCreated,
}

impl Failure {
    /// Whether the API may have processed the request despite the failure: no answer, or a
    /// server error other than 503 (a 500 after the sale row was written, a gateway timeout).
    pub(crate) fn may_have_been_processed(self) -> bool {
        match self {
            Self::Connect => false,
            Self::Timeout | Self::Network | Self::CommissionNotCreated => true,
            Self::Status(status) => {
                status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Give up and report the failure.
    GiveUp,
}

/// Whether `failure` on `endpoint` is worth another attempt, `elapsed` after the first one,
/// regardless of the attempt budget.
pub(crate) fn is_retryable(
    policy: &RetryPolicy,
    endpoint: Endpoint,
    failure: Failure,
    elapsed: Duration,
) -> bool {
    use Failure::{CommissionNotCreated, Connect, Network, Status, Timeout};
    match (endpoint, failure) {
        (_, Connect) => true,
        // The sale is recorded; a retry would report it as recorded and hide the lost commission.
        (_, CommissionNotCreated) => false,
        // Idempotent or read-only: a repeat cannot do harm.
        (Endpoint::Sale | Endpoint::Refund | Endpoint::Readiness, Timeout | Network) => true,
        (Endpoint::Sale | Endpoint::Refund | Endpoint::Readiness, Status(status)) => {
            status.is_server_error()
                || not_processed(status)
                || (endpoint == Endpoint::Refund
                    && status == StatusCode::NOT_FOUND
                    && elapsed < policy.refund_not_found_window)
        }
        // A repeat may record twice: retry only what the API surely did not process.
        (Endpoint::Lead | Endpoint::Click, Status(status)) => {
            not_processed(status) || status == StatusCode::SERVICE_UNAVAILABLE
        }
        // The chain is rate limited per hour: a 429 is an answer, not a hiccup.
        (Endpoint::TestEvent, Status(status)) => status == StatusCode::SERVICE_UNAVAILABLE,
        (Endpoint::Lead | Endpoint::Click | Endpoint::TestEvent, Timeout | Network) => false,
    }
}

/// An answer that says the request was not processed, and may be later: 429 (too many), 408
/// (the server gave up waiting for the request, as a proxy does) and 425 (too early).
pub(crate) fn not_processed(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT
    ) || status.as_u16() == 425
}

/// The wait before attempt `attempt + 1`, after `attempt` attempts (1-based): full jitter over
/// an exponential bound, and never less than the API's `Retry-After` (capped). `jitter` is a
/// random number in `[0, 1)`.
pub(crate) fn backoff(
    policy: &RetryPolicy,
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exponent = attempt.saturating_sub(1).min(31);
    let bound = policy
        .base_delay
        .checked_mul(1 << exponent)
        .unwrap_or(policy.max_delay)
        .min(policy.max_delay);
    let jittered = bound.mul_f64(jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(wait) => jittered.max(wait.min(policy.retry_after_cap)),
        None => jittered,
    }
}

/// Whether a rate limit asks for a longer wait than the policy allows: retrying sooner would
/// only hit the limit again, so the call ends with the API's `Retry-After` for the caller.
fn rate_limited_beyond_cap(
    policy: &RetryPolicy,
    failure: Failure,
    retry_after: Option<Duration>,
) -> bool {
    failure == Failure::Status(StatusCode::TOO_MANY_REQUESTS)
        && retry_after.is_some_and(|wait| wait > policy.retry_after_cap)
}

/// The whole decision after a failed attempt: `attempt` attempts made so far (1-based),
/// `elapsed` since the call began, `retry_after` from the answer if any, `jitter` in `[0, 1)`.
pub(crate) fn decide(
    policy: &RetryPolicy,
    endpoint: Endpoint,
    failure: Failure,
    attempt: u32,
    elapsed: Duration,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Next {
    // A refund waiting for its sale keeps trying until the window closes, whatever the attempt
    // budget (unless the policy never retries): the window, not the count, says how long a sale
    // may take to arrive. Its last attempt comes when the window closes, at the latest.
    let waiting_for_the_sale = endpoint == Endpoint::Refund
        && failure == Failure::Status(StatusCode::NOT_FOUND)
        && elapsed < policy.refund_not_found_window
        && policy.max_attempts > 1;
    if (attempt >= policy.max_attempts && !waiting_for_the_sale)
        || !is_retryable(policy, endpoint, failure, elapsed)
        || rate_limited_beyond_cap(policy, failure, retry_after)
    {
        return Next::GiveUp;
    }
    let mut wait = backoff(policy, attempt, retry_after, jitter);
    if waiting_for_the_sale {
        wait = wait.min(policy.refund_not_found_window.saturating_sub(elapsed));
    }
    if !policy.has_time_for_an_attempt(elapsed.saturating_add(wait)) {
        return Next::GiveUp;
    }
    Next::RetryAfter(wait)
}

impl RetryPolicy {
    /// Whether an attempt starting `elapsed` into a call has time left to be answered: a tenth
    /// of the deadline, a second at most. One left a few milliseconds would only time out, and
    /// its `Timeout` ("may have been processed") would replace the clean answer in hand.
    pub(crate) fn has_time_for_an_attempt(&self, elapsed: Duration) -> bool {
        let least = (self.deadline / 10).min(Duration::from_secs(1));
        elapsed.saturating_add(least) <= self.deadline
    }
}

/// Reads a `Retry-After` value, in seconds or as an HTTP date (which a gateway or a CDN in
/// front of the API may answer): the wait from now, none for a date past.
pub(crate) fn parse_retry_after(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        // Absurd values saturate; the cap applies anyway.
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u16) -> Failure = |code| Failure::Status(StatusCode::from_u16(code).unwrap());

    #[test]
    fn retry_table() {
        use Endpoint::*;
        use Failure::{Connect, Network, Timeout};
        let policy = RetryPolicy::default();
        let early = Duration::from_millis(10);
        #[rustfmt::skip]
        let table: &[(Endpoint, Failure, bool)] = &[
            (Sale, Connect, true), (Sale, Timeout, true), (Sale, Network, true),
            (Sale, S(500), true), (Sale, S(502), true), (Sale, S(503), true), (Sale, S(429), true),
            (Sale, S(400), false), (Sale, S(401), false), (Sale, S(404), false), (Sale, S(422), false),
            (Sale, S(408), true), (Sale, S(425), true), (Lead, S(408), true), (Lead, S(425), true),
            (Lead, Connect, true), (Lead, Timeout, false), (Lead, Network, false),
            (Lead, S(500), false), (Lead, S(502), false), (Lead, S(503), true), (Lead, S(429), true),
            (Lead, S(400), false), (Lead, S(401), false),
            (Click, Connect, true), (Click, Timeout, false), (Click, Network, false),
            (Click, S(500), false), (Click, S(503), true), (Click, S(429), true), (Click, S(400), false),
            (Refund, Connect, true), (Refund, Timeout, true), (Refund, Network, true),
            (Refund, S(500), true), (Refund, S(429), true), (Refund, S(404), true),
            (Refund, S(400), false), (Refund, S(401), false),
            (Readiness, Connect, true), (Readiness, Timeout, true), (Readiness, S(500), true),
            (Readiness, S(429), true), (Readiness, S(401), false),
            (TestEvent, Connect, true), (TestEvent, Timeout, false), (TestEvent, Network, false),
            (TestEvent, S(429), false), (TestEvent, S(500), false), (TestEvent, S(503), true),
            (TestEvent, S(401), false),
        ];
        for &(endpoint, failure, expected) in table {
            assert_eq!(
                is_retryable(&policy, endpoint, failure, early),
                expected,
                "{endpoint:?} {failure:?}"
            );
        }
    }

    #[test]
    fn refund_not_found_only_for_a_while() {
        let policy = RetryPolicy::default().refund_not_found_window(Duration::from_secs(2));
        assert!(is_retryable(
            &policy,
            Endpoint::Refund,
            S(404),
            Duration::from_secs(1)
        ));
        assert!(!is_retryable(
            &policy,
            Endpoint::Refund,
            S(404),
            Duration::from_secs(2)
        ));
        assert!(is_retryable(
            &policy,
            Endpoint::Refund,
            S(500),
            Duration::from_secs(2)
        ));
    }

    #[test]
    fn what_may_have_been_processed() {
        assert!(!Failure::Connect.may_have_been_processed());
        assert!(Failure::Timeout.may_have_been_processed());
        assert!(Failure::Network.may_have_been_processed());
        assert!(S(500).may_have_been_processed());
        assert!(S(504).may_have_been_processed());
        assert!(!S(503).may_have_been_processed());
        assert!(!S(429).may_have_been_processed());
        assert!(!S(400).may_have_been_processed());
        assert!(Failure::CommissionNotCreated.may_have_been_processed());
    }

    #[test]
    fn a_lost_commission_is_never_retried() {
        let policy = RetryPolicy::default();
        assert!(!is_retryable(
            &policy,
            Endpoint::Sale,
            Failure::CommissionNotCreated,
            Duration::ZERO
        ));
        assert_eq!(
            decide(
                &policy,
                Endpoint::Sale,
                Failure::CommissionNotCreated,
                1,
                Duration::ZERO,
                None,
                0.5
            ),
            Next::GiveUp
        );
    }

    #[test]
    fn backoff_bounds() {
        let policy = RetryPolicy::default()
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(1000));
        // The bound doubles per attempt and stops at max_delay.
        for (attempt, bound_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let bound = Duration::from_millis(bound_ms);
            assert_eq!(backoff(&policy, attempt, None, 0.0), Duration::ZERO);
            assert_eq!(backoff(&policy, attempt, None, 0.5), bound / 2);
            for _ in 0..100 {
                let wait = backoff(&policy, attempt, None, fastrand::f64());
                assert!(wait < bound, "{attempt}: {wait:?}");
            }
        }
        // Out-of-range jitter is clamped.
        assert_eq!(backoff(&policy, 1, None, 7.0), Duration::from_millis(100));
        assert_eq!(
            backoff(&policy, u32::MAX, None, 1.0),
            Duration::from_millis(1000)
        );
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy::default()
            .base_delay(Duration::from_millis(100))
            .retry_after_cap(Duration::from_secs(3));
        let wait = backoff(&policy, 1, Some(Duration::from_secs(2)), 0.5);
        assert_eq!(wait, Duration::from_secs(2));
        let wait = backoff(&policy, 1, Some(Duration::from_secs(1800)), 0.5);
        assert_eq!(wait, Duration::from_secs(3));
        // A Retry-After shorter than the backoff does not shorten it.
        let wait = backoff(&policy, 3, Some(Duration::ZERO), 0.5);
        assert_eq!(wait, Duration::from_millis(200));
    }

    #[test]
    fn a_refund_waits_for_its_sale_beyond_the_attempt_budget() {
        let policy = RetryPolicy::default()
            .max_attempts(2)
            .base_delay(Duration::from_millis(100))
            .refund_not_found_window(Duration::from_secs(3))
            .deadline(Duration::from_secs(5));
        let second = Duration::from_secs(1);
        // Past the budget, still within the window: retried, at the window's end at the latest
        // (the backoff alone would wait 2.5 s).
        assert_eq!(
            decide(&policy, Endpoint::Refund, S(404), 7, second, None, 0.5),
            Next::RetryAfter(Duration::from_secs(2))
        );
        // A policy that never retries does not, whatever the window.
        let never = RetryPolicy::none().refund_not_found_window(Duration::from_secs(3));
        assert_eq!(
            decide(
                &never,
                Endpoint::Refund,
                S(404),
                1,
                Duration::ZERO,
                None,
                0.5
            ),
            Next::GiveUp
        );
        // Past the window: the budget applies again.
        let late = Duration::from_secs(3);
        assert_eq!(
            decide(&policy, Endpoint::Refund, S(404), 7, late, None, 0.5),
            Next::GiveUp
        );
        // Not past the deadline, whatever the window.
        let policy = policy.refund_not_found_window(Duration::from_secs(60));
        let near_deadline = Duration::from_millis(4900);
        assert_eq!(
            decide(
                &policy,
                Endpoint::Refund,
                S(404),
                7,
                near_deadline,
                None,
                0.5
            ),
            Next::GiveUp
        );
        // Other failures keep to the budget.
        assert_eq!(
            decide(&policy, Endpoint::Refund, S(500), 7, second, None, 0.5),
            Next::GiveUp
        );
    }

    #[test]
    fn decide_respects_attempts_and_deadline() {
        let policy = RetryPolicy::default()
            .max_attempts(3)
            .base_delay(Duration::from_millis(100))
            .deadline(Duration::from_secs(1));
        let zero = Duration::ZERO;
        assert_eq!(
            decide(&policy, Endpoint::Sale, S(500), 1, zero, None, 0.5),
            Next::RetryAfter(Duration::from_millis(50))
        );
        assert_eq!(
            decide(&policy, Endpoint::Sale, S(500), 2, zero, None, 0.5),
            Next::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(
            decide(&policy, Endpoint::Sale, S(500), 3, zero, None, 0.5),
            Next::GiveUp
        );
        assert_eq!(
            decide(&policy, Endpoint::Sale, S(400), 1, zero, None, 0.5),
            Next::GiveUp
        );
        // Not enough time left for the wait.
        assert_eq!(
            decide(
                &policy,
                Endpoint::Sale,
                S(500),
                1,
                Duration::from_millis(960),
                None,
                0.5
            ),
            Next::GiveUp
        );
        assert_eq!(
            decide(
                &policy,
                Endpoint::Sale,
                S(429),
                1,
                zero,
                Some(Duration::from_secs(5)),
                0.5
            ),
            Next::GiveUp
        );
        assert_eq!(
            decide(
                &RetryPolicy::none(),
                Endpoint::Sale,
                Failure::Connect,
                1,
                zero,
                None,
                0.5
            ),
            Next::GiveUp
        );
    }

    #[test]
    fn a_rate_limit_beyond_the_cap_ends_the_call() {
        let policy = RetryPolicy::default().retry_after_cap(Duration::from_secs(10));
        let zero = Duration::ZERO;
        let decide_429 = |retry_after: Option<u64>| {
            decide(
                &policy,
                Endpoint::Sale,
                S(429),
                1,
                zero,
                retry_after.map(Duration::from_secs),
                0.5,
            )
        };
        // Retry-After: 60 with a 10 s cap: retrying at 10 s would hit the limit again.
        assert_eq!(decide_429(Some(60)), Next::GiveUp);
        // Up to the cap, the wait is honoured in full.
        assert_eq!(
            decide_429(Some(10)),
            Next::RetryAfter(Duration::from_secs(10))
        );
        assert_eq!(
            decide_429(Some(3)),
            Next::RetryAfter(Duration::from_secs(3))
        );
        // No Retry-After: the backoff applies.
        assert_eq!(
            decide_429(None),
            Next::RetryAfter(Duration::from_millis(100))
        );
        // A wait hint on another status is capped, not a reason to stop.
        assert_eq!(
            decide(
                &policy.clone().deadline(Duration::from_secs(60)),
                Endpoint::Readiness,
                S(500),
                1,
                zero,
                Some(Duration::from_secs(60)),
                0.5
            ),
            Next::RetryAfter(Duration::from_secs(10))
        );
        assert!(!rate_limited_beyond_cap(
            &policy,
            S(503),
            Some(Duration::from_secs(60))
        ));
    }

    #[test]
    fn chain_never_retries_rate_limits() {
        let policy = RetryPolicy::default();
        let decision = decide(
            &policy,
            Endpoint::TestEvent,
            S(429),
            1,
            Duration::ZERO,
            Some(Duration::from_secs(1)),
            0.5,
        );
        assert_eq!(decision, Next::GiveUp);
    }

    /// A retry that would start with less than a tenth of the deadline (a second at most)
    /// left is not made: the answer in hand is returned.
    #[test]
    fn no_attempt_starts_with_almost_no_time_left() {
        let policy = RetryPolicy::default().deadline(Duration::from_secs(30));
        let at = |elapsed_ms: u64| {
            decide(
                &policy,
                Endpoint::Sale,
                S(503),
                1,
                Duration::from_millis(elapsed_ms),
                Some(Duration::from_millis(200)),
                0.5,
            )
        };
        assert_eq!(at(29_500), Next::GiveUp);
        assert_eq!(at(28_000), Next::RetryAfter(Duration::from_millis(200)));
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after(b"1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(b" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after(b"99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after(b""), None);
        assert_eq!(parse_retry_after(b"-1"), None);
        assert_eq!(parse_retry_after(b"1.5"), None);
        assert_eq!(parse_retry_after(b"\xff"), None);
        assert_eq!(parse_retry_after(b"tomorrow"), None);
    }

    #[test]
    fn retry_after_as_a_date_is_the_wait_until_it() {
        let past = parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(past, Some(Duration::ZERO));
        let in_a_minute = std::time::SystemTime::now() + Duration::from_secs(60);
        let date = httpdate::fmt_http_date(in_a_minute);
        let wait = parse_retry_after(date.as_bytes()).expect("a date is read");
        // The date is in whole seconds, read a moment later.
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
    }

    #[test]
    fn policy_setters() {
        assert_eq!(RetryPolicy::default().max_attempts(0).max_attempts, 1);
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }
}
