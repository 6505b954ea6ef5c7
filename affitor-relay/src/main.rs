//! `affitor-relay`: an outbox's relay in a process of its own. It delivers the Affitor events
//! that web servers stored (their outboxes opened with `Outbox::builder(client).relay(false)`)
//! in the same SQLite file or Postgres database, until SIGTERM or Ctrl-C.
//!
//! ```sh
//! cargo install affitor-relay
//! AFFITOR_OUTBOX='postgres://relay@db/shop' AFFITOR_API_KEY=aff_... affitor-relay
//! ```
//!
//! It is configured by its environment alone: `affitor-relay --help` lists the variables.

mod metrics_page;
mod signals;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use affitor::client::ErrorKind;
use affitor::{Client, ErrorReport};
use affitor_outbox::{Outbox, OutboxError};

use crate::signals::Signals;

/// What `--help` prints.
const HELP: &str = "\
affitor-relay: delivers the Affitor events stored in an outbox, until SIGTERM or Ctrl-C.

The web servers write their events to the outbox (a SQLite file, or a Postgres table for a
fleet), their outboxes opened with `Outbox::builder(client).relay(false)`; this process sends
them to the Affitor API, retries what fails, and keeps dead letters. Run one or more of it on
the same database: relays share the rows, and a relay that dies leaves its rows to the others.

Usage: affitor-relay [--help | --version]

Environment:
  AFFITOR_OUTBOX     the outbox: a SQLite file's path, or a postgres:// URL (required)
  AFFITOR_API_KEY    the Affitor program's API key (required)
  AFFITOR_API_URL    the API's base URL (default https://api.affitor.com)
  METRICS_ADDR       where to serve the Prometheus page, GET /metrics (e.g. 127.0.0.1:9184;
                     unset or `off`: no page)
  AFFITOR_RELAY_SHUTDOWN_SECS
                     on SIGTERM or Ctrl-C, how long the sends under way may take to end
                     (default 10); the rows not sent wait in the store. A second signal exits
                     at once.
  RUST_LOG           the log's filter (default `info,sqlx=warn`)
";

/// What an argument other than `--help` or `--version` is told.
const UNEXPECTED_ARGUMENT: &str = "unexpected argument (not shown: it may hold a secret, such \
    as a database password): affitor-relay takes no arguments but --help and --version; it is \
    configured by its environment (AFFITOR_OUTBOX, AFFITOR_API_KEY, ...), which `affitor-relay \
    --help` lists";

