//! The rows: what the writer writes ([`NewRow`], with its [`Facts`]), how a batch wrote each
//! ([`Inserted`], [`Lease`]), what a relay holds ([`Claimed`]), and what it gives up on
//! ([`DeadLetter`]).
//!
//! A row holds the event's endpoint name and the exact JSON body the API receives
//! ([`Event::to_json`]), its ordering keys (transaction id, customer key), where its click id
//! was found, its attempts and the time of the next one, its lease (which relay holds it, until
//! when), and, once given up on, when and why.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::client::{Endpoint, Event};

/// A row to write: an event in its stored form.
#[derive(Debug)]
pub(crate) struct NewRow {
    /// Whether the writer offers the row to its own process's relay: leased to it as it is
    /// written when no live row of its transaction or customer is in the table (see
    /// [`transaction_free`](super::transaction_free)).
    pub(crate) offered: bool,
    pub(crate) endpoint: &'static str,
    pub(crate) body: String,
    pub(crate) transaction_id: Option<String>,
    /// A refund's other id ([`Event::other_transaction_id`]), kept beside the body.
    pub(crate) other_transaction_id: Option<String>,
    pub(crate) customer_key: Option<String>,
    /// What later events need to know once this row is stored (a payment webhook's facts:
    /// [`Fact`](affitor::webhook::Fact)): written in the row's transaction, so that a delivery
    /// is never known as stored before its row is.
    pub(crate) facts: Facts,
    /// Where the app found the event's click id ([`affitor::ClickId::source`]), kept beside
    /// the body: the journal's entry of the row's storing, which the relay writes with its
    /// first answer, tells it.
    pub(crate) click_id_source: Option<&'static str>,
}

/// How soon a waiting refund goes again once a fact links it to its sale: not at once, as the
/// sale's own event comes with the link (Stripe sends `invoice_payment.paid` and
/// `invoice.paid` together), and the sale's row, once written, wakes its refunds and goes
/// first; but soon, for a sale delivered long before.
pub(crate) const LINKED_REFUND_DUE: Duration = Duration::from_secs(2);

/// How the error kept with a refund waiting for its sale begins: the backlog's queries count
/// such refunds by it (`last_error LIKE 'waiting for its sale%'`).
pub(crate) const AWAITING_SALE: &str = "waiting for its sale";

/// What a payment webhook hands the store, beside a row or alone
/// ([`affitor::webhook::PaymentState`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    /// Each value under its key, for about its duration.
    pub(crate) kept: Vec<(String, String, Duration)>,
    /// `(the id a refund names, the transaction id its sale is keyed by)`
    /// ([`Fact::sale_alias`](affitor::webhook::Fact::sale_alias)): each waiting refund under the
    /// first, with no other id yet, is put under the second (the first becoming its other id),
    /// and goes again within [`LINKED_REFUND_DUE`] (behind its sale's row, when that waits too).
    pub(crate) aliases: Vec<(String, String)>,
    /// The key, among `kept`, of the fact that knows the row's delivery
    /// ([`Fact::is_delivery`](affitor::webhook::Fact::is_delivery)): kept beside the row, and
    /// forgotten when the row becomes a dead letter, so that the provider's resend is stored
    /// again.
    pub(crate) delivery: Option<String>,
}

impl Facts {
    pub(crate) fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.aliases.is_empty()
    }
}

impl NewRow {
    pub(crate) fn of(event: &Event) -> Self {
        Self {
            facts: Facts::default(),
            offered: false,
            endpoint: event.endpoint().name(),
            body: event.to_json(),
            transaction_id: event.transaction_id().map(str::to_owned),
            other_transaction_id: event.other_transaction_id().map(str::to_owned),
            customer_key: event.customer_key().map(str::to_owned),
            click_id_source: event.click_id().and_then(affitor::ClickId::source),
        }
    }

