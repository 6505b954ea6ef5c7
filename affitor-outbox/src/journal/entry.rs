//! An entry of the journal, and its stored form: one row of `affitor_outbox_journal`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::ErrorReport;
use affitor::client::{ClickOutcome, Event, LeadOutcome, Outcome, RefundOutcome, SaleOutcome};

use crate::store::{Claimed, Unjournaled};

/// A refund's answer, in the journal, when the API reversed the commission in full.
pub(crate) const REVERSED: &str = "reversed";

/// A refund's answer, in the journal, when the API reduced the commission by its share.
pub(crate) const PARTIALLY_REVERSED: &str = "partially reversed";

/// How a refund's answer starts, in the journal, when the API had processed a refund of the
/// sale before: it reverses a sale once.
pub(crate) const SKIPPED: &str = "skipped";

/// One thing that happened to an event: stored, answered, retried or given up on.
///
/// ```
/// use affitor_outbox::journal::{JournalEntry, Step};
///
/// fn credited(entry: &JournalEntry) -> bool {
///     matches!(entry.step, Step::Recorded { .. })
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalEntry {
    /// When, by the clock of the process that wrote it.
    pub at: SystemTime,
    /// The event's endpoint: `lead`, `sale`, `refund` or `click`.
    pub endpoint: String,
    /// What happened.
    pub step: Step,
    /// The event's customer key, as it was sent.
    pub customer_key: Option<String>,
    /// The event's click id, as it was sent.
    pub click_id: Option<String>,
    /// A sale's or a refund's transaction id.
    pub transaction_id: Option<String>,
    /// A refund's other transaction id
    /// ([`or_transaction_id`](affitor::client::RefundRequest::or_transaction_id)): the id its
    /// sale may have been tracked under instead, such as an invoice's beside a payment's.
    pub other_transaction_id: Option<String>,
    /// Where the app found the click id of a lead or a sale, in words (`cookie
    /// \`affitor_click_id\``, `header \`x-affitor-click-id\``, `JSON body field ...`): on the
    /// entry of the event stored or sent, when the id was noted where it was found
    /// ([`ClickId::found_in`](affitor::ClickId::found_in), which `affitor-tower`'s lookup does
    /// and which lasts while the app keeps the `ClickId`, not once it stores the id as text).
    pub click_id_source: Option<String>,
}

/// What happened to an event, in a [`JournalEntry`].
///
/// ```
/// use affitor_outbox::journal::Step;
///
/// fn said(step: &Step) -> String {
///     match step {
///         Step::NotAttributed { reason, .. } => format!("not attributed: {reason}"),
///         Step::Retrying { error, .. } => format!("goes again after: {error}"),
///         Step::DeadLetter(why) => format!("given up on: {why}"),
///         other => format!("{other:?}"),
///     }
/// }
/// assert_eq!(said(&Step::DeadLetter("400".into())), "given up on: 400");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Stored by the outbox, to be sent: a sale's or a refund's amount in minor units, and a
    /// sale's currency, when given.
    Stored {
        /// The amount, in the currency's minor unit.
        amount: Option<u64>,
        /// The currency's code.
        currency: Option<String>,
    },
    /// A partner link's click, recorded by the API (a captured `?aff=` link, or any
    /// `client.click(..).send()`): the entry's `click_id` is the one the API issued.
    Clicked {
        /// The partner's code, when the API's answer gave it (stored as the entry's detail).
        partner_code: Option<String>,
        /// Whether the visitor had consented when the click was captured, in words
        /// ([`Consent::as_str`](affitor::client::Consent::as_str)), when the click said
        /// ([`ClickRequest::consent`](affitor::client::ClickRequest::consent); `affitor-tower`'s
        /// capture layer always does).
        consent: Option<String>,
    },
    /// Sent by the app itself (a request's `send().await`), not through the outbox: a sale's or
    /// a refund's amount in minor units, and a sale's currency, when given. Its answer follows.
    Sent {
        /// The amount, in the currency's minor unit.
        amount: Option<u64>,
        /// The currency's code.
        currency: Option<String>,
    },
    /// An event the app sent itself whose `send` failed, with the error it returned: nothing
    /// retries it.
    Failed(String),
    /// A sale recorded, with its commission.
    Recorded {
        /// The sale's id, when the answer gave it.
        sale_id: Option<u64>,
        /// The commission's id, when the answer gave it.
        commission_id: Option<u64>,
    },
    /// A sale whose transaction id was recorded before.
    AlreadyRecorded,
    /// A sale the API did not attribute to a partner: the API's reason and ages.
    NotAttributed {
        /// Why, such as `attribution_window_expired`.
        reason: String,
        /// Days since the customer's click, when given.
        click_age_days: Option<u32>,
        /// The program's attribution window in days, when given.
        window_days: Option<u32>,
    },
    /// A lead or a sale sent in test mode: recorded as a test event, attributed to no partner.
    TestMode,
    /// Any other answer: a lead tracked, a refund reversed; the answer in a few words.
    Answered(String),
    /// Refused by the API and settled without a retry (a lead's click id or customer refused).
    Refused(String),
    /// Not delivered yet: why, and when it goes again.
    Retrying {
        /// The error of the attempt.
        error: String,
        /// When the next attempt is due.
        next_attempt: SystemTime,
    },
    /// Given up on and kept as a dead letter, with why.
    DeadLetter(String),
}