/// The variable naming the outbox.
const OUTBOX_VARIABLE: &str = "AFFITOR_OUTBOX";
/// The variable naming where the Prometheus page is served.
const METRICS_VARIABLE: &str = "METRICS_ADDR";
/// The variable naming the shutdown's deadline, in seconds.
const SHUTDOWN_VARIABLE: &str = "AFFITOR_RELAY_SHUTDOWN_SECS";
/// The shutdown's deadline when [`SHUTDOWN_VARIABLE`] is unset.
const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (None, _) => {}
        (Some(arg), None) if arg == "--help" || arg == "-h" => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        (Some(arg), None) if arg == "--version" || arg == "-V" => {
            println!("affitor-relay {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        // Not shown: it may be the outbox's URL with its password, given as an argument.
        (Some(_), _) => {
            eprintln!("affitor-relay: {UNEXPECTED_ARGUMENT}");
            return ExitCode::from(2);
        }
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("affitor-relay: {error}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing();
    match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("affitor-relay: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What the environment configures.
struct Settings {
    /// `AFFITOR_OUTBOX` as given: logged only through [`Outbox::location`], which leaves its
    /// password out.
    location: String,
    /// The client the relay sends through: `AFFITOR_API_KEY`, `AFFITOR_API_URL`.
    client: Client,
    /// `METRICS_ADDR`; `None`: no page.
    metrics: Option<SocketAddr>,
    /// `AFFITOR_RELAY_SHUTDOWN_SECS`.
    shutdown_deadline: Duration,
}

impl Settings {
    /// Reads the environment; the error names the variable to mend.
    fn from_env() -> Result<Self, String> {
        let location = variable(OUTBOX_VARIABLE).ok_or_else(|| {
            format!(
                "{OUTBOX_VARIABLE} is unset: set it to the outbox the web servers write to, a \
                 SQLite file's path or a postgres:// URL"
            )
        })?;
        let client = Client::from_env().map_err(|error| match error.kind() {
            ErrorKind::MissingApiKey => "AFFITOR_API_KEY is unset: set it to the program's API \
                                         key (`aff_...`, from Program Settings)"
                .to_owned(),
            _ => error.to_string(),
        })?;
        let metrics = match variable(METRICS_VARIABLE) {
            None => None,
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            Some(addr) => Some(addr.parse().map_err(|_| {
                format!(
                    "{METRICS_VARIABLE} `{addr}` is not an address like 127.0.0.1:9184, nor \
                     `off`"
                )
            })?),
        };
        let shutdown_deadline = match variable(SHUTDOWN_VARIABLE) {
            None => DEFAULT_SHUTDOWN,
            Some(secs) => secs.parse().map(Duration::from_secs).map_err(|_| {
                format!("{SHUTDOWN_VARIABLE} `{secs}` is not a whole number of seconds")
            })?,
        };
        Ok(Self {
            location,
            client,
            metrics,
            shutdown_deadline,
        })
    }
}

/// The variable `name`, trimmed; `None` when unset or blank.
fn variable(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The log's filter when `RUST_LOG` is unset: sqlx's notices (an `IF NOT EXISTS` that found
/// the table there) left out.
const DEFAULT_LOG: &str = "info,sqlx=warn";

/// Logs to stderr as the examples do; `RUST_LOG` filters (default: [`DEFAULT_LOG`]).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// Opens the outbox with its relay on, serves the Prometheus page, and delivers until a
/// signal; then stops within the deadline, and says what it delivered and what waits.
async fn run(settings: Settings) -> Result<(), String> {
    // Before anything else: from here on, a signal is the relay's to handle.
    let mut signals =
        Signals::listen().map_err(|error| format!("cannot catch signals: {error}"))?;
    // Before the outbox opens, so that its first counts are kept.
    let page = match settings.metrics {
        Some(addr) => {
            let page = metrics_page::start(addr).await.map_err(|error| {
                format!(
                    "{METRICS_VARIABLE}: cannot serve on {addr}: {error}; set \
                         {METRICS_VARIABLE} to a free address, or `off`"
                )
            })?;
            let listening = page.addr();
            tracing::info!("Prometheus metrics on http://{listening}/metrics ({METRICS_VARIABLE})");
            Some(page)
        }
        None => None,
    };
    let direct = settings.client;
    // The app's outbox creates the store and its tables: a relay that created them would hide
    // a mistyped location behind an empty store it watches for ever.
    let outbox = tokio::select! {
        opened = Outbox::builder(direct.clone()).migrate(false).open(&settings.location) => {
            opened.map_err(|error| {
                let hint = match error {
                    OutboxError::Unusable { .. } => {
                        " (affitor-relay never creates the outbox: point AFFITOR_OUTBOX at the \
                         store the app writes to, and start the app first, whose outbox \
                         creates it)"
                    }
                    _ => "",
                };
                naming_the_variable(format!("{}{hint}", ErrorReport::new(&error)))
            })?
        }
        signal = signals.next() => {
            tracing::info!("{signal} before the outbox opened: nothing to stop");
            return Ok(());
        }
    };
    // The client's shutdown stops the outbox, then the in-memory queue it falls back to.
    let client = direct.with_backend(outbox.clone());
    tracing::info!(
        location = %outbox.location(),
        api = %client.base_url(),
        "affitor-relay delivers the events stored in the outbox; SIGTERM or Ctrl-C stops it"
    );

    let signal = signals.next().await;
    let deadline = settings.shutdown_deadline;
    tracing::info!(
        "{signal}: stopping within {deadline:?}; the rows not sent by then wait in the store \
         (a second signal exits at once)"
    );
    let report = tokio::select! {
        report = client.shutdown(deadline) => report,
        signal = signals.next() => {
            tracing::warn!(
                "{signal} again: exiting at once; the rows being sent go again once their \
                 lease ends"
            );
            std::process::exit(signal.exit_code());
        }
    };
    let stats = outbox.stats();
    tracing::info!(
        delivered = stats.delivered,
        dead_lettered = stats.dead + stats.corrupt,
        kept = report.kept,
        location = %outbox.location(),
        "affitor-relay stopped: `delivered` since it started, `kept` in the store for the next \
         relay"
    );
    // Last: a scrape during the shutdown still sees the final counts.
    if let Some(page) = page {
        page.stop().await;
    }
    Ok(())
}

/// An error of opening the outbox, naming `AFFITOR_OUTBOX` once.
fn naming_the_variable(error: String) -> String {
    if error.contains(OUTBOX_VARIABLE) {
        error
    } else {
        format!("{OUTBOX_VARIABLE}: {error}")
    }
}
