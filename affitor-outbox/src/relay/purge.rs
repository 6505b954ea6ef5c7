//! The retentions: the relay deletes the dead letters and the journal's entries older than
//! theirs, and the facts that expired, then counts the dead letters left.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::config::Config;
use crate::metrics;
use crate::shared::Inner;

/// The longest wait between two purges.
const PURGE_EVERY: Duration = Duration::from_secs(300);

/// How often the relay purges: every 5 minutes, or sooner for a shorter retention of the dead
/// letters or the journal, at most once a second.
pub(super) fn purge_every(config: &Config) -> Duration {
    let shortest = config
        .journal
        .map_or(config.dead_letter_retention, |journal| {
            journal.min(config.dead_letter_retention)
        });
    shortest.clamp(Duration::from_secs(1), PURGE_EVERY)
}

/// Deletes the dead letters older than the retention, then counts those left (for
/// [`OutboxStats::dead_letters`](crate::OutboxStats::dead_letters) and the `metrics` gauge).
pub(super) async fn purge(inner: &Inner) {
    let retention = inner.config.dead_letter_retention;
    match inner.store.purge_dead_letters(retention).await {
        Ok(0) => {}
        Ok(purged) => {
            inner.counters.purged.fetch_add(purged, Ordering::Relaxed);
            tracing::info!(
                purged,
                retention = ?retention,
                "Affitor outbox dead letters older than their retention deleted"
            );
        }
        Err(error) => tracing::warn!(
            error = %error,
            "Affitor outbox could not delete its old dead letters; it tries again later"
        ),
    }
    if let Some(retention) = inner.config.journal
        && let Err(error) = inner.store.purge_journal(retention).await
    {
        tracing::warn!(
            error = %error,
            "Affitor outbox could not delete its old journal entries; it tries again later"
        );
    }
    match inner.store.purge_facts().await {
        Ok(0) => {}
        Ok(expired) => tracing::debug!(expired, "Affitor outbox expired facts deleted"),
        Err(error) => tracing::warn!(
            error = %error,
            "Affitor outbox could not delete its expired facts; it tries again later"
        ),
    }
    if let Ok(crate::Backlog { dead, .. }) = inner.store.backlog().await {
        inner.counters.dead_letters.store(dead, Ordering::Relaxed);
        metrics::gauge(metrics::DEAD_LETTERS, dead);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_purges_every_few_minutes_at_most() {
        let hour = Duration::from_secs(3600);
        let retentions = |dead_letters: Duration, journal: Option<Duration>| Config {
            dead_letter_retention: dead_letters,
            journal,
            ..Config::default()
        };
        assert_eq!(purge_every(&retentions(7 * 24 * hour, None)), PURGE_EVERY);
        assert_eq!(
            purge_every(&retentions(Duration::from_secs(30), None)),
            Duration::from_secs(30)
        );
        assert_eq!(
            purge_every(&retentions(Duration::ZERO, None)),
            Duration::from_secs(1)
        );
        assert_eq!(
            purge_every(&retentions(hour, Some(Duration::from_secs(10)))),
            Duration::from_secs(10),
            "a journal kept for less than the dead letters is purged as often as it needs"
        );
    }
}
