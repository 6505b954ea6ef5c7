//! `affitor doctor`: what an integration needs, each check passed or failed with what to do.
//!
//! The checks, in order: the API key present and in its shape, the API URL and the program id,
//! each with where it came from (a flag, the environment, `.affitor/`), the API reachable and
//! the key accepted, readiness's five gates with their `next_action`, the outbox (`AFFITOR_OUTBOX`)
//! reachable with its schema current, and each payment provider's webhook secret in the shape
//! the provider issues. Nothing is sent but one readiness read, and nothing is written.

use std::process::ExitCode;
use std::time::Duration;

use affitor::client::ErrorKind;
use affitor::readiness::{Gate, GateReport, GateStatus, Readiness};
use affitor::webhook::{LemonSqueezy, Paddle, Polar, Provider, SecretShape, Stripe};
use affitor::{Client, Error, ErrorReport};
use affitor_outbox::{Outbox, OutboxError};
use serde_json::{Value, json};

use crate::output::{Output, Status};
use crate::readiness::{next_action, state_name};
use crate::settings::{API_KEY_VARIABLE, ApiArgs, Setting, Settings, missing_key_fix};
use crate::{api_client, env_var};

/// The variable of the outbox's location, as the examples and `Outbox::open` read it.
const OUTBOX_VARIABLE: &str = "AFFITOR_OUTBOX";

/// How long the outbox may take to open before it is called unreachable.
const OUTBOX_TIMEOUT: Duration = Duration::from_secs(20);

/// One check: what was checked, how it ended, what was found, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) status: Status,
    pub(crate) detail: String,
    pub(crate) fix: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "status": self.status.name(),
            "detail": self.detail,
            "fix": self.fix,
        })
    }
}

/// Runs every check, prints them, and exits non-zero when one failed.
pub(crate) async fn run(out: Output, api: &ApiArgs) -> ExitCode {
    let spinner = out.spinner("checking the integration");
    let checks = checks(&Settings::load(api, None)).await;
    drop(spinner);
    let ok = checks.iter().all(|check| check.status != Status::Fail);
    out.heading("affitor doctor");
    for check in &checks {
        out.status(check.status, &check.name, &check.detail);
        if let Some(fix) = &check.fix {
            out.hint(fix);
        }
    }
    let failed = checks
        .iter()
        .filter(|check| check.status == Status::Fail)
        .count();
    if ok {
        out.line("\nall checks passed");
    } else {
        out.line(format_args!(
            "\n{failed} check{} failed",
            if failed == 1 { "" } else { "s" }
        ));
    }
    out.document(&json!({
        "command": "doctor",
        "ok": ok,
        "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
    }));
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Every check, in order.
async fn checks(settings: &Settings) -> Vec<Check> {
    let mut checks: Vec<Check> = settings
        .problems
        .iter()
        .map(|problem| {
            Check::new("settings", Status::Warn, problem.as_str())
                .fix("fix the file, or run `npx affitor init` again; its values were left out")
        })
        .collect();
    let built = settings.client();
    checks.push(match &built {
        Err(error) if error.kind() == ErrorKind::InvalidApiKey => {
            let source = settings
                .api_key
                .as_ref()
                .map_or_else(String::new, |key| format!(" (from {})", key.source));
            Check::new("API key", Status::Fail, format!("{}{source}", short(error)))
                .fix("copy the program API key again from Program Settings, with nothing around it")
        }
        _ => api_key(settings.api_key.as_ref()),
    });
    let client = match built {
        Ok(client) => {
            let source = settings.api_url.as_ref().map_or_else(
                || "the default".to_owned(),
                |url| format!("from {}", url.source),
            );
            let detail = format!("{} ({source})", client.base_url());
            checks.push(match &settings.ignored_api_url {
                // Said here too, for `--json`: the URL the project's file names is not used.
                Some(ignored) => Check::new(
                    "API URL",
                    Status::Warn,
                    format!("{detail}; {} ({}) ignored", ignored.source, ignored.value),
                )
                .fix(
                    "a project's file names the API only for the key in the same .affitor \
                     directory: pass --api-url or set AFFITOR_API_URL to use that URL, or keep \
                     the key in that directory's .env",
                ),
                None => Check::new("API URL", Status::Pass, detail),
            });
            Some(client)
        }
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::MissingApiKey | ErrorKind::InvalidApiKey
            ) =>
        {
            None
        }
        Err(error) if error.kind() == ErrorKind::InvalidBaseUrl => {
            let source = settings
                .api_url
                .as_ref()
                .map_or_else(String::new, |url| format!(" (from {})", url.source));
            checks.push(
                Check::new("API URL", Status::Fail, format!("{}{source}", short(&error)))
                    .fix("set AFFITOR_API_URL to the API's base URL, or unset it for https://api.affitor.com"),
            );
            None
        }
        Err(error) => {
            checks.push(
                Check::new("HTTP client", Status::Fail, short(&error))
                    .fix("this machine cannot start an HTTP client: check its TLS certificates"),
            );
            None
        }
    };
    checks.push(program_id(settings.program_id.as_ref()));
    match &client {
        Some(client) => checks.extend(api(client).await),
        None => {
            let skipped = "skipped: needs a usable API key";
            checks.push(Check::new("API reachable", Status::Skip, skipped));
            checks.push(Check::new("readiness", Status::Skip, skipped));
        }
    }
    checks.push(outbox(env_var(OUTBOX_VARIABLE).as_deref()).await);
    checks.push(webhook_secret::<Stripe>());
    checks.push(webhook_secret::<Polar>());
    checks.push(webhook_secret::<Paddle>());
    checks.push(webhook_secret::<LemonSqueezy>());
    checks
}

