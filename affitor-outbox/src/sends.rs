//! Where the relay's sends run: a thread of their own, with a runtime of its own.
//!
//! A send costs about what the request that wrote its row did: an HTTP exchange, most of it in
//! the allocator and hyper. On the server's runtime those sends would share its worker threads
//! with the requests; here they run on one thread, which bounds them to one core.
//!
//! With [`yield_to_requests`](crate::OutboxBuilder::yield_to_requests), for a machine the
//! requests saturate, Linux schedules that thread ten steps nicer than the server's threads,
//! so the requests go first and the rows wait in the store for the CPU they leave. A send also
//! makes work at the server's priority (the store's claim, lease and delete of its row, the
//! API's side of the exchange), so the thread then also watches how long it waits for a core
//! ([`SendLimit`]): while the server's threads hold the cores, the relay sends fewer rows at
//! once, down to a floor, and as many as `max_in_flight` again once they let go.
//!
//! Only the HTTP exchanges run here, through a connection pool of their own (the tasks of the
//! runtime that opens a connection drive it, and the server's own calls, a click's, must not
//! wait for this thread): the relay's claims, deletes and renewals stay on the server's
//! runtime, so that the store's connections, which the writes share, are never driven by it
//! either. A `reqwest::Client` the caller handed the client builder is shared, as they asked:
//! its connections to the API then serve both.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use affitor::{Client, Error, client::Event};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tracing::Instrument as _;
use tracing::instrument::WithSubscriber as _;

/// Runs a relay's sends through its client on its send thread, or on the current runtime when
/// that thread could not start. Cloned into each send; the thread stops when the last clone is
/// dropped.
#[derive(Clone, Debug)]
pub(crate) struct Sends {
    client: Client,
    thread: Option<Arc<SendThread>>,
}

impl Sends {
    /// Starts the send thread, with a connection pool of its own made from `client`'s; when it
    /// `yields` to the server's requests, it runs nicer and sets `limit` as it finds the cores.
    /// Without a thread (the system refused one), the sends go through `client` on the current
    /// runtime.
    pub(crate) fn start(client: &Client, limit: &Arc<SendLimit>, yields: bool) -> Self {
        match SendThread::start(limit, yields) {
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
        // The row's span, and the subscriber it reports to (a scoped one too), go with the send.
        let send = async move { client.send_event(&event).await }
            .in_current_span()
            .with_current_subscriber();
        let send = thread.runtime.spawn(send);
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
    /// Starts the thread; when it `yields`, it lowers its priority and sets `limit` from how
    /// long it waits for a core. The runtime is built on the thread, and lives and is dropped
    /// there alone (a runtime dropped on the server's runtime would panic); the caller waits
    /// the few microseconds that takes.
    fn start(limit: &Arc<SendLimit>, yields: bool) -> std::io::Result<Self> {
        let (started, runtime) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = oneshot::channel::<()>();
        let limit = Arc::clone(limit);
        std::thread::Builder::new()
            .name("affitor-relay".to_owned())
            .spawn(move || {
                if yields {
                    lower_priority();
                }
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
                if yields {
                    runtime.spawn(watch_the_cores(limit));
                }
                let _ = started.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    // Resolves when the sender is dropped: nothing is ever sent on it.
                    let _ = stopped.await;
                });
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

/// How many rows the relay sends at once: at most its `max_in_flight`, fewer while the send
/// thread finds the cores held by the server's threads (see [`SendLimit::next`]).
#[derive(Debug)]
pub(crate) struct SendLimit {
    now: AtomicUsize,
    max: usize,
}

impl SendLimit {
    /// The least the limit falls to (or `max_in_flight`, if lower): against an API answering
    /// in 200 ms, 320 rows a second still go while the cores are held.
    const FLOOR: usize = 64;

    /// How often the send thread looks at its waits.
    const EVERY: Duration = Duration::from_millis(100);

    /// Waits shorter than this in a look (5% of it) are never a sign of held cores.
    const NOTICED: Duration = Duration::from_millis(5);

    pub(crate) fn new(max_in_flight: usize) -> Self {
        Self {
            now: AtomicUsize::new(max_in_flight),
            max: max_in_flight,
        }
    }

    /// How many rows the relay may have in flight now.
    pub(crate) fn get(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    /// The limit after a look in which the send thread `ran` and `waited` for a core while it
    /// could run: halved when it waited longer than it ran (the cores were held by threads
    /// before it), down to the floor; doubled otherwise, up to the most.
    fn next(&self, now: usize, ran: Duration, waited: Duration) -> usize {
        if waited >= Self::NOTICED && waited > ran {
            (now / 2).max(Self::FLOOR.min(self.max))
        } else {
            now.saturating_mul(2).min(self.max)
        }
    }
}

/// Every [`SendLimit::EVERY`], reads how long the calling thread (the send thread: this task
/// runs on its runtime alone) has run and waited for a core, from Linux's
/// `/proc/thread-self/schedstat`, and sets the limit from the difference since the last read.
/// Ends at once, the limit left at its most, if that file cannot be read (another system than
/// Linux); a later read that fails (no file descriptor free, under load) skips that look.
async fn watch_the_cores(limit: Arc<SendLimit>) {
    let Some(mut last) = schedstat() else {
        tracing::debug!(
            "Affitor outbox send thread cannot read its waits for a core (Linux's \
             /proc/thread-self/schedstat); the relay sends up to max_in_flight rows at once, \
             however busy the machine"
        );
        return;
    };
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + SendLimit::EVERY,
        SendLimit::EVERY,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some((ran, waited)) = schedstat() else {
            continue;
        };
        let next = limit.next(
            limit.get(),
            Duration::from_nanos(ran.saturating_sub(last.0)),
            Duration::from_nanos(waited.saturating_sub(last.1)),
        );
        limit.now.store(next, Ordering::Relaxed);
        last = (ran, waited);
    }
}

/// The nanoseconds the calling thread has run and waited to run, the first two fields of
/// `/proc/thread-self/schedstat`.
fn schedstat() -> Option<(u64, u64)> {
    let line = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = line.split_whitespace().map(str::parse::<u64>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_limit_halves_while_the_cores_are_held_and_doubles_back_when_they_are_not() {
        let limit = SendLimit::new(2048);
        // Waited longer than it ran: halved, down to the floor.
        assert_eq!(limit.next(2048, 10 * MS, 40 * MS), 1024);
        assert_eq!(limit.next(100, 10 * MS, 40 * MS), 64);
        assert_eq!(limit.next(64, Duration::ZERO, 90 * MS), 64);
        // Ran longer than it waited, or waited too little to tell: doubled, up to the most.
        assert_eq!(limit.next(64, 40 * MS, 30 * MS), 128);
        assert_eq!(limit.next(64, Duration::ZERO, 4 * MS), 128);
        assert_eq!(limit.next(1500, Duration::ZERO, Duration::ZERO), 2048);
        // A most below the floor is the floor.
        let small = SendLimit::new(16);
        assert_eq!(small.next(16, Duration::ZERO, 90 * MS), 16);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_reads_its_own_run_and_wait_times() {
        let before = schedstat().unwrap();
        let spun = std::time::Instant::now();
        while spun.elapsed() < 20 * MS {}
        let after = schedstat().unwrap();
        assert!(after.0 > before.0, "{before:?} then {after:?}");
        assert!(after.1 >= before.1, "{before:?} then {after:?}");
    }
}
