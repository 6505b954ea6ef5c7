//! Stopping delivery before an app ends, and the logs of what was delivered and what was not.

use crate::environment::AppConfig;

/// Stops delivery before the process ends, within `deadline`: one `shutdown` of the client
/// stops whichever [backend](affitor::client::Backend) it holds (with `AFFITOR_OUTBOX`, the
/// outbox's relay and its in-memory fallback; what the relay has not sent waits in its store for
/// the next start). Logs what was not delivered.
pub async fn shut_down(config: &AppConfig, deadline: std::time::Duration) {
    log_delivery_report(&config.affitor.shutdown(deadline).await);
    if let Some(outbox) = &config.outbox {
        log_outbox_fallbacks(&outbox.stats());
    }
}

/// Logs what the Affitor client could not deliver before the app stopped: what the API refused
/// and what was never sent, as well as what waits in a store for the next start.
pub fn log_delivery_report(report: &affitor::client::DeliveryReport) {
    for event in &report.undelivered {
        tracing::warn!(
            endpoint = %event.endpoint,
            transaction_id = event.transaction_id.as_deref(),
            reason = ?event.reason,
            "an Affitor event was not delivered before shutdown"
        );
    }
    if report.kept > 0 {
        tracing::info!(
            kept = report.kept,
            "Affitor events wait in the outbox's store: they are sent at the next start"
        );
    }
    let lost = report.stats.failed + report.stats.dropped;
    if lost == 0 {
        tracing::info!(
            delivered = report.stats.delivered,
            kept = report.kept,
            "no Affitor event was refused or lost"
        );
    } else {
        tracing::warn!(
            delivered = report.stats.delivered,
            refused_or_invalid = report.stats.failed,
            dropped = report.stats.dropped,
            kept = report.kept,
            "{} Affitor events were not delivered: refused by the API, invalid, or dropped",
            lost
        );
    }
}

/// Warns when the durable outbox could not store some events, which were then sent from memory
/// only (and would have been lost had the process died first).
fn log_outbox_fallbacks(stats: &affitor_outbox::OutboxStats) {
    if stats.fell_back > 0 {
        tracing::warn!(
            fell_back = stats.fell_back,
            "some Affitor events were kept in memory only: the outbox's store failed"
        );
    }
}
