//! What the outbox does with its events, through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`), beside the client's own (`affitor_events_*`): the counters of
//! [`OutboxStats`](crate::OutboxStats), by endpoint, and what waits in the store. Without the
//! feature each function here is empty, and the compiler removes the calls.
//!
//! | Metric | Kind | Labels | What |
//! |---|---|---|---|
//! | `affitor_outbox_events_total` | counter | `endpoint`, `result` | `enqueued` (written), `spilled` (held in memory while the store fails, to be written back), `written_back` (a spilled event written to the store once it answered again), `fell_back` (handed to the client's in-memory queue: the store failed, the spill was full or the event waited there past its limit), `delivered`, `rescheduled` (to go again after a backoff), `dead_lettered` (given up on, kept), `click_id_refused` (a lead whose click id the API refused for good: sent again without it, or dropped; never kept), `customer_refused` (a lead without a click id whose customer the API refused for good, an organic signup most often: dropped, never kept), `interrupted` (a write handed over by `send_in_background` that its runtime stopped: it may be lost) |
//! | `affitor_outbox_waiting` | gauge | | rows waiting or being sent, read from the store while the relay runs (at most once a second) |
//! | `affitor_outbox_spilled` | gauge | | events held in memory now while the store fails, to be written back when it answers again |
//! | `affitor_outbox_in_flight` | gauge | | rows the relay is sending now |
//! | `affitor_outbox_dead_letters` | gauge | | dead letters in the store, counted by the relay when it starts and at each purge (at most every 5 minutes) |

#![cfg_attr(not(feature = "metrics"), allow(dead_code, unused_variables))]

pub(crate) const EVENTS: &str = "affitor_outbox_events_total";
pub(crate) const WAITING: &str = "affitor_outbox_waiting";
pub(crate) const IN_FLIGHT: &str = "affitor_outbox_in_flight";
pub(crate) const SPILLED: &str = "affitor_outbox_spilled";
pub(crate) const DEAD_LETTERS: &str = "affitor_outbox_dead_letters";

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

/// Sets the rows waiting in the store.
pub(crate) fn waiting(rows: u64) {
    #[cfg(feature = "metrics")]
    #[allow(clippy::cast_precision_loss)] // a store holds far fewer than 2^53 rows
    ::metrics::gauge!(WAITING).set(rows as f64);
}

/// Sets the events held in the spill.
pub(crate) fn spilled(events: u64) {
    #[cfg(feature = "metrics")]
    #[allow(clippy::cast_precision_loss)] // a spill holds far fewer than 2^53 events
    ::metrics::gauge!(SPILLED).set(events as f64);
}

/// Sets the rows being sent.
pub(crate) fn in_flight(rows: usize) {
    #[cfg(feature = "metrics")]
    #[allow(clippy::cast_precision_loss)]
    ::metrics::gauge!(IN_FLIGHT).set(rows as f64);
}

/// Sets the dead letters in the store.
pub(crate) fn dead_letters(rows: u64) {
    #[cfg(feature = "metrics")]
    #[allow(clippy::cast_precision_loss)]
    ::metrics::gauge!(DEAD_LETTERS).set(rows as f64);
}
