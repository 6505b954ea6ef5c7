//! The counters of an outbox.

use std::sync::atomic::{AtomicU64, Ordering};

/// What an [`Outbox`](crate::Outbox) did since it was opened, in this process. Read them with
/// [`Outbox::stats`](crate::Outbox::stats); the rows still waiting are in the store
/// ([`Outbox::waiting`](crate::Outbox::waiting)).
///
/// ```
/// # async fn report(outbox: affitor_outbox::Outbox) {
/// let stats = outbox.stats();
/// if stats.fell_back > 0 {
///     eprintln!("{} events kept in memory only: the store failed", stats.fell_back);
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct OutboxStats {
    /// Events written to the store.
    pub enqueued: u64,
    /// Events the outbox handed to the client's in-memory queue instead of its store: the
    /// store failed and the [spill](Self::spilled) was full, or they waited there past
    /// [`max_spill_wait`](crate::OutboxBuilder::max_spill_wait), or the outbox stopped (or
    /// flushed) while they waited. Logged at most once a minute (with how many since the last
    /// warning).
    pub fell_back: u64,
    /// Events held in memory now, because the store failed or did not answer within the
    /// enqueue timeout: while any is held, new events skip the store at once, and a probe
    /// looks every half second whether it answers again; then they are written to it
    /// ([`written_back`](Self::written_back)). At most
    /// [`max_spilled`](crate::OutboxBuilder::max_spilled).
    pub spilled: u64,
    /// Events ever held in memory that way.
    pub spilled_total: u64,
    /// Events held in memory, then written to the store once it answered again (counted in
    /// [`enqueued`](Self::enqueued) too).
    pub written_back: u64,
    /// Transactions that wrote new rows: the writer writes the rows that wait together, one
    /// transaction (one sync) per batch, so `enqueued / batches` is the rows per commit.
    /// ([`Outbox::enqueue_in`](crate::Outbox::enqueue_in) writes in your transaction: not
    /// counted here.)
    pub batches: u64,
    /// Events that failed validation: never written.
    pub invalid: u64,
    /// Rows delivered by this process's relay: counted at Affitor's answer, before the row's
    /// delete.
    pub delivered: u64,
    /// Attempts that failed and were scheduled again after a backoff.
    pub rescheduled: u64,
    /// Rows this relay gave up on (refused by the API, or out of attempts): kept as dead
    /// letters.
    pub dead: u64,
    /// Rows this relay could not read back: kept as dead letters.
    pub corrupt: u64,
    /// Leads whose click id the API refused for good (unknown, another program's, already
    /// converted): sent again without it when they had a customer key (then counted in
    /// [`delivered`](Self::delivered) too when Affitor took it), dropped otherwise. Never kept
    /// as dead letters: anyone can sign up with such a click id.
    pub click_id_refused: u64,
    /// Leads without a click id (named by their customer key alone) whose customer the API
    /// refused for good: one it does not know (an organic signup: no click brought them),
    /// another program's, or one who has bought already; and sales no partner brought the
    /// customer of ([`Error::is_organic_sale`](affitor::Error::is_organic_sale)). Dropped,
    /// logged at `debug`, and never kept as dead letters: anyone can sign up or buy, and it is
    /// the API's answer, not a loss.
    pub customer_refused: u64,
    /// Dead letters deleted by this relay once older than the
    /// [retention](crate::OutboxBuilder::dead_letter_retention).
    pub purged: u64,
    /// Dead letters in the store (whoever buried them), as the relay last counted them: when it
    /// started, then at each purge (at most every 5 minutes).
    pub dead_letters: u64,
    /// Rows being sent now.
    pub in_flight: u64,
    /// Writes that the end of their runtime cut short: of events handed over by
    /// `send_in_background`, before the event was written or held, and of events held in
    /// memory, while they were written back to the store. They may be lost (or written: a
    /// write under way may still commit). Logged at `error`; await
    /// [`Outbox::shutdown`](crate::Outbox::shutdown) before the runtime the outbox was opened
    /// on ends.
    pub interrupted: u64,
    /// [Journal](crate::journal) entries that were not written: of the events the client sent
    /// itself (captured clicks, `send().await`), when more than 1,024 waited for the store, the
    /// store failed to write them, or the runtime ended first; of the relay's answers, when the
    /// store failed to write those it writes at once (retries, dead letters, refused leads), or
    /// refused the deletes of the delivered rows they answer while more than 4,096 waited or
    /// the relay stopped, or when the relay was stopped at its deadline before those deletes
    /// ended. An entry whose write was cut short is counted too, though it may be written.
    /// Logged at `warn` at most once a minute (with how many since the last warning), and
    /// counted by `affitor_outbox_journal_lost_total` (feature `metrics`); the sends
    /// themselves never wait for the journal.
    pub journal_lost: u64,
}

/// What the store holds now, whoever wrote it: read with
/// [`Outbox::backlog`](crate::Outbox::backlog), for a person or a health check.
///
/// ```
/// # async fn check(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
/// let backlog = outbox.backlog().await?;
/// let hour = std::time::Duration::from_secs(3600);
/// if backlog.dead > 0 || backlog.oldest_waiting > Some(hour) {
///     eprintln!("the outbox needs a look: {backlog:?}");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Backlog {
    /// Rows not yet delivered: due, scheduled for a later attempt, or being sent (as
    /// [`Outbox::waiting`](crate::Outbox::waiting) counts them).
    pub waiting: u64,
    /// Of those, the rows a relay holds now, being sent.
    pub in_flight: u64,
    /// Dead letters ([`Outbox::dead_letters`](crate::Outbox::dead_letters)).
    pub dead: u64,
    /// How long the oldest row not yet delivered has waited since it was written (a dead
    /// letter retried, since it was retried), but for the refunds of
    /// [`awaiting_sale`](Self::awaiting_sale); `None` when none waits.
    pub oldest_waiting: Option<std::time::Duration>,
    /// Of [`waiting`](Self::waiting), the refunds waiting for their sale, which Affitor does not
    /// know yet: most are of organic sales, which never come, and each waits up to the refund
    /// patience by design ([`OutboxBuilder::refund_patience`](crate::OutboxBuilder::refund_patience)),
    /// then becomes a dead letter. Their age needs no person.
    pub awaiting_sale: u64,
}

/// The live counters behind [`OutboxStats`], one per field but `spilled`, and their snapshot.
macro_rules! counters {
    ($($name:ident),*) => {
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        impl Counters {
            pub(crate) fn add(counter: &AtomicU64) {
                counter.fetch_add(1, Ordering::Relaxed);
            }

            /// The counters, with `spilled`, the events the spill holds now.
            pub(crate) fn snapshot(&self, spilled: u64) -> OutboxStats {
                OutboxStats { spilled, $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    enqueued, fell_back, spilled_total, written_back, batches, invalid, delivered, rescheduled,
    dead, corrupt, click_id_refused, customer_refused, purged, dead_letters, in_flight,
    interrupted, journal_lost
}
