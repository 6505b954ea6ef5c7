//! `affitor outbox dead-letters | retry [--id N] | purge --older-than D`: the dead letters of
//! the outbox at `AFFITOR_OUTBOX`, listed with their reasons, sent again, or deleted by age, each
//! through the library's own call.
//!
//! The outbox is opened as `doctor` opens it: with no relay, and no schema created or changed (a
//! SQLite file that does not exist yet is not created: no outbox there yet). A retried row is
//! only made due again: the app's relay sends it.

use std::process::ExitCode;
use std::time::Duration;

use affitor::{Client, ErrorReport};
use affitor_outbox::{DeadLetter, Outbox};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::output::{Output, Status, printable};
use crate::{api_client, env_var};

/// The variable of the outbox's location, as the examples and `Outbox::open` read it.
pub(crate) const OUTBOX_VARIABLE: &str = "AFFITOR_OUTBOX";

/// How long the outbox may take to open before the command gives up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// `affitor outbox`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct OutboxArgs {
    #[command(subcommand)]
    command: OutboxCommand,
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// List the dead letters: events the API refused for good, out of attempts, or unreadable,
    /// each with its reason.
    DeadLetters,
    /// Make dead letters due again, for the app's relay to send: every one, or `--id N`'s.
    Retry {
        /// The id of the one dead letter to retry, as `affitor outbox dead-letters` lists it.
        #[arg(long, value_name = "N")]
        id: Option<i64>,
    },
    /// Delete the dead letters given up on at least this long ago.
    Purge {
        /// How long ago: a number and a unit, `d` (days), `h` (hours) or `m` (minutes), such as
        /// 7d, 36h or 90m.
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Duration,
    },
}

/// Runs `affitor outbox <command>`.
pub(crate) async fn run(out: Output, args: OutboxArgs) -> ExitCode {
    let (name, exit) = match args.command {
        OutboxCommand::DeadLetters => ("outbox dead-letters", list(out).await),
        OutboxCommand::Retry { id } => ("outbox retry", retry(out, id).await),
        OutboxCommand::Purge { older_than } => ("outbox purge", purge(out, older_than).await),
    };
    exit.unwrap_or_else(|failure| failure.print(out, name))
}

/// Lists the dead letters, oldest first.
async fn list(out: Output) -> Result<ExitCode, Failure> {
    let outbox = match open().await? {
        Opened::Outbox(outbox) => outbox,
        Opened::New(shown) => {
            return Ok(no_outbox_yet(out, "outbox dead-letters", &shown, json!([])));
        }
    };
    let letters = outbox.dead_letters().await;
    outbox.shutdown(Duration::ZERO).await;
    let letters = letters.map_err(|error| Failure::new(ErrorReport::new(&error)))?;
    match letters.len() {
        0 => out.line(format_args!(
            "no dead letters in {}",
            printable(outbox.location())
        )),
        1 => out.heading(&format!("1 dead letter in {}", outbox.location())),
        n => out.heading(&format!("{n} dead letters in {}", outbox.location())),
    }
    for letter in &letters {
        out.line(format_args!("  {}", describe(letter)));
    }
    if !letters.is_empty() {
        out.hint(
            "once the cause is mended, `affitor outbox retry` makes them due again for the app's \
             relay; `affitor outbox purge --older-than 30d` deletes old ones",
        );
    }
    out.document(&json!({
        "command": "outbox dead-letters",
        "ok": true,
        "location": outbox.location(),
        "dead_letters": letters.iter().map(letter_json).collect::<Vec<_>>(),
    }));
    Ok(ExitCode::SUCCESS)
}

