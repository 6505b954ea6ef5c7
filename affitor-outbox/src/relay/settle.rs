//! What an answer does to a row: delivered (the relay deletes it), rescheduled after a backoff,
//! kept as a dead letter, the refund that waits for its sale, the lead whose click id was
//! refused. Each is counted, and logged.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use affitor::Error;
use affitor::client::{Endpoint, ErrorKind, Event};
use tracing::Instrument as _;

use super::sends::Sends;
use crate::config::Config;
use crate::journal::{Answer, JournalEntry, Step};
use crate::metrics;
use crate::shared::Inner;
use crate::stats::Counters;
use crate::store::{Claimed, StoreError, Unreadable};
use crate::sync::lock;
use crate::throttle::Throttle;

/// The longest wait between two tries of a refund whose sale Affitor does not know.
const REFUND_WAIT_MAX: Duration = Duration::from_secs(3600);

/// One warning a minute, at most, for the leads whose click id the API refused: a visitor can
/// send as many as they like.
static CLICK_ID_REFUSED: Throttle = Throttle::new(60);

/// The most journal entries of answers that wait for a delete to write them: a store that
/// refuses them for long loses the rest, counted, rather than the relay's memory.
const MAX_WAITING: usize = 4096;

/// What becomes of a row once its answer is settled.
#[derive(Debug)]
enum Settled {
    /// Done with: the relay deletes it, with the journal's entry of the answer that did it
    /// when there is one to write in the delete's transaction.
    Done(Option<Box<Answer>>),
    /// Rescheduled or buried here: it stays in the store.
    Kept,
    /// Another relay's: its lease ran out while it was sent, and that relay settles it.
    Lost,
}

impl Settled {
    /// Counts a row kept as `result` (of `endpoint`) in `counter`: a row lost is not this
    /// relay's to count.
    fn counted(self, counter: &AtomicU64, endpoint: &str, result: metrics::Result) -> Self {
        if matches!(self, Self::Kept) {
            Counters::add(counter);
            metrics::event(endpoint, result);
        }
        self
    }
}

/// A row a send is done with: the relay deletes it, and writes the journal's entry of its
/// answer in that delete's transaction. The two travel together: an entry handed over apart
/// from its row could be written with another row's delete, before its own row is gone.
#[derive(Debug)]
pub(super) struct Delivered {
    pub(super) row: i64,
    pub(super) answer: Option<Answer>,
}

/// What the sends of a relay share: the outbox, the name the relay's leases carry, and the send
/// thread.
pub(super) struct Settler {
    inner: Arc<Inner>,
    sends: Sends,
    /// The journal's entries of the answers of rows done with, written with their deletes.
    answers: std::sync::Mutex<Vec<Answer>>,
}

impl Drop for Settler {
    /// The relay has ended: the entries still waiting never get the delete they wait for (the
    /// store refused the last, or the stop's deadline, or the runtime's end, came first).
    fn drop(&mut self) {
        let why = "the relay ended before the deletes of their rows: the store refused them, \
                   or the stop's deadline came first";
        self.inner.journal_lost(lock(&self.answers).len(), why);
    }
}

impl Settler {
    pub(super) fn new(inner: Arc<Inner>, sends: Sends) -> Self {
        Self {
            inner,
            sends,
            answers: std::sync::Mutex::default(),
        }
    }

    /// The journal's entries of the answers since the last call (none when it is off).
    pub(super) fn take_answers(&self) -> Vec<Answer> {
        let mut answers = lock(&self.answers);
        std::mem::take(&mut *answers)
    }

    /// Entries to write with the next delete (a delivered row's, or those a delete did not
    /// write), but for those past [`MAX_WAITING`], which are counted lost (a journal the store
    /// cannot write for long).
    pub(super) fn put_back(&self, answers: impl ExactSizeIterator<Item = Answer>) {
        let mut waiting = lock(&self.answers);
        let room = MAX_WAITING.saturating_sub(waiting.len());
        let lost = answers.len().saturating_sub(room);
        waiting.extend(answers.take(room));
        drop(waiting);
        let why = "more than 4,096 waited while the store refused the deletes of their rows";
        self.inner.journal_lost(lost, why);
    }

