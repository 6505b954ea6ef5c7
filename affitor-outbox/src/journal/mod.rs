//! The attribution journal ([`OutboxBuilder::journal`](crate::OutboxBuilder::journal)): each
//! lead, sale and refund the outbox stores, and each answer the relay gets for it, kept in
//! `affitor_outbox_journal` for the retention, and read back by [`Outbox::explain`] as a
//! timeline and a [`Verdict`].
//!
//! A request writes the outbox row alone, as it would without the journal: the relay journals
//! the row's storing with its first answer, in one row, as it settles the row, and until then
//! [`Outbox::explain`] reads the row itself. The journal adds nothing to a request's write. It
//! keeps no email, address or user agent: keys, ids, amounts and the API's answers, as they
//! were sent and answered, with a captured click's consent and where a lead's or sale's click
//! id was found.

mod entry;
mod inline;
mod verdict;

/// The most rows a search reads, of the journal and of the outbox each: the newest.
macro_rules! search_limit {
    () => {
        1000
    };
}
pub(crate) use search_limit;

/// The search of both stores: the entries `found` (`SELECT id, event_id ... WHERE` the keys,
/// in the store's own way of taking a list), with the answers to their events, newest first
/// ([`search_limit!`] of them). A row's first answer holds its storing and its keys
/// (`stored_at`); a later answer holds the keys too ([`Columns::of`]), and is read with the
/// first's storing.
macro_rules! search {
    ($found:literal) => {
        concat!(
            "WITH found AS (",
            $found,
            "), wanted AS (
    SELECT id FROM found
    UNION
    SELECT j.id FROM affitor_outbox_journal j JOIN found f ON j.event_id = f.event_id
)
SELECT a.at, a.endpoint, a.step, coalesce(a.customer_key, s.customer_key),
    coalesce(a.click_id, s.click_id), coalesce(a.transaction_id, s.transaction_id),
    coalesce(a.other_transaction_id, s.other_transaction_id), a.amount, a.currency, a.detail, a.sale_id, a.commission_id, a.click_age_days, a.window_days,
    a.next_attempt_at, a.origin, a.stored_at
FROM wanted w
JOIN affitor_outbox_journal a ON a.id = w.id
LEFT JOIN affitor_outbox_journal s
    ON a.stored_at IS NULL AND s.event_id = a.event_id AND s.stored_at IS NOT NULL
ORDER BY a.id DESC LIMIT ",
            $crate::journal::search_limit!()
        )
    };
}
pub(crate) use search;

/// When the journal's first entry still kept was written (entries are appended in time order),
/// but for the entries of rows still in the outbox, which the purge keeps past the retention (a
/// dead letter's): read in the search's snapshot, so that a purge between the two cannot move it.
pub(crate) const SINCE: &str = "SELECT (SELECT at FROM affitor_outbox_journal j
    WHERE j.event_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM affitor_outbox o WHERE o.id = j.event_id)
    ORDER BY j.id LIMIT 1)";

pub(crate) use entry::{Columns, ColumnsRow, columns_row, time};
pub use entry::{JournalEntry, Step};
pub(crate) use inline::InlineEntries;
pub use verdict::{Explanation, NotCredited, Unknown, Verdict};

use std::collections::HashSet;
use std::time::Duration;

use crate::{Outbox, OutboxError};

/// How long the journal keeps an entry by default: 90 days, a quarter's questions.
///
/// ```
/// # fn run(client: affitor::Client) {
/// use affitor_outbox::journal;
///
/// let builder = affitor_outbox::Outbox::builder(client).journal(journal::DEFAULT_RETENTION);
/// # }
/// ```
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Whose story [`Outbox::explain`] tells: a customer's, a transaction's, or a click id's.
///
/// ```
/// use affitor_outbox::journal::Subject;
///
/// // What `affitor explain --transaction in_1001` asks.
/// let subject = Subject::Transaction("in_1001".into());
/// assert_eq!(subject, Subject::Transaction("in_1001".to_owned()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subject {
    /// The customer key leads and sales were sent with.
    Customer(String),
    /// A sale's transaction id (its refunds name it too, as their own or their other id).
    Transaction(String),
    /// A click id, as a lead or a sale carried it.
    Click(String),
}