/// Makes every dead letter, or `id`'s, due again.
async fn retry(out: Output, id: Option<i64>) -> Result<ExitCode, Failure> {
    let outbox = match open().await? {
        Opened::Outbox(outbox) => outbox,
        Opened::New(shown) => {
            return Err(Failure::new(format!(
                "no outbox at {shown} yet: there is no dead letter to retry"
            )));
        }
    };
    let retried = match id {
        Some(id) => outbox.retry_dead_letter(id).await.map(u64::from),
        None => outbox.retry_dead_letters().await,
    };
    outbox.shutdown(Duration::ZERO).await;
    let retried = retried.map_err(|error| Failure::new(ErrorReport::new(&error)))?;
    if let (Some(id), 0) = (id, retried) {
        return Err(
            Failure::new(format!("no dead letter #{id} in {}", outbox.location()))
                .fix("`affitor outbox dead-letters` lists them with their ids"),
        );
    }
    let detail = match retried {
        0 => format!("no dead letters in {}: nothing to retry", outbox.location()),
        1 => "1 dead letter due again: the app's relay sends it".to_owned(),
        n => format!("{n} dead letters due again: the app's relay sends them"),
    };
    out.status(Status::Pass, "outbox retry", &detail);
    out.document(&json!({
        "command": "outbox retry",
        "ok": true,
        "location": outbox.location(),
        "id": id,
        "retried": retried,
    }));
    Ok(ExitCode::SUCCESS)
}

/// Deletes the dead letters given up on at least `older_than` ago.
async fn purge(out: Output, older_than: Duration) -> Result<ExitCode, Failure> {
    let outbox = match open().await? {
        Opened::Outbox(outbox) => outbox,
        Opened::New(shown) => return Ok(no_outbox_yet(out, "outbox purge", &shown, json!(0))),
    };
    let purged = outbox.purge_dead_letters(older_than).await;
    outbox.shutdown(Duration::ZERO).await;
    let purged = purged.map_err(|error| Failure::new(ErrorReport::new(&error)))?;
    out.status(
        Status::Pass,
        "outbox purge",
        &format!(
            "{purged} dead letter{} older than {} deleted",
            if purged == 1 { "" } else { "s" },
            age_text(older_than)
        ),
    );
    out.document(&json!({
        "command": "outbox purge",
        "ok": true,
        "location": outbox.location(),
        "older_than_seconds": older_than.as_secs(),
        "purged": purged,
    }));
    Ok(ExitCode::SUCCESS)
}

/// What [`open`] found at `AFFITOR_OUTBOX`.
pub(crate) enum Opened {
    /// The outbox, opened with no relay.
    Outbox(Outbox),
    /// A SQLite file that does not exist yet, at this location as the outbox shows it: never
    /// the variable's text, which may hold a password the outbox's parsing leaves out.
    New(String),
}

/// The outbox at `AFFITOR_OUTBOX`, opened with no relay and its schema left as it is, or the
/// SQLite file that does not exist yet (nothing is created).
pub(crate) async fn open() -> Result<Opened, Failure> {
    let Some(location) = env_var(OUTBOX_VARIABLE) else {
        return Err(
            Failure::new(format!("{OUTBOX_VARIABLE} is unset")).fix(format!(
                "set {OUTBOX_VARIABLE} to the app's outbox: its SQLite path or postgres:// URL"
            )),
        );
    };
    // The outbox needs a client to open; it never sends through it (no relay).
    let client = api_client()
        .or_else(|_| Client::builder().api_key("aff_cli").build())
        .map_err(|error| Failure::new(ErrorReport::new(&error)))?;
    let builder = || Outbox::builder(client.clone()).relay(false).migrate(false);
    let opened = async {
        let found = builder().check(&location).await?;
        if found.is_new() {
            return Ok(Opened::New(found.location().to_owned()));
        }
        builder().open(&location).await.map(Opened::Outbox)
    };
    match tokio::time::timeout(OPEN_TIMEOUT, opened).await {
        Ok(Ok(outbox)) => Ok(outbox),
        Ok(Err(error)) => Err(Failure::new(ErrorReport::new(&error))
            .fix("check AFFITOR_OUTBOX and that the database is up; `affitor doctor` tells more")),
        Err(_) => Err(Failure::new(format!(
            "the outbox did not open within {}s",
            OPEN_TIMEOUT.as_secs()
        ))
        .fix("check that the database is up and reachable from this machine")),
    }
}