    /// Sends one row and settles it: the row when it is done with (the relay deletes those
    /// together), `None` when it was rescheduled or buried here, or the store failed, or its
    /// send was stopped once its lease may have run out (`lapsed`).
    pub(super) async fn deliver(
        &self,
        row: Claimed,
        lapsed: impl Future<Output = ()>,
    ) -> Option<Delivered> {
        // The row's span: the client's spans of its HTTP attempts nest in it.
        let span = tracing::info_span!(
            "affitor.outbox.deliver",
            outbox.row = row.id,
            affitor.endpoint = %row.endpoint(),
            outbox.attempt = row.attempts.saturating_add(1),
        );
        match self.settle(&row, lapsed).instrument(span).await {
            Ok(Settled::Done(answer)) => Some(Delivered {
                row: row.id,
                answer: answer.map(|answer| *answer),
            }),
            Ok(Settled::Kept | Settled::Lost) => None,
            Err(error) => {
                tracing::warn!(
                    id = row.id,
                    error = %error,
                    "Affitor outbox row sent, but the store could not record it; it goes again \
                     when its lease ends"
                );
                None
            }
        }
    }

    /// Sends the row's event and settles it by the answer; stops the send once its lease may
    /// have run out (`lapsed`), its renewals unanswered: another relay may have taken the row,
    /// and two relays never send one row at once.
    async fn settle(
        &self,
        row: &Claimed,
        lapsed: impl Future<Output = ()>,
    ) -> Result<Settled, StoreError> {
        let event = match &row.event {
            Ok(event) => event,
            Err(unreadable) => return self.unreadable(row, unreadable).await,
        };
        let sent = tokio::select! {
            // An answer that came is settled, whatever the time.
            biased;
            sent = self.sends.send(event) => sent,
            () = lapsed => {
                tracing::warn!(
                    id = row.id,
                    lease = ?self.inner.config.lease,
                    "Affitor outbox relay stopped sending a row whose lease it could not \
                     renew in time: another relay may have taken it; it goes again"
                );
                return Ok(Settled::Lost);
            }
        };
        match sent {
            Ok(outcome) => {
                self.delivered(row, event);
                Ok(self.done(row, event, || Step::answered(&outcome)))
            }
            Err(error) => self.failed(row, event, error).await,
        }
    }

    /// A row that cannot be read back: kept as a dead letter.
    async fn unreadable(
        &self,
        row: &Claimed,
        unreadable: &Unreadable,
    ) -> Result<Settled, StoreError> {
        tracing::error!(
            id = row.id,
            endpoint = %unreadable.endpoint,
            error = %unreadable.why,
            "Affitor outbox row set aside as a dead letter: it cannot be read"
        );
        // Counted once the store keeps it: a refused write goes again, and counts then.
        let counter = &self.inner.counters.corrupt;
        let kept = self.keep_dead(row, &unreadable.why).await?;
        Ok(kept.counted(counter, &unreadable.endpoint, metrics::Result::DeadLettered))
    }

    /// Affitor answered with an outcome.
    fn delivered(&self, row: &Claimed, event: &Event) {
        let endpoint = event.endpoint().name();
        Counters::add(&self.inner.counters.delivered);
        metrics::event(endpoint, metrics::Result::Delivered);
        tracing::debug!(
            id = row.id,
            endpoint,
            transaction_id = event.transaction_id(),
            "Affitor event delivered"
        );
    }

