//! What an outbox's handles, its writes and its relay share.

use affitor::{__private::Throttle, Client};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::stats::Counters;
use crate::store::Store;

/// What the handles and the relay share.
pub(crate) struct Inner {
    pub(crate) store: Store,
    /// The warning for events neither stored nor sent by the outbox (handed to the in-memory
    /// queue): at most one a minute, with how many since.
    pub(crate) fell_back_warning: Throttle,
    /// The client the relay sends through, and the events the store cannot take fall back to:
    /// always with its in-memory queue as its backend, so that nothing falls back here.
    pub(crate) client: Client,
    pub(crate) config: Config,
    pub(crate) counters: Counters,
    /// Wakes the relay: a row was written.
    pub(crate) wake: Notify,
    /// The writes of events handed over by `send_in_background` (the outbox as a client's
    /// `Backend`), for `shutdown` to wait on.
    pub(crate) writes: TaskTracker,
    /// The runtime the outbox was opened on, where its relay runs: the writes of
    /// `send_in_background` go there first, so that they outlive the caller's runtime (an
    /// actix-web worker's, which stops with the server).
    pub(crate) home: Option<tokio::runtime::Handle>,
    /// Where the store is, a URL's password left out: for logs and `Debug`.
    pub(crate) location: String,
}
