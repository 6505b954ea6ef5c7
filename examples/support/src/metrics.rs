//! The Prometheus page of the apps, served on an address of its own (`METRICS_ADDR`), never on
//! the app's port: its figures (leads, sales by provider, clicks held back) are the business's,
//! not the public's.

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use affitor_tower::capture::{CaptureClicks, CaptureStats};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::environment::SetupError;
use crate::timeouts::REQUEST_TIMEOUT;

/// The variable naming where the Prometheus page is served: an address like
/// [`DEFAULT_METRICS_ADDR`], or `off`.
pub const METRICS_VARIABLE: &str = "METRICS_ADDR";

/// Where the Prometheus page is served when `METRICS_ADDR` is unset or empty: loopback only,
/// on the port of OpenTelemetry's Prometheus exporter.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// How often the recorder's upkeep runs: it drains the histograms' buckets, which otherwise
/// grow with every sample until the page is rendered.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Where `METRICS_ADDR` says to serve the Prometheus page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsAddr {
    /// Unset or empty: [`DEFAULT_METRICS_ADDR`]; an app that cannot listen there goes on
    /// without its page, and says so.
    Default(SocketAddr),
    /// Set to an address: an app that cannot listen there does not start.
    Set(SocketAddr),
    /// `off`: no page.
    Off,
}

impl MetricsAddr {
    /// Reads `METRICS_ADDR`.
    pub fn from_env() -> Result<Self, SetupError> {
        Self::parse(std::env::var(METRICS_VARIABLE).ok().as_deref())
    }

    /// The setting of `METRICS_ADDR` = `value` (`None`: unset).
    pub fn parse(value: Option<&str>) -> Result<Self, SetupError> {
        let default = || {
            DEFAULT_METRICS_ADDR
                .parse()
                .map(Self::Default)
                .map_err(|_| SetupError("the default metrics address".to_owned()))
        };
        match value.map(str::trim) {
            None | Some("") => default(),
            Some(off) if off.eq_ignore_ascii_case("off") => Ok(Self::Off),
            Some(addr) => addr.parse().map(Self::Set).map_err(|_| {
                SetupError(format!(
                    "{METRICS_VARIABLE} `{addr}` is not an address like {DEFAULT_METRICS_ADDR}, \
                     nor `off`"
                ))
            }),
        }
    }
}

/// Serves the Prometheus page at `GET /metrics` on the address `METRICS_ADDR` names, in a task
/// of the current tokio runtime, and returns the address it listens on (`None`: no page).
/// Everything else there is a 404, and every request is answered within [`REQUEST_TIMEOUT`].
pub async fn start_metrics(addr: MetricsAddr) -> Result<Option<SocketAddr>, SetupError> {
    let (addr, must) = match addr {
        MetricsAddr::Off => return Ok(None),
        MetricsAddr::Default(addr) => (addr, false),
        MetricsAddr::Set(addr) => (addr, true),
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) if !must => {
            tracing::warn!(
                %addr, %error,
                "no Prometheus page: set {METRICS_VARIABLE} to a free address, or `off`"
            );
            return Ok(None);
        }
        Err(error) => {
            return Err(SetupError(format!(
                "{METRICS_VARIABLE}: cannot listen on {addr}: {error}; set {METRICS_VARIABLE} to \
                 a free address, or `off`"
            )));
        }
    };
    let local = listener
        .local_addr()
        .map_err(|error| SetupError(format!("{METRICS_VARIABLE}: {error}")))?;
    println!("Prometheus metrics on http://{local}/metrics ({METRICS_VARIABLE}; `off`: none)");
    tokio::spawn(async move {
        if let Err(error) = serve_metrics(listener).await {
            tracing::error!(%error, "the Prometheus page stopped");
        }
    });
    Ok(Some(local))
}

