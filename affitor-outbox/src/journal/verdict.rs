//! The verdict on a journal's entries: credited, reversed by a refund of the whole sale, not
//! credited and why, or still on its way.

use std::fmt;
use std::time::SystemTime;

use super::entry::{PARTIALLY_REVERSED, REVERSED, SKIPPED};
use super::{JournalEntry, Step, Subject};

/// What [`Outbox::explain`](crate::Outbox::explain) found: the entries, oldest first, and the
/// verdict they lead to.
///
/// ```no_run
/// # async fn run(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
/// use affitor_outbox::journal::Subject;
///
/// let explained = outbox.explain(Subject::Customer("user_123".into())).await?;
/// for entry in &explained.entries {
///     println!("{:?} {} {:?}", entry.at, entry.endpoint, entry.step);
/// }
/// println!("{}", explained.verdict);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// The entries found, in the order they were written.
    pub entries: Vec<JournalEntry>,
    /// What they add up to.
    pub verdict: Verdict,
    /// When the journal's first entry still kept was written, but for the entries of rows
    /// still in the outbox (a dead letter keeps its story past the retention); `None` when it
    /// holds no other. What was answered before it, before the journal was turned on or past its
    /// retention, has no entries: an empty explanation of an older event says nothing of it.
    pub journal_since: Option<SystemTime>,
    /// Whether the search found more than it reads (1,000 of the journal's rows): the oldest
    /// were left out, and the verdict is the newest entries'.
    pub truncated: bool,
}

/// Whether a partner was credited, by the journal's last word on the sale.
///
/// ```
/// use affitor_outbox::journal::{NotCredited, Verdict};
///
/// let verdict = Verdict::NotCredited(NotCredited::NoSale);
/// assert!(!verdict.is_credited());
/// assert_eq!(verdict.to_string(), "not credited: no sale arrived from the payment provider");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The sale is recorded with its commission.
    Credited {
        /// The sale's id, when the API gave it.
        sale_id: Option<u64>,
        /// The commission's id, when the API gave it.
        commission_id: Option<u64>,
    },
    /// The sale was recorded with its commission, then refunded in full: the API reversed the
    /// commission, and the partner earns nothing of it. (After a partial refund the sale stays
    /// [credited](Self::Credited), its commission reduced, also when the rest is refunded
    /// later: the API reverses a sale once, and skips a later refund.)
    Reversed {
        /// The sale's id, when the API gave it.
        sale_id: Option<u64>,
        /// The reversed commission's id, when the API gave it.
        commission_id: Option<u64>,
    },
    /// No commission, and why.
    NotCredited(NotCredited),
    /// Stored and not answered yet: the next attempt's time, when one failed.
    OnItsWay {
        /// When the next attempt is due, if an attempt failed.
        next_attempt: Option<SystemTime>,
    },
    /// The journal cannot tell, and why: the Affitor dashboard can.
    Unknown(Unknown),
}

/// Why the journal cannot tell whether a partner was credited, in words by its `Display`.
///
/// ```
/// use affitor_outbox::journal::{Unknown, Verdict};
///
/// let verdict = Verdict::Unknown(Unknown::NothingJournaled);
/// assert!(!verdict.is_credited());
/// assert!(verdict.to_string().starts_with("unknown: the journal holds nothing"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unknown {
    /// The journal holds nothing of the subject: it was off, the events are past its
    /// retention, or the key is not one the app sent.
    NothingJournaled,
    /// The API answered that the transaction id was recorded before, by a call whose answer the
    /// journal does not hold: one from before the journal was on, from an app without it, or a
    /// test-mode sale that took the id (a real sale then earns nothing).
    RecordedBefore,
}

/// Why a sale earned no commission, in words by its `Display`.
///
/// ```
/// use affitor_outbox::journal::NotCredited;
///
/// let expired = NotCredited::NotAttributed {
///     reason: "attribution_window_expired".into(),
///     click_age_days: Some(61),
///     window_days: Some(60),
/// };
/// assert_eq!(
///     expired.to_string(),
///     "attribution_window_expired: the click was 61 days old against a window of 60 days"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotCredited {
    /// The API did not attribute the sale: its reason, and the click's age against the window.
    NotAttributed {
        /// The API's reason, such as `attribution_window_expired`.
        reason: String,
        /// Days since the customer's click, when given.
        click_age_days: Option<u32>,
        /// The program's attribution window in days, when given.
        window_days: Option<u32>,
    },
    /// No click id reached the lead or the sale: the customer came by no partner's link.
    NoClickId,
    /// The journal holds no sale: the payment provider never sent it, or it was not tracked.
    NoSale,
    /// The event was given up on: a dead letter, with why.
    DeadLetter(String),
    /// The API refused the event, with why.
    Refused(String),
    /// The app sent the sale itself and its `send` failed, with the error: nothing retried it.
    SendFailed(String),
    /// The sale was sent in test mode, which credits no partner; or a real sale repeated the
    /// transaction id of a test-mode sale, which the API had recorded as a test.
    TestMode,
}