impl JournalEntry {
    /// What the outbox journals of `event` with `step`, now.
    pub(crate) fn of(event: &Event, step: Step) -> Self {
        Self {
            at: SystemTime::now(),
            endpoint: event.endpoint().name().to_owned(),
            step,
            customer_key: event.customer_key().map(str::to_owned),
            click_id: event.click_id().map(|id| id.as_str().to_owned()),
            transaction_id: event.transaction_id().map(str::to_owned),
            other_transaction_id: event.other_transaction_id().map(str::to_owned),
            click_id_source: event
                .click_id()
                .and_then(affitor::ClickId::source)
                .map(str::to_owned),
        }
    }

    /// What the table tells of `found`, an outbox row the journal holds no entry of, whose
    /// event is `event`: its storing, and when the API answered it before the journal was
    /// turned on, its last answer (a dead letter, or a retry due). For a dead letter retried
    /// since the journal told of it, only that it goes again, dated when it was retried (by
    /// the store's clock), and after the entry of its burial (by the relay's, which may run
    /// ahead).
    pub(crate) fn unjournaled(found: &Unjournaled, event: &Event) -> Vec<Self> {
        let stored = Self::stored(&found.row, event);
        if let Some(buried) = found.retried_after {
            let error = match &found.last_error {
                Some(error) => format!("retried from the dead letters (it had failed: {error})"),
                None => "retried from the dead letters".to_owned(),
            };
            let step = Step::Retrying {
                error,
                next_attempt: found.next_attempt_at,
            };
            return vec![Self {
                at: found.next_attempt_at.max(buried + Duration::from_millis(1)),
                step,
                click_id_source: None,
                ..stored
            }];
        }
        let answer = match (&found.last_error, found.dead_at) {
            (error, Some(dead_at)) => {
                Some((dead_at, Step::DeadLetter(error.clone().unwrap_or_default())))
            }
            (Some(error), None) => Some((
                // When it was answered is not kept: it is told right after its storing.
                stored.at,
                Step::Retrying {
                    error: error.clone(),
                    next_attempt: found.next_attempt_at,
                },
            )),
            (None, None) => None,
        };
        let answer = answer.map(|(at, step)| Self {
            at,
            step,
            click_id_source: None,
            ..stored.clone()
        });
        std::iter::once(stored).chain(answer).collect()
    }

    /// The storing of outbox row `row`, whose event is `event`: when it was written (by the
    /// store's clock), and where its click id was found.
    pub(crate) fn stored(row: &Claimed, event: &Event) -> Self {
        let amount = event.amount();
        let step = Step::Stored {
            amount: amount.map(|(amount, _)| amount),
            currency: amount.and_then(|(_, currency)| currency.map(ToString::to_string)),
        };
        Self {
            at: row.stored_at,
            click_id_source: row.click_id_source.clone(),
            ..Self::of(event, step)
        }
    }
}

