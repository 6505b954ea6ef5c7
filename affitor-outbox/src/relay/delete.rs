//! The deletes of the rows delivered, each with the journal's entries of their answers in its
//! transaction; and, while the store refuses them, tries that come less and less often.
//!
//! A row whose delete was refused stays held, its lease renewed (see `lease.rs`), so it is
//! never sent again meanwhile: waiting longer between tries costs only the time it stays in the
//! store, where trying at every turn of the relay would spend a round trip and a warning on
//! each.

use std::sync::Arc;
use std::time::Duration;

use crate::journal::{Answer, InWrite};
use crate::shared::Inner;
use crate::store::{Activity, StoreError};
use crate::throttle::Throttle;

/// The longest wait between two tries of a delete the store keeps refusing.
const RETRY_AT_MOST: Duration = Duration::from_secs(1);

/// How often, in seconds, a store that keeps refusing deletes is said again at `warn`.
const WARN_EVERY_SECS: u64 = 60;

/// What the store refused of a delete, to go with the next one.
#[derive(Debug)]
pub(super) struct Refused {
    /// The rows it did not delete, still held (none when it refused only their entries).
    pub(super) rows: Vec<i64>,
    /// The journal's entries it did not write.
    pub(super) entries: Arc<[Answer]>,
    pub(super) error: StoreError,
}

/// Deletes the rows delivered, `done`, with the journal's entries of their `answers` in the
/// delete's transaction (a row gone from the store has its answer in the journal); then what
/// deleted rows held leaves the store's logs, as often as the relay's `activity` lets it.
pub(super) async fn delete(
    inner: &Inner,
    done: &[i64],
    answers: Vec<Answer>,
    activity: Activity,
) -> Result<(), Refused> {
    let mut deleted = Ok(());
    let in_write = InWrite::new(
        inner,
        answers.len(),
        "the delete of their rows was cut short (the relay's stop, a panic)",
    );
    if !done.is_empty() || !answers.is_empty() {
        // Shared with the store, kept here for a delete that fails.
        let entries: Arc<[Answer]> = answers.into();
        let owner = &*inner.owner;
        deleted = match inner
            .store
            .complete(owner, done, Arc::clone(&entries))
            .await
        {
            Ok(deleted) => {
                lost(done.len(), deleted.len());
                Ok(())
            }
            // The journal never holds a delete back (a full file, say): the rows alone, and
            // their entries with the next delete, but for those of rows another relay took.
            Err(error) if !entries.is_empty() && !done.is_empty() => {
                let (rows, entries) = match inner.store.complete(owner, done, Arc::new([])).await {
                    Ok(deleted) => {
                        lost(done.len(), deleted.len());
                        // Whose rows were left (another relay's now, or gone) is not known
                        // here: their answers are dropped.
                        let kept = Answer::of_deleted(&entries, done, &deleted, &[]);
                        (Vec::new(), kept.into())
                    }
                    Err(_) => (done.to_vec(), entries),
                };
                Err(Refused {
                    rows,
                    entries,
                    error,
                })
            }
            Err(error) => Err(Refused {
                rows: done.to_vec(),
                entries,
                error,
            }),
        };
    }
    // Written, or handed back with the refusal.
    in_write.answered();
    inner.store.after_deletes(activity).await;
    deleted
}

/// Says at `info` how many of the `done` rows a delete left, `deleted` taken: their leases ran
/// out while they were sent, and the relays that took them settle them.
fn lost(done: usize, deleted: usize) {
    let left = done.saturating_sub(deleted);
    if left > 0 {
        tracing::info!(
            rows = left,
            "Affitor outbox rows delivered here had gone to another relay as their leases ran \
             out while they were sent: that relay settles them, and these answers are left to \
             it"
        );
    }
}

