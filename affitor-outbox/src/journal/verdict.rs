//! The verdict on a journal's entries: credited, not credited and why, or still on its way.

use std::fmt;
use std::time::SystemTime;

use super::{JournalEntry, Step};

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
    /// No commission, and why.
    NotCredited(NotCredited),
    /// Stored and not answered yet: the next attempt's time, when one failed.
    OnItsWay {
        /// When the next attempt is due, if an attempt failed.
        next_attempt: Option<SystemTime>,
    },
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
}

impl Verdict {
    /// Whether the sale is credited.
    ///
    /// ```
    /// use affitor_outbox::journal::Verdict;
    ///
    /// let credited = Verdict::Credited { sale_id: Some(7), commission_id: Some(9) };
    /// assert!(credited.is_credited());
    /// ```
    pub fn is_credited(&self) -> bool {
        matches!(self, Self::Credited { .. })
    }
}

impl Explanation {
    pub(crate) fn of(mut entries: Vec<JournalEntry>, journal_since: Option<SystemTime>) -> Self {
        entries.sort_by_key(|entry| entry.at);
        let verdict = verdict(&entries);
        Self {
            entries,
            verdict,
            journal_since,
        }
    }
}

/// The verdict the sale's last answer gives; without a sale, what the leads tell.
fn verdict(entries: &[JournalEntry]) -> Verdict {
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
    let mut sales = entries.iter().filter(|entry| entry.endpoint == "sale");
    if let Some(last) = sales.next_back() {
        return match &last.step {
            Step::Recorded { .. } | Step::AlreadyRecorded => {
                recorded.unwrap_or(Verdict::Credited {
                    sale_id: None,
                    commission_id: None,
                })
            }
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
        };
    }
    if let Some(why) = entries.iter().rev().find_map(|entry| match &entry.step {
        Step::DeadLetter(why) => Some(why.clone()),
        _ => None,
    }) {
        return Verdict::NotCredited(NotCredited::DeadLetter(why));
    }
    let leads = entries.iter().filter(|entry| entry.endpoint == "lead");
    if entries.iter().all(|entry| entry.click_id.is_none()) && leads.count() > 0 {
        return Verdict::NotCredited(NotCredited::NoClickId);
    }
    Verdict::NotCredited(NotCredited::NoSale)
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
            Self::NotCredited(why) => write!(f, "not credited: {why}"),
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
        }
    }
}
