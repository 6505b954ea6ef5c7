//! The dead letters' retention: the relay deletes those older than it, and the facts that
//! expired, then counts the dead letters left.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::metrics;
use crate::shared::Inner;

/// The longest wait between two purges of the dead letters.
const PURGE_EVERY: Duration = Duration::from_secs(300);

/// How often the relay purges the dead letters kept for `retention`: every 5 minutes, or
/// sooner for a shorter retention, at most once a second.
pub(super) fn purge_every(retention: Duration) -> Duration {
    retention.clamp(Duration::from_secs(1), PURGE_EVERY)
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
    if let Ok(dead) = inner.store.dead().await {
        inner.counters.dead_letters.store(dead, Ordering::Relaxed);
        metrics::dead_letters(dead);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_purged_every_few_minutes_at_most() {
        let hour = Duration::from_secs(3600);
        assert_eq!(purge_every(7 * 24 * hour), PURGE_EVERY);
        assert_eq!(
            purge_every(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(purge_every(Duration::ZERO), Duration::from_secs(1));
    }
}
