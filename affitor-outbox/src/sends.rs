//! Where the relay's sends run: a thread of their own, below the server's CPU priority.
//!
//! A send costs about what the request that wrote its row did: an HTTP exchange, most of it in
//! the allocator and hyper. On the server's runtime, on a machine its requests saturate, the
//! sends take their share of every core from the requests, and the outbox then takes fewer
//! events a second than the in-memory queue, which sends as many. Here they run on one thread
//! with a runtime of its own, which Linux schedules at a lower priority (ten steps nicer than
//! the server's threads): the requests go first, and the rows wait in the store for the CPU
//! they leave, sent as soon as the burst ends. On a machine with CPU to spare, nothing changes.
//!
//! Only the HTTP exchanges run here, through a connection pool of their own (the tasks of the
//! runtime that opens a connection drive it, and the server's own calls, a click's, must not
//! wait for this thread): the relay's claims, deletes and renewals stay on the server's
//! runtime, so that the store's connections, which the writes share, are never driven by it
//! either. A `reqwest::Client` the caller handed the client builder is shared, as they asked:
//! its connections to the API then serve both.

use std::sync::Arc;

use affitor::{Client, Error, client::Event};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tracing::Instrument as _;

/// Runs a relay's sends through its client on its send thread, or on the current runtime when
/// that thread could not start. Cloned into each send; the thread stops when the last clone is
/// dropped.
#[derive(Clone, Debug)]
pub(crate) struct Sends {
    client: Client,
    thread: Option<Arc<SendThread>>,
}

impl Sends {
    /// Starts the send thread, with a connection pool of its own made from `client`'s; without
    /// a thread (the system refused one), the sends go through `client` on the current runtime.
    pub(crate) fn start(client: &Client) -> Self {
        match SendThread::start() {
            Ok(thread) => Self {
                client: affitor::__private::with_own_connections(client)
                    .unwrap_or_else(|| client.clone()),
                thread: Some(Arc::new(thread)),
            },
            Err(error) => {
                tracing::warn!(
                    error = %error,
                    "Affitor outbox relay could not start its send thread; it sends on the \
                     server's runtime, at the server's priority"
                );
                Self {
                    client: client.clone(),
                    thread: None,
                }
            }
        }
    }

    /// Sends `event`, with its endpoint's retries, on the send thread.
    pub(crate) async fn send(&self, event: &Event) -> Result<(), Error> {
        let Some(thread) = &self.thread else {
            return self.client.send_event(event).await;
        };
        let (client, event) = (self.client.clone(), event.clone());
        let send = thread
            .runtime
            .spawn(async move { client.send_event(&event).await }.in_current_span());
        // A send whose caller is dropped (its relay aborted) stops with it.
        let mut send = AbortOnDrop(send);
        match (&mut send.0).await {
            Ok(sent) => sent,
            Err(ended) if ended.is_panic() => std::panic::resume_unwind(ended.into_panic()),
            // Only a runtime shutting down cancels a task, and this one's waits for `thread`.
            Err(ended) => panic!("Affitor outbox send thread stopped under a send: {ended}"),
        }
    }
}

/// The thread and its runtime; dropping it stops both (the tasks left, pooled connections, are
/// dropped with the runtime).
#[derive(Debug)]
struct SendThread {
    runtime: Handle,
    _stop: oneshot::Sender<()>,
}

impl SendThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("affitor-relay".to_owned())
            .spawn(move || {
                lower_priority();
                runtime.block_on(async {
                    // Resolves when the sender is dropped: nothing is ever sent on it.
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            runtime: handle,
            _stop: stop,
        })
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How many steps nicer than the server's threads the send thread runs: a tenth of a server
/// thread's share of a core it contends for (Linux's weights, 110 against 1,024).
#[cfg(target_os = "linux")]
const NICER_BY: i32 = 10;

/// Lowers the calling thread's priority by [`NICER_BY`] (Linux keeps a nice value per thread:
/// this one's alone), as far as the lowest.
#[cfg(target_os = "linux")]
fn lower_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    let thread = Some(rustix::thread::gettid());
    let lowered = getpriority_process(thread)
        .and_then(|nice| setpriority_process(thread, nice.saturating_add(NICER_BY).min(19)));
    if let Err(error) = lowered {
        tracing::debug!(
            error = %error,
            "Affitor outbox send thread runs at the server's priority: it could not lower its own"
        );
    }
}

/// Elsewhere the send thread runs at the server's priority: a thread of its own still bounds
/// the sends to one core.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
