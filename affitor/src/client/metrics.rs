//! Delivery you can watch: what the client does with its events, through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`), for whatever recorder the
//! application installs (Prometheus, StatsD, OpenTelemetry). Without the feature each function
//! here is empty, and the compiler removes the calls.
//!
//! | Metric | Kind | Labels | What |
//! |---|---|---|---|
//! | `affitor_events_queued_total` | counter | `endpoint` | events `send_in_background` queued |
//! | `affitor_events_delivered_total` | counter | `endpoint` | queued events the API answered with an outcome |
//! | `affitor_events_failed_total` | counter | `endpoint`, `reason` | events given up on: `invalid`, `refused`, `retries_exhausted`, `panicked` |
//! | `affitor_events_dropped_total` | counter | `endpoint`, `reason` | events never sent or abandoned: `queue_full`, `shut_down`, `no_runtime`, `interrupted`, `not_sent` |
//! | `affitor_requests_retried_total` | counter | `endpoint` | retry attempts, of inline and queued calls |
//! | `affitor_request_duration_seconds` | histogram | `endpoint`, `outcome` | one call, its retries included; `outcome` is the outcome's name or the error's kind |
//! | `affitor_delivery_pending` | gauge | | events in the queue, waiting or being sent |

#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

use super::endpoint::Endpoint;

pub(crate) const QUEUED: &str = "affitor_events_queued_total";
pub(crate) const DELIVERED: &str = "affitor_events_delivered_total";
pub(crate) const FAILED: &str = "affitor_events_failed_total";
pub(crate) const DROPPED: &str = "affitor_events_dropped_total";
pub(crate) const RETRIED: &str = "affitor_requests_retried_total";
pub(crate) const DURATION: &str = "affitor_request_duration_seconds";
pub(crate) const PENDING: &str = "affitor_delivery_pending";

/// Why a queued event was given up on or dropped: the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Invalid,
    Refused,
    RetriesExhausted,
    Panicked,
    QueueFull,
    ShutDown,
    NoRuntime,
    Interrupted,
    NotSent,
}

impl Reason {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Refused => "refused",
            Self::RetriesExhausted => "retries_exhausted",
            Self::Panicked => "panicked",
            Self::QueueFull => "queue_full",
            Self::ShutDown => "shut_down",
            Self::NoRuntime => "no_runtime",
            Self::Interrupted => "interrupted",
            Self::NotSent => "not_sent",
        }
    }
}

/// Counts `n` events of `endpoint` under `name`, labelled with `reason` if any.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn count(name: &'static str, endpoint: Endpoint, reason: Option<Reason>, n: u64) {
    #[cfg(feature = "metrics")]
    match reason {
        Some(reason) => {
            ::metrics::counter!(name, "endpoint" => endpoint.name(), "reason" => reason.label())
                .increment(n)
        }
        None => ::metrics::counter!(name, "endpoint" => endpoint.name()).increment(n),
    }
}

/// Records how long one call to `endpoint` took, and how it ended.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn call_took(endpoint: Endpoint, outcome: &str, seconds: f64) {
    #[cfg(feature = "metrics")]
    ::metrics::histogram!(DURATION, "endpoint" => endpoint.name(), "outcome" => outcome.to_owned())
        .record(seconds);
}

/// Sets the number of events in the queue.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn pending(held: usize) {
    #[cfg(feature = "metrics")]
    #[allow(clippy::cast_precision_loss)] // a queue holds far fewer than 2^53 events
    ::metrics::gauge!(PENDING).set(held as f64);
}