impl Verdict {
    /// Whether the sale is credited: recorded with its commission, and not refunded in full
    /// since.
    ///
    /// ```
    /// use affitor_outbox::journal::Verdict;
    ///
    /// let credited = Verdict::Credited { sale_id: Some(7), commission_id: Some(9) };
    /// assert!(credited.is_credited());
    /// let reversed = Verdict::Reversed { sale_id: Some(7), commission_id: Some(9) };
    /// assert!(!reversed.is_credited());
    /// ```
    pub fn is_credited(&self) -> bool {
        matches!(self, Self::Credited { .. })
    }
}

impl Explanation {
    /// The explanation of `subject` by `entries`, of which the oldest were left out when
    /// `truncated`.
    pub(crate) fn of(
        subject: &Subject,
        mut entries: Vec<JournalEntry>,
        journal_since: Option<SystemTime>,
        truncated: bool,
    ) -> Self {
        entries.sort_by_key(|entry| entry.at);
        let verdict = verdict(subject, &entries);
        Self {
            entries,
            verdict,
            journal_since,
            truncated,
        }
    }
}

/// The verdict of the subject's own sale (a transaction's; a customer's or a click's newest):
/// credited once an answer recorded it, whatever a repeat of it got since, unless it was
/// refunded in full since; else what its last answer says. Without a sale, what the subject's
/// leads tell.
fn verdict(subject: &Subject, entries: &[JournalEntry]) -> Verdict {
    if entries.is_empty() {
        return Verdict::Unknown(Unknown::NothingJournaled);
    }
    let leads: Vec<&JournalEntry> = entries
        .iter()
        .filter(|entry| entry.endpoint == "lead")
        .filter(|entry| match subject {
            Subject::Customer(key) => entry.customer_key.as_ref() == Some(key),
            Subject::Click(id) => entry.click_id.as_ref() == Some(id),
            Subject::Transaction(_) => false,
        })
        .collect();
    let ids = match subject {
        Subject::Transaction(id) => aliases(id, entries),
        _ => Vec::new(),
    };
    let named = |id: &Option<String>| id.as_deref().is_some_and(|id| ids.contains(&id));
    let sales: Vec<&JournalEntry> = entries
        .iter()
        .filter(|entry| entry.endpoint == "sale" && owns(subject, &leads, &ids, entry))
        .collect();
    if let Some(newest) = sales.last() {
        let of_it: Vec<&JournalEntry> = sales
            .iter()
            .copied()
            .filter(|entry| entry.transaction_id == newest.transaction_id)
            .collect();
        return match sale_verdict(&of_it) {
            Verdict::Credited {
                sale_id,
                commission_id,
            } if refunded_in_full(&of_it, entries) => Verdict::Reversed {
                sale_id,
                commission_id,
            },
            verdict => verdict,
        };
    }
    let dead_letter =
        match subject {
            Subject::Transaction(_) => last_dead_letter(entries.iter().filter(|entry| {
                named(&entry.transaction_id) || named(&entry.other_transaction_id)
            })),
            _ => last_dead_letter(leads.iter().copied()),
        };
    if let Some(why) = dead_letter {
        return Verdict::NotCredited(NotCredited::DeadLetter(why));
    }
    if !leads.is_empty() && leads.iter().all(|entry| entry.click_id.is_none()) {
        return Verdict::NotCredited(NotCredited::NoClickId);
    }
    Verdict::NotCredited(NotCredited::NoSale)
}

