//! A sale's refunds, told apart by their own identity, so that the same refund again (a
//! redelivery, or its twin event) is never taken for a second refund of the sale, which needs a
//! person: Affitor reverses a sale's commission once.
//!
//! Stripe sends each refund twice, as `refund.created` (the refund's id) and `charge.refunded`
//! (the charge's `amount_refunded`, which adds up its refunds so far), and a lost dispute twice,
//! as `charge.dispute.created` and `charge.dispute.closed` (one dispute id); Paddle may send an
//! approved adjustment as `adjustment.created` and `adjustment.updated` (one adjustment id);
//! Polar and Lemon Squeezy name the order's refunded total. A payment state keeps what each sale's
//! refunds were known by, in one fact; the sale's count of refunds is the most that one kind of
//! identity tells apart (a refund id and a running total count the same refunds), plus its
//! disputes.

use std::fmt::Write as _;

/// What tells one refund of a sale from another, as the provider's event names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RefundId {
    /// The provider's own id of the refund: Stripe's `re_...` (`refund.created`), Paddle's
    /// adjustment `adj_...` (a refund's or a chargeback's, in both its events).
    Refund(String),
    /// A Stripe dispute, `du_...`: its `created` and its lost `closed`.
    Dispute(String),
    /// What the sale's refunds add up to with this one, in the provider's minor units: Stripe's
    /// charge `amount_refunded` (`charge.refunded`), Polar's and Lemon Squeezy's order
    /// `refunded_amount`.
    Total(u64),
}

impl RefundId {
    /// The kind and the id, as the fact writes them.
    fn parts(&self) -> (Kind, String) {
        match self {
            Self::Refund(id) => (Kind::Refund, id.clone()),
            Self::Dispute(id) => (Kind::Dispute, id.clone()),
            Self::Total(total) => (Kind::Total, total.to_string()),
        }
    }
}

/// The kinds of identity a fact holds. `Earlier` is a value an earlier version wrote (the first
/// refund's event id alone): a refund of unknown identity, which may be the twin of any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Refund,
    Dispute,
    Total,
    Earlier,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Refund => "refund",
            Self::Dispute => "dispute",
            Self::Total => "total",
            Self::Earlier => "earlier",
        }
    }

    fn named(name: &str) -> Option<Self> {
        [Self::Refund, Self::Dispute, Self::Total, Self::Earlier]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// One refund of the sale, as it was known, and the provider's id of the event that showed it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Known {
    kind: Kind,
    id: String,
    event: String,
}

/// What a refund is to the refunds of its sale known before it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Judged {
    /// The same refund again: a redelivery, or its twin event. Nothing to keep.
    Again,
    /// A refund not known by this identity: `value` is the fact to keep once it is taken;
    /// `second` names the events of the sale's earlier refunds when this one is a further
    /// refund of the sale (to warn of, and count `attention`), and is `None` for its first
    /// refund or a twin of one known.
    New {
        value: String,
        second: Option<String>,
    },
}

/// The refunds of one sale a payment state remembers: the value of the sale's refund fact,
/// `kind:id@event` entries separated by spaces.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Refunds {
    known: Vec<Known>,
}

/// The most refunds one fact names: far more than a sale has; past it, the oldest are
/// forgotten (the count stays at least as high).
const MOST_KNOWN: usize = 64;

impl Refunds {
    /// The refunds a fact's value names; an entry that names no kind (written by an earlier
    /// version) is a refund of unknown identity.
    pub(crate) fn read(value: &str) -> Self {
        let known = value
            .split_whitespace()
            .map(|entry| {
                let parsed = entry.split_once(':').and_then(|(kind, rest)| {
                    let (id, event) = rest.split_once('@')?;
                    Some((Kind::named(kind)?, id, event))
                });
                match parsed {
                    Some((kind, id, event)) => Known {
                        kind,
                        id: id.to_owned(),
                        event: event.to_owned(),
                    },
                    None => Known {
                        kind: Kind::Earlier,
                        id: entry.to_owned(),
                        event: entry.to_owned(),
                    },
                }
            })
            .collect();
        Self { known }
    }

    /// What the refund `id`, shown by the event `event`, is to these refunds.
    pub(crate) fn judge(mut self, id: &RefundId, event: &str) -> Judged {
        let (kind, id) = id.parts();
        let id = clean(&id);
        if self
            .known
            .iter()
            .any(|known| known.kind == kind && known.id == id)
        {
            return Judged::Again;
        }
        let before = self.count();
        let earlier = self.events();
        if self.known.len() >= MOST_KNOWN {
            self.known.remove(0);
        }
        self.known.push(Known {
            kind,
            id,
            event: clean(event),
        });
        let after = self.count().max(before);
        let second = (after > before && after >= 2).then_some(earlier);
        Judged::New {
            value: self.value(),
            second,
        }
    }

    /// How many refunds of the sale these are: the most that one kind of identity tells apart
    /// (Stripe's refund ids and its charge's running totals count the same refunds), plus the
    /// disputes, which are no refunds.
    fn count(&self) -> usize {
        let of = |kind: Kind| self.known.iter().filter(|known| known.kind == kind).count();
        let refunds = [Kind::Refund, Kind::Total, Kind::Earlier]
            .into_iter()
            .map(of)
            .max()
            .unwrap_or(0);
        refunds + of(Kind::Dispute)
    }