impl JournalEntry {
    /// What the journal keeps of `event`, sent inline, and its `answer`: a recorded click, or
    /// the event sent and its answer. Nothing for a click without a click id (no key finds it).
    pub(crate) fn sent(event: &Event, answer: Result<&Outcome, &affitor::Error>) -> Vec<Self> {
        if let Ok(Outcome::Click(ClickOutcome::Recorded {
            click_id,
            partner_code,
            ..
        })) = answer
        {
            let clicked = Step::Clicked {
                partner_code: partner_code.clone(),
                consent: event.consent().map(|consent| consent.as_str().to_owned()),
            };
            let mut entry = Self::of(event, clicked);
            entry.click_id = Some(click_id.as_str().to_owned());
            return vec![entry];
        }
        if event.endpoint() == affitor::client::Endpoint::Click {
            return Vec::new();
        }
        let amount = event.amount();
        let sent = Step::Sent {
            amount: amount.map(|(amount, _)| amount),
            currency: amount.and_then(|(_, currency)| currency.map(ToString::to_string)),
        };
        let answered = match answer {
            Ok(outcome) => Step::answered(outcome),
            Err(error) => Step::Failed(ErrorReport::new(error).to_string()),
        };
        vec![Self::of(event, sent), Self::of(event, answered)]
    }
}

impl Step {
    /// What the API's `outcome` says.
    pub(crate) fn answered(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Sale(SaleOutcome::Recorded {
                sale_id,
                commission_id,
                ..
            }) => Self::Recorded {
                sale_id: *sale_id,
                commission_id: *commission_id,
            },
            Outcome::Sale(SaleOutcome::AlreadyRecorded) => Self::AlreadyRecorded,
            Outcome::Sale(SaleOutcome::NotAttributed {
                reason,
                click_age_days,
                window_days,
                ..
            }) => Self::NotAttributed {
                reason: reason.clone(),
                click_age_days: *click_age_days,
                window_days: *window_days,
            },
            Outcome::Sale(SaleOutcome::Test { .. }) | Outcome::Lead(LeadOutcome::Test { .. }) => {
                Self::TestMode
            }
            Outcome::Lead(LeadOutcome::Tracked) => Self::Answered("tracked".into()),
            Outcome::Lead(LeadOutcome::Provisional) => Self::Answered("provisional".into()),
            Outcome::Refund(RefundOutcome::Reversed { .. }) => Self::Answered(REVERSED.into()),
            Outcome::Refund(RefundOutcome::PartiallyRefunded { .. }) => {
                Self::Answered(PARTIALLY_REVERSED.into())
            }
            Outcome::Refund(RefundOutcome::NoCommission) => {
                Self::Answered("no commission to reverse".into())
            }
            Outcome::Refund(RefundOutcome::Skipped { reason, .. }) => Self::Answered(format!(
                "{SKIPPED} ({})",
                reason
                    .as_deref()
                    .unwrap_or("a refund of the sale was processed first")
            )),
            Outcome::Refund(RefundOutcome::Other { status, .. }) => {
                Self::Answered(format!("status `{status}`, unknown to this version"))
            }
            // A click's (journaled as `Clicked`, or not at all), or an outcome a newer `affitor`
            // added: words of the journal's own, never `Debug`'s.
            _ => Self::Answered("something this version of affitor-outbox cannot name".into()),
        }
    }
}

/// The columns a search reads of a stored entry, in the order [`search!`](super::search)
/// selects them: [`Columns`]' but for `event_id`, with `at`, `next_attempt_at` and `stored_at` in
/// Unix ms, and `stored_at` only on the entry of a row's first answer (when the row was stored).
pub(crate) struct ColumnsRow {
    pub(crate) at: i64,
    pub(crate) endpoint: String,
    pub(crate) step: String,
    pub(crate) customer_key: Option<String>,
    pub(crate) click_id: Option<String>,
    pub(crate) transaction_id: Option<String>,
    pub(crate) other_transaction_id: Option<String>,
    pub(crate) amount: Option<i64>,
    pub(crate) currency: Option<String>,
    pub(crate) detail: Option<String>,
    pub(crate) sale_id: Option<i64>,
    pub(crate) commission_id: Option<i64>,
    pub(crate) click_age_days: Option<i64>,
    pub(crate) window_days: Option<i64>,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) origin: Option<String>,
    pub(crate) stored_at: Option<i64>,
}

