//! How many clicks capture sends: a token bucket per client address, and a short memory of
//! the address and partner code of each click sent, so that a flood of visits to a partner link
//! does not become a flood of click calls.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::adapter::Skip;

/// The bound on the click calls capture sends: on by default.
///
/// Each client address has a bucket of [`burst`](Self::burst) clicks, refilled by one every
/// [`refill`](Self::refill); a visit from an address whose bucket is empty is not recorded
/// (its page is served, kept out of shared caches). An IPv6 client is its /64 network (one
/// subscriber's, which holds more addresses than can be counted one by one). A second visit
/// from the same address to the same partner's link within
/// [`repeat_window`](Self::repeat_window) is the same click. The visits whose address is
/// unknown (no peer address reached the layer, and no trusted proxy header named one) share
/// one bucket, [`unknown_burst`](Self::unknown_burst) deep, and are never taken for repeats.
/// Behind all of them, every click shares one more bucket, [`total`](Self::total): however
/// many addresses a flood comes from, the click calls stay within it. The memory is bounded:
/// at most 10,000 addresses and 10,000 recent clicks are kept, the idle ones forgotten first.
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
    total_burst: u32,
    total_refill: Duration,
    repeat_window: Duration,
}

impl Default for ClickLimit {
    /// 10 clicks per address, one more every 6 s; 200 for the unknown addresses together, one
    /// more every 50 ms; 1,000 for all together, one more every 2 ms (500 a second); a repeat
    /// within 30 s is the same click.
    fn default() -> Self {
        Self {
            enabled: true,
            burst: 10,
            refill: Duration::from_secs(6),
            unknown_burst: 200,
            unknown_refill: Duration::from_millis(50),
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
    /// (default 30 s).
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

/// The most addresses, and recent clicks, remembered.
const MAX_ENTRIES: usize = 10_000;

/// The state of a [`ClickLimit`], shared by the clones of a `CaptureClicks`.
#[derive(Debug, Default)]
pub(super) struct Limiter {
    state: Mutex<State>,
    pub(super) counts: Counts,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<Option<IpAddr>, Bucket>,
    recent: HashMap<(IpAddr, Box<str>), Instant>,
    /// Every click's bucket; `None` until the first.
    total: Option<Bucket>,
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
    pub(super) repeated: AtomicU64,
}

impl Limiter {
    /// Whether a click to `code` from `address` may be sent now: `None`, and it is counted, or
    /// the reason it may not.
    pub(super) fn admit(
        &self,
        limit: &ClickLimit,
        address: Option<IpAddr>,
        code: &str,
        now: Instant,
    ) -> Option<Skip> {
        if !limit.enabled {
            self.counts.recorded.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let address = address.map(client_of);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(address) = address {
            let key = (address, Box::from(code));
            if let Some(sent) = state.recent.get(&key)
                && now.saturating_duration_since(*sent) < limit.repeat_window
            {
                self.counts.repeated.fetch_add(1, Ordering::Relaxed);
                return Some(Skip::Repeated);
            }
            if state.recent.len() >= MAX_ENTRIES {
                let window = limit.repeat_window;
                state
                    .recent
                    .retain(|_, sent| now.saturating_duration_since(*sent) < window);
                // Still more than half full: forget them all, rather than sift through them
                // again at the next new address.
                if state.recent.len() >= MAX_ENTRIES / 2 {
                    state.recent.clear();
                }
            }
            state.recent.insert(key, now);
        }
        let (burst, refill) = match address {
            Some(_) => (limit.burst, limit.refill),
            None => (limit.unknown_burst, limit.unknown_refill),
        };
        let burst = f64::from(burst);
        if state.buckets.len() >= MAX_ENTRIES && !state.buckets.contains_key(&address) {
            // Forget the addresses whose bucket has refilled: they are as good as new. Still
            // more than half full: forget every address (not the unknown ones' bucket), rather
            // than sift through them again at the next new address.
            state
                .buckets
                .retain(|_, bucket| bucket.level(now, refill, burst) < burst);
            if state.buckets.len() >= MAX_ENTRIES / 2 {
                state.buckets.retain(|address, _| address.is_none());
            }
        }
        let total_burst = f64::from(limit.total_burst);
        let total = *state.total.get_or_insert(Bucket {
            tokens: total_burst,
            at: now,
        });
        let total_tokens = total.level(now, limit.total_refill, total_burst);
        let bucket = state.buckets.entry(address).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = bucket.level(now, refill, burst);
        let admitted = tokens >= 1.0 && total_tokens >= 1.0;
        let spent = if admitted { 1.0 } else { 0.0 };
        *bucket = Bucket {
            tokens: tokens - spent,
            at: now,
        };
        state.total = Some(Bucket {
            tokens: total_tokens - spent,
            at: now,
        });
        drop(state);
        if admitted {
            self.counts.recorded.fetch_add(1, Ordering::Relaxed);
            None
        } else {
            self.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
            Some(Skip::RateLimited)
        }
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
mod tests {
    use super::*;

    fn address(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn an_address_gets_its_burst_then_one_click_per_refill() {
        let limiter = Limiter::default();
        let limit = ClickLimit::default()
            .burst(3)
            .refill(Duration::from_secs(10));
        let start = Instant::now();
        let codes = ["a", "b", "c", "d"];
        let admitted: Vec<_> = codes
            .iter()
            .map(|code| limiter.admit(&limit, address(1), code, start))
            .collect();
        assert_eq!(admitted, [None, None, None, Some(Skip::RateLimited)]);
        // Another address has its own bucket.
        assert_eq!(limiter.admit(&limit, address(2), "a", start), None);
        // Ten seconds later, one more.
        let later = start + Duration::from_secs(10);
        assert_eq!(limiter.admit(&limit, address(1), "e", later), None);
        assert_eq!(
            limiter.admit(&limit, address(1), "f", later),
            Some(Skip::RateLimited)
        );
        assert_eq!(limiter.counts.rate_limited.load(Ordering::Relaxed), 2);
        assert_eq!(limiter.counts.recorded.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_repeat_is_the_same_click_until_its_window_passes() {
        let limiter = Limiter::default();
        let limit = ClickLimit::default().repeat_window(Duration::from_secs(30));
        let start = Instant::now();
        assert_eq!(limiter.admit(&limit, address(1), "p", start), None);
        let soon = start + Duration::from_secs(5);
        assert_eq!(
            limiter.admit(&limit, address(1), "p", soon),
            Some(Skip::Repeated)
        );
        // Another partner, or another address, is another click.
        assert_eq!(limiter.admit(&limit, address(1), "q", soon), None);
        assert_eq!(limiter.admit(&limit, address(2), "p", soon), None);
        // Unknown addresses are never taken for one another.
        assert_eq!(limiter.admit(&limit, None, "p", soon), None);
        assert_eq!(limiter.admit(&limit, None, "p", soon), None);
        let later = start + Duration::from_secs(31);
        assert_eq!(limiter.admit(&limit, address(1), "p", later), None);
    }

    #[test]
    fn memory_stays_bounded_whatever_the_addresses() {
        let limiter = Limiter::default();
        let limit = ClickLimit::default();
        let now = Instant::now();
        for n in 0..(3 * MAX_ENTRIES as u32) {
            let address = Some(IpAddr::from(n.to_be_bytes()));
            limiter.admit(&limit, address, "p", now);
        }
        let state = limiter.state.lock().unwrap();
        assert!(
            state.buckets.len() <= MAX_ENTRIES,
            "{}",
            state.buckets.len()
        );
        assert!(state.recent.len() <= MAX_ENTRIES, "{}", state.recent.len());
    }

    /// Visits from ever new addresses (a spoofed proxy header, an IPv6 network's addresses)
    /// each find a full bucket: every click still shares the total.
    #[test]
    fn a_flood_from_many_addresses_meets_the_total() {
        let limiter = Limiter::default();
        let limit = ClickLimit::default().total(50, Duration::from_secs(1));
        let now = Instant::now();
        let admitted = (0..1_000u32)
            .filter(|n| {
                let address = Some(IpAddr::from(n.to_be_bytes()));
                limiter.admit(&limit, address, "p", now).is_none()
            })
            .count();
        assert_eq!(admitted, 50);
        let later = now + Duration::from_secs(10);
        assert_eq!(limiter.admit(&limit, address(1), "q", later), None);
    }

    /// The addresses of one IPv6 /64 are one client; an IPv4-mapped address is its IPv4 one.
    #[test]
    fn an_ipv6_network_is_one_client() {
        let limiter = Limiter::default();
        let limit = ClickLimit::default().burst(2);
        let now = Instant::now();
        let in_net = |host: u16| Some(IpAddr::from([0x2001, 0xdb8, 0, 1, host, host, host, host]));
        assert_eq!(limiter.admit(&limit, in_net(1), "a", now), None);
        assert_eq!(limiter.admit(&limit, in_net(2), "b", now), None);
        assert_eq!(
            limiter.admit(&limit, in_net(3), "c", now),
            Some(Skip::RateLimited)
        );
        let other_net = Some(IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]));
        assert_eq!(limiter.admit(&limit, other_net, "a", now), None);
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        assert_eq!(client_of(mapped), IpAddr::from([10, 0, 0, 9]));
    }

    #[test]
    fn none_admits_everything() {
        let limiter = Limiter::default();
        let limit = ClickLimit::none();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(limiter.admit(&limit, address(1), "p", now), None);
        }
    }
}
