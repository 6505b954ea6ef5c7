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

use std::borrow::Cow;

use super::endpoint::Endpoint;

/// A counter labelled with the endpoint, with its key for each endpoint made at compile time:
/// counting an event asks the recorder for its counter without building a key (a label vector
/// allocated, then hashed) each time.
pub(crate) struct PerEndpoint {
    name: &'static str,
    #[cfg(feature = "metrics")]
    keys: [::metrics::Key; Endpoint::ALL.len()],
}

impl PerEndpoint {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            #[cfg(feature = "metrics")]
            keys: keys::per_endpoint(name),
        }
    }
}

pub(crate) static QUEUED: PerEndpoint = PerEndpoint::new("affitor_events_queued_total");
pub(crate) static DELIVERED: PerEndpoint = PerEndpoint::new("affitor_events_delivered_total");
pub(crate) static FAILED: PerEndpoint = PerEndpoint::new("affitor_events_failed_total");
pub(crate) static DROPPED: PerEndpoint = PerEndpoint::new("affitor_events_dropped_total");
pub(crate) static RETRIED: PerEndpoint = PerEndpoint::new("affitor_requests_retried_total");
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

/// Counts `n` events of `endpoint` under `metric`, labelled with `reason` if any.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn count(metric: &PerEndpoint, endpoint: Endpoint, reason: Option<Reason>, n: u64) {
    #[cfg(feature = "metrics")]
    match reason {
        Some(reason) => ::metrics::counter!(
            metric.name,
            "endpoint" => endpoint.name(),
            "reason" => reason.label()
        )
        .increment(n),
        None => ::metrics::with_recorder(|recorder| {
            recorder.register_counter(&metric.keys[endpoint.index()], &keys::METADATA)
        })
        .increment(n),
    }
}

/// Records how long one call to `endpoint` took, and how it ended: the outcome's name, or the
/// error's kind.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn call_took(endpoint: Endpoint, outcome: Cow<'static, str>, seconds: f64) {
    #[cfg(feature = "metrics")]
    ::metrics::histogram!(DURATION, "endpoint" => endpoint.name(), "outcome" => outcome)
        .record(seconds);
}

/// Sets the number of events in the queue.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn pending(held: usize) {
    #[cfg(feature = "metrics")]
    #[allow(clippy::cast_precision_loss)] // a queue holds far fewer than 2^53 events
    ::metrics::with_recorder(|recorder| recorder.register_gauge(&keys::PENDING, &keys::METADATA))
        .set(held as f64);
}

/// The keys and metadata made at compile time.
#[cfg(feature = "metrics")]
mod keys {
    use ::metrics::{Key, Label, Level, Metadata};

    use super::Endpoint;

    pub(super) static METADATA: Metadata<'static> =
        Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

    pub(super) static PENDING: Key = Key::from_static_name(super::PENDING);

    /// `endpoint="…"`, in the order of [`Endpoint::ALL`].
    static ENDPOINTS: [[Label; 1]; Endpoint::ALL.len()] = [
        endpoint(Endpoint::ALL[0]),
        endpoint(Endpoint::ALL[1]),
        endpoint(Endpoint::ALL[2]),
        endpoint(Endpoint::ALL[3]),
        endpoint(Endpoint::ALL[4]),
        endpoint(Endpoint::ALL[5]),
    ];

    const fn endpoint(endpoint: Endpoint) -> [Label; 1] {
        [Label::from_static_parts("endpoint", endpoint.name())]
    }

    /// `name{endpoint="…"}` for each endpoint, in the order of [`Endpoint::ALL`].
    pub(super) const fn per_endpoint(name: &'static str) -> [Key; Endpoint::ALL.len()] {
        [
            Key::from_static_parts(name, &ENDPOINTS[0]),
            Key::from_static_parts(name, &ENDPOINTS[1]),
            Key::from_static_parts(name, &ENDPOINTS[2]),
            Key::from_static_parts(name, &ENDPOINTS[3]),
            Key::from_static_parts(name, &ENDPOINTS[4]),
            Key::from_static_parts(name, &ENDPOINTS[5]),
        ]
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn each_key_names_its_endpoint() {
            for endpoint in Endpoint::ALL {
                let key = &super::super::QUEUED.keys[endpoint.index()];
                assert_eq!(key.name(), "affitor_events_queued_total");
                let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
                assert_eq!(labels, [("endpoint", endpoint.name())]);
            }
        }
    }
}
