//! Stopping delivery before an app ends, and the logs of what was delivered and what was not.

use crate::environment::AppConfig;

/// Stops delivery before the process ends, each step within `deadline`: the outbox's relay
/// first (it sends through the client; what it has not sent waits in its store for the next
/// start), then the client's in-memory queue. Logs what was not delivered.
pub async fn shut_down(config: &AppConfig, deadline: std::time::Duration) {
    if let Some(outbox) = &config.outbox {
        log_outbox_stats(&outbox.shutdown(deadline).await);
    }
    log_delivery_report(&config.affitor.shutdown(deadline).await);
}

/// Logs what the Affitor client could not deliver before the app stopped.
pub fn log_delivery_report(report: &affitor::client::DeliveryReport) {
    if report.is_complete() {
        tracing::info!(
            delivered = report.stats.delivered,
            "every Affitor event was delivered"
        );
    } else {
        for event in &report.undelivered {
            tracing::warn!(
                endpoint = %event.endpoint,
                transaction_id = event.transaction_id.as_deref(),
                reason = ?event.reason,
                "an Affitor event was not delivered before shutdown"
            );
        }
        tracing::warn!(
            delivered = report.stats.delivered,
            undelivered = report.undelivered.len(),
            "some Affitor events were not delivered before shutdown"
        );
    }
}

/// Logs what the durable outbox did before the app stopped; what it has not delivered waits
/// in its store for the next start.
fn log_outbox_stats(stats: &affitor_outbox::OutboxStats) {
    tracing::info!(
        enqueued = stats.enqueued,
        delivered = stats.delivered,
        fell_back = stats.fell_back,
        dead = stats.dead,
        "the Affitor outbox stopped: what it has not delivered waits in its store for the next start"
    );
    if stats.fell_back > 0 {
        tracing::warn!(
            fell_back = stats.fell_back,
            "some Affitor events were kept in memory only: the outbox's store failed"
        );
    }
}