/// The ids the transaction `id` goes by: its own, and the other id of a refund naming it (a
/// payment's beside its invoice's, either of which its sale may have been tracked under).
fn aliases<'a>(id: &'a str, entries: &'a [JournalEntry]) -> Vec<&'a str> {
    let mut ids = vec![id];
    for entry in entries.iter().filter(|entry| entry.endpoint == "refund") {
        if let (Some(first), Some(other)) = (&entry.transaction_id, &entry.other_transaction_id) {
            if first == id {
                ids.push(other);
            } else if other == id {
                ids.push(first);
            }
        }
    }
    ids
}

/// Whether the sale `entry` is the subject's own: a transaction's by one of its `ids`; a
/// customer's by their key; a click's by its id. A sale that names no customer (or no click) is
/// theirs when its click id (or its customer) is one of the subject's `leads`'.
fn owns(subject: &Subject, leads: &[&JournalEntry], ids: &[&str], entry: &JournalEntry) -> bool {
    match subject {
        Subject::Transaction(_) => entry
            .transaction_id
            .as_deref()
            .is_some_and(|id| ids.contains(&id)),
        Subject::Customer(key) => match &entry.customer_key {
            Some(customer) => customer == key,
            None => leads
                .iter()
                .any(|lead| lead.click_id.is_some() && lead.click_id == entry.click_id),
        },
        Subject::Click(id) => match &entry.click_id {
            Some(click) => click == id,
            None => leads
                .iter()
                .any(|lead| lead.customer_key.is_some() && lead.customer_key == entry.customer_key),
        },
    }
}

/// Whether the sale of the entries `sale` was refunded in full, by its refunds in `entries`
/// (under either of its ids). The API reverses a sale's commission once, at the first refund it
/// processes, and skips the others: when every refund of the sale named no amount, or at least
/// the sale's in its currency, the one it processed was whole, and an answer that reversed or
/// skipped one says it did (a skip also after a lost answer). A partial refund among them
/// leaves the sale credited. (A refund converted from another currency may fall a cent short:
/// the sale then stays credited.)
fn refunded_in_full(sale: &[&JournalEntry], entries: &[JournalEntry]) -> bool {
    let Some(id) = sale
        .first()
        .and_then(|entry| entry.transaction_id.as_deref())
    else {
        return false;
    };
    let ids = aliases(id, entries);
    let named = |id: &Option<String>| id.as_deref().is_some_and(|id| ids.contains(&id));
    let (sold, sold_in) = sale
        .iter()
        .find_map(|entry| match &entry.step {
            Step::Stored { amount, currency } | Step::Sent { amount, currency } => {
                Some((*amount, currency.as_deref()))
            }
            _ => None,
        })
        .unwrap_or_default();
    let refunds = entries.iter().filter(|entry| {
        entry.endpoint == "refund"
            && (named(&entry.transaction_id) || named(&entry.other_transaction_id))
    });
    let (mut every_one_whole, mut processed) = (true, false);
    for refund in refunds {
        match &refund.step {
            Step::Stored { amount, currency } | Step::Sent { amount, currency } => {
                let comparable =
                    currency.is_none() || sold_in.is_none() || currency.as_deref() == sold_in;
                every_one_whole &= match (amount, sold) {
                    (None, _) => true,
                    (Some(refunded), Some(sold)) => comparable && *refunded >= sold,
                    (Some(_), None) => false,
                };
            }
            Step::Answered(answer) if answer == PARTIALLY_REVERSED => every_one_whole = false,
            Step::Answered(answer) => {
                processed |= answer == REVERSED || answer.starts_with(SKIPPED)
            }
            _ => {}
        }
    }
    every_one_whole && processed
}

/// Whether `step` is an answer to an event, not its storing or sending.
fn is_answer(step: &Step) -> bool {
    !matches!(
        step,
        Step::Stored { .. } | Step::Sent { .. } | Step::Clicked { .. }
    )
}