/// The key's presence, shape and source; never the key itself.
fn api_key(key: Option<&Setting>) -> Check {
    const NAME: &str = "API key";
    let Some(Setting { value, source }) = key else {
        return Check::new(
            NAME,
            Status::Fail,
            format!("{API_KEY_VARIABLE} is unset, and no --api-key or .affitor/.env gives one"),
        )
        .fix(missing_key_fix());
    };
    let key = value.trim();
    if key.starts_with("affk_") {
        return Check::new(
            NAME,
            Status::Fail,
            format!("the key from {source} is a management key (affk_...)"),
        )
        .fix("tracking calls need the program API key (aff_...), from Program Settings");
    }
    if !key.starts_with("aff_") {
        return Check::new(
            NAME,
            Status::Warn,
            format!("the key from {source} does not start with aff_, as program keys do"),
        )
        .fix("check it is the program API key from Program Settings");
    }
    Check::new(NAME, Status::Pass, format!("set (aff_...), from {source}"))
}

/// The program id and its source: only `affitor test click` needs it.
fn program_id(program_id: Option<&Setting>) -> Check {
    match program_id {
        Some(Setting { value, source }) => Check::new(
            "program id",
            Status::Pass,
            format!("{value}, from {source}"),
        ),
        None => Check::new(
            "program id",
            Status::Skip,
            "unset: only `affitor test click` needs it (AFFITOR_PROGRAM_ID, or `program_id` in \
             .affitor/config.json)",
        ),
    }
}

/// One readiness read: the API reachable, the key accepted, the five gates.
async fn api(client: &Client) -> Vec<Check> {
    match client.readiness().send().await {
        Ok(readiness) => {
            let mut checks = vec![Check::new(
                "API reachable",
                Status::Pass,
                format!(
                    "{}, key accepted: {}",
                    client.base_url(),
                    program(&readiness)
                ),
            )];
            checks.extend(gates(&readiness));
            checks
        }
        Err(error) if error.kind() == ErrorKind::Unauthorized => vec![
            Check::new(
                "API reachable",
                Status::Fail,
                format!("{} refused the API key (401)", client.base_url()),
            )
            .fix(
                "copy the program API key again from Program Settings: a regenerated key \
                 replaces the old one at once; a management key (affk_) is refused",
            ),
            Check::new("readiness", Status::Skip, "skipped: the key was refused"),
        ],
        Err(error) => vec![
            Check::new("API reachable", Status::Fail, short(&error)).fix(unreachable_fix(&error)),
            Check::new("readiness", Status::Skip, "skipped: the API did not answer"),
        ],
    }
}

/// `program 42, state ready`.
pub(crate) fn program(readiness: &Readiness) -> String {
    let program = readiness
        .program_id
        .map_or_else(|| "the program".to_owned(), |id| format!("program {id}"));
    format!("{program}, state {}", state_name(readiness))
}

