//! `affitor test`: the verification chain, then readiness until the integration is verified
//! (`chain`), or one event in test mode (`click`, `lead`, `sale`, `refund`).
//!
//! A refund is never a test (the API has none): `test refund` refunds only a sale `test sale`
//! made (a transaction id `affitor_cli_test_...`, which no provider writes) unless `--live`;
//! `test sale` takes no transaction id of any other shape: Affitor's transaction ids are unique
//! across every program, test sales included, so the real sale of that id (a provider's
//! payment, an order of the app's own) would be answered 409 and earn no commission.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::client::{ClickOutcome, ErrorKind, LeadOutcome, RefundOutcome, SaleOutcome};
use affitor::readiness::{ChainRun, ChainVerdict, Gate, Readiness, StepVerdict};
use affitor::{ClickId, Client, Error};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::output::{Output, Status, duration};
use crate::readiness::{next_action, state_name};
use crate::settings::{ApiArgs, Settings, missing_key_fix};

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: TestCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TestCommand {
    /// Run the verification chain (a synthetic click → lead → sale through Affitor's real
    /// attribution), then read readiness until the integration is verified or the time is up.
    Chain {
        /// How long to wait for `integration_verified`, in seconds (or `90s`, `2m`); at most
        /// a day (86400s, 1440m).
        #[arg(long, default_value = "60", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Send a click in test mode, linked to the program by its id (a click carries no key).
    Click {
        /// The program id (default: AFFITOR_PROGRAM_ID, `.affitor/.env`, or `program_id` in
        /// `.affitor/config.json`).
        #[arg(long)]
        program_id: Option<String>,
    },
    /// Send a lead in test mode (`additional_data.test_mode`): recorded apart, never attributed.
    Lead(EventArgs),
    /// Send a sale in test mode: recorded apart, no commission.
    Sale(SaleArgs),
    /// Refund a test sale: with no --transaction-id, one sent first. A refund is never a test:
    /// any other sale needs --live.
    Refund(RefundArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EventArgs {
    /// The customer key (your user id).
    #[arg(long, default_value = "affitor_cli_test")]
    customer_key: String,
    /// A click id (the `affitor_click_id` cookie's value).
    #[arg(long)]
    click_id: Option<ClickId>,
}

#[derive(Debug, Args)]
pub(crate) struct SaleArgs {
    #[command(flatten)]
    event: EventArgs,
    /// The sale's transaction id (default: a new one each time): one beginning with
    /// `affitor_cli_test_`, which no real sale has.
    #[arg(long)]
    transaction_id: Option<String>,
    /// The amount, in cents.
    #[arg(long, default_value_t = 4900)]
    amount_cents: u64,
}

#[derive(Debug, Args)]
pub(crate) struct RefundArgs {
    /// The transaction id of the sale to refund: one `affitor test sale` made (default: a sale
    /// sent first, in test mode), or any with --live.
    #[arg(long)]
    transaction_id: Option<String>,
    /// The refunded amount, in cents, for a partial refund (default: all of it).
    #[arg(long)]
    amount_cents: Option<u64>,
    /// Refund a sale `affitor test sale` did not make: for real, reversing its commission.
    #[arg(long)]
    live: bool,
}

/// The longest `test chain --timeout`: a day, far beyond readiness's reads of a working
/// integration, and well within what a deadline of `Instant` can hold.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Reads `60`, `90s` or `2m`, at most [`MAX_TIMEOUT`].
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix('m') {
        Some(minutes) => (minutes, 60),
        None => (text.strip_suffix('s').unwrap_or(text), 1),
    };
    let number = number.trim().parse::<u64>().map_err(|_| {
        format!("`{text}` is not a duration: write seconds (`60`, `90s`) or minutes (`2m`)")
    })?;
    number
        .checked_mul(unit)
        .map(Duration::from_secs)
        .filter(|timeout| *timeout <= MAX_TIMEOUT)
        .ok_or_else(|| {
            let max = MAX_TIMEOUT.as_secs();
            format!(
                "`{text}` is too long: the largest timeout is {max}s ({}m, a day)",
                max / 60
            )
        })
}

pub(crate) async fn run(out: Output, args: TestArgs) -> ExitCode {
    let TestArgs { api, command } = args;
    let name = match &command {
        TestCommand::Chain { .. } => "test chain",
        TestCommand::Click { .. } => "test click",
        TestCommand::Lead(_) => "test lead",
        TestCommand::Sale(_) => "test sale",
        TestCommand::Refund(_) => "test refund",
    };
    let program_id = match &command {
        TestCommand::Click { program_id } => program_id.as_deref(),
        _ => None,
    };
    let settings = Settings::load(&api, program_id);
    for problem in &settings.problems {
        out.status(Status::Warn, "settings", problem);
    }
    if name == "test click" && settings.program_id.is_none() {
        let fix = "pass --program-id, set AFFITOR_PROGRAM_ID, or run `npx affitor init` (it \
                   writes program_id in .affitor/config.json); the id is in the dashboard";
        return refused(
            out,
            name,
            "no program id: a test click is linked by it",
            fix,
        );
    }
    // A click is a test only when its client says so (it carries no key to say it with).
    let client = match settings.builder().test_mode(name == "test click").build() {
        Ok(client) => client,
        Err(error) => return failed(out, name, &error, json!({})),
    };
    match command {
        TestCommand::Chain { timeout } => chain(out, &client, timeout).await,
        TestCommand::Click { .. } => click(out, &client).await,
        TestCommand::Lead(args) => lead(out, &client, args).await,
        TestCommand::Sale(args) => sale(out, &client, args).await,
        TestCommand::Refund(args) => refund(out, &client, args).await,
    }
}

/// Prints why `command` failed, with what to do, and exits 1.
fn failed(out: Output, command: &str, error: &Error, mut document: Value) -> ExitCode {
    // The library's message names its own call; the CLI says it in its flags and files.
    let message = match error.kind() {
        ErrorKind::MissingApiKey => "no Affitor API key".to_owned(),
        ErrorKind::MissingCustomer => format!("{command} needs a customer key or a click id"),
        // Its text names `AFFITOR_API_KEY`, where the key may have come from `--api-key` or a
        // file: `affitor doctor` says which.
        ErrorKind::Unauthorized => "the API refused the API key (401)".to_owned(),
        _ => error.to_string().replace('\n', " "),
    };
    out.status(Status::Fail, command, &message);
    let fix = match error.kind() {
        ErrorKind::MissingApiKey => Some(missing_key_fix()),
        ErrorKind::MissingCustomer => {
            Some("pass --customer-key (your user id) or --click-id".to_owned())
        }
        ErrorKind::Unauthorized => Some(
            "copy the program API key again from Program Settings (a management key, affk_, is \
             refused); `affitor doctor` says where the key was read from"
                .to_owned(),
        ),
        ErrorKind::RateLimited => Some(rate_limit_fix(command, error)),
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Network => Some(
            "check AFFITOR_API_URL and this machine's network; `affitor doctor` tells more"
                .to_owned(),
        ),
        _ => None,
    };
    if let Some(fix) = &fix {
        out.hint(fix);
    }
    document["command"] = json!(command);
    document["ok"] = json!(false);
    document["error"] = json!({
        "kind": kind_name(error.kind()),
        "message": message,
        "status": error.status().map(|status| status.as_u16()),
        "retry_after_seconds": error.retry_after().map(|wait| wait.as_secs()),
        "fix": fix,
    });
    out.document(&document);
    ExitCode::FAILURE
}

/// What to do about a 429: the chains' hourly limit only where it is the one hit (`test chain`,
/// or an answer that says so), else the wait the API asked for (`Retry-After`).
fn rate_limit_fix(command: &str, error: &Error) -> String {
    let wait = error.retry_after().unwrap_or(Duration::from_secs(60));
    let of_chains = error
        .message()
        .is_some_and(|text| text.to_lowercase().contains("chain"));
    if command == "test chain" || of_chains {
        return format!(
            "the program ran its 10 chains of the hour: try again in {}",
            duration(wait)
        );
    }
    format!(
        "the API asks this key to slow down: wait {}, then try again",
        duration(wait)
    )
}

/// An error's kind as `--json` writes it: a name of the CLI's own, the same whatever the
/// library's `Debug` prints (it has no name of its own to give); `Other` for a kind newer than
/// this table.
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::MissingApiKey => "MissingApiKey",
        ErrorKind::InvalidApiKey => "InvalidApiKey",
        ErrorKind::InvalidBaseUrl => "InvalidBaseUrl",
        ErrorKind::HttpClient => "HttpClient",
        ErrorKind::MissingCustomer => "MissingCustomer",
        ErrorKind::InvalidAmount => "InvalidAmount",
        ErrorKind::MissingTransactionId => "MissingTransactionId",
        ErrorKind::InvalidKey => "InvalidKey",
        ErrorKind::InvalidCurrency => "InvalidCurrency",
        ErrorKind::UnsupportedCurrency => "UnsupportedCurrency",
        ErrorKind::MissingAffiliateUrl => "MissingAffiliateUrl",
        ErrorKind::Unauthorized => "Unauthorized",
        ErrorKind::RateLimited => "RateLimited",
        ErrorKind::Rejected => "Rejected",
        ErrorKind::SaleNotFound => "SaleNotFound",
        ErrorKind::Server => "Server",
        ErrorKind::CommissionNotCreated => "CommissionNotCreated",
        ErrorKind::Timeout => "Timeout",
        ErrorKind::Connect => "Connect",
        ErrorKind::Network => "Network",
        ErrorKind::Decode => "Decode",
        ErrorKind::InvalidEvent => "InvalidEvent",
        ErrorKind::NotStored => "NotStored",
        _ => "Other",
    }
}