/// A [`ColumnsRow`] read from a store's row `$row` by its method `$get` (column index to value,
/// or the store's error).
macro_rules! columns_row {
    ($row:ident.$get:ident) => {
        $crate::journal::ColumnsRow {
            at: $row.$get(0)?,
            endpoint: $row.$get(1)?,
            step: $row.$get(2)?,
            customer_key: $row.$get(3)?,
            click_id: $row.$get(4)?,
            transaction_id: $row.$get(5)?,
            other_transaction_id: $row.$get(6)?,
            amount: $row.$get(7)?,
            currency: $row.$get(8)?,
            detail: $row.$get(9)?,
            sale_id: $row.$get(10)?,
            commission_id: $row.$get(11)?,
            click_age_days: $row.$get(12)?,
            window_days: $row.$get(13)?,
            next_attempt_at: $row.$get(14)?,
            origin: $row.$get(15)?,
            stored_at: $row.$get(16)?,
        }
    };
}
pub(crate) use columns_row;

/// An entry in its stored form, one row of `affitor_outbox_journal`: what both stores bind,
/// with the outbox row of the event it tells of (`event_id`; none for an entry without a row).
pub(crate) struct Columns {
    pub(crate) at: i64,
    pub(crate) endpoint: String,
    pub(crate) step: &'static str,
    pub(crate) customer_key: Option<String>,
    pub(crate) click_id: Option<String>,
    pub(crate) transaction_id: Option<String>,
    pub(crate) other_transaction_id: Option<String>,
    pub(crate) amount: Option<i64>,
    pub(crate) currency: Option<String>,
    pub(crate) detail: Option<String>,
    pub(crate) sale_id: Option<i64>,
    pub(crate) commission_id: Option<i64>,
    pub(crate) click_age_days: Option<i64>,
    pub(crate) window_days: Option<i64>,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) event_id: Option<i64>,
    pub(crate) origin: Option<String>,
    pub(crate) stored_at: Option<i64>,
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, crate::store::millis)
}

