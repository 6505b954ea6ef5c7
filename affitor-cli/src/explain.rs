//! `affitor explain --customer KEY | --transaction ID | --click ID`: the attribution journal of
//! the outbox at `AFFITOR_OUTBOX`, told as a timeline and a verdict in words
//! (`Outbox::explain`). Exit 0 when the sale is credited (not refunded in full since), 1
//! otherwise.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::ErrorReport;
use affitor_outbox::journal::{Explanation, JournalEntry, NotCredited, Step, Subject, Verdict};
use clap::{ArgGroup, Args};
use serde_json::{Value, json};

use crate::outbox::{Failure, Opened, open};
use crate::output::{Output, Status, printable};

/// `affitor explain`'s arguments: one subject.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("subject").required(true)))]
pub(crate) struct ExplainArgs {
    /// A customer key, as the app sent its lead and sale.
    #[arg(long, group = "subject", value_name = "KEY")]
    customer: Option<String>,
    /// A sale's transaction id (its refunds show under it).
    #[arg(long, group = "subject", value_name = "ID")]
    transaction: Option<String>,
    /// A click id, as a lead or a sale carried it.
    #[arg(long, group = "subject", value_name = "ID")]
    click: Option<String>,
}

/// Runs `affitor explain`.
pub(crate) async fn run(out: Output, args: ExplainArgs) -> ExitCode {
    let subject = match (args.customer, args.transaction, args.click) {
        (Some(key), ..) => Subject::Customer(key),
        (None, Some(id), _) => Subject::Transaction(id),
        (None, None, Some(id)) => Subject::Click(id),
        // clap's group requires one.
        (None, None, None) => return ExitCode::from(2),
    };
    explain(out, subject)
        .await
        .unwrap_or_else(|failure| failure.print(out, "explain"))
}