/// An error's message, on one line.
fn short(error: &Error) -> String {
    error.to_string().replace('\n', " ")
}

/// What to do when the API could not be read.
fn unreachable_fix(error: &Error) -> String {
    match error.kind() {
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Network => {
            "check AFFITOR_API_URL (unset: https://api.affitor.com) and that this machine reaches \
             it (a proxy, a firewall)"
                .to_owned()
        }
        ErrorKind::Rejected | ErrorKind::Decode => {
            "the answer is not the Affitor API's: check that AFFITOR_API_URL is its base URL \
             (scheme, host and port, no path)"
                .to_owned()
        }
        _ => {
            "try again shortly; if it goes on, see status.affitor.com or Affitor support".to_owned()
        }
    }
}

/// A check per readiness gate, with its `next_action` as what to do.
pub(crate) fn gates(readiness: &Readiness) -> Vec<Check> {
    readiness
        .gates
        .iter()
        .map(|(gate, report)| gate_check(&gate, report))
        .collect()
}

fn gate_check(gate: &Gate, report: &GateReport) -> Check {
    let name = format!("gate: {gate}");
    let mut detail = report.status.to_string();
    for extra in [&report.detail, &report.mode].into_iter().flatten() {
        detail = format!("{detail} ({extra})");
    }
    let status = match report.status {
        GateStatus::Pass => Status::Pass,
        GateStatus::Fail => Status::Fail,
        _ => Status::Warn,
    };
    let check = Check::new(name, status, detail);
    match (&report.next_action, status) {
        (Some(action), _) => check.fix(next_action(action, report.endpoint.as_deref())),
        (None, Status::Fail) => check.fix("see the program's page in the Affitor dashboard"),
        (None, _) => check,
    }
}

/// The outbox at `location`, as `OutboxBuilder::check` finds it (which store the location names
/// is the library's reading): reachable (TLS included), its schema current, and writable.
/// Nothing is created or changed: a SQLite file that does not exist yet is not created, and
/// tables missing or not this version's are reported, left to the app's start.
async fn outbox(location: Option<&str>) -> Check {
    const NAME: &str = "outbox";
    let Some(location) = location.map(str::trim) else {
        return Check::new(
            NAME,
            Status::Skip,
            format!("{OUTBOX_VARIABLE} is unset: events wait in memory until they are sent"),
        )
        .fix(format!(
            "for delivery that survives a restart, set {OUTBOX_VARIABLE} to a SQLite path or a \
             postgres:// URL"
        ));
    };
    // A client is all the outbox needs to open; it never sends through it.
    let client = match api_client().or_else(|_| Client::builder().api_key("aff_doctor").build()) {
        Ok(client) => client,
        Err(error) => return Check::new(NAME, Status::Fail, short(&error)),
    };
    let checked = Outbox::builder(client).check(location);
    match tokio::time::timeout(OUTBOX_TIMEOUT, checked).await {
        Ok(Ok(found)) if found.is_new() => Check::new(
            NAME,
            Status::Pass,
            format!(
                "no file yet at {}: the app creates it at its first start",
                found.location()
            ),
        ),
        Ok(Ok(found)) => outbox_found(
            format!("{}: schema current", found.location()),
            found.tls_warning().map(str::to_owned),
        ),
        Ok(Err(error)) => Check::new(NAME, Status::Fail, ErrorReport::new(&error).to_string())
            .fix(outbox_fix(&error)),
        Err(_) => Check::new(
            NAME,
            Status::Fail,
            format!(
                "the outbox did not open within {}s",
                OUTBOX_TIMEOUT.as_secs()
            ),
        )
        .fix("check that the database is up and reachable from this machine"),
    }
}

/// The check of an outbox that opened: passed, or a warning of its connection (a Postgres
/// server on another machine reached below `sslmode=verify-full`).
fn outbox_found(detail: String, tls_warning: Option<String>) -> Check {
    match tls_warning {
        None => Check::new("outbox", Status::Pass, detail),
        Some(warning) => Check::new("outbox", Status::Warn, format!("{detail}; {warning}")).fix(
            "connect with sslmode=verify-full and sslrootcert set to your CA's file (sqlx 0.9 \
             trusts it beside the public web's CAs), the server's certificate naming the host \
             in AFFITOR_OUTBOX",
        ),
    }
}

