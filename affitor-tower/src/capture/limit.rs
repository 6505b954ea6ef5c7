//! How many clicks capture sends: a token bucket per client address, one per partner code and
//! one for all, and a short memory of the click each address sent to each partner, so that a
//! flood of visits to a partner link does not become a flood of click calls, and a repeat of a
//! visit gets the click it repeats.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::adapter::{ClickMemo, LearnsCodes, Skip, Verdict};

/// The bound on the click calls capture sends: on by default.
///
/// Each client address has a bucket of [`burst`](Self::burst) clicks, refilled by one every
/// [`refill`](Self::refill); a visit from an address whose bucket is empty is not recorded
/// (its page is served, kept out of shared caches). An IPv6 client is its /64 network (one
/// subscriber's, which holds more addresses than can be counted one by one). The visits whose
/// address is unknown (no peer address reached the layer, and no trusted proxy header named
/// one) share one bucket, [`unknown_burst`](Self::unknown_burst) deep.
///
/// A second visit from the same address to the same partner's link within
/// [`repeat_window`](Self::repeat_window) is the same click: it makes no click call, and gets
/// the click id the first visit got (the same `affitor_click_id`, in cookies of its own), so
/// that a visitor who opens the link in a second browser moments later keeps the partner's
/// credit. A repeat of a visit that got no click id gets none either. Visits of unknown address
/// are never taken for repeats.
///
/// Behind the addresses, each partner code has a bucket, [`per_partner`](Self::per_partner),
/// and every click shares one more, [`total`](Self::total): a flood on one partner's link,
/// however many addresses it comes from, spends that partner's bucket and leaves the rest of
/// the total to the other partners' visitors.
///
/// The limit learns from the API's answers which partner codes are real. Half of the total is
/// kept for the codes whose click the API recorded in the last day: a flood of invented codes
/// from many addresses spends the other half, and the real partners' visitors still get their
/// clicks. A code the API refused (an unknown or inactive link) makes no click call for the
/// next 10 minutes. Only those answers refuse a code, and only when a probe confirms them: a
/// click call of the code alone, without the visitor's fields (the landing URL's path and
/// query, the referrer, the user agent, the language), refused the same way; a visitor cannot
/// make their own refusal everyone's. The probe spends a click of the partner's and of the total
/// bucket, as a visit does, and when the API records it (the code is real after all) it counts
/// as a click of that partner. A call that failed otherwise (a gateway's 413, a 400 about another
/// field, a 5xx, a `success: false` that does not say the link is inactive) says nothing of the
/// code, and the next visit sends its click. What the limit held back is counted in
/// [`CaptureStats`](super::CaptureStats).
/// The memory is bounded: at most 10,000 addresses, 10,000 partner codes, 10,000 recent clicks,
/// and 10,000 codes recorded or refused are kept, the idle ones forgotten first.
///
/// ```
/// use std::time::Duration;
/// use affitor_tower::capture::{CaptureClicks, ClickLimit};
///
/// let strict = ClickLimit::default().burst(3).refill(Duration::from_secs(20));
/// let capture = CaptureClicks::new().click_limit(strict);
/// let unbounded = CaptureClicks::new().click_limit(ClickLimit::none());
/// # drop((capture, unbounded));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClickLimit {
    enabled: bool,
    burst: u32,
    refill: Duration,
    unknown_burst: u32,
    unknown_refill: Duration,
    partner_burst: u32,
    partner_refill: Duration,
    total_burst: u32,
    total_refill: Duration,
    repeat_window: Duration,
}

impl Default for ClickLimit {
    /// 10 clicks per address, one more every 6 s; 200 for the unknown addresses together, one
    /// more every 50 ms; 250 per partner code, one more every 8 ms (125 a second: a quarter of
    /// the total); 1,000 for all together, one more every 2 ms (500 a second); a repeat within
    /// 30 s is the same click.
    fn default() -> Self {
        Self {
            enabled: true,
            burst: 10,
            refill: Duration::from_secs(6),
            unknown_burst: 200,
            unknown_refill: Duration::from_millis(50),
            partner_burst: 250,
            partner_refill: Duration::from_millis(8),
            total_burst: 1_000,
            total_refill: Duration::from_millis(2),
            repeat_window: Duration::from_secs(30),
        }
    }
}