    /// The send failed with `error`: the row is done with, due again after a backoff, or a
    /// dead letter, by what the API said.
    async fn failed(
        &self,
        row: &Claimed,
        event: &Event,
        error: Error,
    ) -> Result<Settled, StoreError> {
        // A lead without a click id names its customer by key alone: it settles a browser lead
        // (provisional, where the program requires server-side leads). The API refuses it for
        // good when it knows no such customer (an organic signup: no click brought them), or
        // the customer is another program's or has bought already. That is the API's word on a
        // signup anyone can make, not a loss: the row is deleted, counted, never kept as a dead
        // letter. (`is_click_id_refused` reads the refusal of the lead's customer, whatever
        // named it.)
        if event.click_id().is_none() && error.is_click_id_refused() {
            self.customer_refused(row, event, &error);
            return Ok(self.done(row, event, || Step::Refused(error.to_string())));
        }
        // A sale no partner brought the customer of (an organic sale, most of a shop's): the
        // API's word, which credits no one; journaled as not attributed, never a dead letter.
        // But for a sale named by its customer alone whose lead was given up on (a dead letter
        // holds back no one): the API may not know the customer for that, and the sale is
        // kept as a dead letter beside the lead, to go after it when both are retried.
        let lead_given_up = async || match event.customer_key() {
            Some(customer) if event.click_id().is_none() => {
                self.inner.store.dead_lead(customer).await
            }
            _ => Ok(false),
        };
        if error.is_organic_sale() {
            if lead_given_up().await? {
                return self.bury(row, event, &error).await;
            }
            self.customer_refused(row, event, &error);
            let reason = error
                .message()
                .unwrap_or("no partner brought this customer");
            let step = || Step::NotAttributed {
                reason: reason.to_owned(),
                click_age_days: None,
                window_days: None,
            };
            return Ok(self.done(row, event, step));
        }
        // Anyone can sign up with a stale, foreign or made-up click id: such a lead is settled
        // here, never kept as a dead letter (with its email) for a visitor to fill the store
        // with.
        let error = if error.is_click_id_refused() {
            // Written before the send without it, which journals its own answer after it: the
            // two are told in the order they happened, within one millisecond too.
            let refused = self.answers_of(row, || Step::Refused(click_id_refused(event, &error)));
            self.write_apart(refused).await;
            match self.send_without_click_id(row, event, &error).await {
                Some(error) => error,
                None => return Ok(Settled::Done(None)),
            }
        } else {
            error
        };
        // A refund whose sale Affitor does not know yet: the sale may be behind it in this
        // store, in another replica's request, or in the provider's retries. Tried again for
        // the refund patience, whatever the attempts, then kept as a dead letter.
        if error.kind() == ErrorKind::SaleNotFound {
            return self.await_sale(row, event, &error).await;
        }
        let attempt = row.attempts.saturating_add(1);
        if error.is_retryable() && attempt < self.inner.config.max_attempts {
            return self.reschedule(row, event, &error).await;
        }
        self.bury(row, event, &error).await
    }

    /// A lead without a click id, or a sale, whose customer the API refused for good: dropped.
    fn customer_refused(&self, row: &Claimed, event: &Event, error: &Error) {
        let endpoint = event.endpoint().name();
        Counters::add(&self.inner.counters.customer_refused);
        metrics::event(endpoint, metrics::Result::CustomerRefused);
        tracing::debug!(
            id = row.id,
            endpoint,
            error = %error,
            "Affitor event dropped: the API knows no partner's customer to count it for (an \
             organic signup or sale, most often)"
        );
    }

    /// A failure that may pass: the row is due again after a backoff.
    async fn reschedule(
        &self,
        row: &Claimed,
        event: &Event,
        error: &Error,
    ) -> Result<Settled, StoreError> {
        let endpoint = event.endpoint().name();
        let attempt = row.attempts.saturating_add(1);
        let wait = backoff(&self.inner.config, attempt, error);
        tracing::warn!(
            id = row.id,
            endpoint,
            transaction_id = event.transaction_id(),
            attempt,
            retry_in = ?wait,
            error = %error,
            "Affitor event not delivered yet; it goes again after a backoff"
        );
        let counter = &self.inner.counters.rescheduled;
        let kept = self.keep_for(row, wait, &error.to_string()).await?;
        Ok(kept.counted(counter, endpoint, metrics::Result::Rescheduled))
    }

    /// Refused by the API, or out of attempts: kept as a dead letter.
    async fn bury(
        &self,
        row: &Claimed,
        event: &Event,
        error: &Error,
    ) -> Result<Settled, StoreError> {
        let endpoint = event.endpoint().name();
        tracing::error!(
            id = row.id,
            endpoint,
            transaction_id = event.transaction_id(),
            attempt = row.attempts.saturating_add(1),
            error = %error,
            "Affitor event given up on: kept as a dead letter in the outbox"
        );
        let kept = self.keep_dead(row, &error.to_string()).await?;
        Ok(kept.counted(
            &self.inner.counters.dead,
            endpoint,
            metrics::Result::DeadLettered,
        ))
    }

    /// A refund whose sale Affitor does not know: due again after a backoff while it is
    /// younger than the refund patience, a dead letter naming the ids it was tried under after.
    async fn await_sale(
        &self,
        row: &Claimed,
        event: &Event,
        error: &Error,
    ) -> Result<Settled, StoreError> {
        if let Some(kept) = self.link_to_sale(row, event).await? {
            return Ok(kept);
        }
        let patience = self.inner.config.refund_patience;
        if row.age >= patience {
            return self.bury_refund(row, event).await;
        }
        // Most such refunds are of organic sales, which never come: the waits grow with the
        // refund's age (an eighth of it, up to an hour), so that four days cost about 150
        // calls, not one per backoff ceiling.
        let attempt = row.attempts.saturating_add(1);
        let wait = backoff(&self.inner.config, attempt, error)
            .max((row.age / 8).min(REFUND_WAIT_MAX))
            .min(patience - row.age);
        tracing::info!(
            id = row.id,
            transaction_id = event.transaction_id(),
            other_transaction_id = event.other_transaction_id(),
            attempt,
            retry_in = ?wait,
            waited = ?row.age,
            patience = ?patience,
            "Affitor refund waits for its sale, which Affitor does not know yet"
        );
        let why = format!("{}: {error}", crate::store::AWAITING_SALE);
        let counter = &self.inner.counters.rescheduled;
        let kept = self.keep_for(row, wait, &why).await?;
        Ok(kept.counted(
            counter,
            Endpoint::Refund.name(),
            metrics::Result::Rescheduled,
        ))
    }

