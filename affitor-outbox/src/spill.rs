//! The spill: events the store could not take, held in memory (bounded, counted) while the
//! outbox is degraded, until a probe finds the store answering and they are written back.
//!
//! The first write that fails or times out makes the outbox degraded: later events skip the
//! store at once (no request waits behind a store that does not answer) and wait here. An
//! event leaves the spill exactly once: written back to the store (the relay then sends it),
//! or handed to the client's in-memory queue (the spill full, the event waiting past its
//! limit, the outbox stopping), so that it is never sent twice because of the spill.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use affitor::client::Event;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::sync::lock;

/// An event held, and since when.
#[derive(Debug)]
pub(crate) struct Spilled {
    pub(crate) event: Event,
    pub(crate) since: Instant,
    /// Told once the event is written back: the request that held it waits for that while the
    /// store answers again.
    pub(crate) written: Option<oneshot::Sender<()>>,
}

/// The events held while the store fails, and whether it does.
#[derive(Debug, Default)]
pub(crate) struct Spill {
    /// Read on every write without the lock: whether events skip the store.
    degraded: AtomicBool,
    held: Mutex<Held>,
    /// The events held now (the gauge of [`OutboxStats::spilled`](crate::OutboxStats::spilled)).
    pub(crate) len: AtomicU64,
    /// The probe's task (`crate::recover`), while one runs, and the ways to stop it.
    pub(crate) probe: Mutex<Option<JoinHandle<()>>>,
    /// Cancelled by `shutdown`: the probe ends at its next pause, once a write-back under way
    /// has written what it can.
    pub(crate) stop: CancellationToken,
    /// Cancelled at `shutdown`'s deadline: a write-back under way stops waiting, and the
    /// events it has not written are held again, for the in-memory queue.
    pub(crate) give_up: CancellationToken,
}

#[derive(Debug, Default)]
struct Held {
    /// A probe runs: from the first failure until nothing is held and the store answers.
    probing: bool,
    /// The store answered a probe and the events held are being written back: a new event
    /// waits for its turn, behind them, so that the requests slow to the store's pace rather
    /// than fill the spill faster than it empties.
    answering: bool,
    /// No probe comes any more (the outbox is stopping): nothing is held from now on.
    closed: bool,
    events: VecDeque<Spilled>,
    /// Events taken to be written back, not settled yet: still counted as held.
    writing: usize,
}

/// What became of an event offered to the spill.
#[derive(Debug)]
pub(crate) enum Offer {
    /// Held; `began` when it made the outbox degraded (a probe is to start); `written` is told
    /// once it is written back, when the store answers again already.
    Held {
        began: bool,
        written: Option<oneshot::Receiver<()>>,
    },
    /// The spill is full (the outbox degraded all the same: `began` as above) or closed: the
    /// event goes to the in-memory queue.
    Refused(Box<Event>, bool),
}

impl Spill {
    /// Whether the outbox is degraded: a new event is held here, not written.
    pub(crate) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    /// Holds `event` (the outbox becomes degraded, if it was not), unless `capacity` events are
    /// held already or the spill is closed.
    pub(crate) fn offer(&self, event: Event, capacity: usize) -> Offer {
        let mut held = self.lock();
        if held.closed {
            return Offer::Refused(Box::new(event), false);
        }
        let began = self.degrade_held(&mut held);
        if held.events.len() >= capacity {
            return Offer::Refused(Box::new(event), began);
        }
        let (sender, written) = if held.answering {
            let (sender, written) = oneshot::channel();
            (Some(sender), Some(written))
        } else {
            (None, None)
        };
        held.events.push_back(Spilled {
            event,
            since: Instant::now(),
            written: sender,
        });
        self.counted(&held);
        Offer::Held { began, written }
    }

    /// A write failed with no event to hold (a webhook's, whose caller is told): the outbox
    /// becomes degraded all the same; `true` when it was not (a probe is to start).
    pub(crate) fn degrade(&self) -> bool {
        let mut held = self.lock();
        !held.closed && self.degrade_held(&mut held)
    }

    /// Degrades the outbox under `held`'s lock; `true` when it was not.
    fn degrade_held(&self, held: &mut Held) -> bool {
        self.degraded.store(true, Ordering::Release);
        !std::mem::replace(&mut held.probing, true)
    }

    /// Up to `at_most` of the events held, oldest first.
    pub(crate) fn take(&self, at_most: usize) -> Vec<Spilled> {
        let mut held = self.lock();
        let taken = held.events.len().min(at_most);
        let events = held.events.drain(..taken).collect();
        held.writing += taken;
        self.counted(&held);
        events
    }

    /// `count` events taken were written back.
    pub(crate) fn written(&self, count: usize) {
        let mut held = self.lock();
        held.writing = held.writing.saturating_sub(count);
        self.counted(&held);
    }