async fn explain(out: Output, subject: Subject) -> Result<ExitCode, Failure> {
    let outbox = match open().await? {
        Opened::Outbox(outbox) => outbox,
        Opened::New(shown) => {
            return Err(Failure::new(format!(
                "no outbox at {shown} yet: the app creates it at its first start"
            )));
        }
    };
    let explained = outbox.explain(subject.clone()).await;
    outbox.shutdown(Duration::ZERO).await;
    let explained = explained.map_err(|error| Failure::new(ErrorReport::new(&error)))?;
    print(out, &subject, &explained);
    Ok(if explained.verdict.is_credited() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print(out: Output, subject: &Subject, explained: &Explanation) {
    let (kind, key) = match subject {
        Subject::Customer(key) => ("customer", key),
        Subject::Transaction(id) => ("transaction", id),
        Subject::Click(id) => ("click", id),
        _ => ("subject", &String::new()),
    };
    out.heading(&format!("{kind} {key}"));
    if explained.entries.is_empty() {
        out.line(format_args!("  {}", nothing_found(explained.journal_since)));
    }
    if explained.truncated {
        out.line(format_args!(
            "  (the journal holds more of this than one search reads: the oldest entries are left out)"
        ));
    }
    for entry in &explained.entries {
        out.line(format_args!("  {}", printable(&describe(entry))));
    }
    let status = if explained.verdict.is_credited() {
        Status::Pass
    } else {
        Status::Fail
    };
    out.status(status, "verdict", &verdict_text(explained));
    out.document(&json!({
        "command": "explain",
        "ok": explained.verdict.is_credited(),
        kind: key,
        "verdict": verdict_json(explained),
        "timeline": explained.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "journal_since": explained.journal_since.map(seconds_since_epoch),
        "truncated": explained.truncated,
    }));
}

/// What an empty timeline means: the journal is off or empty, or the events came before what
/// it holds.
fn nothing_found(journal_since: Option<SystemTime>) -> String {
    match journal_since {
        None => "nothing in the journal, which holds no entries but those of dead letters, if \
                 any: it keeps what the app handles once the attribution journal is turned on \
                 in the app's outbox settings — was it on when these events came?"
            .to_owned(),
        Some(since) => format!(
            "nothing in the journal, which holds entries from {} on: an event answered before \
             then (before the journal was turned on, or past its retention) has no entries",
            unix_seconds(since)
        ),
    }
}

/// `@1796000000 sale in_1, customer cust_1, click cust_ab: recorded: sale 7, commission 9` (a
/// refund under its other id too: `refund pi_1 or in_1: ...`); a stored or sent event's entry
/// ends with where its click id was found, when known.
fn describe(entry: &JournalEntry) -> String {
    let mut keys = Vec::new();
    match (&entry.transaction_id, &entry.other_transaction_id) {
        (Some(id), Some(other)) => keys.push(format!("{id} or {other}")),
        (Some(id), None) => keys.push(id.clone()),
        _ => {}
    }
    if let Some(key) = &entry.customer_key {
        keys.push(format!("customer {key}"));
    }
    if let Some(id) = &entry.click_id {
        keys.push(format!("click {id}"));
    }
    let found = entry
        .click_id_source
        .as_ref()
        .map(|source| format!(", its click id from {source}"))
        .unwrap_or_default();
    format!(
        "{} {} {}: {}{found}",
        unix_seconds(entry.at),
        entry.endpoint,
        keys.join(", "),
        step_text(&entry.step)
    )
}

fn step_text(step: &Step) -> String {
    let id = |id: &Option<u64>| id.map_or_else(|| "?".to_owned(), |id| id.to_string());
    match step {
        Step::Stored { amount, currency } => match amount {
            Some(amount) => format!(
                "stored, {amount} {}",
                currency.as_deref().unwrap_or("(minor units)")
            ),
            None => "stored".to_owned(),
        },
        Step::Clicked {
            partner_code,
            consent,
        } => {
            let mut text = "captured".to_owned();
            if let Some(partner) = partner_code {
                text.push_str(&format!(", partner {partner}"));
            }
            if let Some(consent) = consent {
                text.push_str(&format!(", consent {consent}"));
            }
            text
        }
        Step::Sent { amount, currency } => match amount {
            Some(amount) => format!(
                "sent by the app, {amount} {}",
                currency.as_deref().unwrap_or("(minor units)")
            ),
            None => "sent by the app".to_owned(),
        },
        Step::Failed(error) => format!("the app's send failed: {error}"),
        Step::Recorded {
            sale_id,
            commission_id,
        } => format!(
            "recorded: sale {}, commission {}",
            id(sale_id),
            id(commission_id)
        ),
        Step::AlreadyRecorded => "already recorded".to_owned(),
        Step::NotAttributed { .. } | Step::DeadLetter(_) | Step::Refused(_) => {
            Verdict::NotCredited(not_credited(step)).to_string()
        }
        Step::TestMode => {
            "answered in test mode: recorded as a test, credits no partner".to_owned()
        }
        Step::Answered(answer) => format!("answered: {answer}"),
        Step::Retrying {
            error,
            next_attempt,
        } => format!(
            "not delivered yet, next attempt at {}: {error}",
            unix_seconds(*next_attempt)
        ),
        // A step of an outbox newer than this CLI: words of its own, never `Debug`'s (which
        // may change, and may hold what the journal's text never shows).
        _ => UNKNOWN_STEP.to_owned(),
    }
}

/// What `explain` says of a step it does not know.
const UNKNOWN_STEP: &str = "a step this affitor cannot name: update affitor-cli";

fn not_credited(step: &Step) -> NotCredited {
    match step {
        Step::NotAttributed {
            reason,
            click_age_days,
            window_days,
        } => NotCredited::NotAttributed {
            reason: reason.clone(),
            click_age_days: *click_age_days,
            window_days: *window_days,
        },
        Step::Refused(why) => NotCredited::Refused(why.clone()),
        Step::DeadLetter(why) => NotCredited::DeadLetter(why.clone()),
        _ => NotCredited::NoSale,
    }
}

/// A time as Unix seconds, `@1796000000`: the journal's clock, for any time zone.
fn unix_seconds(at: SystemTime) -> String {
    format!("@{}", seconds_since_epoch(at))
}

/// A time as Unix seconds, as `--json` gives every time.
fn seconds_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// The verdict in words; not credited, with the click when the journal holds it: whether a
/// partner's link was opened at all is the first question of a sale not credited.
fn verdict_text(explained: &Explanation) -> String {
    let verdict = explained.verdict.to_string();
    let click = explained
        .entries
        .iter()
        .find_map(|entry| match &entry.step {
            Step::Clicked { partner_code, .. } => Some((entry.at, partner_code)),
            _ => None,
        });
    match click {
        Some((at, partner)) if !was_credited(&explained.verdict) => format!(
            "{verdict} (the click was captured at {} by partner {})",
            unix_seconds(at),
            partner.as_deref().unwrap_or("(not named)")
        ),
        _ => verdict,
    }
}

/// Whether the sale was credited at all: since, or until a full refund reversed it.
fn was_credited(verdict: &Verdict) -> bool {
    matches!(verdict, Verdict::Credited { .. } | Verdict::Reversed { .. })
}

fn verdict_json(explained: &Explanation) -> Value {
    let verdict = &explained.verdict;
    let text = verdict_text(explained);
    let state = match verdict {
        Verdict::Credited { .. } => "credited",
        Verdict::Reversed { .. } => "reversed",
        Verdict::NotCredited(_) => "not_credited",
        Verdict::OnItsWay { .. } => "on_its_way",
        _ => "unknown",
    };
    match verdict {
        Verdict::Credited {
            sale_id,
            commission_id,
        }
        | Verdict::Reversed {
            sale_id,
            commission_id,
        } => json!({ "credited": verdict.is_credited(), "state": state, "text": text,
            "sale_id": sale_id, "commission_id": commission_id }),
        Verdict::NotCredited(NotCredited::NotAttributed {
            reason,
            click_age_days,
            window_days,
        }) => json!({ "credited": false, "state": state, "text": text, "reason": reason,
            "click_age_days": click_age_days, "window_days": window_days }),
        _ => json!({ "credited": false, "state": state, "text": text }),
    }
}

fn entry_json(entry: &JournalEntry) -> Value {
    let consent = match &entry.step {
        Step::Clicked { consent, .. } => consent.as_deref(),
        _ => None,
    };
    json!({
        "at": seconds_since_epoch(entry.at),
        "endpoint": entry.endpoint,
        "customer_key": entry.customer_key,
        "click_id": entry.click_id,
        "click_id_source": entry.click_id_source,
        "transaction_id": entry.transaction_id,
        "other_transaction_id": entry.other_transaction_id,
        "step": step_text(&entry.step),
        "consent": consent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every step the CLI knows is told in words, never in `Debug`'s form, nor as unknown.
    #[test]
    fn each_step_is_told_in_words() {
        let steps = [
            Step::Stored {
                amount: Some(4900),
                currency: Some("USD".to_owned()),
            },
            Step::Clicked {
                partner_code: Some("p1".to_owned()),
                consent: None,
            },
            Step::Sent {
                amount: None,
                currency: None,
            },
            Step::Failed("timed out".to_owned()),
            Step::Recorded {
                sale_id: Some(7),
                commission_id: None,
            },
            Step::AlreadyRecorded,
            Step::TestMode,
            Step::Answered("test".to_owned()),
            Step::Refused("400".to_owned()),
            Step::DeadLetter("400".to_owned()),
            Step::Retrying {
                error: "503".to_owned(),
                next_attempt: UNIX_EPOCH,
            },
        ];
        for step in &steps {
            let text = step_text(step);
            assert_ne!(text, format!("{step:?}"));
            assert_ne!(text, UNKNOWN_STEP, "{step:?}");
            assert!(!text.contains('{') && !text.contains("Some("), "{text}");
        }
    }
}