    /// Whether the write must reach the disk before it returns: money (a sale or a refund) is
    /// written with SQLite's `synchronous=FULL` or Postgres's `synchronous_commit = on`, a lead
    /// or a click without (it survives a crash of the process, not of the machine).
    pub(crate) fn is_money(&self) -> bool {
        self.endpoint == Endpoint::Sale.name() || self.endpoint == Endpoint::Refund.name()
    }
}

/// A row a relay holds, claimed or handed over by its writer: its lease is the relay's until it
/// settles the row or the lease ends.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub(crate) id: i64,
    /// Attempts made before this one.
    pub(crate) attempts: u32,
    /// How long ago the row was written, by the store's clock.
    pub(crate) age: Duration,
    /// When the row was written, by the store's clock.
    pub(crate) stored_at: SystemTime,
    /// Whether the API answered it before (it keeps that answer's error), a dead letter
    /// retried since included.
    pub(crate) answered: bool,
    /// The row's event, or why it cannot be read.
    pub(crate) event: Result<Event, Unreadable>,
    /// Where the app found the event's click id, as the row keeps it.
    pub(crate) click_id_source: Option<String>,
    /// Whether this attempt wrote the journal's entry of the row's storing
    /// ([`Claimed::first_journaled`]).
    journaled: AtomicBool,
    /// When this process asked for the row's lease (a claim's or a batch's start): the lease
    /// runs at least a lease from then.
    pub(crate) leased: tokio::time::Instant,
}

/// A stored row that is no event: an endpoint this version does not know, or a body that does
/// not parse.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub(crate) endpoint: String,
    pub(crate) why: String,
}

/// A claimed row as the stores' `RETURNING` gives it: id, endpoint, body, other transaction
/// id, attempts, age and time written (Unix) in milliseconds, answered before, click id's
/// source.
pub(crate) type ClaimedRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    bool,
    Option<String>,
);

impl Claimed {
    pub(crate) fn from_row(
        (
            id,
            endpoint,
            body,
            other_transaction_id,
            attempts,
            age,
            stored_at,
            answered,
            click_id_source,
        ): ClaimedRow,
    ) -> Self {
        let millis = |millis: i64| Duration::from_millis(u64::try_from(millis).unwrap_or(0));
        Self {
            id,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            age: millis(age),
            stored_at: UNIX_EPOCH + millis(stored_at),
            answered,
            event: read(&endpoint, &body, other_transaction_id.as_deref())
                .map_err(|why| Unreadable { endpoint, why }),
            click_id_source,
            journaled: AtomicBool::new(false),
            leased: tokio::time::Instant::now(),
        }
    }

    /// A row `id` whose columns could not be read, and `why`: set aside as corrupt.
    #[cfg(feature = "sqlite")]
    pub(crate) fn unreadable(id: i64, why: String) -> Self {
        let why = format!("a stored event could not be read back: {why}");
        let endpoint = "(unreadable)".to_owned();
        Self::fresh(id, Err(Unreadable { endpoint, why }), None)
    }

    /// A row this process just wrote, in a batch that began at `leased`, and leased to its own
    /// relay: its event as it was given, never read back.
    pub(crate) fn written(id: i64, event: Event, leased: tokio::time::Instant) -> Self {
        let click_id_source = event
            .click_id()
            .and_then(affitor::ClickId::source)
            .map(str::to_owned);
        Self {
            leased,
            ..Self::fresh(id, Ok(event), click_id_source)
        }
    }

    /// Row `id` as never tried, stored now.
    fn fresh(id: i64, event: Result<Event, Unreadable>, click_id_source: Option<String>) -> Self {
        Self {
            id,
            attempts: 0,
            age: Duration::ZERO,
            stored_at: SystemTime::now(),
            answered: false,
            event,
            click_id_source,
            journaled: AtomicBool::new(false),
            leased: tokio::time::Instant::now(),
        }
    }

    /// Whether the journal's entry of the row's storing goes with this answer: the row's
    /// first (a lead whose click id was refused gets two in one attempt).
    pub(crate) fn first_journaled(&self) -> bool {
        !self.answered && !self.journaled.swap(true, Ordering::Relaxed)
    }