/// What a command says of a SQLite file that does not exist yet, at `location` as the outbox
/// shows it: nothing in it.
fn no_outbox_yet(out: Output, command: &str, location: &str, empty: Value) -> ExitCode {
    out.line(format_args!(
        "no outbox at {} yet: the app creates it at its first start",
        printable(location)
    ));
    let field = if command == "outbox purge" {
        "purged"
    } else {
        "dead_letters"
    };
    out.document(&json!({ "command": command, "ok": true, "location": location, field: empty }));
    ExitCode::SUCCESS
}

/// `#3 sale in_1, 2 attempts: the API's answer`, its reason made printable.
fn describe(letter: &DeadLetter) -> String {
    let transaction = letter
        .transaction_id
        .as_deref()
        .map(|id| format!(" {}", printable(id)))
        .unwrap_or_default();
    format!(
        "#{} {}{transaction}, {} attempt{}: {}",
        letter.id,
        printable(&letter.endpoint),
        letter.attempts,
        if letter.attempts == 1 { "" } else { "s" },
        printable(&letter.error),
    )
}

fn letter_json(letter: &DeadLetter) -> Value {
    json!({
        "id": letter.id,
        "endpoint": letter.endpoint,
        "transaction_id": letter.transaction_id,
        "attempts": letter.attempts,
        "reason": letter.error,
    })
}

/// A command that could not do what it was asked: what went wrong, and what to do.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    fix: Option<String>,
}

impl Failure {
    pub(crate) fn new(message: impl ToString) -> Self {
        Self {
            message: message.to_string(),
            fix: None,
        }
    }

    /// What went wrong.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// Prints the failure of `command` (with `--json`, its document) and exits 1.
    pub(crate) fn print(self, out: Output, command: &str) -> ExitCode {
        out.status(Status::Fail, command, &self.message);
        if let Some(fix) = &self.fix {
            out.hint(fix);
        }
        out.document(&json!({
            "command": command,
            "ok": false,
            "error": { "message": self.message, "fix": self.fix },
        }));
        ExitCode::FAILURE
    }
}

/// An age as people type it: a whole number and `d`, `h` or `m`; never zero (purging dead
/// letters given up on "0 ago" would delete one buried a moment ago, before anyone saw it).
fn parse_age(text: &str) -> Result<Duration, String> {
    const FORMS: &str =
        "a whole number and d (days), h (hours) or m (minutes), such as 7d, 36h or 90m";
    let text = text.trim();
    let unit = match text.chars().last() {
        Some('d') => 24 * 3600,
        Some('h') => 3600,
        Some('m') => 60,
        _ => return Err(format!("`{text}` has no unit: write {FORMS}")),
    };
    let number: u64 = text[..text.len() - 1]
        .parse()
        .map_err(|_| format!("`{text}` is not an age: write {FORMS}"))?;
    match number.checked_mul(unit) {
        Some(0) => Err(format!(
            "`{text}` would delete every dead letter, even one given up on a moment ago: write \
             {FORMS}"
        )),
        Some(seconds) => Ok(Duration::from_secs(seconds)),
        None => Err(format!("`{text}` is too long: write {FORMS}")),
    }
}

/// An age as `parse_age` reads it: `7d`, `36h`, `90m`.
fn age_text(age: Duration) -> String {
    let seconds = age.as_secs();
    match seconds {
        s if s.is_multiple_of(24 * 3600) => format!("{}d", s / (24 * 3600)),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_read_as_people_type_them() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 24 * 3600)));
        assert_eq!(parse_age("36h"), Ok(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(90 * 60)));
        for refused in ["0d", "0m", "7", "7s", "d", "-1d", "1.5h", "", "7 days"] {
            let error = parse_age(refused).unwrap_err();
            assert!(error.contains("7d, 36h or 90m"), "{refused}: {error}");
        }
        assert_eq!(age_text(Duration::from_secs(7 * 24 * 3600)), "7d");
        assert_eq!(age_text(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(age_text(Duration::from_secs(90 * 60)), "90m");
    }
}
