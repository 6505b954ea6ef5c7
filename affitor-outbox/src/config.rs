//! The settings of an outbox, as its builder checked them: what the relay and the stores read.

use std::time::Duration;

/// The settings of an outbox and its relay, checked once.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) relay: bool,
    pub(crate) max_in_flight: usize,
    pub(crate) lease: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) enqueue_timeout: Duration,
    pub(crate) max_file_size: Option<u64>,
    /// The most events held in memory while the store fails ([`crate::spill`]).
    pub(crate) max_spilled: usize,
    /// How long an event may wait there before it goes to the in-memory queue.
    pub(crate) max_spill_wait: Duration,
    /// Whether the outbox brings its schema up to date at its start, or only checks it
    /// ([`OutboxBuilder::migrate`](crate::OutboxBuilder::migrate)).
    pub(crate) migrate: bool,
    /// How long a dead letter is kept before the relay deletes it.
    pub(crate) dead_letter_retention: Duration,
    /// How long after it was stored a refund whose sale Affitor does not know is tried again.
    pub(crate) refund_patience: Duration,
    /// How long the attribution journal keeps its entries; `None`: no journal.
    pub(crate) journal: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            relay: true,
            max_in_flight: 2048,
            lease: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_attempts: 100,
            enqueue_timeout: Duration::from_secs(2),
            max_file_size: None,
            max_spilled: 10_000,
            max_spill_wait: Duration::from_secs(30),
            migrate: true,
            dead_letter_retention: Duration::from_secs(7 * 24 * 3600),
            refund_patience: Duration::from_secs(4 * 24 * 3600),
            journal: None,
        }
    }
}