/// The verdict of one sale's entries: credited by any answer that recorded it; else by its last
/// answer (whatever the clocks that dated its storing said), and on its way without one.
fn sale_verdict(entries: &[&JournalEntry]) -> Verdict {
    let recorded = entries.iter().find_map(|entry| match entry.step {
        Step::Recorded {
            sale_id,
            commission_id,
        } => Some(Verdict::Credited {
            sale_id,
            commission_id,
        }),
        _ => None,
    });
    if let Some(credited) = recorded {
        return credited;
    }
    let Some(last) = entries.iter().rev().find(|entry| is_answer(&entry.step)) else {
        return Verdict::OnItsWay { next_attempt: None };
    };
    match &last.step {
        Step::AlreadyRecorded => {
            if entries.iter().any(|entry| entry.step == Step::TestMode) {
                Verdict::NotCredited(NotCredited::TestMode)
            } else {
                Verdict::Unknown(Unknown::RecordedBefore)
            }
        }
        Step::TestMode => Verdict::NotCredited(NotCredited::TestMode),
        Step::NotAttributed {
            reason,
            click_age_days,
            window_days,
        } => Verdict::NotCredited(NotCredited::NotAttributed {
            reason: reason.clone(),
            click_age_days: *click_age_days,
            window_days: *window_days,
        }),
        Step::DeadLetter(why) => Verdict::NotCredited(NotCredited::DeadLetter(why.clone())),
        Step::Refused(why) => Verdict::NotCredited(NotCredited::Refused(why.clone())),
        Step::Failed(why) => Verdict::NotCredited(NotCredited::SendFailed(why.clone())),
        Step::Retrying { next_attempt, .. } => Verdict::OnItsWay {
            next_attempt: Some(*next_attempt),
        },
        _ => Verdict::OnItsWay { next_attempt: None },
    }
}

/// Why the newest event of `entries` whose last answer is a dead letter was given up on: an
/// event retried and answered since is no dead letter.
fn last_dead_letter<'a>(entries: impl Iterator<Item = &'a JournalEntry>) -> Option<String> {
    let answers: Vec<&JournalEntry> = entries.filter(|entry| is_answer(&entry.step)).collect();
    answers.iter().enumerate().rev().find_map(|(at, entry)| {
        let Step::DeadLetter(why) = &entry.step else {
            return None;
        };
        let same_event = |later: &&&JournalEntry| {
            later.endpoint == entry.endpoint
                && later.customer_key == entry.customer_key
                && later.transaction_id == entry.transaction_id
        };
        let answered_since = answers[at + 1..].iter().any(|later| same_event(&later));
        (!answered_since).then(|| why.clone())
    })
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = |id: &Option<u64>| id.map_or_else(|| "unknown".to_owned(), |id| id.to_string());
        match self {
            Self::Credited {
                sale_id,
                commission_id,
            } => write!(
                f,
                "credited: sale {}, commission {}",
                id(sale_id),
                id(commission_id)
            ),
            Self::Reversed {
                sale_id,
                commission_id,
            } => write!(
                f,
                "reversed: sale {} was credited (commission {}), then refunded in full",
                id(sale_id),
                id(commission_id)
            ),
            Self::NotCredited(why) => write!(f, "not credited: {why}"),
            Self::Unknown(why) => write!(f, "unknown: {why}"),
            Self::OnItsWay { next_attempt: None } => f.write_str("on its way: waiting to be sent"),
            Self::OnItsWay {
                next_attempt: Some(at),
            } => {
                let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
                write!(f, "on its way: the next attempt is in {} s", wait.as_secs())
            }
        }
    }
}

impl fmt::Display for NotCredited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = |days: &Option<u32>| days.map_or_else(|| "?".to_owned(), |d| d.to_string());
        match self {
            Self::NotAttributed {
                reason,
                click_age_days,
                window_days,
            } if click_age_days.is_some() || window_days.is_some() => write!(
                f,
                "{reason}: the click was {} days old against a window of {} days",
                days(click_age_days),
                days(window_days)
            ),
            Self::NotAttributed { reason, .. } => {
                write!(f, "the API did not attribute it ({reason})")
            }
            Self::NoClickId => f.write_str("no click id reached the lead or the sale"),
            Self::NoSale => f.write_str("no sale arrived from the payment provider"),
            Self::DeadLetter(why) => write!(f, "a dead letter: {why}"),
            Self::Refused(why) => write!(f, "refused by the API: {why}"),
            Self::SendFailed(why) => write!(f, "the app's own send failed: {why}"),
            Self::TestMode => f.write_str("sent in test mode, which credits no partner"),
        }
    }
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NothingJournaled => {
                "the journal holds nothing of it (the journal was off, the events are past its \
                 retention, or the app never sent this key)"
            }
            Self::RecordedBefore => {
                "the API had recorded this transaction id before, by a call the journal holds no \
                 answer of (from before the journal was on, from an app without it, or a \
                 test-mode sale that took the id): the Affitor dashboard tells whether it earned \
                 a commission"
            }
        })
    }
}
