//! What the in-memory queue loses, told without flooding the logs (DESIGN §6): an overload
//! drops thousands of events a second, and a line per event once made 250,000 lines in 8 s.
//!
//! Each loss is counted ([`DeliveryStats`](super::DeliveryStats) and the metrics), named at
//! `debug` with its endpoint and transaction id, and said at `warn` at most once per
//! [interval](WARN_EVERY_SECS) for each kind of loss, with how many since the last such line
//! and how many in all. A shutdown says what it could not deliver in one line, by reason.

use super::{DeliveryReport, UndeliveredEvent, UndeliveredReason};
use crate::client::Error;
use crate::client::endpoint::Endpoint;
use crate::client::event::Event;
use crate::throttle::Throttle;

/// How often, at most, a `warn` says how many events one kind of loss took: every 10 s.
const WARN_EVERY_SECS: u64 = 10;

/// What the logs and the report say about an event: never a key, a customer key or an email.
#[derive(Clone)]
pub(super) struct Label {
    pub(super) endpoint: Endpoint,
    pub(super) transaction_id: Option<String>,
}

impl Label {
    pub(super) fn of(event: &Event) -> Self {
        Self {
            endpoint: event.endpoint(),
            transaction_id: event.transaction_id().map(str::to_owned),
        }
    }

    pub(super) fn undelivered(self, reason: UndeliveredReason) -> UndeliveredEvent {
        UndeliveredEvent {
            endpoint: self.endpoint,
            transaction_id: self.transaction_id,
            reason,
        }
    }
}

/// Why an event was not queued.
pub(super) enum Refused {
    ShutDown,
    Full,
    NoRuntime,
}

/// One queue's warnings about its losses, each kind at most once per interval.
#[derive(Debug)]
pub(super) struct Losses {
    shut_down: Throttle,
    full: Throttle,
    no_runtime: Throttle,
    given_up: Throttle,
}

impl Losses {
    pub(super) const fn new() -> Self {
        Self {
            shut_down: Throttle::new(WARN_EVERY_SECS),
            full: Throttle::new(WARN_EVERY_SECS),
            no_runtime: Throttle::new(WARN_EVERY_SECS),
            given_up: Throttle::new(WARN_EVERY_SECS),
        }
    }

    /// Tells that `label`'s event was not queued, for `refused`; `capacity` is the queue's, and
    /// `total` the events the client dropped so far, this one included.
    pub(super) fn dropped(&self, refused: &Refused, label: &Label, capacity: usize, total: u64) {
        let endpoint = label.endpoint.name();
        let transaction_id = label.transaction_id.as_deref();
        match refused {
            Refused::ShutDown => {
                tracing::debug!(
                    endpoint,
                    transaction_id,
                    "Affitor event dropped: the client is shut down"
                );
                if let Some(left_out) = self.shut_down.due() {
                    tracing::warn!(
                        dropped = left_out + 1,
                        dropped_total = total,
                        "Affitor events dropped, sent after the client was shut down: this \
                         many since the last such warning"
                    );
                }
            }
            Refused::Full => {
                tracing::debug!(
                    endpoint,
                    transaction_id,
                    "Affitor event dropped: the delivery queue is full"
                );
                if let Some(left_out) = self.full.due() {
                    tracing::warn!(
                        dropped = left_out + 1,
                        dropped_total = total,
                        capacity,
                        "Affitor events dropped, the delivery queue being full (the API is \
                         slower than events arrive): this many since the last such warning; \
                         raise `ClientBuilder::max_in_flight` or `queue_capacity`"
                    );
                }
            }
            Refused::NoRuntime => {
                tracing::debug!(
                    endpoint,
                    transaction_id,
                    "Affitor event dropped: there is no tokio runtime to run the delivery worker"
                );
                if let Some(left_out) = self.no_runtime.due() {
                    tracing::error!(
                        dropped = left_out + 1,
                        dropped_total = total,
                        "Affitor events dropped, with no tokio runtime to run the delivery \
                         worker: this many since the last such line; call \
                         `send_in_background` from within a tokio runtime"
                    );
                }
            }
        }
    }

    /// Tells that `label`'s event was given up on with `error`; `total` is the events the
    /// client gave up on so far, this one included.
    pub(super) fn given_up(&self, label: &Label, error: &Error, total: u64) {
        let endpoint = label.endpoint.name();
        let transaction_id = label.transaction_id.as_deref();
        tracing::debug!(
            endpoint,
            transaction_id,
            error = %error,
            "Affitor event not delivered: given up"
        );
        if let Some(left_out) = self.given_up.due() {
            tracing::warn!(
                failed = left_out + 1,
                failed_total = total,
                last_error = %error,
                "Affitor events refused by the API or out of retries: this many since the last \
                 such warning"
            );
        }
    }
}

/// Tells that the worker's runtime stopped while it sent the leads and clicks of `lost`, which
/// are dropped (the API may already have them): one line, each named at `debug`.
pub(super) fn interrupted(lost: &[Label]) {
    if lost.is_empty() {
        return;
    }
    for label in lost {
        tracing::debug!(
            endpoint = label.endpoint.name(),
            "Affitor event dropped: the delivery worker stopped with its runtime while sending it"
        );
    }
    tracing::warn!(
        dropped = lost.len(),
        "Affitor events dropped: the delivery worker stopped with its runtime while sending \
         them, and the API may already have them"
    );
}

/// Tells what a shutdown did: one line, with the count of each kind of loss; each event not
/// delivered named at `debug`.
pub(super) fn shutdown(report: &DeliveryReport) {
    if report.is_complete() {
        tracing::info!(
            delivered_during_flush = report.delivered,
            dropped_total = report.stats.dropped,
            failed_total = report.stats.failed,
            "Affitor delivery queue flushed"
        );
        return;
    }
    let (mut failed, mut interrupted, mut not_sent) = (0, 0, 0);
    for event in &report.undelivered {
        match event.reason {
            UndeliveredReason::Failed => failed += 1,
            UndeliveredReason::Interrupted => interrupted += 1,
            UndeliveredReason::NotSent => not_sent += 1,
        }
        tracing::debug!(
            endpoint = event.endpoint.name(),
            transaction_id = event.transaction_id.as_deref(),
            reason = ?event.reason,
            "Affitor event not delivered at shutdown"
        );
    }
    tracing::warn!(
        delivered_during_flush = report.delivered,
        undelivered = report.undelivered.len(),
        failed,
        interrupted,
        not_sent,
        dropped_total = report.stats.dropped,
        failed_total = report.stats.failed,
        "Affitor delivery stopped with events not delivered"
    );
}