impl ClickLimit {
    /// No bound: every visit to a partner link that capture would record sends a click.
    ///
    /// See [`ClickLimit`] for an example.
    pub fn none() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Whether it bounds anything (not [`none`](Self::none)).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// How many clicks an address may send at once (default 10; at least 1).
    ///
    /// See [`ClickLimit`] for an example.
    #[must_use]
    pub fn burst(mut self, clicks: u32) -> Self {
        self.burst = clicks.max(1);
        self
    }

    /// How long an address waits for one more click once its burst is spent (default 6 s).
    ///
    /// See [`ClickLimit`] for an example.
    #[must_use]
    pub fn refill(mut self, every: Duration) -> Self {
        self.refill = every;
        self
    }

    /// How many clicks the visits of unknown address may send at once, together (default 200;
    /// at least 1), refilled by one every `every` (default 50 ms).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let limit = affitor_tower::capture::ClickLimit::default()
    ///     .unknown_burst(50, Duration::from_millis(200));
    /// ```
    #[must_use]
    pub fn unknown_burst(mut self, clicks: u32, every: Duration) -> Self {
        self.unknown_burst = clicks.max(1);
        self.unknown_refill = every;
        self
    }

    /// How many clicks the visits to one partner's links may send at once, whatever their
    /// addresses (default 250; at least 1), refilled by one every `every` (default 8 ms: 125 a
    /// second). The bound that keeps a flood on one partner's link from spending the whole
    /// [`total`](Self::total): keep it a share of the total (the default is a quarter), so that
    /// the other partners' visitors still find clicks in it. A partner whose links draw more
    /// visitors than this in a burst loses the server's click for the rest (the browser
    /// tracker, where the page runs it, still records it): raise it for such a campaign.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let limit = affitor_tower::capture::ClickLimit::default()
    ///     .total(2_000, Duration::from_millis(1))
    ///     .per_partner(500, Duration::from_millis(4));
    /// ```
    #[must_use]
    pub fn per_partner(mut self, clicks: u32, every: Duration) -> Self {
        self.partner_burst = clicks.max(1);
        self.partner_refill = every;
        self
    }

    /// How many clicks all visits may send at once, together (default 1,000; at least 1),
    /// refilled by one every `every` (default 2 ms: 500 a second). The bound a flood from many
    /// addresses meets.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let limit = affitor_tower::capture::ClickLimit::default()
    ///     .total(100, Duration::from_millis(100));
    /// ```
    #[must_use]
    pub fn total(mut self, clicks: u32, every: Duration) -> Self {
        self.total_burst = clicks.max(1);
        self.total_refill = every;
        self
    }

    /// How long a visit from the same address to the same partner's link is the same click
    /// (default 30 s): it gets that click's id, without a click call of its own.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let limit = affitor_tower::capture::ClickLimit::default().repeat_window(Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn repeat_window(mut self, window: Duration) -> Self {
        self.repeat_window = window;
        self
    }
}

/// The most addresses, partner codes, and recent clicks, remembered.
const MAX_ENTRIES: usize = 10_000;

/// How long a partner code whose click the API recorded counts as real: it may spend the share
/// of the total kept for real codes.
const KNOWN_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a partner code the API refused makes no click call.
const REFUSED_FOR: Duration = Duration::from_secs(10 * 60);

/// The share of the total bucket that only codes known to be real may spend.
const KEPT_FOR_KNOWN_CODES: f64 = 0.5;