    /// A refund with no other id whose sale is kept under another id in the store's facts (a
    /// Stripe payment intent's invoice, whose link was written as the refund was, neither
    /// seeing the other): put under it, and due again behind the sale's row. `None` when the
    /// store knows no such sale, or cannot say now (then the refund waits as usual).
    async fn link_to_sale(
        &self,
        row: &Claimed,
        event: &Event,
    ) -> Result<Option<Settled>, StoreError> {
        let Some(named) = event
            .transaction_id()
            .filter(|_| event.other_transaction_id().is_none())
        else {
            return Ok(None);
        };
        let key = affitor::webhook::Fact::sale_alias_key(named);
        let sale = match self
            .inner
            .store
            .link_refund(row.id, &self.inner.owner, &key)
            .await
        {
            Ok(Some(sale)) => sale,
            Ok(None) => return Ok(None),
            Err(error) => {
                tracing::debug!(id = row.id, error = %error, "Affitor refund's sale not looked up");
                return Ok(None);
            }
        };
        tracing::info!(
            id = row.id,
            transaction_id = sale,
            other_transaction_id = named,
            "Affitor refund put under its sale's id, which the store knew since it was written"
        );
        let why = format!("no sale under `{named}`: it goes again under `{sale}`");
        self.keep_for(row, crate::store::LINKED_REFUND_DUE, &why)
            .await
            .map(Some)
    }

    /// A refund past its patience, whose sale Affitor never knew: a dead letter that names the
    /// ids it was tried under.
    async fn bury_refund(&self, row: &Claimed, event: &Event) -> Result<Settled, StoreError> {
        let transaction_id = event.transaction_id();
        let other_transaction_id = event.other_transaction_id();
        let tried = match other_transaction_id {
            Some(other) => format!("`{}` nor `{other}`", transaction_id.unwrap_or_default()),
            None => format!("`{}`", transaction_id.unwrap_or_default()),
        };
        let why = format!(
            "no sale recorded under {tried} after {} h: the refund of a sale Affitor never \
             recorded (an organic customer's), or of one that was lost; if a partner referred \
             it, reverse its commission in the Affitor dashboard",
            row.age.as_secs() / 3600
        );
        tracing::warn!(
            id = row.id,
            transaction_id,
            other_transaction_id,
            attempt = row.attempts.saturating_add(1),
            "Affitor refund kept as a dead letter: {why}"
        );
        let counter = &self.inner.counters.dead;
        let kept = self.keep_dead(row, &why).await?;
        Ok(kept.counted(
            counter,
            Endpoint::Refund.name(),
            metrics::Result::DeadLettered,
        ))
    }

    /// Settles a lead whose click id the API refused for good (`error`): sent again without it
    /// when it has a customer key, so that the signup still counts for the customer; dropped
    /// otherwise, or when that is refused too. `None` when it is settled (the row is to be
    /// deleted: no email stays behind); `Some` of the error of the second send when it may
    /// pass (the row goes again, or is out of attempts, as for any such failure). The second
    /// send's answer, or its refusal, is journaled under what it was sent with.
    async fn send_without_click_id(
        &self,
        row: &Claimed,
        event: &Event,
        error: &Error,
    ) -> Option<Error> {
        let endpoint = event.endpoint().name();
        Counters::add(&self.inner.counters.click_id_refused);
        metrics::event(endpoint, metrics::Result::ClickIdRefused);
        let Some(again) = event.without_click_id() else {
            refused(
                row.id,
                error,
                "Affitor lead dropped: the API refused its click id for good, and it has no \
                 customer key to count for",
            );
            return None;
        };
        match self.sends.send(&again).await {
            Ok(outcome) => {
                // Keyed by what it was sent with, no click id: not its row's stored entry's.
                self.journal_alone(&again, Step::answered(&outcome)).await;
                Counters::add(&self.inner.counters.delivered);
                metrics::event(endpoint, metrics::Result::Delivered);
                refused(
                    row.id,
                    error,
                    "Affitor lead sent again without its click id, which the API refused for \
                     good: it counts for its customer key",
                );
                None
            }
            Err(error) if error.is_retryable() => Some(error),
            Err(error) => {
                self.journal_alone(&again, Step::Refused(error.to_string()))
                    .await;
                refused(
                    row.id,
                    &error,
                    "Affitor lead dropped: the API refused its click id for good, and its \
                     customer key alone too",
                );
                None
            }
        }
    }

