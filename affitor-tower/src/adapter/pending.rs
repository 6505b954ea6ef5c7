//! The click call, running beside the handler, bounded by the deadline; or, for a visit that
//! repeats a click moments later, the answer that click got.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::error::Elapsed;

use super::{ClickCookies, PartnerClick};
use crate::{ClickId, Client};
use affitor::client::{ClickOutcome, ErrorKind};

/// The click call of a partner link, made by [`CaptureClicks::record`](crate::capture::CaptureClicks::record):
/// a future that gives the cookies to set when the API recorded the click in time.
///
/// It gives `None` when the deadline passed first (the call is then abandoned), the call failed
/// (the API unreachable or answering 5xx, an unknown link's 400, a click id that is not a valid
/// [`ClickId`]), the link is inactive (`success: false`), or the client is in
/// test mode (the API issues no click id): each is logged at `debug` with the reason; the
/// adapter then sets no cookie and keeps the page out of shared caches
/// ([`KeepPrivate`](super::KeepPrivate)).
///
/// When the API refuses the partner code (an unknown link), a call of the code alone, without
/// the visitor's fields, confirms the refusal for the click limit: a task of its own, by the
/// same deadline, which the future does not wait for.
///
/// A visit that repeats a click (the same address and partner code within the
/// [repeat window](crate::capture::ClickLimit::repeat_window)) makes no call: its future waits,
/// until the same deadline, for the answer of the click it repeats, and gives the same click id
/// in cookies of its own (its landing URL, its earlier click ids).
///
/// Adapters poll it beside the handler's future, and wait for it only until the deadline. Once
/// polled, the call runs on a task of its own, by the same deadline: a request dropped meanwhile
/// (the visitor went away) does not cut it short, and its answer still reaches the repeats.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use affitor_tower::adapter::{Decision, PendingClick, Visit};
/// use affitor_tower::capture::CaptureClicks;
///
/// let mock = affitor_mock::MockServer::start().await?; // the stand-in API
/// let mut headers = http::HeaderMap::new();
/// headers.insert("host", "shop.example".parse()?);
/// headers.insert("user-agent", "Mozilla/5.0".parse()?);
/// let capture = CaptureClicks::new();
/// let visit = Visit::new("GET", "/pricing", Some("aff=partner"), &headers);
/// let Decision::Capture(click) = capture.decide(&visit) else { unreachable!() };
///
/// let pending: PendingClick = capture.record(click, &mock.client());
/// let handler = async { "<html>the page</html>" };
/// let (page, cookies) = tokio::join!(handler, pending);
/// assert!(cookies.is_some(), "the stand-in recorded the click");
/// # Ok(())
/// # }
/// ```
#[must_use = "the click is only sent when the future is polled"]
pub struct PendingClick {
    future: Pin<Box<dyn Future<Output = Option<ClickCookies>> + Send>>,
}

/// What the API's answer to a click call says of its partner code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The API recorded the click: the code is real.
    Recorded,
    /// The API refused the code: an unknown or inactive link.
    Refused,
}

/// What learns from the click calls' answers which partner codes are real: the click limit.
pub(crate) trait LearnsCodes: Send + Sync {
    /// Keeps what the API's answer said of `code` at `now`.
    fn learn(&self, code: &str, verdict: Verdict, now: std::time::Instant);

    /// Whether a probe of `code` may be sent at `now` (it spends what a click call does).
    fn admit_probe(&self, code: &str, now: std::time::Instant) -> bool;
}

/// What a partner link's click became, kept by the click limit's repeat memory for the visits
/// that repeat it: one per address and partner code, shared by the first visit (which
/// publishes the answer) and its repeats (which wait for it).
#[derive(Debug)]
pub(crate) struct ClickMemo {
    answer: watch::Sender<Answer>,
}

/// The answer of a click call, as its repeats read it.
#[derive(Clone, Debug)]
enum Answer {
    /// The call is still running.
    Waiting,
    /// The API recorded the click: what the cookies need.
    Recorded { click_id: ClickId, window_days: u32 },
    /// No click id came of it (a failure, the deadline, an inactive link, test mode).
    Nothing,
    /// The call never ran (the request was dropped before it started, or the call's task with
    /// its runtime): nothing is known, and the next visit makes a call of its own.
    Abandoned,
}