/// The state of a [`ClickLimit`], shared by the clones of a `CaptureClicks`.
#[derive(Debug, Default)]
pub(super) struct Limiter {
    state: Mutex<State>,
    pub(super) counts: Counts,
    /// Whether it has warned that the visits come through a proxy whose headers are ignored.
    proxy_warned: std::sync::atomic::AtomicBool,
}

impl Limiter {
    /// A visit from `proxy` (a private address) carried a proxy's header, which the options
    /// ignore: every visitor then counts as that address. Said once.
    pub(super) fn proxy_headers_ignored(&self, proxy: IpAddr) {
        if !self.proxy_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %proxy,
                "partner links come through a proxy (X-Forwarded-For or Forwarded from a private \
                 address), whose headers CaptureClicks ignores: every visitor counts as the \
                 proxy for the click limit, and visitors of one partner within the repeat window \
                 share a click id. Set `trust_proxy_headers` to the headers your proxy sets"
            );
        }
    }
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<Option<IpAddr>, Bucket>,
    /// Each partner code's bucket.
    partners: HashMap<Box<str>, Bucket>,
    /// The clicks sent moments ago, by address and partner code: the repeat memory.
    recent: HashMap<(IpAddr, Box<str>), Sent>,
    /// Every click's bucket; `None` until the first.
    total: Option<Bucket>,
    /// What the API's last answer said of each partner code, and when.
    verdicts: HashMap<Box<str>, (Verdict, Instant)>,
}

/// A click in the repeat memory: when it was sent, and what it became.
#[derive(Debug)]
struct Sent {
    at: Instant,
    memo: Arc<ClickMemo>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The client an address stands for: an IPv4 address (an IPv4-mapped IPv6 one too), or an
/// IPv6 /64 network.
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// What capture did with the partner links it saw: see [`CaptureStats`](super::CaptureStats).
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) recorded: AtomicU64,
    pub(super) rate_limited: AtomicU64,
    pub(super) partner_limited: AtomicU64,
    pub(super) total_limited: AtomicU64,
    pub(super) repeated: AtomicU64,
    pub(super) refused_partner: AtomicU64,
}

/// What the limit makes of a visit to a partner link.
#[derive(Debug)]
pub(super) enum Admission {
    /// Send the click; its memo, which its repeats will read, when the address is known.
    Send(Option<Arc<ClickMemo>>),
    /// A repeat of a click sent moments ago, whose answer it waits for: no call.
    Repeat(Arc<ClickMemo>),
    /// Not sent, and why.
    Held(Skip),
}

/// Which bound held a visit back.
#[derive(Clone, Copy, Debug)]
enum Bound {
    Address,
    Partner,
    Total,
}

impl Limiter {
    /// What to do with a visit to `code` from `address`: send its click (counted), answer it as
    /// the repeat of one, or hold it back (counted, with the reason).
    pub(super) fn admit(
        &self,
        limit: &ClickLimit,
        address: Option<IpAddr>,
        code: &str,
        now: Instant,
    ) -> Admission {
        if !limit.enabled {
            self.counts.recorded.fetch_add(1, Ordering::Relaxed);
            return Admission::Send(None);
        }
        let address = address.map(client_of);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let recent = address
            .and_then(|address| state.recent.get(&(address, Box::from(code))))
            .filter(|sent| now.saturating_duration_since(sent.at) < limit.repeat_window)
            .filter(|sent| !sent.memo.abandoned());
        if let Some(sent) = recent {
            self.counts.repeated.fetch_add(1, Ordering::Relaxed);
            if sent.memo.came_to_nothing() {
                return Admission::Held(Skip::Repeated);
            }
            return Admission::Repeat(Arc::clone(&sent.memo));
        }
        if state.verdict(code, now) == Some(Verdict::Refused) {
            drop(state);
            self.counts.refused_partner.fetch_add(1, Ordering::Relaxed);
            return Admission::Held(Skip::RefusedPartner);
        }
        let held = state.spend(limit, address, code, now);
        if let Some(bound) = held {
            drop(state);
            self.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
            match bound {
                Bound::Address => {}
                Bound::Partner => {
                    self.counts.partner_limited.fetch_add(1, Ordering::Relaxed);
                }
                Bound::Total => {
                    self.counts.total_limited.fetch_add(1, Ordering::Relaxed);
                }
            }
            return Admission::Held(Skip::RateLimited);
        }
        // Only a click sent is remembered: a visit held back may try again.
        let memo = address.map(|address| {
            let memo = ClickMemo::new();
            state.remember(limit, (address, Box::from(code)), &memo, now);
            memo
        });
        drop(state);
        self.counts.recorded.fetch_add(1, Ordering::Relaxed);
        Admission::Send(memo)
    }
}