    /// Done with `row`: deleted by the relay, with the journal's entry of its answer `step`
    /// (when the journal is on) in the delete's statement, adding no round trip.
    fn done(&self, row: &Claimed, event: &Event, step: impl FnOnce() -> Step) -> Settled {
        let journal = self.inner.config.journal.is_some();
        Settled::Done(journal.then(|| Box::new(answer(row, event, step()))))
    }

    /// Writes the journal's `answers` of a row in a transaction of their own, ahead of its
    /// settling, on the relay's path, never a request's. An entry the store fails to write is
    /// counted lost.
    async fn write_apart(&self, answers: Vec<Answer>) {
        if answers.is_empty() {
            return;
        }
        if let Err(error) = self.inner.store.write_answers(answers).await {
            self.unwritten(&error);
        }
    }

    /// The journal's entries of `row`'s answer `step`, to be written with the row's keeping:
    /// none when the journal is off, or the row's event cannot be read.
    fn answers_of(&self, row: &Claimed, step: impl FnOnce() -> Step) -> Vec<Answer> {
        match &row.event {
            Ok(event) if self.inner.config.journal.is_some() => vec![answer(row, event, step())],
            _ => Vec::new(),
        }
    }

    /// Writes the journal's entry of `event` (when the journal is on) with its own keys,
    /// linked to no row.
    async fn journal_alone(&self, event: &Event, step: Step) {
        if self.inner.config.journal.is_none() {
            return;
        }
        let entry = JournalEntry::of(event, step);
        if let Err(error) = self.inner.store.write_journal(vec![entry]).await {
            self.unwritten(&error);
        }
    }

    /// A journal entry the store failed to write: counted lost, and said.
    fn unwritten(&self, error: &StoreError) {
        let why = format!("of an answer the relay got, the store failed: {error}");
        self.inner.journal_lost(1, &why);
    }

    /// Keeps the row in the store, due again after `wait`, with `why`, and the journal's entry
    /// of the answer in the same transaction.
    async fn keep_for(
        &self,
        row: &Claimed,
        wait: Duration,
        why: &str,
    ) -> Result<Settled, StoreError> {
        let next_attempt = std::time::SystemTime::now() + wait;
        let answers = self.answers_of(row, || Step::Retrying {
            error: why.to_owned(),
            next_attempt,
        });
        self.keep(row, Keeping::Due { after: wait, why }, answers)
            .await
    }

    /// Keeps the row in the store as a dead letter, with `why`, and the journal's entry of it
    /// in the same transaction.
    async fn keep_dead(&self, row: &Claimed, why: &str) -> Result<Settled, StoreError> {
        let answers = self.answers_of(row, || Step::DeadLetter(why.to_owned()));
        self.keep(row, Keeping::Dead { why }, answers).await
    }

    /// Keeps `row` as `keeping` says, with the journal's `answers` of it in the same
    /// transaction. When that fails and the row is kept alone, the entries are counted lost: a
    /// journal the store refuses never holds a row's settling back. A row whose lease went to
    /// another relay is left to it, and its answer's entries with it.
    async fn keep(
        &self,
        row: &Claimed,
        keeping: Keeping<'_>,
        answers: Vec<Answer>,
    ) -> Result<Settled, StoreError> {
        let entries = answers.len();
        let kept = match self.keep_once(row, keeping, answers).await {
            Ok(kept) => kept,
            Err(error) if entries > 0 => {
                let kept = self.keep_once(row, keeping, Vec::new()).await?;
                if kept {
                    let why = format!("of an answer the relay got, the store failed: {error}");
                    self.inner.journal_lost(entries, &why);
                }
                kept
            }
            Err(error) => return Err(error),
        };
        if !kept {
            tracing::info!(
                id = row.id,
                "Affitor outbox row's lease ran out while it was sent, and another relay took \
                 it: that relay settles it, and this answer is left to it"
            );
            return Ok(Settled::Lost);
        }
        Ok(Settled::Kept)
    }

