//! The Prometheus page of the apps' `GET /metrics`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The Prometheus text of the process's metrics, for the apps' `GET /metrics`: the Affitor
/// client's counters of its events (queued, delivered, retried, dropped and failed by reason),
/// its calls' durations and its queue, and the outbox's (written, delivered, rescheduled,
/// dead-lettered, waiting). The recorder is installed by the first call; a process
/// that installed another `metrics` recorder first gets an empty page.
pub fn metrics_page() -> String {
    static RECORDER: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    let handle = RECORDER.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(%error, "GET /metrics stays empty: another metrics recorder is installed");
            None
        }
    });
    handle
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// Installs the metrics recorder now, so that the counters of the first events are kept: the
/// apps call it when they are built.
pub fn install_metrics() {
    let _ = metrics_page();
}