/// The entry of an answer the relay got, the outbox row whose event it answers, and, with the
/// row's first answer, the entry of its storing: written with the row's settling, as one row.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) row: i64,
    pub(crate) entry: JournalEntry,
    pub(crate) stored: Option<JournalEntry>,
}

impl Answer {
    /// The answer in its stored form.
    pub(crate) fn columns(&self) -> Columns {
        Columns::of(&self.entry, Some(self.row), self.stored.as_ref())
    }

    /// The answer alone, for a row this relay no longer settles: the row's storing is
    /// journaled with the answer of whoever settles it (another relay that took the row once
    /// its lease ran out, or this outbox at its next start).
    pub(crate) fn without_storing(&self) -> Self {
        Self {
            stored: None,
            ..self.clone()
        }
    }

    /// Of `answers` that went with a delete of the rows `asked`, what to journal once it
    /// deleted the rows `deleted`, the rows `taken` being left to another relay (their lease
    /// ran out while they were sent) or to the next start: the answers of rows it deleted, and
    /// of rows deleted before (left over from a delete whose entries were refused), whole; of
    /// a taken row, the answer alone, which is what the API said all the same (without it, the
    /// other relay's `already recorded` would read as a sale recorded before the journal was
    /// on), its storing journaled by whoever settles the row; of a row asked that is gone, none
    /// (a delete whose answer was lost took it, and wrote them). The Postgres store's delete
    /// does the same in its statement.
    pub(crate) fn of_deleted(
        answers: &[Self],
        asked: &[i64],
        deleted: &[i64],
        taken: &[i64],
    ) -> Vec<Self> {
        let ids = |rows: &[i64]| rows.iter().copied().collect::<HashSet<i64>>();
        let (asked, deleted, taken) = (ids(asked), ids(deleted), ids(taken));
        answers
            .iter()
            .filter_map(|answer| {
                if taken.contains(&answer.row) {
                    Some(answer.without_storing())
                } else if deleted.contains(&answer.row) || !asked.contains(&answer.row) {
                    Some(answer.clone())
                } else {
                    None
                }
            })
            .collect()
    }
}

/// Journal entries whose write is under way: counted lost when the write is dropped before it
/// says how it went (a stop's deadline, a runtime's end, a panic), as it may not have written
/// them.
pub(crate) struct InWrite<'a> {
    inner: &'a crate::shared::Inner,
    count: usize,
    why: &'static str,
}

impl<'a> InWrite<'a> {
    pub(crate) fn new(inner: &'a crate::shared::Inner, count: usize, why: &'static str) -> Self {
        Self { inner, count, why }
    }

    /// The write said how it went: its caller accounts for the entries from here.
    pub(crate) fn answered(mut self) {
        self.count = 0;
    }
}

impl Drop for InWrite<'_> {
    fn drop(&mut self) {
        self.inner.journal_lost(self.count, self.why);
    }
}

/// What a search of the journal found: the entries, and whether the oldest were left out.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) entries: Vec<JournalEntry>,
    pub(crate) truncated: bool,
    /// [`SINCE`] in Unix milliseconds, read in the same snapshot as the entries.
    pub(crate) since: Option<i64>,
}

impl Found {
    /// The entries of `rows`, the newest [`search_limit!`] first, in the order written, and the
    /// journal's first entry's time.
    pub(crate) fn of_rows(rows: Vec<ColumnsRow>, since: Option<i64>) -> Self {
        Self {
            truncated: rows.len() >= search_limit!(),
            entries: rows.into_iter().rev().flat_map(Columns::entries).collect(),
            since,
        }
    }
}