/// What the answers to a capture's click calls teach its limit, with the limit's bounds, which
/// a probe spends as a visit does.
pub(super) struct Learner {
    pub(super) limiter: Arc<Limiter>,
    pub(super) limit: ClickLimit,
}

impl LearnsCodes for Learner {
    fn learn(&self, code: &str, verdict: Verdict, now: Instant) {
        self.limiter.learn(code, verdict, now);
    }

    fn admit_probe(&self, code: &str, now: Instant) -> bool {
        self.limiter.admit_probe(&self.limit, code, now)
    }
}

impl Limiter {
    /// Whether a probe of `code` may be sent at `now`: it takes one click from the partner's
    /// and the total bucket (not from the share kept for real codes), as a visit does.
    fn admit_probe(&self, limit: &ClickLimit, code: &str, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.spend_shared(limit, code, now, true).is_none()
    }

    /// Keeps what the API's answer to a click call said of `code` at `now`.
    fn learn(&self, code: &str, verdict: Verdict, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let verdicts = &mut state.verdicts;
        if verdicts.len() >= MAX_ENTRIES && !verdicts.contains_key(code) {
            // Forget the verdicts that no longer count; still more than half full, the
            // refusals (a visitor can invent any code; the API accepts few).
            verdicts.retain(|_, (verdict, at)| !expired(*verdict, *at, now));
            if verdicts.len() >= MAX_ENTRIES / 2 {
                verdicts.retain(|_, (verdict, _)| *verdict == Verdict::Recorded);
            }
            if verdicts.len() >= MAX_ENTRIES {
                return;
            }
        }
        verdicts.insert(Box::from(code), (verdict, now));
    }
}

/// Whether a verdict given at `at` no longer counts at `now`.
fn expired(verdict: Verdict, at: Instant, now: Instant) -> bool {
    let lasts = match verdict {
        Verdict::Recorded => KNOWN_FOR,
        Verdict::Refused => REFUSED_FOR,
    };
    now.saturating_duration_since(at) >= lasts
}

impl State {
    /// What the API last said of `code`, while it still counts.
    fn verdict(&self, code: &str, now: Instant) -> Option<Verdict> {
        let &(verdict, at) = self.verdicts.get(code)?;
        (!expired(verdict, at, now)).then_some(verdict)
    }

    /// Takes one click from the address's, the partner's and the total bucket, when each has
    /// one (of the total, a code not known to be real leaves the share kept for the real
    /// ones); else the bound that held the visit back, and nothing is taken.
    fn spend(
        &mut self,
        limit: &ClickLimit,
        address: Option<IpAddr>,
        code: &str,
        now: Instant,
    ) -> Option<Bound> {
        let (burst, refill) = match address {
            Some(_) => (limit.burst, limit.refill),
            None => (limit.unknown_burst, limit.unknown_refill),
        };
        let burst = f64::from(burst);
        if self.buckets.len() >= MAX_ENTRIES && !self.buckets.contains_key(&address) {
            // Forget the addresses whose bucket has refilled: they are as good as new. Still
            // more than half full: forget every address (not the unknown ones' bucket), rather
            // than sift through them again at the next new address.
            self.buckets
                .retain(|_, bucket| bucket.level(now, refill, burst) < burst);
            if self.buckets.len() >= MAX_ENTRIES / 2 {
                self.buckets.retain(|address, _| address.is_none());
            }
        }
        let tokens = self
            .buckets
            .get(&address)
            .map_or(burst, |bucket| bucket.level(now, refill, burst));
        let held = if tokens >= 1.0 {
            self.spend_shared(limit, code, now, true)
        } else {
            self.spend_shared(limit, code, now, false);
            Some(Bound::Address)
        };
        let spent = if held.is_none() { 1.0 } else { 0.0 };
        self.buckets.insert(
            address,
            Bucket {
                tokens: tokens - spent,
                at: now,
            },
        );
        held
    }