    /// A probe found the store answering: the events held are written back from now on.
    pub(crate) fn answering(&self) {
        self.lock().answering = true;
    }

    /// Puts back events taken and not written (the store failed again), ahead of the others
    /// (their order kept), and the outbox is degraded again: a new event is held behind them,
    /// never written ahead of one whose request was answered meanwhile. Once the spill is
    /// closed, returns them instead, for the in-memory queue.
    pub(crate) fn put_back(&self, events: Vec<Spilled>) -> Vec<Event> {
        let mut held = self.lock();
        held.answering = false;
        held.writing = held.writing.saturating_sub(events.len());
        if held.closed {
            self.counted(&held);
            return events.into_iter().map(|spilled| spilled.event).collect();
        }
        // The probe that took them goes on: it is not started again.
        self.degraded.store(true, Ordering::Release);
        for spilled in events.into_iter().rev() {
            held.events.push_front(spilled);
        }
        self.counted(&held);
        Vec::new()
    }

    /// The events held for `wait` or longer, taken out.
    pub(crate) fn expired(&self, wait: Duration) -> Vec<Event> {
        let mut held = self.lock();
        let now = Instant::now();
        let old = held
            .events
            .iter()
            .take_while(|spilled| now.saturating_duration_since(spilled.since) >= wait)
            .count();
        let events = held
            .events
            .drain(..old)
            .map(|spilled| spilled.event)
            .collect();
        self.counted(&held);
        events
    }

    /// The store answers, no write-back is under way, and every event still held has its
    /// request waiting for it (none was answered while held): new events go to the store
    /// again, beside those being written back, as no answered event can be overtaken. Under
    /// requests that never pause, the spill is seldom empty, as each waits in it for its turn.
    pub(crate) fn resume(&self) {
        let held = self.lock();
        let waiting = |spilled: &Spilled| {
            spilled
                .written
                .as_ref()
                .is_some_and(|written| !written.is_closed())
        };
        // `answering` stays until the probe ends (`recovered`) or the store fails it again
        // (`put_back`): a write that fails meanwhile degrades the outbox again with the
        // write-back still under way, and the events held then wait for it as before.
        if held.answering && held.writing == 0 && held.events.iter().all(waiting) {
            self.degraded.store(false, Ordering::Release);
        }
    }

    /// The store answers again: the outbox is healthy once nothing is held (`true`: the probe
    /// ends); otherwise what is held is to be written back first.
    pub(crate) fn recovered(&self) -> bool {
        let mut held = self.lock();
        if !held.events.is_empty() {
            return false;
        }
        held.probing = false;
        held.answering = false;
        self.degraded.store(false, Ordering::Release);
        true
    }

    /// Nothing is held from now on (the outbox stops): every event held, taken out.
    pub(crate) fn close(&self) -> Vec<Event> {
        let mut held = self.lock();
        held.closed = true;
        // No probe ends it now: a later event tries the store, each on its own.
        self.degraded.store(false, Ordering::Release);
        let events = held.events.drain(..).map(|spilled| spilled.event).collect();
        self.counted(&held);
        events
    }

    /// Every event held, taken out, the spill left open (a flush hands them to the in-memory
    /// queue, which it then waits for).
    pub(crate) fn drain(&self) -> Vec<Event> {
        let mut held = self.lock();
        let events = held.events.drain(..).map(|spilled| spilled.event).collect();
        self.counted(&held);
        events
    }

    fn counted(&self, held: &Held) {
        let len = (held.events.len() + held.writing) as u64;
        self.len.store(len, Ordering::Relaxed);
        metrics::gauge(metrics::SPILLED, len);
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        lock(&self.held)
    }
}

#[cfg(test)]
mod tests {
    use affitor::client::IntoEvent as _;

    use super::*;

    fn lead(n: usize) -> Event {
        affitor::Client::builder()
            .api_key("sk_test")
            .build()
            .expect("a client")
            .lead(format!("user_{n}"))
            .into_event()
            .expect("a valid lead")
    }

    fn key(event: &Event) -> String {
        format!("{event:?}")
    }

    #[test]
    fn the_first_event_held_makes_the_outbox_degraded_until_none_is_left() {
        let spill = Spill::default();
        assert!(!spill.is_degraded());
        assert!(matches!(
            spill.offer(lead(1), 2),
            Offer::Held {
                began: true,
                written: None
            }
        ));
        assert!(matches!(
            spill.offer(lead(2), 2),
            Offer::Held {
                began: false,
                written: None
            }
        ));
        assert!(matches!(spill.offer(lead(3), 2), Offer::Refused(..)));
        assert!(spill.is_degraded());
        assert!(!spill.recovered(), "two events are still held");
        let taken = spill.take(10);
        assert_eq!(taken.len(), 2);
        assert_eq!(spill.len.load(Ordering::Relaxed), 2, "being written back");
        spill.written(2);
        assert_eq!(spill.len.load(Ordering::Relaxed), 0);
        assert!(spill.recovered());
        assert!(!spill.is_degraded());
    }