/// What to do about an outbox that did not open.
fn outbox_fix(error: &OutboxError) -> &'static str {
    match error {
        OutboxError::Open { .. } => {
            "check AFFITOR_OUTBOX, and that the database is up and reachable from this machine: \
             host, port, user, password, and TLS (sslmode, sslrootcert)"
        }
        OutboxError::Unusable { .. } => {
            "do as the message says; doctor changed nothing (it never creates or upgrades the \
             outbox's tables: the app's start or your migration tool does)"
        }
        OutboxError::InvalidLocation { .. } => "write AFFITOR_OUTBOX as the message says",
        _ => "set AFFITOR_OUTBOX to a SQLite path or a postgres:// URL",
    }
}

/// A provider's webhook secrets (several, comma-separated, during a rotation), each checked
/// against the shape the provider issues; never shown.
fn webhook_secret<P: Provider>() -> Check {
    let name = format!("{} webhook secret", P::NAME);
    let variable = P::SECRET_VARIABLE;
    let Some(value) = env_var(variable) else {
        return Check::new(
            name,
            Status::Skip,
            format!(
                "{variable} is unset: set it where the app takes {} webhooks",
                P::NAME
            ),
        );
    };
    secrets_check::<P>(name, &value)
}

fn secrets_check<P: Provider>(name: String, value: &str) -> Check {
    let variable = P::SECRET_VARIABLE;
    let secrets = P::split_secrets(value);
    let values: Vec<&str> = value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|value| !value.is_empty())
        .collect();
    // A list the verifier reads as one secret, as one of its values is no secret the provider
    // issues (a Lemon Squeezy secret, chosen by its owner, is never a list): each value checked.
    let unsplit = secrets.len() == 1 && values.len() > 1 && P::NAME != LemonSqueezy::NAME;
    let checked = if unsplit { values } else { secrets };
    let shapes: Vec<SecretShape> = checked.into_iter().map(P::secret_shape).collect();
    let count = match shapes.len() {
        1 => "1 secret".to_owned(),
        n => format!("{n} secrets (a rotation)"),
    };
    let worst = shapes
        .iter()
        .position(|shape| matches!(shape, SecretShape::Wrong(_)))
        .or_else(|| shapes.iter().position(|shape| *shape != SecretShape::Usual));
    let which = |index: usize| match shapes.len() {
        1 => variable.to_owned(),
        _ => format!("{variable}'s secret #{}", index + 1),
    };
    let fail = |index: usize, why: &str| {
        let mut detail = format!("{}: {why}", which(index));
        if unsplit {
            detail.push_str(
                "; the verifier then reads the whole value as one secret, which no delivery \
                 matches",
            );
        }
        Check::new(name.clone(), Status::Fail, detail)
            .fix("copy the endpoint's signing secret from the provider's dashboard")
    };
    match worst.map(|index| (index, shapes[index])) {
        Some((index, SecretShape::Wrong(why))) => fail(index, why),
        Some((index, SecretShape::Unusual(why))) if unsplit => fail(index, why),
        Some((index, SecretShape::Unusual(why))) => {
            Check::new(name, Status::Warn, format!("{}: {why}", which(index))).fix(format!(
                "check it is the endpoint's signing secret ({count})"
            ))
        }
        _ => Check::new(
            name,
            Status::Pass,
            format!("{variable}: {count}, in the provider's shape"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Setting {
        Setting {
            value: value.to_owned(),
            source: crate::settings::Source::Environment(API_KEY_VARIABLE),
        }
    }

    #[test]
    fn the_api_key_is_checked_never_shown() {
        let missing = api_key(None);
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.detail.contains("AFFITOR_API_KEY"), "{missing:?}");
        // With nothing set, the stand-in is offered.
        assert!(missing.fix.unwrap().contains("affitor mock"));
        let management = api_key(Some(&key("affk_s3cret_value")));
        assert_eq!(management.status, Status::Fail);
        assert_eq!(api_key(Some(&key("sk_live_x"))).status, Status::Warn);
        let good = api_key(Some(&key(" aff_live_s3cret\n")));
        assert_eq!(good.status, Status::Pass);
        assert!(good.detail.contains("from AFFITOR_API_KEY"), "{good:?}");
        for check in [management, good] {
            assert!(!format!("{check:?}").contains("s3cret"), "{check:?}");
        }
    }

    #[test]
    fn a_rotation_is_checked_secret_by_secret_and_the_worst_is_told() {
        let name = || "Stripe webhook secret".to_owned();
        let good = "whsec_0123456789abcdefABCDEF0123456789";
        let two = secrets_check::<Stripe>(name(), &format!("{good}, {good}"));
        assert_eq!(two.status, Status::Pass);
        assert!(two.detail.contains("2 secrets"), "{two:?}");
        let bad = secrets_check::<Stripe>(name(), &format!("{good},sk_live_s3cret"));
        assert_eq!(bad.status, Status::Fail);
        assert!(bad.detail.contains("secret #2"), "{bad:?}");
        assert!(!format!("{bad:?}").contains("s3cret"), "{bad:?}");
        let quoted = secrets_check::<Stripe>(name(), &format!("\"{good}\""));
        assert_eq!(quoted.status, Status::Fail);
        assert!(quoted.detail.contains("quotes"), "{quoted:?}");
        // A wrong secret is told before an unusual one, whichever comes first.
        let polar = || "Polar webhook secret".to_owned();
        let wrong = secrets_check::<Polar>(polar(), "anything,polar_oat_s3cret");
        assert_eq!(wrong.status, Status::Fail);
        assert!(wrong.detail.contains("secret #2"), "{wrong:?}");
        // A value the provider does not issue makes the list one secret to the verifier.
        let unusual = secrets_check::<Polar>(polar(), "polar_whs_0123456789abcdefghij,anything");
        assert_eq!(unusual.status, Status::Fail);
        assert!(unusual.detail.contains("secret #2"), "{unusual:?}");
        assert!(unusual.detail.contains("as one secret"), "{unusual:?}");
        // A Lemon Squeezy secret is chosen by its owner, spaces and all: one secret.
        let lemon = "Lemon Squeezy webhook secret".to_owned();
        let phrase = secrets_check::<LemonSqueezy>(lemon, "my shop 2024");
        assert_eq!(phrase.status, Status::Pass, "{phrase:?}");
        assert!(phrase.detail.contains("1 secret"), "{phrase:?}");
    }

    #[test]
    fn an_error_is_told_with_the_causes_it_does_not_say() {
        /// A driver's error that says its source's text too, as sqlx's do.
        #[derive(Debug)]
        struct Driver(std::io::Error);
        impl std::fmt::Display for Driver {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "error communicating with database: {}", self.0)
            }
        }
        impl std::error::Error for Driver {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }

        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = OutboxError::Open {
            location: "postgres://db/x".to_owned(),
            source: Box::new(Driver(refused)),
        };
        let text = ErrorReport::new(&error).to_string();
        assert!(
            text.starts_with("could not open the Affitor outbox at postgres://db/x"),
            "{text}"
        );
        assert!(
            text.ends_with(" (cause: error communicating with database: refused)"),
            "{text}"
        );
    }

    /// A connection below verify-full is a warning, whose fix points to verify-full only.
    #[test]
    fn a_weak_outbox_connection_is_a_warning() {
        let check = super::outbox_found("postgres://db/shop: reachable".into(), None);
        assert_eq!(check.status, Status::Pass);
        let warning = "the Postgres connection to `db` runs at sslmode=require".to_owned();
        let check = super::outbox_found("postgres://db/shop: reachable".into(), Some(warning));
        assert_eq!(check.status, Status::Warn);
        assert!(check.detail.contains("sslmode=require"), "{check:?}");
        let fix = check.fix.unwrap_or_default();
        assert!(fix.contains("verify-full"), "{fix}");
        for weaker in ["verify-ca", "require", "prefer", "disable"] {
            assert!(!fix.contains(weaker), "{fix}");
        }
    }

    #[test]
    fn next_actions_read_as_what_to_do() {
        assert_eq!(
            next_action("run_synthetic_sale_chain", None),
            "run `affitor test chain` (next_action: run_synthetic_sale_chain)"
        );
        assert!(next_action("surface_stripe_connect_url", Some("https://x")).contains("https://x"));
        assert_eq!(next_action("new_thing", None), "next_action: new_thing");
    }
}