impl ClickMemo {
    /// A memo of a click whose call has not answered yet.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            answer: watch::Sender::new(Answer::Waiting),
        })
    }

    /// Whether the click this memo stands for is known to have no click id: its repeats then
    /// have nothing to wait for.
    pub(crate) fn came_to_nothing(&self) -> bool {
        matches!(*self.answer.borrow(), Answer::Nothing)
    }

    /// Whether the call of the click this memo stands for never ran: a later visit is then no
    /// repeat of it.
    pub(crate) fn abandoned(&self) -> bool {
        matches!(*self.answer.borrow(), Answer::Abandoned)
    }

    /// Publishes that the call never ran (when no answer came before): its repeats get no
    /// click id, and the next visit makes a call of its own.
    pub(crate) fn abandon(&self) {
        self.publish(Answer::Abandoned);
    }

    /// Publishes that the click got no click id, as a call that failed does.
    #[cfg(test)]
    pub(crate) fn came_to_no_click_id(&self) {
        self.publish(Answer::Nothing);
    }

    /// Publishes the answer to the repeats, once: a later answer changes nothing.
    fn publish(&self, answer: Answer) {
        self.answer.send_if_modified(|held| {
            let waiting = matches!(held, Answer::Waiting);
            if waiting {
                *held = answer;
            }
            waiting
        });
    }
}

/// Which part a partner link's visit plays in the repeat memory.
#[derive(Clone, Debug)]
pub(crate) enum Memo {
    /// The first visit: its call's answer is published to the memo.
    First(Arc<ClickMemo>),
    /// A repeat: it makes no call, and waits for the first visit's answer.
    Repeat(Arc<ClickMemo>),
}

/// Publishes that the first visit's call never gave an answer of its own: the request was
/// dropped before the call started, or its task was (the runtime ended).
struct Unanswered(Option<Arc<ClickMemo>>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(memo) = self.0.take() {
            memo.abandon();
        }
    }
}

impl PendingClick {
    /// The click call of `click`, bounded by `deadline`; the API's answer teaches `learner`
    /// whether the partner code is real.
    pub(crate) fn new(
        click: PartnerClick,
        client: &Client,
        deadline: Duration,
        learner: Option<Arc<dyn LearnsCodes>>,
    ) -> Self {
        // The deadline counts from the request's arrival, not from the first poll.
        let deadline = deadline_after(deadline);
        let first = match &click.memo {
            Some(Memo::Repeat(memo)) => {
                let memo = Arc::clone(memo);
                return Self {
                    future: Box::pin(repeat(click, memo, deadline)),
                };
            }
            Some(Memo::First(memo)) => Some(Arc::clone(memo)),
            None => None,
        };
        let request = click.request(client);
        let client = client.clone();
        // Built outside the future: one dropped before its first poll still abandons the memo.
        let unanswered = Unanswered(first);
        let future = async move {
            let code = click.partner_code();
            let sent = tokio::time::timeout_at(deadline, request.send()).await;
            let answer = match &sent {
                Ok(Ok(ClickOutcome::Recorded {
                    click_id,
                    cookie_window_days,
                    ..
                })) => Answer::Recorded {
                    click_id: click_id.clone(),
                    window_days: *cookie_window_days,
                },
                _ => Answer::Nothing,
            };
            log_answer(code, &sent);
            let cookies = match &answer {
                Answer::Recorded {
                    click_id,
                    window_days,
                } => Some(click.cookies(click_id, *window_days)),
                Answer::Waiting | Answer::Nothing | Answer::Abandoned => None,
            };
            if let Some(memo) = &unanswered.0 {
                memo.publish(answer);
            }
            let verdict = sent.as_ref().ok().and_then(verdict);
            match (learner, verdict) {
                (Some(learner), Some(Verdict::Recorded)) => {
                    learner.learn(code, Verdict::Recorded, std::time::Instant::now());
                }
                // The visit's call carried the visitor's fields: the code is refused only if
                // a call of the code alone is refused too. The page never waits for it.
                (Some(learner), Some(Verdict::Refused)) => {
                    let code = code.to_owned();
                    tokio::spawn(probe(learner, client, code, click.probe_url(), deadline));
                }
                _ => {}
            }
            cookies
        };
        // On a task of its own from the first poll: a visitor who goes away before the API
        // answers (the request dropped) leaves that answer to the visits that repeat the
        // click, rather than "no click id" for the whole repeat window.
        let future = async move { tokio::spawn(future).await.unwrap_or(None) };
        Self {
            future: Box::pin(future),
        }
    }
}