/// Serves `GET /metrics` (Prometheus text) on `listener`, and nothing else, until the process
/// ends: what [`start_metrics`] runs, for a listener of your own (a test's, on port 0).
pub async fn serve_metrics(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    use axum::http::StatusCode;
    use tower_http::timeout::TimeoutLayer;

    install_metrics();
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(async || metrics_page()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    axum::serve(listener, router).await
}

/// The Prometheus text of the process's metrics: the Affitor client's counters of its events
/// (queued, delivered, retried, dropped and failed by reason), its calls' durations and its
/// queue, the outbox's (written, delivered, rescheduled, dead-lettered, waiting), and the
/// capture's of partner links ([`export_capture_stats`]). The recorder is installed by the
/// first call; a process that installed another `metrics` recorder first gets an empty page.
pub fn metrics_page() -> String {
    let Some(handle) = recorder() else {
        return String::new();
    };
    record_capture_stats();
    handle.render()
}

/// Installs the metrics recorder now, so that the counters of the first events are kept: the
/// apps call it when they are built. Its upkeep runs every 5 s from then on.
pub fn install_metrics() {
    let _ = recorder();
}

/// The process's Prometheus recorder, installed (with its upkeep thread) on the first call.
fn recorder() -> Option<&'static PrometheusHandle> {
    static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    RECORDER
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                spawn_upkeep(handle.clone());
                Some(handle)
            }
            Err(error) => {
                tracing::warn!(%error, "the Prometheus page stays empty: another metrics recorder is installed");
                None
            }
        })
        .as_ref()
}

/// Runs the recorder's upkeep every [`UPKEEP_INTERVAL`], on a thread of its own: whichever
/// runtime the app runs on (an actix worker's ends with the worker), or none.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no upkeep of the metrics' histograms: cannot start its thread");
    }
}

/// The captures whose stats the page shows.
static CAPTURES: Mutex<Vec<CaptureClicks>> = Mutex::new(Vec::new());

/// Shows `capture`'s stats ([`CaptureClicks::stats`], shared by its clones) on the Prometheus
/// page, summed with those of the captures exported before:
///
/// - `affitor_capture_clicks_total{result}`: visits to a partner link by what became of them,
///   `recorded` (a click call started), `repeated` (answered with the click of the same
///   address and partner moments before), `address_limited`, `partner_limited` and
///   `total_limited` (held back by the click limit's bound of that name: no click call, no
///   cookie from the server; the browser tracker, where the page runs it, still records one),
///   and `refused_partner` (a code the API refused moments ago: no click call).
pub fn export_capture_stats(capture: &CaptureClicks) {
    install_metrics();
    CAPTURES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(capture.clone());
}

/// Sets the capture counters to the exported captures' stats, summed.
fn record_capture_stats() {
    let captures = CAPTURES.lock().unwrap_or_else(PoisonError::into_inner);
    if captures.is_empty() {
        return;
    }
    let mut sum = CaptureStats::default();
    for stats in captures.iter().map(CaptureClicks::stats) {
        sum.recorded += stats.recorded;
        sum.rate_limited += stats.rate_limited;
        sum.partner_limited += stats.partner_limited;
        sum.total_limited += stats.total_limited;
        sum.repeated += stats.repeated;
        sum.refused_partner += stats.refused_partner;
    }
    drop(captures);
    // `rate_limited` counts every bound; what neither the partner's nor the total held back,
    // the address's did.
    let address_limited = sum
        .rate_limited
        .saturating_sub(sum.partner_limited)
        .saturating_sub(sum.total_limited);
    for (result, count) in [
        ("recorded", sum.recorded),
        ("repeated", sum.repeated),
        ("address_limited", address_limited),
        ("partner_limited", sum.partner_limited),
        ("total_limited", sum.total_limited),
        ("refused_partner", sum.refused_partner),
    ] {
        metrics::counter!(CAPTURE_METRIC, "result" => result).absolute(count);
    }
}

/// The name of the capture's counter.
pub const CAPTURE_METRIC: &str = "affitor_capture_clicks_total";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may unwrap.

    use super::*;

    #[test]
    fn metrics_addr_is_the_default_an_address_or_off() {
        let default = DEFAULT_METRICS_ADDR.parse().unwrap();
        assert_eq!(
            MetricsAddr::parse(None).unwrap(),
            MetricsAddr::Default(default)
        );
        assert_eq!(
            MetricsAddr::parse(Some(" ")).unwrap(),
            MetricsAddr::Default(default)
        );
        assert_eq!(MetricsAddr::parse(Some("OFF")).unwrap(), MetricsAddr::Off);
        assert_eq!(
            MetricsAddr::parse(Some("10.0.0.2:9100")).unwrap(),
            MetricsAddr::Set("10.0.0.2:9100".parse().unwrap())
        );
        let error = MetricsAddr::parse(Some("9100")).unwrap_err();
        assert!(error.to_string().starts_with("METRICS_ADDR"), "{error}");
    }
}