    #[test]
    fn events_put_back_go_first_in_their_order() {
        let spill = Spill::default();
        for n in 0..4 {
            let _ = spill.offer(lead(n), 10);
        }
        let taken = spill.take(2);
        let first: Vec<String> = taken.iter().map(|spilled| key(&spilled.event)).collect();
        assert!(spill.put_back(taken).is_empty());
        let again: Vec<String> = spill
            .take(2)
            .iter()
            .map(|spilled| key(&spilled.event))
            .collect();
        assert_eq!(first, again);
        assert_eq!(
            spill.len.load(Ordering::Relaxed),
            4,
            "two held, two being written"
        );
        spill.written(2);
        assert_eq!(spill.len.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn once_the_store_answers_an_event_held_is_told_when_it_is_written_back() {
        let spill = Spill::default();
        let _ = spill.offer(lead(1), 10);
        spill.answering();
        let Offer::Held {
            written: Some(mut written),
            ..
        } = spill.offer(lead(2), 10)
        else {
            panic!("held, and told when written back");
        };
        let mut taken = spill.take(10);
        assert!(taken[0].written.is_none(), "held before the store answered");
        assert!(written.try_recv().is_err(), "not written yet");
        if let Some(sender) = taken[1].written.take() {
            let _ = sender.send(());
        }
        assert!(written.try_recv().is_ok());
        assert!(spill.put_back(Vec::new()).is_empty());
        assert!(
            matches!(spill.offer(lead(3), 10), Offer::Held { written: None, .. }),
            "the store failed again: held without waiting"
        );
    }

    #[test]
    fn new_events_go_to_the_store_again_once_only_waiting_ones_are_held() {
        let spill = Spill::default();
        let _ = spill.offer(lead(1), 10);
        spill.answering();
        let Offer::Held { written, .. } = spill.offer(lead(2), 10) else {
            panic!("held");
        };
        spill.resume();
        assert!(
            spill.is_degraded(),
            "lead 1 was answered while held: it goes first"
        );
        let first = spill.take(1);
        spill.resume();
        assert!(spill.is_degraded(), "lead 1 is being written back");
        spill.written(first.len());
        spill.resume();
        assert!(!spill.is_degraded(), "lead 2's request waits for it");
        assert!(!spill.recovered(), "lead 2 is still to be written back");
        drop(written);
        let _ = spill.take(1);
        assert!(spill.recovered());
    }

    /// New events went to the store again (only events whose requests wait were held), then
    /// the store failed their write-back: new events are held again, behind those put back.
    #[test]
    fn events_put_back_make_the_outbox_degraded_again() {
        let spill = Spill::default();
        spill.answering();
        let Offer::Held { written, .. } = spill.offer(lead(1), 10) else {
            panic!("held");
        };
        spill.resume();
        assert!(!spill.is_degraded(), "lead 1's request waits for it");
        let taken = spill.take(1);
        let _ = spill.put_back(taken);
        assert!(
            spill.is_degraded(),
            "the write-back failed: lead 2 waits behind lead 1"
        );
        drop(written);
    }

    /// New events went to the store again, the write-back still under way, then a write
    /// failed: the event held then waits for its write-back as the others did. Held with
    /// nothing to wait for, each such event's request was answered before it was stored, for
    /// as long as requests kept the spill from emptying.
    #[test]
    fn an_event_held_again_after_the_outbox_resumed_waits_for_its_write_back() {
        let spill = Spill::default();
        let _ = spill.offer(lead(1), 10);
        spill.answering();
        let taken = spill.take(1);
        spill.written(taken.len());
        spill.resume();
        assert!(
            !spill.is_degraded(),
            "nothing held: new events go to the store"
        );
        assert!(!spill.degrade(), "the probe still runs: none is started");
        let Offer::Held { written, .. } = spill.offer(lead(2), 10) else {
            panic!("held");
        };
        assert!(written.is_some(), "its request waits for its write-back");
    }

    /// A spill closed while the store failed leaves the outbox healthy: a later event tries the
    /// store, each on its own, where it went to the in-memory queue for good.
    #[test]
    fn a_closed_spill_holds_nothing() {
        let spill = Spill::default();
        let _ = spill.offer(lead(1), 10);
        assert!(spill.is_degraded());
        assert_eq!(spill.close().len(), 1);
        assert!(!spill.is_degraded(), "later events try the store");
        assert!(!spill.degrade(), "and a failure starts no probe");
        assert!(!spill.is_degraded());
        assert!(matches!(spill.offer(lead(2), 10), Offer::Refused(..)));
        let put_back = spill.put_back(vec![Spilled {
            event: lead(3),
            since: Instant::now(),
            written: None,
        }]);
        assert_eq!(put_back.len(), 1, "handed back for the in-memory queue");
    }
}