    /// Takes one click from the partner's and the total bucket when each has one (of the total,
    /// a code not known to be real leaves the share kept for the real ones) and `take` says so;
    /// else the bound that held it back, and nothing is taken.
    fn spend_shared(
        &mut self,
        limit: &ClickLimit,
        code: &str,
        now: Instant,
        take: bool,
    ) -> Option<Bound> {
        let partner_burst = f64::from(limit.partner_burst);
        let partner_refill = limit.partner_refill;
        if self.partners.len() >= MAX_ENTRIES && !self.partners.contains_key(code) {
            // The same for the partner codes (a visitor can write any).
            self.partners.retain(|_, bucket| {
                bucket.level(now, partner_refill, partner_burst) < partner_burst
            });
            if self.partners.len() >= MAX_ENTRIES / 2 {
                self.partners.clear();
            }
        }
        let total_burst = f64::from(limit.total_burst);
        let total_tokens = self.total.map_or(total_burst, |total| {
            total.level(now, limit.total_refill, total_burst)
        });
        let partner_tokens = self.partners.get(code).map_or(partner_burst, |bucket| {
            bucket.level(now, partner_refill, partner_burst)
        });
        let kept = match self.verdict(code, now) {
            Some(Verdict::Recorded) => 0.0,
            // Whole clicks, and never the last one: a total of 1 keeps none.
            _ => ((total_burst - 1.0) * KEPT_FOR_KNOWN_CODES).floor(),
        };
        let held = if partner_tokens < 1.0 {
            Some(Bound::Partner)
        } else if total_tokens < 1.0 + kept {
            Some(Bound::Total)
        } else {
            None
        };
        let spent = if held.is_none() && take { 1.0 } else { 0.0 };
        let after = |tokens: f64| Bucket {
            tokens: tokens - spent,
            at: now,
        };
        match self.partners.get_mut(code) {
            Some(partner) => *partner = after(partner_tokens),
            None => {
                self.partners.insert(Box::from(code), after(partner_tokens));
            }
        }
        self.total = Some(after(total_tokens));
        held
    }

    /// Keeps `memo` as the click `key` sent at `now`, for its repeats.
    fn remember(
        &mut self,
        limit: &ClickLimit,
        key: (IpAddr, Box<str>),
        memo: &Arc<ClickMemo>,
        now: Instant,
    ) {
        if self.recent.len() >= MAX_ENTRIES {
            let window = limit.repeat_window;
            self.recent
                .retain(|_, sent| now.saturating_duration_since(sent.at) < window);
            // Still more than half full: forget them all, rather than sift through them
            // again at the next new address.
            if self.recent.len() >= MAX_ENTRIES / 2 {
                self.recent.clear();
            }
        }
        self.recent.insert(
            key,
            Sent {
                at: now,
                memo: Arc::clone(memo),
            },
        );
    }
}

impl Bucket {
    /// The tokens in the bucket at `now`: what it held, plus what refilled since, up to
    /// `burst`.
    fn level(&self, now: Instant, refill: Duration, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let refilled = if refill.is_zero() {
            burst
        } else {
            elapsed / refill.as_secs_f64()
        };
        (self.tokens + refilled).min(burst)
    }
}

#[cfg(test)]
mod tests;