/// The deadline kept for one too far to represent (`Duration::MAX`), which no instant holds.
const FARTHEST_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// The instant `deadline` from now; a year from now for a deadline too far to represent.
fn deadline_after(deadline: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(deadline)
        .or_else(|| now.checked_add(FARTHEST_DEADLINE))
        .unwrap_or(now)
}

/// Logs at `debug` what the visit's click call came to.
fn log_answer(code: &str, sent: &Result<Result<ClickOutcome, affitor::Error>, Elapsed>) {
    match sent {
        Ok(Ok(ClickOutcome::Recorded { .. })) => {
            tracing::debug!(partner = code, "partner link recorded as a click");
        }
        Ok(Ok(ClickOutcome::Inactive { message, .. })) => tracing::debug!(
            partner = code,
            "the API recorded no click ({message}): no cookie, the page is kept out of shared \
             caches"
        ),
        Ok(Ok(ClickOutcome::Test { .. })) => tracing::debug!(
            partner = code,
            "the client is in test mode: the API issues no click id; no cookie, the page is kept \
             out of shared caches"
        ),
        Ok(Ok(outcome)) => tracing::debug!(
            partner = code,
            "the click call answered {outcome:?}, which carries no click id: no cookie, the page \
             is kept out of shared caches"
        ),
        Ok(Err(error)) if refuses_the_code(error) => tracing::debug!(
            partner = code,
            "the API refused the click ({error}): an unknown link; no cookie, the page is kept \
             out of shared caches"
        ),
        Ok(Err(error)) => tracing::debug!(
            partner = code,
            "the click call failed ({error}): no cookie, the page is kept out of shared caches"
        ),
        Err(_) => tracing::debug!(
            partner = code,
            "the click call missed its deadline: no cookie, the page is kept out of shared caches"
        ),
    }
}

/// What a click call's answer says of its partner code: real (recorded), refused (the API says
/// the link is inactive, or that no referral link has the code), or nothing.
fn verdict(sent: &Result<ClickOutcome, affitor::Error>) -> Option<Verdict> {
    match sent {
        Ok(ClickOutcome::Recorded { .. }) => Some(Verdict::Recorded),
        Ok(ClickOutcome::Inactive { message, .. })
            if message.to_ascii_lowercase().contains("inactive") =>
        {
            Some(Verdict::Refused)
        }
        Err(error) if refuses_the_code(error) => Some(Verdict::Refused),
        _ => None,
    }
}

/// A click call of the partner `code` alone (`affiliate_url` the landing's origin and `?aff=`,
/// `url`, none of the visitor's fields), by `deadline`, after the visit's own call was refused:
/// `learner` learns what this one says of the code, so that a visitor's fields never refuse the
/// code for everyone. Within the click limit's bounds, as a visit's call. It runs as a task of
/// its own, which no response waits for.
async fn probe(
    learner: Arc<dyn LearnsCodes>,
    client: Client,
    code: String,
    url: String,
    deadline: tokio::time::Instant,
) {
    let code = code.as_str();
    if !learner.admit_probe(code, std::time::Instant::now()) {
        tracing::debug!(
            partner = code,
            "the click limit has no click left to probe the refused code: nothing learned"
        );
        return;
    }
    // Sent past the client's backend: a probe is no visitor's click, and a backend that keeps
    // a record of clicks (an outbox's journal) would show a click id that no visitor holds.
    let unrecorded = client.with_memory_queue();
    let sent = tokio::time::timeout_at(deadline, unrecorded.click(url).send()).await;
    match sent.as_ref().ok().and_then(verdict) {
        Some(verdict) => {
            if verdict == Verdict::Refused {
                tracing::debug!(
                    partner = code,
                    "the API refused the code alone too: no click call for it for a while"
                );
            }
            learner.learn(code, verdict, std::time::Instant::now());
        }
        None => tracing::debug!(
            partner = code,
            "the probe of the refused code said nothing of it ({sent:?}): nothing learned"
        ),
    }
}

