//! What the outbox does with its events, through the `metrics` facade (feature `metrics`; the
//! guide's "Metrics" lists them). Without the feature each function here is empty, and the
//! compiler removes the calls.

#![cfg_attr(not(feature = "metrics"), allow(dead_code, unused_variables))]

pub(crate) const EVENTS: &str = "affitor_outbox_events_total";
pub(crate) const WAITING: &str = "affitor_outbox_waiting";
pub(crate) const IN_FLIGHT: &str = "affitor_outbox_in_flight";
pub(crate) const SPILLED: &str = "affitor_outbox_spilled";
pub(crate) const DEAD_LETTERS: &str = "affitor_outbox_dead_letters";
pub(crate) const JOURNAL_LOST: &str = "affitor_outbox_journal_lost_total";

/// What became of an event: the `result` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Result {
    Enqueued,
    Spilled,
    WrittenBack,
    FellBack,
    Delivered,
    Rescheduled,
    DeadLettered,
    ClickIdRefused,
    CustomerRefused,
    Interrupted,
}

impl Result {
    fn label(self) -> &'static str {
        match self {
            Self::Enqueued => "enqueued",
            Self::Spilled => "spilled",
            Self::WrittenBack => "written_back",
            Self::FellBack => "fell_back",
            Self::Delivered => "delivered",
            Self::Rescheduled => "rescheduled",
            Self::DeadLettered => "dead_lettered",
            Self::ClickIdRefused => "click_id_refused",
            Self::CustomerRefused => "customer_refused",
            Self::Interrupted => "interrupted",
        }
    }
}

/// Counts one event of `endpoint` (its API name, or `unknown` for a row that cannot be read).
pub(crate) fn event(endpoint: &str, result: Result) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(EVENTS, "endpoint" => endpoint.to_owned(), "result" => result.label())
        .increment(1);
}

/// Sets the gauge `name` (one of the constants above).
pub(crate) fn gauge(name: &'static str, value: u64) {
    #[cfg(feature = "metrics")]
    #[allow(clippy::cast_precision_loss)] // far fewer than 2^53 rows or events
    ::metrics::gauge!(name).set(value as f64);
}

/// Counts `entries` of the journal lost ([`OutboxStats::journal_lost`](crate::OutboxStats::journal_lost)).
pub(crate) fn journal_lost(entries: u64) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(JOURNAL_LOST).increment(entries);
}
