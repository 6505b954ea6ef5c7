//! The send thread: one thread, `affitor-relay`, running a runtime of its own, on which the
//! relay's HTTP exchanges run, and nothing else.
//!
//! A send costs about what the request that wrote its row did (an HTTP exchange, most of it in
//! the allocator and hyper): on a thread of their own, the sends take one core at most, however
//! many are in flight. The relay's claims, deletes and renewals stay on the runtime the outbox
//! was opened on, so that the store's connections, which the writes share, are never driven by
//! this thread. The connections the sends open are: see
//! [`OutboxBuilder::relay_client`](crate::OutboxBuilder::relay_client).

use std::sync::Arc;

use affitor::client::{Event, Outcome};
use affitor::{Client, Error};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument as _;
use tracing::instrument::WithSubscriber as _;

/// Runs a relay's sends through its client on the send thread, or on the current runtime when
/// that thread could not start. Cloned into each send; the thread stops when the last clone is
/// dropped, and then the receiver `start` answers resolves.
#[derive(Clone, Debug)]
pub(super) struct Sends {
    client: Client,
    thread: Option<Arc<SendThread>>,
}

impl Sends {
    /// Starts the send thread, to send through `client`, and answers what resolves once it has
    /// ended. Without a thread (the system refused one), the sends go through `client` on the
    /// current runtime.
    pub(super) fn start(client: Client) -> (Self, oneshot::Receiver<()>) {
        let (end, ended) = oneshot::channel();
        let thread = SendThread::start(end)
            .inspect_err(|error| {
                tracing::warn!(
                    error = %error,
                    "Affitor outbox relay could not start its send thread; it sends on the \
                     runtime the outbox was opened on"
                );
            })
            .ok()
            .map(Arc::new);
        (Self { client, thread }, ended)
    }

    /// Sends `event`, with its endpoint's retries, on the send thread.
    pub(super) async fn send(&self, event: &Event) -> Result<Outcome, Error> {
        let Some(thread) = &self.thread else {
            return self.client.send_event(event).await;
        };
        let (client, event) = (self.client.clone(), event.clone());
        // The row's span, and the subscriber it reports to (a scoped one too), go with the send.
        let send = async move { client.send_event(&event).await }
            .in_current_span()
            .with_current_subscriber();
        // A send whose caller is dropped (its relay aborted) stops with it.
        match AbortOnDropHandle::new(thread.runtime.spawn(send)).await {
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
    /// Starts the thread, which drops `end` as it ends. The runtime is built on the thread, and
    /// lives and is dropped there alone (a runtime dropped on another runtime would panic); the
    /// caller waits the few microseconds that takes.
    fn start(end: oneshot::Sender<()>) -> std::io::Result<Self> {
        let (started, runtime) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("affitor-relay".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started.send(Err(error));
                        return;
                    }
                };
                let _ = started.send(Ok(runtime.handle().clone()));
                // Resolves when the sender is dropped: nothing is ever sent on it.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Its blocking threads (a DNS lookup under way) are left to end on their own.
                runtime.shutdown_background();
                drop(end);
            })?;
        let runtime = runtime.recv().map_err(|_| {
            std::io::Error::other("the send thread ended before its runtime started")
        })??;
        Ok(Self {
            runtime,
            _stop: stop,
        })
    }
}