    /// The endpoint's name, as stored: for logs.
    pub(crate) fn endpoint(&self) -> &str {
        match &self.event {
            Ok(event) => event.endpoint().name(),
            Err(unreadable) => &unreadable.endpoint,
        }
    }
}

/// An outbox row the journal holds no entry of, which `Outbox::explain` reads from the table:
/// never answered yet, or answered before the journal was turned on; or one the journal last
/// tells of as a dead letter that was retried since (`retried_after`).
pub(crate) struct Unjournaled {
    pub(crate) row: Claimed,
    /// The error of its last answer, when the API answered it before.
    pub(crate) last_error: Option<String>,
    /// When it was given up on, a dead letter.
    pub(crate) dead_at: Option<SystemTime>,
    /// When it goes again: for a retried dead letter, when it was retried.
    pub(crate) next_attempt_at: SystemTime,
    /// For a dead letter retried since the journal told of it, and not answered again, when
    /// the journal's entry of its burial was written.
    pub(crate) retried_after: Option<SystemTime>,
}

/// An [`Unjournaled`] row as the stores read it: a [`ClaimedRow`]'s columns, then the last
/// error, when it died and goes again, and when the journal's entry of a retried dead letter
/// was written (Unix milliseconds).
pub(crate) type UnjournaledRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    bool,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
);

impl Unjournaled {
    pub(crate) fn from_row(row: UnjournaledRow) -> Self {
        let (id, endpoint, body, other, attempts, age, stored_at, answered, source) = (
            row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8,
        );
        let time = crate::journal::time;
        Self {
            row: Claimed::from_row((
                id, endpoint, body, other, attempts, age, stored_at, answered, source,
            )),
            last_error: row.9,
            dead_at: row.10.map(time),
            next_attempt_at: time(row.11),
            retried_after: row.12.map(time),
        }
    }
}

/// The event of a stored row, or why it cannot be read.
fn read(endpoint: &str, body: &str, other_transaction_id: Option<&str>) -> Result<Event, String> {
    let Some(name) = Endpoint::from_name(endpoint) else {
        return Err(format!(
            "a stored event could not be read back: `{endpoint}` is no endpoint of the Affitor API"
        ));
    };
    let event = Event::from_json(name, body).map_err(|error| error.to_string())?;
    Ok(match other_transaction_id {
        Some(other) => event.or_transaction_id(other),
        None => event,
    })
}

/// The relay new rows may be leased to as they are written, and for how long.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lease<'a> {
    pub(crate) owner: &'a str,
    pub(crate) duration: Duration,
}

/// A row as a store's batch insert wrote it (see [`Store::line_up`](super::Store::line_up)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Inserted {
    pub(crate) id: i64,
    /// Whether it was leased to the batch's [`Lease`] owner.
    pub(crate) leased: bool,
}

/// An event given up on: refused by the API, out of attempts, or unreadable. Kept in the
/// store until someone deletes it; listed by [`Outbox::dead_letters`](crate::Outbox::dead_letters).
///
/// ```
/// # async fn list(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
/// for letter in outbox.dead_letters().await? {
///     eprintln!("#{} {} {:?}: {}", letter.id, letter.endpoint, letter.transaction_id, letter.error);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The row's id in the `affitor_outbox` table.
    pub id: i64,
    /// The endpoint's name as stored (`lead`, `sale`, `refund`, `click`; anything in a corrupt
    /// row).
    pub endpoint: String,
    /// The transaction id of a sale or a refund.
    pub transaction_id: Option<String>,
    /// The attempts made.
    pub attempts: u32,
    /// Why it was given up on: the API's answer, or why the row could not be read.
    pub error: String,
}

impl DeadLetter {
    pub(super) fn from_row(
        (id, endpoint, transaction_id, attempts, error): (
            i64,
            String,
            Option<String>,
            i64,
            Option<String>,
        ),
    ) -> Self {
        Self {
            id,
            endpoint,
            transaction_id,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            error: error.unwrap_or_default(),
        }
    }
}