/// The deletes the store refused in a row: each try waits twice as long as the last, up to
/// [`RETRY_AT_MOST`], and the refusals are said at `warn` once a minute, with their count.
#[derive(Debug)]
pub(super) struct Refusals {
    /// Refused since the store last took a delete.
    count: u32,
    /// Whether those were said at `warn`, for the store's return to be said at `info` too.
    warned: bool,
    warning: Throttle,
}

impl Default for Refusals {
    fn default() -> Self {
        Self {
            count: 0,
            warned: false,
            warning: Throttle::new(WARN_EVERY_SECS),
        }
    }
}

impl Refusals {
    /// How long the next delete waits after the last: `every` while the store takes them,
    /// twice as long for each refusal since.
    pub(super) fn wait(&self, every: Duration) -> Duration {
        every
            .saturating_mul(1 << self.count.min(16))
            .min(RETRY_AT_MOST.max(every))
    }

    /// Whether the store refused the last delete.
    pub(super) fn any(&self) -> bool {
        self.count > 0
    }

    /// The store refused a delete: said at `warn`, or at `debug` within a minute of the last
    /// warning.
    pub(super) fn refused(&mut self, refused: &Refused) {
        self.count = self.count.saturating_add(1);
        let (rows, entries, error) = (refused.rows.len(), refused.entries.len(), &refused.error);
        match self.warning.due() {
            Some(since) => {
                self.warned = true;
                tracing::warn!(
                    rows,
                    entries,
                    refusals = self.count,
                    since_last_warning = since,
                    error = %error,
                    "Affitor outbox could not delete delivered rows or write their journal \
                     entries; the relay tries again, less often while the store refuses (the \
                     rows stay held, and are not sent again; at most one such warning a minute)"
                );
            }
            None => tracing::debug!(
                rows,
                entries,
                refusals = self.count,
                error = %error,
                "Affitor outbox: the store refused a delete again"
            ),
        }
    }

    /// The store took a delete.
    pub(super) fn taken(&mut self) {
        if self.warned {
            tracing::info!(
                refusals = self.count,
                "Affitor outbox: the store takes the relay's deletes again"
            );
        }
        self.count = 0;
        self.warned = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Of a delete of rows 1 to 3, row 1 was deleted; row 2 was taken by another relay: its
    /// answer still goes, without its row's storing, which that relay journals; row 3 was gone
    /// (an earlier delete whose answer was lost took it, with its entry): nothing; row 7's,
    /// left over from an earlier delete, goes whole.
    #[test]
    fn a_taken_row_s_answer_is_kept_without_its_storing() {
        let entry = |step| crate::journal::JournalEntry {
            at: std::time::SystemTime::UNIX_EPOCH,
            endpoint: "sale".to_owned(),
            step,
            customer_key: None,
            click_id: None,
            transaction_id: None,
            other_transaction_id: None,
            click_id_source: None,
        };
        let answer = |row| Answer {
            row,
            entry: entry(crate::journal::Step::AlreadyRecorded),
            stored: Some(entry(crate::journal::Step::Stored {
                amount: Some(4900),
                currency: None,
            })),
        };
        let entries = [answer(1), answer(2), answer(3), answer(7)];
        let kept = Answer::of_deleted(&entries, &[1, 2, 3], &[1], &[2]);
        let rows: Vec<(i64, bool)> = kept
            .iter()
            .map(|answer| (answer.row, answer.stored.is_some()))
            .collect();
        assert_eq!(rows, [(1, true), (2, false), (7, true)]);
    }

    #[test]
    fn each_refusal_doubles_the_wait_up_to_a_second() {
        let every = Duration::from_millis(50);
        let mut refusals = Refusals::default();
        assert_eq!(refusals.wait(every), every);
        let waits: Vec<Duration> = (0..7)
            .map(|_| {
                refusals.count += 1;
                refusals.wait(every)
            })
            .collect();
        let millis: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [100, 200, 400, 800, 1000, 1000, 1000]);
        refusals.count = u32::MAX;
        assert_eq!(refusals.wait(every), RETRY_AT_MOST);
        refusals.taken();
        assert_eq!(refusals.wait(every), every);
    }
}