/// The keys a search of the journal follows: each entry found brings its own keys in.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    pub(crate) customers: Vec<String>,
    pub(crate) transactions: Vec<String>,
    /// The subject's own click id: every entry that names it.
    pub(crate) clicks: Vec<String>,
    /// Click ids the entries found name: only the entries that name no customer (a captured
    /// click, a sale tracked by its click id alone) or one of `customers`. Other customers
    /// may carry the same click id (visitors of one partner from one address share it, and
    /// the demo click id is everyone's): their stories are not the subject's.
    pub(crate) followed: Vec<String>,
}

impl Keys {
    /// Whether `event` names one of these keys.
    pub(crate) fn name(&self, event: &affitor::client::Event) -> bool {
        let named = |keys: &[String], key: Option<&str>| {
            key.is_some_and(|key| keys.iter().any(|k| k == key))
        };
        let click = event.click_id().map(affitor::ClickId::as_str);
        named(&self.customers, event.customer_key())
            || named(&self.transactions, event.transaction_id())
            || named(&self.transactions, event.other_transaction_id())
            || named(&self.clicks, click)
            || (event.customer_key().is_none() && named(&self.followed, click))
    }

    /// Adds the keys `entry` names; whether one was new.
    fn add(&mut self, entry: &JournalEntry) -> bool {
        let mut grew = false;
        let mut add = |keys: &mut Vec<String>, key: &Option<String>| {
            if let Some(key) = key
                && !keys.contains(key)
            {
                keys.push(key.clone());
                grew = true;
            }
        };
        add(&mut self.customers, &entry.customer_key);
        add(&mut self.transactions, &entry.transaction_id);
        add(&mut self.transactions, &entry.other_transaction_id);
        let own = (entry.click_id.as_ref()).is_some_and(|id| self.clicks.contains(id));
        if !own {
            add(&mut self.followed, &entry.click_id);
        }
        grew
    }
}

impl Outbox {
    /// What the journal holds of `subject`, in the order it happened, and the verdict: credited,
    /// reversed by a refund of the whole sale, not credited and why, or still on its way. The
    /// search follows the keys it finds (a customer's sale brings in its refunds; a
    /// transaction, its customer's lead and click id, when the sale names its customer), but
    /// not into other customers through a click id they share (visitors of one partner from
    /// one address do): a click id found brings in what names no customer, such as its capture
    /// or a sale tracked by it alone.
    /// Only a click's own story ([`Subject::Click`]) holds every customer who came through it.
    /// An outbox row the journal holds no entry of is read from the table: one not answered
    /// yet (its storing), and one answered before the journal was turned on (its storing and
    /// its last answer: a retry due, or a dead letter). An event answered and deleted before
    /// then has no entries: [`Explanation::journal_since`] says from when the journal holds
    /// them.
    ///
    /// On SQLite it reads the whole journal: an index would be more writes for every answer,
    /// on the one writer every request's batch waits for, where this is an occasional question
    /// (BENCHMARKS.md has both costs). On Postgres it reads by index.
    ///
    /// # Errors
    ///
    /// The store's error, when it cannot be read.
    ///
    /// ```no_run
    /// # async fn run(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
    /// use affitor_outbox::journal::{Subject, Verdict};
    ///
    /// let explained = outbox.explain(Subject::Transaction("pi_1".into())).await?;
    /// if let Verdict::NotCredited(why) = &explained.verdict {
    ///     println!("pi_1 earned no commission: {why}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn explain(&self, subject: Subject) -> Result<Explanation, OutboxError> {
        let mut keys = Keys::default();
        match &subject {
            Subject::Customer(key) => keys.customers.push(key.clone()),
            Subject::Transaction(id) => keys.transactions.push(id.clone()),
            Subject::Click(id) => keys.clicks.push(id.clone()),
        }
        let mut found = Found::default();
        // Three rounds reach a click id's customer's sale's refunds.
        for _ in 0..3 {
            found = self.inner.store.journal(&keys).await?;
            let mut grew = false;
            for entry in &found.entries {
                grew |= keys.add(entry);
            }
            if !grew {
                break;
            }
        }
        Ok(Explanation::of(
            &subject,
            found.entries,
            found.since.map(time),
            found.truncated,
        ))
    }
}