/// Whether a click call's failure is the API's word on the partner code: no referral link has
/// it (`400 Referral link not found`). Any other refusal (a gateway's 413 for a body it will
/// not take, a 400 about another field or the link's configuration, a 422 on the URL) is about
/// this visit's click, or says nothing of the code: the next visitor's may well be recorded, so
/// it teaches the click limit nothing.
fn refuses_the_code(error: &affitor::Error) -> bool {
    error.kind() == ErrorKind::Rejected
        && error.status().is_some_and(|status| status.as_u16() == 400)
        && error.message().is_some_and(|message| {
            message
                .to_ascii_lowercase()
                .contains("referral link not found")
        })
}

/// A repeat's answer: the click id of the click it repeats, once that click's call answers,
/// by the repeat's own deadline; no call of its own.
async fn repeat(
    click: PartnerClick,
    memo: Arc<ClickMemo>,
    deadline: tokio::time::Instant,
) -> Option<ClickCookies> {
    let code = click.partner_code();
    let mut answers = memo.answer.subscribe();
    let answered = tokio::time::timeout_at(
        deadline,
        answers.wait_for(|answer| !matches!(answer, Answer::Waiting)),
    )
    .await;
    // The memo holds the sender: the wait ends with an answer or the deadline.
    let answer = match answered {
        Ok(Ok(answer)) => answer.clone(),
        Ok(Err(_)) | Err(_) => Answer::Waiting,
    };
    match answer {
        Answer::Recorded {
            click_id,
            window_days,
        } => {
            tracing::debug!(
                partner = code,
                "a repeat of a click recorded moments ago from this address: answered with its \
                 click id, without a click call"
            );
            Some(click.cookies(&click_id, window_days))
        }
        Answer::Nothing => {
            tracing::debug!(
                partner = code,
                "a repeat of a click that got no click id: no click call, no cookie, the page is \
                 kept out of shared caches"
            );
            None
        }
        Answer::Abandoned => {
            tracing::debug!(
                partner = code,
                "the click this visit repeats was never sent (its request went away first): the \
                 page is served without the cookies, and the next visit makes a click call"
            );
            None
        }
        Answer::Waiting => {
            tracing::debug!(
                partner = code,
                "the click this visit repeats had no answer by the deadline: the page is served \
                 without the cookies"
            );
            None
        }
    }
}

impl Future for PendingClick {
    type Output = Option<ClickCookies>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl fmt::Debug for PendingClick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingClick").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::adapter::{Decision, Visit};
    use crate::capture::CaptureClicks;
    use affitor::client::Endpoint;
    use affitor_mock::{Fault, MockServer};

    fn client(mock: &MockServer) -> Client {
        mock.client()
    }