    /// Keeps `row` as `keeping` says, with `answers`: whether `row` was still this relay's.
    async fn keep_once(
        &self,
        row: &Claimed,
        keeping: Keeping<'_>,
        answers: Vec<Answer>,
    ) -> Result<bool, StoreError> {
        let (store, owner) = (&self.inner.store, &self.inner.owner);
        match keeping {
            Keeping::Due { after, why } => {
                store.reschedule(row.id, owner, after, why, answers).await
            }
            Keeping::Dead { why } => store.bury(row.id, owner, why, answers).await,
        }
    }
}

/// How a row the relay keeps is kept: due again after a while, or as a dead letter; with why.
#[derive(Clone, Copy)]
enum Keeping<'a> {
    Due { after: Duration, why: &'a str },
    Dead { why: &'a str },
}

/// The journal's entry of `row`'s answer `step`, with the entry of the row's storing on its
/// first answer (the request that stored the row wrote no entry, so that the journal costs it
/// nothing).
fn answer(row: &Claimed, event: &Event, step: Step) -> Answer {
    Answer {
        row: row.id,
        entry: JournalEntry::of(event, step),
        stored: row
            .first_journaled()
            .then(|| JournalEntry::stored(row, event)),
    }
}

/// The journal's word on a lead whose click id the API refused for good (`error`).
fn click_id_refused(event: &Event, error: &Error) -> String {
    if event.without_click_id().is_some() {
        format!("its click id was refused, so it went without it: {error}")
    } else {
        format!("its click id was refused, and no customer key names it without one: {error}")
    }
}

/// Logs a lead settled for its refused click id: a warning at most once per interval, with how
/// many were left out since; the others at `debug`. The API's answer only: never the email or
/// the customer key.
fn refused(id: i64, error: &Error, what: &'static str) {
    match CLICK_ID_REFUSED.due() {
        Some(suppressed) => tracing::warn!(
            id,
            error = %error,
            since_last_warning = suppressed,
            "{what} (at most one such warning a minute)"
        ),
        None => tracing::debug!(id, error = %error, "{what}"),
    }
}

/// The wait before attempt `attempt + 1`: `initial` doubled per failed attempt, up to `max`,
/// drawn between half and all of it; a longer `Retry-After` is waited, up to `max` (a short
/// one does not cut the backoff: a run of 429s with `Retry-After: 0` would spend the attempts
/// in minutes).
fn backoff(config: &Config, attempt: u32, error: &Error) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    let full = config
        .backoff_initial
        .saturating_mul(1 << exponent.min(31))
        .min(config.backoff_max);
    let drawn = full.mul_f64(0.5 + fastrand::f64() / 2.0);
    match error.retry_after() {
        Some(asked) if error.kind() == ErrorKind::RateLimited => {
            drawn.max(asked.min(config.backoff_max))
        }
        _ => drawn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_stays_under_its_ceiling() {
        let config = Config {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            ..Config::default()
        };
        let error = affitor::Client::builder().build().unwrap_err();
        for attempt in 1..200 {
            let wait = backoff(&config, attempt, &error);
            let full = Duration::from_secs(1u64 << (attempt - 1).min(20)).min(config.backoff_max);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
    }

    /// A `Retry-After` longer than the backoff is waited (up to the ceiling); a shorter one,
    /// even 0, does not shorten it.
    #[tokio::test]
    async fn a_retry_after_lengthens_the_backoff_and_never_shortens_it() {
        use affitor::client::RetryPolicy;
        use affitor_mock::{Fault, MockServer};

        let config = Config {
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
            ..Config::default()
        };
        let mock = MockServer::start().await.unwrap();
        let client = mock
            .client_builder()
            .retry(RetryPolicy::default().max_attempts(1))
            .build()
            .unwrap();
        for (asked, expected) in [(0, None), (120, Some(120)), (86_400, Some(600))] {
            mock.inject(Fault::rate_limited(Duration::from_secs(asked)));
            let error = client.refund("in_1").send().await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::RateLimited, "{error}");
            assert_eq!(error.retry_after(), Some(Duration::from_secs(asked)));
            for _ in 0..50 {
                let wait = backoff(&config, 1, &error);
                match expected {
                    Some(seconds) => assert_eq!(wait, Duration::from_secs(seconds)),
                    None => assert!(wait >= Duration::from_secs(5), "{wait:?}"),
                }
            }
        }
    }
}
