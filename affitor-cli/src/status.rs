//! `affitor status`: how the integration is doing now. Readiness's real events of the last 24
//! hours and the last of each, with any gate that fails; then, when `AFFITOR_OUTBOX` is set, the
//! outbox's rows waiting, in flight and dead, and how long the oldest has waited.
//!
//! It exits 1 when something needs a person: no API key (readiness cannot be read), the API
//! not answering or refusing the key, a readiness gate failing, a dead letter waiting, or a row
//! waiting longer than [`STUCK_AFTER`] (the relay is not running, or cannot deliver).

use std::process::ExitCode;
use std::time::Duration;

use affitor::ErrorReport;
use affitor::client::ErrorKind;
use affitor::readiness::Readiness;
use affitor_outbox::Backlog;
use serde_json::{Value, json};

use crate::doctor::{gates, program};
use crate::env_var;
use crate::outbox::{OUTBOX_VARIABLE, Opened, open};
use crate::output::{Output, Status, duration, printable};
use crate::readiness::state_name;
use crate::settings::{ApiArgs, Settings, missing_key_fix};

/// How long the oldest row may wait before `status` calls the outbox stuck: far beyond a
/// relay's retries of a short outage, well within a day's reconciliation.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(3600);

/// Prints the status and exits 1 when something needs a person.
pub(crate) async fn run(out: Output, api: &ApiArgs) -> ExitCode {
    let spinner = out.spinner("reading the status");
    let settings = Settings::load(api, None);
    let (readiness_ok, readiness) = readiness(out, &settings).await;
    let (outbox_ok, outbox) = outbox(out).await;
    drop(spinner);
    // A project file that could not be read explains a key or a URL missing above.
    for problem in &settings.problems {
        out.status(Status::Warn, "settings", problem);
        out.hint("fix the file, or run `npx affitor init` again; its values were left out");
    }
    let ok = readiness_ok && outbox_ok;
    out.line(if ok {
        "\nnothing needs you"
    } else {
        "\nsomething needs you: see the lines marked ✗"
    });
    out.document(&json!({
        "command": "status",
        "ok": ok,
        "readiness": readiness,
        "outbox": outbox,
        "settings_problems": settings.problems,
    }));
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Readiness's part, printed: whether it is fine, and its `--json` document.
async fn readiness(out: Output, settings: &Settings) -> (bool, Value) {
    let client = match settings.client() {
        Ok(client) => client,
        Err(error) => {
            let message = match error.kind() {
                ErrorKind::MissingApiKey => "no Affitor API key: readiness is unknown".to_owned(),
                _ => ErrorReport::new(&error).to_string(),
            };
            let fix = match error.kind() {
                ErrorKind::MissingApiKey => missing_key_fix(),
                ErrorKind::InvalidApiKey => {
                    "copy the program API key again from Program Settings, with nothing around it"
                        .to_owned()
                }
                ErrorKind::InvalidBaseUrl => "check --api-url or AFFITOR_API_URL".to_owned(),
                _ => "this machine cannot start an HTTP client: check its TLS certificates"
                    .to_owned(),
            };
            return (false, failed(out, "readiness", &message, &fix));
        }
    };
    match client.readiness().send().await {
        Ok(readiness) => shown(out, &readiness),
        Err(error) => {
            let (message, fix) = match error.kind() {
                ErrorKind::Unauthorized => (
                    format!("{} refused the API key (401)", client.base_url()),
                    "copy the program API key again from Program Settings",
                ),
                _ => (
                    ErrorReport::new(&error).to_string(),
                    "check AFFITOR_API_URL and this machine's network; `affitor doctor` tells more",
                ),
            };
            (false, failed(out, "readiness", &message, fix))
        }
    }
}

/// Readiness as read: the counts, the last events, the gates that do not pass.
fn shown(out: Output, readiness: &Readiness) -> (bool, Value) {
    let counts = &readiness.counts_24h;
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    out.status(Status::Pass, "readiness", &program(readiness));
    out.status(
        Status::Pass,
        "last 24 hours",
        &format!(
            "{}, {}, {}",
            plural(counts.clicks, "click", "clicks"),
            plural(counts.leads, "lead", "leads"),
            plural(counts.sales, "sale", "sales")
        ),
    );
    let last = &readiness.last_event_at;
    let events = [
        ("click", &last.click),
        ("lead", &last.lead),
        ("sale", &last.sale),
    ];
    let seen: Vec<String> = events
        .iter()
        .filter_map(|(kind, at)| at.as_deref().map(|at| format!("{kind} {at}")))
        .collect();
    if seen.is_empty() {
        out.status(Status::Warn, "last event", "none yet");
    } else {
        out.status(Status::Pass, "last event", &seen.join(", "));
    }
    let failing: Vec<_> = gates(readiness)
        .into_iter()
        .filter(|gate| gate.status != Status::Pass)
        .collect();
    if failing.is_empty() {
        out.status(Status::Pass, "gates", "all pass");
    }
    for gate in &failing {
        out.status(gate.status, &gate.name, &gate.detail);
        if let Some(fix) = &gate.fix {
            out.hint(fix);
        }
    }
    let ok = failing.iter().all(|gate| gate.status != Status::Fail);
    let document = json!({
        "ok": ok,
        "program_id": readiness.program_id,
        "state": state_name(readiness),
        "counts_24h": { "clicks": counts.clicks, "leads": counts.leads, "sales": counts.sales },
        "last_event_at": { "click": last.click, "lead": last.lead, "sale": last.sale },
        "gates_not_passing": failing.iter().map(|gate| json!({
            "name": gate.name,
            "status": gate.status.name(),
            "detail": gate.detail,
            "fix": gate.fix,
        })).collect::<Vec<_>>(),
    });
    (ok, document)
}

/// The outbox's part, printed: whether it is fine, and its `--json` document (`null` when
/// `AFFITOR_OUTBOX` is unset).
async fn outbox(out: Output) -> (bool, Value) {
    if env_var(OUTBOX_VARIABLE).is_none() {
        out.status(
            Status::Skip,
            "outbox",
            &format!("{OUTBOX_VARIABLE} is unset: nothing to read"),
        );
        return (true, Value::Null);
    }
    let read = match open().await {
        // The location as the outbox shows it, never the variable's text: a mistyped Postgres
        // URL read as a new SQLite path may hold a password.
        Ok(Opened::New(shown)) => {
            out.status(
                Status::Skip,
                "outbox",
                &format!(
                    "no outbox at {} yet: the app creates it at its first start",
                    printable(&shown)
                ),
            );
            return (true, backlog_json(&shown, &Backlog::default(), true));
        }
        Ok(Opened::Outbox(outbox)) => {
            let backlog = outbox.backlog().await;
            outbox.shutdown(Duration::ZERO).await;
            // The outbox's location, not the variable's: a Postgres URL's password left out.
            let shown = outbox.location().to_owned();
            backlog
                .map(|backlog| (shown, backlog))
                .map_err(|error| ErrorReport::new(&error).to_string())
        }
        Err(failure) => Err(failure.message().to_owned()),
    };
    match read {
        Ok((shown, backlog)) => {
            let ok = backlog_ok(out, &shown, &backlog);
            (ok, backlog_json(&shown, &backlog, ok))
        }
        Err(message) => {
            let fix =
                "check AFFITOR_OUTBOX and that the database is up; `affitor doctor` tells more";
            (false, failed(out, "outbox", &message, fix))
        }
    }
}

/// Prints the backlog; whether nothing in it needs a person.
fn backlog_ok(out: Output, location: &str, backlog: &Backlog) -> bool {
    let stuck = backlog.oldest_waiting.is_some_and(|age| age > STUCK_AFTER);
    let oldest = backlog
        .oldest_waiting
        .map(|age| format!(", the oldest for {}", duration(age)))
        .unwrap_or_default();
    let awaiting_sale = match backlog.awaiting_sale {
        0 => String::new(),
        refunds => format!(", {refunds} refund(s) waiting for their sale"),
    };
    let waiting = format!(
        "{}: {} waiting ({} being sent{awaiting_sale}){oldest}",
        printable(location),
        backlog.waiting,
        backlog.in_flight
    );
    out.status(
        if stuck { Status::Fail } else { Status::Pass },
        "outbox",
        &waiting,
    );
    if stuck {
        out.hint(&format!(
            "a row has waited over {}: check that the app's relay runs and reaches the API \
             (its log says why it retries)",
            duration(STUCK_AFTER)
        ));
    }
    let dead = backlog.dead > 0;
    out.status(
        if dead { Status::Fail } else { Status::Pass },
        "dead letters",
        &backlog.dead.to_string(),
    );
    if dead {
        out.hint("`affitor outbox dead-letters` lists them with their reasons");
    }
    !stuck && !dead
}

fn backlog_json(location: &str, backlog: &Backlog, ok: bool) -> Value {
    json!({
        "ok": ok,
        "location": location,
        "waiting": backlog.waiting,
        "in_flight": backlog.in_flight,
        "dead": backlog.dead,
        "awaiting_sale": backlog.awaiting_sale,
        "oldest_waiting_seconds": backlog.oldest_waiting.map(|age| age.as_secs()),
        "stuck_after_seconds": STUCK_AFTER.as_secs(),
    })
}

/// Prints a part that could not be read, and answers its `--json` document.
fn failed(out: Output, part: &str, message: &str, fix: &str) -> Value {
    out.status(Status::Fail, part, message);
    out.hint(fix);
    json!({ "ok": false, "error": { "message": message, "fix": fix } })
}