    /// The provider's ids of the events that showed these refunds, for the warning.
    fn events(&self) -> String {
        let mut events: Vec<&str> = self
            .known
            .iter()
            .map(|known| known.event.as_str())
            .collect();
        events.dedup();
        events.join(" ")
    }

    /// The fact's value.
    fn value(&self) -> String {
        self.known.iter().fold(String::new(), |mut value, known| {
            if !value.is_empty() {
                value.push(' ');
            }
            let _ = write!(value, "{}:{}@{}", known.kind.name(), known.id, known.event);
            value
        })
    }
}

/// `text` as one entry can hold it: no space, `@` or `:` of its own.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '@' | ':' => '_',
            c if c.is_whitespace() => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `refunds` after the refunds `ids`, each shown by its event: what each was judged.
    fn judge_all(ids: &[(RefundId, &str)]) -> Vec<Option<bool>> {
        let mut value = String::new();
        ids.iter()
            .map(|(id, event)| match Refunds::read(&value).judge(id, event) {
                Judged::Again => None,
                Judged::New {
                    value: kept,
                    second,
                } => {
                    value = kept;
                    Some(second.is_some())
                }
            })
            .collect()
    }

    fn refund(id: &str) -> RefundId {
        RefundId::Refund(id.to_owned())
    }

    // `None`: the same again; `Some(false)`: new, no alarm; `Some(true)`: a second refund.

    #[test]
    fn a_redelivery_is_the_same_refund() {
        assert_eq!(
            judge_all(&[(refund("re_1"), "evt_1"), (refund("re_1"), "evt_1")]),
            [Some(false), None]
        );
        let total = RefundId::Total(4900);
        assert_eq!(
            judge_all(&[(total.clone(), "evt_1"), (total, "evt_1")]),
            [Some(false), None]
        );
    }

    #[test]
    fn stripes_twin_events_are_one_refund_and_the_next_pair_a_second() {
        assert_eq!(
            judge_all(&[
                (refund("re_1"), "evt_a"),
                (RefundId::Total(1000), "evt_b"),
                (RefundId::Total(4900), "evt_c"),
                (refund("re_2"), "evt_d"),
            ]),
            [Some(false), Some(false), Some(true), Some(false)]
        );
        // Either twin first.
        assert_eq!(
            judge_all(&[
                (RefundId::Total(1000), "evt_b"),
                (refund("re_1"), "evt_a"),
                (refund("re_2"), "evt_d"),
                (RefundId::Total(4900), "evt_c"),
            ]),
            [Some(false), Some(false), Some(true), Some(false)]
        );
    }

    #[test]
    fn a_dispute_opened_and_lost_is_one_and_a_dispute_after_a_refund_is_a_second() {
        let dispute = RefundId::Dispute("du_1".to_owned());
        assert_eq!(
            judge_all(&[
                (dispute.clone(), "evt_opened"),
                (dispute.clone(), "evt_lost")
            ]),
            [Some(false), None]
        );
        assert_eq!(
            judge_all(&[(refund("re_1"), "evt_a"), (dispute, "evt_opened")]),
            [Some(false), Some(true)]
        );
    }

    #[test]
    fn two_adjustments_are_two_refunds() {
        assert_eq!(
            judge_all(&[
                (refund("adj_1"), "evt_created"),
                (refund("adj_1"), "evt_updated"),
                (refund("adj_2"), "evt_chargeback"),
            ]),
            [Some(false), None, Some(true)]
        );
    }

    #[test]
    fn the_value_reads_back_and_names_the_earlier_events() {
        let Judged::New { value, .. } = Refunds::read("").judge(&refund("re 1:x@y"), "evt_a")
        else {
            panic!("new")
        };
        assert_eq!(value, "refund:re_1_x_y@evt_a");
        let Judged::New { second, .. } = Refunds::read(&value).judge(&refund("re_2"), "evt_b")
        else {
            panic!("new")
        };
        assert_eq!(second.as_deref(), Some("evt_a"));
        assert_eq!(
            Refunds::read(&value).judge(&refund("re 1:x@y"), "evt_c"),
            Judged::Again
        );
    }

    /// A value an earlier version wrote (the first refund's event id) is one refund of unknown
    /// identity: its twin raises no alarm, a further refund does.
    #[test]
    fn an_earlier_versions_value_is_one_refund() {
        let Judged::New { value, second } =
            Refunds::read("evt_old").judge(&RefundId::Total(1000), "evt_b")
        else {
            panic!("new")
        };
        assert_eq!(second, None);
        let Judged::New { second, .. } =
            Refunds::read(&value).judge(&RefundId::Total(4900), "evt_c")
        else {
            panic!("new")
        };
        assert_eq!(second.as_deref(), Some("evt_old evt_b"));
    }

    #[test]
    fn the_value_stays_bounded() {
        let mut value = String::new();
        for n in 0..200u64 {
            if let Judged::New { value: kept, .. } =
                Refunds::read(&value).judge(&RefundId::Total(n + 1), "evt")
            {
                value = kept;
            }
        }
        assert_eq!(Refunds::read(&value).known.len(), MOST_KNOWN);
    }
}
