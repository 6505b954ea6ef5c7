//! Warnings an outbox can set off on every event (one the store could not take, a lead whose
//! click id the API refused), logged at most once per interval with the count of those left out
//! since.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// At most one warning per interval; those in between are counted.
#[derive(Debug)]
pub(crate) struct Throttle {
    interval_secs: u64,
    /// When the last warning was logged, in seconds since the Unix epoch.
    last: AtomicU64,
    /// Warnings left out since the last one.
    suppressed: AtomicU64,
}

impl Throttle {
    pub(crate) const fn new(interval_secs: u64) -> Self {
        Self {
            interval_secs,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a warning is due now: `Some` of the count left out since the last one; `None`,
    /// counted, when it is not (log it at `debug`).
    pub(crate) fn due(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let last = self.last.load(Ordering::Relaxed);
        let due = now >= last.saturating_add(self.interval_secs);
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_and_the_count_of_the_rest() {
        let throttle = Throttle::new(3600);
        assert_eq!(throttle.due(), Some(0));
        assert_eq!(throttle.due(), None);
        assert_eq!(throttle.due(), None);
        throttle.last.store(0, Ordering::Relaxed); // the interval passed
        assert_eq!(throttle.due(), Some(2));
    }
}
