//! An entry of the journal, and its stored form: one row of `affitor_outbox_journal`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::client::{Event, LeadOutcome, Outcome, RefundOutcome, SaleOutcome};

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
}

/// What happened to an event, in a [`JournalEntry`].
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
        }
    }

    /// `event`, stored.
    pub(crate) fn stored(event: &Event) -> Self {
        let amount = event.amount();
        let step = Step::Stored {
            amount: amount.map(|(amount, _)| amount),
            currency: amount.and_then(|(_, currency)| currency.map(ToString::to_string)),
        };
        Self::of(event, step)
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
                Self::Answered("test mode: nothing attributed".into())
            }
            Outcome::Lead(LeadOutcome::Tracked) => Self::Answered("tracked".into()),
            Outcome::Lead(LeadOutcome::Provisional) => Self::Answered("provisional".into()),
            Outcome::Refund(RefundOutcome::Reversed { .. }) => Self::Answered("reversed".into()),
            Outcome::Refund(RefundOutcome::PartiallyRefunded { .. }) => {
                Self::Answered("partially reversed".into())
            }
            Outcome::Refund(RefundOutcome::NoCommission) => {
                Self::Answered("no commission to reverse".into())
            }
            other => Self::Answered(format!("{other:?}")),
        }
    }
}

/// The columns of a stored entry, after its id: `at` (Unix ms), endpoint, step, customer key,
/// click id, transaction id, amount, currency, detail (a reason, an error, an answer),
/// sale id, commission id, click age, window, next attempt (Unix ms), and the outbox row of
/// the event it tells of (`event_id`; none for an entry without a row).
pub(crate) type ColumnsRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// An entry in its stored form: what both stores bind and read.
pub(crate) struct Columns(pub(crate) ColumnsRow);

impl std::fmt::Debug for Columns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Columns")
            .field(&self.0.2)
            .finish_non_exhaustive()
    }
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, crate::store::millis)
}

fn time(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

fn int(value: Option<u64>) -> Option<i64> {
    value.and_then(|value| i64::try_from(value).ok())
}

impl Columns {
    /// `entry` in its stored form, telling of the event of outbox row `row` when it has one.
    ///
    /// An answer to a row's event is written without the event's keys: its row's stored entry
    /// holds them, and a read finds it through `event_id` (an answer is then an append to
    /// the table and to one index by `event_id`, whose new values are its largest, rather than
    /// an insert into each key's index).
    pub(crate) fn of(entry: &JournalEntry, row: Option<i64>) -> Self {
        let (mut amount, mut currency, mut detail, mut ids, mut ages, mut next) =
            (None, None, None, (None, None), (None, None), None);
        let step = match &entry.step {
            Step::Stored {
                amount: cents,
                currency: code,
            } => {
                (amount, currency) = (int(*cents), code.clone());
                "stored"
            }
            Step::Recorded {
                sale_id,
                commission_id,
            } => {
                ids = (int(*sale_id), int(*commission_id));
                "recorded"
            }
            Step::AlreadyRecorded => "already_recorded",
            Step::NotAttributed {
                reason,
                click_age_days,
                window_days,
            } => {
                detail = Some(reason.clone());
                ages = (click_age_days.map(i64::from), window_days.map(i64::from));
                "not_attributed"
            }
            Step::Answered(answer) => {
                detail = Some(answer.clone());
                "answered"
            }
            Step::Refused(why) => {
                detail = Some(why.clone());
                "refused"
            }
            Step::Retrying {
                error,
                next_attempt,
            } => {
                (detail, next) = (Some(error.clone()), Some(millis(*next_attempt)));
                "retrying"
            }
            Step::DeadLetter(why) => {
                detail = Some(why.clone());
                "dead_letter"
            }
        };
        let keyed = row.is_none() || step == "stored";
        let key = |key: &Option<String>| key.clone().filter(|_| keyed);
        Self((
            millis(entry.at),
            entry.endpoint.clone(),
            step.to_owned(),
            key(&entry.customer_key),
            key(&entry.click_id),
            key(&entry.transaction_id),
            amount,
            currency,
            detail,
            ids.0,
            ids.1,
            ages.0,
            ages.1,
            next,
            row,
        ))
    }

    /// The entry back; `None` for a step this version does not know.
    pub(crate) fn entry(self) -> Option<JournalEntry> {
        let (at, endpoint, step, customer_key, click_id, transaction_id) =
            (self.0.0, self.0.1, self.0.2, self.0.3, self.0.4, self.0.5);
        let (amount, currency, detail, sale_id, commission_id) =
            (self.0.6, self.0.7, self.0.8, self.0.9, self.0.10);
        let (click_age, window, next) = (self.0.11, self.0.12, self.0.13);
        let unsigned = |value: Option<i64>| value.and_then(|value| u64::try_from(value).ok());
        let days = |value: Option<i64>| value.and_then(|value| u32::try_from(value).ok());
        let detail = detail.unwrap_or_default();
        let step = match step.as_str() {
            "stored" => Step::Stored {
                amount: unsigned(amount),
                currency,
            },
            "recorded" => Step::Recorded {
                sale_id: unsigned(sale_id),
                commission_id: unsigned(commission_id),
            },
            "already_recorded" => Step::AlreadyRecorded,
            "not_attributed" => Step::NotAttributed {
                reason: detail,
                click_age_days: days(click_age),
                window_days: days(window),
            },
            "answered" => Step::Answered(detail),
            "refused" => Step::Refused(detail),
            "retrying" => Step::Retrying {
                error: detail,
                next_attempt: time(next.unwrap_or(at)),
            },
            "dead_letter" => Step::DeadLetter(detail),
            _ => return None,
        };
        Some(JournalEntry {
            at: time(at),
            endpoint,
            step,
            customer_key,
            click_id,
            transaction_id,
        })
    }
}