/// The chain, then readiness until `integration_verified` or `timeout`.
async fn chain(out: Output, client: &Client, timeout: Duration) -> ExitCode {
    // `parse_duration` bounds the timeout; a clock near its end still never panics here.
    let Some(deadline) = Instant::now().checked_add(timeout) else {
        let problem = format!("a timeout of {} is too long", duration(timeout));
        let fix = format!("pass --timeout {}s or less", MAX_TIMEOUT.as_secs());
        return refused(out, "test chain", &problem, &fix);
    };
    let spinner = out.spinner("running the verification chain: click → lead → sale");
    // One readiness read comes with the chain; the polls below print each verdict.
    let verification = client
        .verification()
        .polls(1)
        .poll_interval(Duration::ZERO)
        .send()
        .await;
    let verification = match verification {
        Ok(verification) => verification,
        Err(error) => {
            drop(spinner);
            return failed(out, "test chain", &error, json!({}));
        }
    };
    let run = verification.chain;
    out.status(
        if run.attributed {
            Status::Pass
        } else {
            Status::Fail
        },
        "chain",
        &chain_text(&run),
    );
    let mut readiness = verification.readiness;
    let mut reads = vec![readiness_json(&readiness)];
    print_readiness(out, &readiness);
    while run.attributed && !readiness.integration_verified {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let wait = readiness.poll_interval.min(left);
        spinner.set_message(format!(
            "waiting {} for readiness (retry_after_seconds), {} left",
            duration(wait),
            duration(left)
        ));
        tokio::time::sleep(wait).await;
        spinner.set_message("reading readiness");
        readiness = match client.readiness().send().await {
            Ok(readiness) => readiness,
            Err(error) => {
                drop(spinner);
                let document = json!({ "chain": chain_json(&run), "readiness": reads });
                return failed(out, "test chain", &error, document);
            }
        };
        reads.push(readiness_json(&readiness));
        print_readiness(out, &readiness);
    }
    drop(spinner);
    let verified = run.attributed && readiness.integration_verified;
    if verified {
        out.status(
            Status::Pass,
            "integration verified",
            &crate::doctor::program(&readiness),
        );
    } else if !run.attributed {
        out.status(
            Status::Fail,
            "not verified",
            "the synthetic sale was not attributed",
        );
        out.hint(&chain_fix(&run));
    } else {
        out.status(
            Status::Fail,
            "not verified",
            &format!("not within {}", duration(timeout)),
        );
        if let Some((gate, report)) = readiness.blocking_gate() {
            let action = report.next_action.as_deref().map_or_else(
                || "see the program in the Affitor dashboard".to_owned(),
                |action| next_action(action, report.endpoint.as_deref()),
            );
            out.hint(&format!("blocked at the {gate} gate: {action}"));
        }
    }
    out.document(&json!({
        "command": "test chain",
        "ok": verified,
        "verified": verified,
        "chain": chain_json(&run),
        "readiness": reads,
    }));
    if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What to do when the synthetic sale was not attributed.
fn chain_fix(run: &ChainRun) -> String {
    if run.verdict.sale == StepVerdict::Unattributed {
        return "an unattributed synthetic sale usually means the program has no active \
                commission policy: set one in the Affitor dashboard, then run this again"
            .to_owned();
    }
    "run `affitor doctor` to see which gate blocks the program".to_owned()
}

/// `click attributed · lead attributed · sale attributed`.
fn chain_text(run: &ChainRun) -> String {
    let ChainVerdict {
        click, lead, sale, ..
    } = &run.verdict;
    format!("click {click} · lead {lead} · sale {sale}")
}

fn chain_json(run: &ChainRun) -> Value {
    json!({
        "attributed": run.attributed,
        "short_code": run.short_code,
        "customer_key": run.customer_key,
        "verdict": {
            "click": run.verdict.click.as_str(),
            "lead": run.verdict.lead.as_str(),
            "sale": run.verdict.sale.as_str(),
        },
    })
}

fn print_readiness(out: Output, readiness: &Readiness) {
    let verdict = match readiness.blocking_gate() {
        _ if readiness.integration_verified => "integration verified".to_owned(),
        Some((gate, report)) => match &report.next_action {
            Some(action) => format!("blocked at {gate}: {action}"),
            None => format!("blocked at {gate}"),
        },
        None => "every gate passes, not verified yet".to_owned(),
    };
    let status = if readiness.integration_verified {
        Status::Pass
    } else {
        Status::Warn
    };
    out.status(
        status,
        "readiness",
        &format!("state {} · {verdict}", state_name(readiness)),
    );
}

fn readiness_json(readiness: &Readiness) -> Value {
    let gates: serde_json::Map<String, Value> = readiness
        .gates
        .iter()
        .map(|(gate, report)| {
            (
                gate.to_string(),
                json!({ "status": report.status.as_str(), "next_action": report.next_action }),
            )
        })
        .collect();
    json!({
        "state": state_name(readiness),
        "integration_verified": readiness.integration_verified,
        "blocker": readiness.blocker.as_ref().map(Gate::as_str),
        "gates": gates,
        "retry_after_seconds": readiness.poll_interval.as_secs(),
    })
}

/// A click in test mode: no `aff` code, the program named by its id.
async fn click(out: Output, client: &Client) -> ExitCode {
    let spinner = out.spinner("sending a test click");
    let sent = client.click("").send().await;
    drop(spinner);
    match sent {
        Ok(outcome) => {
            let (label, event_id) = match outcome {
                ClickOutcome::Test { event_id, .. } => ("test", event_id),
                ClickOutcome::Recorded { .. } => ("recorded", None),
                ClickOutcome::Inactive { .. } => ("inactive", None),
                _ => ("other", None),
            };
            out.status(Status::Pass, "test click", &outcome_text(label, event_id));
            out.document(&json!({
                "command": "test click", "ok": true, "outcome": label, "event_id": event_id,
            }));
            ExitCode::SUCCESS
        }
        Err(error) => failed(out, "test click", &error, json!({})),
    }
}

async fn lead(out: Output, client: &Client, args: EventArgs) -> ExitCode {
    let spinner = out.spinner("sending a test lead");
    let sent = client
        .lead(&args.customer_key)
        .click_id(args.click_id)
        .event_name("affitor_cli_test")
        .test_mode(true)
        .send()
        .await;
    drop(spinner);
    match sent {
        Ok(outcome) => {
            let (label, event_id) = match outcome {
                LeadOutcome::Test { event_id, .. } => ("test", event_id),
                LeadOutcome::Tracked => ("tracked", None),
                LeadOutcome::Provisional => ("provisional", None),
                _ => ("other", None),
            };
            out.status(Status::Pass, "test lead", &outcome_text(label, event_id));
            out.document(&json!({
                "command": "test lead", "ok": true, "outcome": label, "event_id": event_id,
            }));
            ExitCode::SUCCESS
        }
        Err(error) => failed(out, "test lead", &error, json!({})),
    }
}

fn outcome_text(label: &str, event_id: Option<u64>) -> String {
    match event_id {
        Some(id) => format!("accepted: {label} event {id}"),
        None => format!("accepted: {label}"),
    }
}

/// The prefix of the transaction ids `test sale` makes: no provider's ids begin with it.
const TEST_PREFIX: &str = "affitor_cli_test_";

/// A transaction id no earlier test used: Affitor's transaction ids are unique across every
/// program, test sales included.
fn fresh_transaction_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{TEST_PREFIX}{}_{}", now.as_millis(), std::process::id())
}