    fn landing(target: &str, cookie: Option<&str>) -> PartnerClick {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "shop.example".parse().unwrap());
        headers.insert(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64)".parse().unwrap(),
        );
        headers.insert("referer", "https://news.example/".parse().unwrap());
        headers.insert("accept-language", "en-GB,en;q=0.8".parse().unwrap());
        if let Some(cookie) = cookie {
            headers.insert("cookie", cookie.parse().unwrap());
        }
        let (path, query) = target.split_once('?').unwrap();
        match CaptureClicks::new().decide(&Visit::new("GET", path, Some(query), &headers)) {
            Decision::Capture(click) => click,
            other => panic!("not a click: {other:?}"),
        }
    }

    /// The `debug` lines logged while `future` runs. The calling test runs
    /// [`test_support::alone!`], for the capture to be complete.
    async fn logged<T>(future: impl Future<Output = T>) -> (T, String) {
        let (logs, _guard) = test_support::Logs::capture("debug");
        let output = future.await;
        (output, logs.text())
    }

    #[tokio::test]
    async fn a_recorded_click_gives_the_cookies_and_sends_the_visitors_facts() {
        let mock = MockServer::start().await.unwrap();
        let pending = CaptureClicks::new().record(landing("/p?aff=partner", None), &client(&mock));
        let cookies = pending.await.expect("the click is recorded");

        let clicks = mock.clicks();
        assert_eq!(clicks.len(), 1);
        let click_id = clicks[0].click_id.clone().unwrap();
        let first = cookies.set_cookie_values().next().unwrap();
        assert!(
            first.starts_with(&format!("affitor_click_id={click_id};")),
            "{first}"
        );
        assert_eq!(
            clicks[0].user_agent.as_deref(),
            Some("Mozilla/5.0 (X11; Linux x86_64)")
        );

        let body = &mock.requests_to(Endpoint::Click)[0].body;
        assert_eq!(body["affiliate_url"], "http://shop.example/p?aff=partner");
        assert_eq!(body["page_url"], "http://shop.example/p?aff=partner");
        assert_eq!(body["referrer_url"], "https://news.example/");
        assert_eq!(body["language"], "en-GB");
        assert!(body.get("existing_click_id").is_none());
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn a_partner_change_sends_the_existing_click_id() {
        let mock = MockServer::start().await.unwrap();
        mock.link("newpartner");
        let earlier = mock.click("partner");
        let cookie =
            format!("affitor_click_id={earlier}; affitor_aff_url=http://shop.example/?aff=partner");
        let click = landing("/?aff=newpartner", Some(&cookie));
        let cookies = CaptureClicks::new()
            .record(click, &client(&mock))
            .await
            .unwrap();
        let recorded = mock.clicks().pop().unwrap();
        assert_eq!(
            recorded.existing_click_id.as_deref(),
            Some(earlier.as_str())
        );
        assert_eq!(recorded.partner_code.as_deref(), Some("newpartner"));
        let ids = cookies.set_cookie_values().nth(2).unwrap().to_owned();
        assert!(ids.starts_with("affitor_click_ids="), "{ids}");
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn no_cookies_and_a_debug_line_when_the_api_does_not_record_the_click() {
        if !test_support::alone!() {
            return;
        }
        let mock = MockServer::start().await.unwrap();
        mock.inactive_link("sleeping");
        let capture = CaptureClicks::new();
        let client = client(&mock);
        let cases: [(&str, Option<Fault>, &str); 5] = [
            ("/?aff=unknown", None, "Referral link not found"),
            ("/?aff=sleeping", None, "inactive"),
            ("/?aff=partner", Some(Fault::status(500).always()), "failed"),
            (
                "/?aff=partner",
                Some(Fault::response(
                    200,
                    json!({"success": true, "click_id": "bad id\r\nx"}),
                )),
                "failed",
            ),
            (
                "/?aff=partner",
                Some(Fault::drop_connection().always()),
                "failed",
            ),
        ];
        for (target, fault, reason) in cases {
            mock.clear_faults();
            if let Some(fault) = fault {
                mock.inject(fault.on(Endpoint::Click));
            }
            let (cookies, log) = logged(capture.record(landing(target, None), &client)).await;
            assert!(cookies.is_none(), "{target}: {cookies:?}");
            assert!(
                log.contains("DEBUG") && log.contains(reason),
                "{target}: {log}"
            );
            assert!(
                log.contains("no cookie, the page is kept out of shared caches"),
                "{log}"
            );
        }
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn a_late_answer_is_abandoned_at_the_deadline() {
        if !test_support::alone!() {
            return;
        }
        let mock = MockServer::start().await.unwrap();
        mock.inject(Fault::delay(Duration::from_secs(30)).on(Endpoint::Click));
        let capture = CaptureClicks::new().deadline(Duration::from_millis(50));
        let (cookies, log) =
            logged(capture.record(landing("/?aff=partner", None), &client(&mock))).await;
        assert!(cookies.is_none());
        assert!(log.contains("missed its deadline"), "{log}");
        mock.shutdown().await;
    }

    /// The probe that confirms a code's refusal is a second API call: the page never waits
    /// for it (it runs on its own, by the same deadline), and the limit still learns from it.
    #[tokio::test]
    async fn a_refused_code_is_answered_at_once_and_probed_beside() {
        let mock = MockServer::start().await.unwrap();
        // The visit's call answers at once; the probe's, a second later.
        mock.inject(Fault::delay(Duration::ZERO).on(Endpoint::Click));
        mock.inject(Fault::delay(Duration::from_secs(1)).on(Endpoint::Click));
        let capture = CaptureClicks::new().deadline(Duration::from_secs(3));
        let started = tokio::time::Instant::now();
        let cookies = capture
            .record(landing("/?aff=unknown", None), &client(&mock))
            .await;
        assert!(cookies.is_none());
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "the page waited {:?} for the probe",
            started.elapsed()
        );
        // The probe goes on, and teaches the limit that the code is refused.
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "shop.example".parse().unwrap());
        headers.insert("user-agent", "Mozilla/5.0".parse().unwrap());
        let visit = Visit::new("GET", "/", Some("aff=unknown"), &headers);
        let refused = async {
            loop {
                match capture.decide(&visit) {
                    Decision::Skip(crate::adapter::Skip::RefusedPartner) => break,
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), refused)
            .await
            .expect("the probe's answer is learned");
        assert_eq!(mock.requests_to(Endpoint::Click).len(), 2);
        mock.shutdown().await;
    }

    /// `Duration::MAX` is no instant tokio can hold: the deadline is a year away instead of a
    /// panic on every partner link.
    #[tokio::test]
    async fn a_deadline_too_far_to_represent_waits_for_the_answer() {
        let mock = MockServer::start().await.unwrap();
        let capture = CaptureClicks::new().deadline(Duration::MAX);
        let cookies = capture
            .record(landing("/?aff=partner", None), &client(&mock))
            .await;
        assert!(cookies.is_some(), "the click is recorded");
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn test_mode_has_no_click_id_to_store() {
        if !test_support::alone!() {
            return;
        }
        let mock = MockServer::start().await.unwrap();
        let client = mock.client_builder().test_mode(true).build().unwrap();
        let (cookies, log) =
            logged(CaptureClicks::new().record(landing("/?aff=partner", None), &client)).await;
        assert!(cookies.is_none());
        assert!(log.contains("test mode"), "{log}");
        mock.shutdown().await;
    }

    /// A visit from `address`, as `decide` makes it.
    fn visit_from(capture: &CaptureClicks, address: [u8; 4]) -> Decision {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "shop.example".parse().unwrap());
        headers.insert("user-agent", "Mozilla/5.0".parse().unwrap());
        let visit = Visit::new("GET", "/", Some("aff=partner"), &headers)
            .client_address(Some(std::net::IpAddr::from(address)));
        capture.decide(&visit)
    }

    /// A click future dropped before its first poll (the request went away before the
    /// response was awaited) made no call: the next visit is no repeat of it, and makes its
    /// own.
    #[tokio::test]
    async fn a_click_dropped_before_its_first_poll_leaves_the_next_visit_its_own_call() {
        let mock = MockServer::start().await.unwrap();
        let capture = CaptureClicks::new();
        let Decision::Capture(first) = visit_from(&capture, [10, 0, 0, 2]) else {
            panic!("the first visit is a click")
        };
        drop(capture.record(first, &client(&mock)));
        assert!(mock.requests_to(Endpoint::Click).is_empty());
        let Decision::Capture(next) = visit_from(&capture, [10, 0, 0, 2]) else {
            panic!("the next visit is a click of its own")
        };
        assert!(capture.record(next, &client(&mock)).await.is_some());
        assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
        mock.shutdown().await;
    }

    /// A repeat makes no call: it waits for the click it repeats, whose call goes on when that
    /// visit went away (its request dropped), and gets its click id.
    #[tokio::test]
    async fn a_repeat_gets_the_click_it_repeats_when_that_visit_is_dropped() {
        let mock = MockServer::start().await.unwrap();
        mock.inject(
            Fault::delay(Duration::from_millis(300))
                .on(Endpoint::Click)
                .times(1),
        );
        let client = client(&mock);
        let capture = CaptureClicks::new().deadline(Duration::from_secs(20));
        let Decision::Capture(first) = visit_from(&capture, [10, 0, 0, 1]) else {
            panic!("the first visit is a click")
        };
        let mut first = capture.record(first, &client);
        let started = tokio::time::timeout(Duration::from_millis(50), &mut first).await;
        assert!(started.is_err(), "the call still runs");
        let Decision::Capture(repeat) = visit_from(&capture, [10, 0, 0, 1]) else {
            panic!("a repeat of a click still running waits for it")
        };
        let repeat = capture.record(repeat, &client);
        drop(first);
        let cookies = tokio::time::timeout(Duration::from_secs(5), repeat)
            .await
            .expect("answered by the first visit's call");
        assert!(cookies.is_some(), "the click id the first call recorded");
        assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
        mock.shutdown().await;
    }
}