pub(crate) fn time(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

fn int(value: Option<u64>) -> Option<i64> {
    value.and_then(|value| i64::try_from(value).ok())
}

/// A step's columns: its name, and what it fills of the rest.
#[derive(Default)]
struct Parts {
    amount: Option<i64>,
    currency: Option<String>,
    detail: Option<String>,
    ids: (Option<i64>, Option<i64>),
    ages: (Option<i64>, Option<i64>),
    next: Option<i64>,
    origin: Option<String>,
}

impl Parts {
    fn text(text: &str) -> Self {
        Self {
            detail: Some(text.to_owned()),
            ..Self::default()
        }
    }

    fn money(cents: Option<u64>, code: Option<&String>) -> Self {
        Self {
            amount: int(cents),
            currency: code.cloned(),
            ..Self::default()
        }
    }

    fn clicked(partner_code: Option<&String>, consent: Option<&String>) -> Self {
        Self {
            detail: partner_code.cloned(),
            origin: consent.cloned(),
            ..Self::default()
        }
    }

    fn ids(sale_id: Option<u64>, commission_id: Option<u64>) -> Self {
        Self {
            ids: (int(sale_id), int(commission_id)),
            ..Self::default()
        }
    }

    fn ages(self, click_age_days: Option<u32>, window_days: Option<u32>) -> Self {
        let ages = (click_age_days.map(i64::from), window_days.map(i64::from));
        Self { ages, ..self }
    }

    fn next(self, attempt: SystemTime) -> Self {
        let next = Some(millis(attempt));
        Self { next, ..self }
    }
}

fn parts(step: &Step) -> (&'static str, Parts) {
    match step {
        Step::Stored { amount, currency } => ("stored", Parts::money(*amount, currency.as_ref())),
        Step::Sent { amount, currency } => ("sent", Parts::money(*amount, currency.as_ref())),
        Step::Clicked {
            partner_code,
            consent,
        } => {
            let parts = Parts::clicked(partner_code.as_ref(), consent.as_ref());
            ("clicked", parts)
        }
        Step::Failed(error) => ("failed", Parts::text(error)),
        Step::Recorded {
            sale_id,
            commission_id,
        } => ("recorded", Parts::ids(*sale_id, *commission_id)),
        Step::AlreadyRecorded => ("already_recorded", Parts::default()),
        Step::NotAttributed {
            reason,
            click_age_days,
            window_days,
        } => {
            let parts = Parts::text(reason).ages(*click_age_days, *window_days);
            ("not_attributed", parts)
        }
        Step::TestMode => ("test_mode", Parts::default()),
        Step::Answered(answer) => ("answered", Parts::text(answer)),
        Step::Refused(why) => ("refused", Parts::text(why)),
        Step::Retrying {
            error,
            next_attempt,
        } => ("retrying", Parts::text(error).next(*next_attempt)),
        Step::DeadLetter(why) => ("dead_letter", Parts::text(why)),
    }
}

impl Columns {
    /// `entry` in its stored form, telling of the event of outbox row `row` when it has one,
    /// and, with a row's first answer, of its storing, `stored`: one row for both, which
    /// halves what the relay writes for a delivered event.
    ///
    /// A later answer to a row's event keeps the event's keys too: the row was answered before,
    /// maybe before the journal was turned on, and then no entry of its storing holds them.
    pub(crate) fn of(
        entry: &JournalEntry,
        row: Option<i64>,
        stored: Option<&JournalEntry>,
    ) -> Self {
        // A storing's parts (its amount and currency) and an answer's never share a column.
        let storing = stored.map(|stored| parts(&stored.step).1);
        let (step, parts) = parts(&entry.step);
        let (amount, currency) = match storing {
            Some(storing) => (storing.amount, storing.currency),
            None => (parts.amount, parts.currency),
        };
        let keys = stored.unwrap_or(entry);
        let found = matches!(step, "stored" | "sent");
        let origin = parts.origin.or_else(|| match stored {
            Some(stored) => stored.click_id_source.clone(),
            None => entry.click_id_source.clone().filter(|_| found),
        });
        Self {
            at: millis(entry.at),
            endpoint: entry.endpoint.clone(),
            step,
            customer_key: keys.customer_key.clone(),
            click_id: keys.click_id.clone(),
            transaction_id: keys.transaction_id.clone(),
            other_transaction_id: keys.other_transaction_id.clone(),
            amount,
            currency,
            detail: parts.detail,
            sale_id: parts.ids.0,
            commission_id: parts.ids.1,
            click_age_days: parts.ages.0,
            window_days: parts.ages.1,
            next_attempt_at: parts.next,
            event_id: row,
            origin,
            stored_at: stored.map(|stored| millis(stored.at)),
        }
    }

    /// The entries a row read by a search tells of: the storing of its event first, when it
    /// is the row's first answer. A step this version does not know is passed over.
    pub(crate) fn entries(row: ColumnsRow) -> impl Iterator<Item = JournalEntry> {
        let step = row.read_step();
        let found = matches!(step, Some(Step::Stored { .. } | Step::Sent { .. }));
        let entry = |at: i64, step: Step, click_id_source: Option<String>| JournalEntry {
            at: time(at),
            endpoint: row.endpoint.clone(),
            step,
            customer_key: row.customer_key.clone(),
            click_id: row.click_id.clone(),
            transaction_id: row.transaction_id.clone(),
            other_transaction_id: row.other_transaction_id.clone(),
            click_id_source,
        };
        let stored = row
            .stored_at
            .map(|stored_at| entry(stored_at, row.storing(), row.origin.clone()));
        let answer = step.map(|step| entry(row.at, step, row.origin.clone().filter(|_| found)));
        stored.into_iter().chain(answer)
    }
}

impl ColumnsRow {
    /// The step the row's answer tells of; `None` for one this version does not know.
    fn read_step(&self) -> Option<Step> {
        let days = |value: Option<i64>| value.and_then(|value| u32::try_from(value).ok());
        let text = || self.detail.clone().unwrap_or_default();
        Some(match self.step.as_str() {
            "stored" => self.storing(),
            "clicked" => Step::Clicked {
                partner_code: self.detail.clone(),
                consent: self.origin.clone(),
            },
            "sent" => Step::Sent {
                amount: unsigned(self.amount),
                currency: self.currency.clone(),
            },
            "failed" => Step::Failed(text()),
            "recorded" => Step::Recorded {
                sale_id: unsigned(self.sale_id),
                commission_id: unsigned(self.commission_id),
            },
            "already_recorded" => Step::AlreadyRecorded,
            "not_attributed" => Step::NotAttributed {
                reason: text(),
                click_age_days: days(self.click_age_days),
                window_days: days(self.window_days),
            },
            "test_mode" => Step::TestMode,
            "answered" => Step::Answered(text()),
            "refused" => Step::Refused(text()),
            "retrying" => Step::Retrying {
                error: text(),
                next_attempt: time(self.next_attempt_at.unwrap_or(self.at)),
            },
            "dead_letter" => Step::DeadLetter(text()),
            _ => return None,
        })
    }

    /// The storing of the row's event, with its amount and currency.
    fn storing(&self) -> Step {
        Step::Stored {
            amount: unsigned(self.amount),
            currency: self.currency.clone(),
        }
    }
}

/// A stored integer that is an unsigned one's, `None` if it cannot be.
fn unsigned(value: Option<i64>) -> Option<u64> {
    value.and_then(|value| u64::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_reads_back_as_it_was_written() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_000_000_000);
        let steps = [
            Step::Stored {
                amount: Some(4900),
                currency: Some("EUR".into()),
            },
            Step::Clicked {
                partner_code: Some("partner".into()),
                consent: Some("given".into()),
            },
            Step::Clicked {
                partner_code: None,
                consent: None,
            },
            Step::Sent {
                amount: None,
                currency: None,
            },
            Step::Failed("the API did not answer".into()),
            Step::Recorded {
                sale_id: Some(7),
                commission_id: None,
            },
            Step::AlreadyRecorded,
            Step::NotAttributed {
                reason: "attribution_window_expired".into(),
                click_age_days: Some(61),
                window_days: Some(60),
            },
            Step::TestMode,
            Step::Answered("tracked".into()),
            Step::Refused("unknown click id".into()),
            Step::Retrying {
                error: "503".into(),
                next_attempt: at,
            },
            Step::DeadLetter("400".into()),
        ];
        for step in steps {
            // Only a stored or sent event's entry tells where its click id was found.
            let found = matches!(step, Step::Stored { .. } | Step::Sent { .. });
            let entry = JournalEntry {
                at,
                endpoint: "sale".into(),
                step,
                customer_key: Some("cust_1".into()),
                click_id: Some("cust_1_1".into()),
                transaction_id: Some("in_1".into()),
                other_transaction_id: Some("pi_1".into()),
                click_id_source: found.then(|| "a cookie".into()),
            };
            let read: Vec<_> = Columns::entries(Columns::of(&entry, None, None).read()).collect();
            assert_eq!(read, [entry]);
        }
    }

    #[test]
    fn a_rows_storing_and_first_answer_are_one_row_read_as_two_entries() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_000_000_000);
        let stored = JournalEntry {
            at,
            endpoint: "sale".into(),
            step: Step::Stored {
                amount: Some(4900),
                currency: Some("EUR".into()),
            },
            customer_key: Some("cust_1".into()),
            click_id: Some("cust_1_1".into()),
            transaction_id: Some("in_1".into()),
            other_transaction_id: None,
            click_id_source: Some("a cookie".into()),
        };
        let answer = JournalEntry {
            at: at + Duration::from_secs(1),
            step: Step::NotAttributed {
                reason: "attribution_window_expired".into(),
                click_age_days: Some(61),
                window_days: Some(60),
            },
            click_id_source: None,
            ..stored.clone()
        };
        let columns = Columns::of(&answer, Some(7), Some(&stored));
        assert_eq!(columns.event_id, Some(7));
        let read: Vec<_> = Columns::entries(columns.read()).collect();
        assert_eq!(read, [stored.clone(), answer.clone()]);

        // A later answer holds the keys too, for a row answered before the journal was on,
        // whose storing no entry holds; it has no storing of its own.
        let later = Columns::of(&answer, Some(7), None);
        assert_eq!(
            (later.customer_key.as_deref(), later.stored_at),
            (Some("cust_1"), None)
        );
    }

    impl Columns {
        /// The columns a search reads.
        fn read(self) -> ColumnsRow {
            ColumnsRow {
                at: self.at,
                endpoint: self.endpoint,
                step: self.step.to_owned(),
                customer_key: self.customer_key,
                click_id: self.click_id,
                transaction_id: self.transaction_id,
                other_transaction_id: self.other_transaction_id,
                amount: self.amount,
                currency: self.currency,
                detail: self.detail,
                sale_id: self.sale_id,
                commission_id: self.commission_id,
                click_age_days: self.click_age_days,
                window_days: self.window_days,
                next_attempt_at: self.next_attempt_at,
                origin: self.origin,
                stored_at: self.stored_at,
            }
        }
    }
}