/// Which provider's payment `id` looks like, when it looks like one: a Stripe payment intent,
/// invoice or charge, a Paddle transaction, a Polar order (a UUID), a Lemon Squeezy order or
/// subscription invoice, as the webhooks key their sales.
pub(crate) fn providers_payment(id: &str) -> Option<&'static str> {
    const PREFIXES: [(&str, &str); 6] = [
        ("pi_", "a Stripe payment intent"),
        ("in_", "a Stripe invoice"),
        ("ch_", "a Stripe charge"),
        ("py_", "a Stripe payment"),
        ("txn_", "a Paddle transaction"),
        ("orders/", "a Lemon Squeezy order"),
    ];
    let id = id.trim();
    if let Some((_, what)) = PREFIXES.iter().find(|(prefix, _)| id.starts_with(prefix)) {
        return Some(what);
    }
    if id.starts_with("subscription-invoices/") {
        return Some("a Lemon Squeezy subscription invoice");
    }
    let uuid = id.len() == 36
        && id.char_indices().all(|(at, c)| match at {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    uuid.then_some("a Polar order")
}

/// A sale in test mode; its transaction id and outcome.
async fn send_test_sale(
    client: &Client,
    args: &SaleArgs,
) -> Result<(String, &'static str, Option<u64>), Error> {
    let transaction_id = args
        .transaction_id
        .clone()
        .unwrap_or_else(fresh_transaction_id);
    let outcome = client
        .sale(&transaction_id, args.amount_cents)
        .customer_key(&args.event.customer_key)
        .click_id(args.event.click_id.clone())
        .test_mode(true)
        .send()
        .await?;
    let (label, id) = match outcome {
        SaleOutcome::Test { event_id, .. } => ("test", event_id),
        SaleOutcome::Recorded { sale_id, .. } => ("recorded", sale_id),
        SaleOutcome::AlreadyRecorded => ("already_recorded", None),
        SaleOutcome::NotAttributed { .. } => ("not_attributed", None),
        _ => ("other", None),
    };
    Ok((transaction_id, label, id))
}

/// Why `taker`, a test sale, may not take the transaction id `id`, of no test form: Affitor's
/// transaction ids are unique across test sales too, so the real sale of it (which `id` may
/// look like: [`providers_payment`]) would be answered 409 and earn no commission.
pub(crate) fn real_sale_taken(id: &str, taker: &str) -> String {
    let real = providers_payment(id).map_or_else(
        || "a real sale's".to_owned(),
        |what| format!("it looks like {what}: that sale's"),
    );
    format!(
        "`{id}` is not a test transaction id; {real} transaction id would be taken by {taker}, \
         and the real sale then answered 409, with no commission"
    )
}

async fn sale(out: Output, client: &Client, args: SaleArgs) -> ExitCode {
    if let Some(id) = &args.transaction_id
        && !id.starts_with(TEST_PREFIX)
    {
        let problem = real_sale_taken(id, "this test sale");
        let fix = format!(
            "leave --transaction-id out for a new one, or begin yours with `{TEST_PREFIX}`"
        );
        return refused(out, "test sale", &problem, &fix);
    }
    let spinner = out.spinner("sending a test sale");
    let sent = send_test_sale(client, &args).await;
    drop(spinner);
    match sent {
        Ok((transaction_id, label, event_id)) => {
            out.status(
                Status::Pass,
                "test sale",
                &format!("{} ({transaction_id})", outcome_text(label, event_id)),
            );
            out.document(&json!({
                "command": "test sale", "ok": true, "transaction_id": transaction_id,
                "outcome": label, "event_id": event_id,
            }));
            ExitCode::SUCCESS
        }
        Err(error) => failed(out, "test sale", &error, json!({})),
    }
}

/// Prints why `command` sent nothing, with what to do, and exits 1.
fn refused(out: Output, command: &str, problem: &str, fix: &str) -> ExitCode {
    out.status(Status::Fail, command, problem);
    out.hint(fix);
    out.document(&json!({
        "command": command, "ok": false, "error": { "message": problem, "fix": fix },
    }));
    ExitCode::FAILURE
}

async fn refund(out: Output, client: &Client, args: RefundArgs) -> ExitCode {
    if let Some(id) = &args.transaction_id
        && !id.starts_with(TEST_PREFIX)
    {
        if !args.live {
            let problem = format!(
                "`{id}` is not a sale `affitor test sale` made: a refund is never a test (the API \
                 has none), so this would reverse that sale's commission for real"
            );
            let fix = "refund a test sale (leave --transaction-id out, or give the id `affitor \
                       test sale` printed), or pass --live to refund this sale for real";
            return refused(out, "test refund", &problem, fix);
        }
        out.status(
            Status::Warn,
            "live refund",
            &format!("{id}: its commission is reversed for real"),
        );
    }
    let spinner = out.spinner("sending a test refund");
    let mut document = json!({ "command": "test refund" });
    let transaction_id = match args.transaction_id {
        Some(transaction_id) => transaction_id,
        None => {
            let sale = SaleArgs {
                event: EventArgs {
                    customer_key: "affitor_cli_test".to_owned(),
                    click_id: None,
                },
                transaction_id: None,
                amount_cents: 4900,
            };
            match send_test_sale(client, &sale).await {
                Ok((transaction_id, label, event_id)) => {
                    out.status(
                        Status::Pass,
                        "test sale",
                        &format!("{} ({transaction_id})", outcome_text(label, event_id)),
                    );
                    document["sale"] = json!({
                        "transaction_id": transaction_id, "outcome": label, "event_id": event_id,
                    });
                    transaction_id
                }
                Err(error) => {
                    drop(spinner);
                    return failed(out, "test refund", &error, document);
                }
            }
        }
    };
    let mut request = client.refund(&transaction_id).reason("affitor_cli_test");
    if let Some(amount) = args.amount_cents {
        request = request.amount_cents(amount);
    }
    let sent = request.send().await;
    drop(spinner);
    match sent {
        Ok(outcome) => {
            let label = match &outcome {
                RefundOutcome::Reversed { .. } => "reversed",
                RefundOutcome::PartiallyRefunded { .. } => "refunded",
                RefundOutcome::Skipped { .. } => "skipped",
                RefundOutcome::NoCommission => "no_commission",
                RefundOutcome::Other { status, .. } => status,
                _ => "other",
            };
            out.status(
                Status::Pass,
                "test refund",
                &format!("accepted: {} ({transaction_id})", refund_text(label)),
            );
            document["ok"] = json!(true);
            document["transaction_id"] = json!(transaction_id);
            document["outcome"] = json!(label);
            out.document(&document);
            ExitCode::SUCCESS
        }
        Err(error) => failed(out, "test refund", &error, document),
    }
}

/// A refund's outcome in words: `no_commission` is an accepted refund of a sale that earned
/// none (every test sale), not a failure.
fn refund_text(label: &str) -> String {
    match label {
        "no_commission" => "refunded; the sale earned no commission, so none to reverse \
                            (no_commission)"
            .to_owned(),
        "reversed" => "refunded; its commission reversed (reversed)".to_owned(),
        label => label.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_seconds_and_minutes() {
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").unwrap_err().contains("`soon`"));
        assert_eq!(parse_duration("1440m"), Ok(MAX_TIMEOUT));
        assert_eq!(parse_duration("86400s"), Ok(MAX_TIMEOUT));
    }

    /// A timeout no deadline can hold is refused, naming the largest, never a panic (`u64::MAX`
    /// seconds past now, or minutes whose seconds overflow).
    #[test]
    fn timeouts_beyond_a_day_are_refused_naming_the_largest() {
        for refused in [
            "86401",
            "1441m",
            "18446744073709551615",
            "18446744073709551615m",
            "307445734561825861m",
        ] {
            let error = parse_duration(refused).unwrap_err();
            assert!(error.contains("the largest timeout is 86400s"), "{error}");
            assert!(error.contains(&format!("`{refused}`")), "{error}");
        }
    }

    /// `--json`'s kinds are the CLI's table, the names scripts match (`Unauthorized`), not
    /// whatever the library's `Debug` prints.
    #[test]
    fn error_kinds_have_names_of_their_own() {
        let names = [
            (ErrorKind::MissingApiKey, "MissingApiKey"),
            (ErrorKind::Unauthorized, "Unauthorized"),
            (ErrorKind::RateLimited, "RateLimited"),
            (ErrorKind::Connect, "Connect"),
            (ErrorKind::NotStored, "NotStored"),
        ];
        for (kind, name) in names {
            assert_eq!(kind_name(kind), name);
        }
        let error = Client::builder().build().unwrap_err();
        assert_eq!(kind_name(error.kind()), "MissingApiKey");
    }

    #[test]
    fn provider_payments_are_told_by_their_shape() {
        for (id, what) in [
            ("pi_3QpLyxLkdIwHu7ix0mS3hXkT", "a Stripe payment intent"),
            ("in_1RaBc9LkdIwHu7ixCycle0002", "a Stripe invoice"),
            ("txn_01hv8wptq8987qeep44cyrewp9", "a Paddle transaction"),
            ("b6a1f0c2-4e5d-4c3b-9a8f-7e6d5c4b3a21", "a Polar order"),
            ("orders/1012345", "a Lemon Squeezy order"),
            (
                "subscription-invoices/7",
                "a Lemon Squeezy subscription invoice",
            ),
        ] {
            assert_eq!(providers_payment(id), Some(what), "{id}");
        }
        for own in [
            "affitor_cli_test_1_2",
            "order-1001",
            "my_pi_1",
            "invoice_42",
        ] {
            assert_eq!(providers_payment(own), None, "{own}");
        }
        assert_eq!(providers_payment(&fresh_transaction_id()), None);
    }

    #[test]
    fn fresh_transaction_ids_differ() {
        let first = fresh_transaction_id();
        std::thread::sleep(Duration::from_millis(2));
        assert_ne!(first, fresh_transaction_id());
        assert!(first.starts_with("affitor_cli_test_"));
    }
}
