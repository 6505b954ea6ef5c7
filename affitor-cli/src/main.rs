//! `affitor`: check an Affitor integration in one command.
//!
//! - `affitor doctor`: what an integration needs, each line passed or failed with what to do.
//! - `affitor status`: readiness's last 24 hours and last events, and the outbox's backlog;
//!   non-zero when something needs a person.
//! - `affitor test chain`: the verification chain, then readiness until the integration is
//!   verified; `affitor test lead|sale|refund`: one event, in test mode.
//! - `affitor trigger <provider> <event> --to URL`: a payment provider's sample event, signed
//!   as the provider signs it, posted to your app's webhook.
//! - `affitor mock`: the local stand-in of the Affitor API, for apps and tests in any language.
//! - `affitor outbox dead-letters | retry [--id N] | purge --older-than D`: the dead letters of
//!   the outbox at `AFFITOR_OUTBOX`.
//! - `affitor explain --customer KEY | --transaction ID | --click ID`: why a sale was credited
//!   or not, from the outbox's attribution journal.
//!
//! It takes the API key, the API URL and the program id from `--api-key` and `--api-url`, the
//! environment `affitor::Client::from_env` reads (`AFFITOR_API_KEY`, `AFFITOR_API_URL`,
//! `AFFITOR_ALLOW_INSECURE_HTTP`) and
//! `AFFITOR_PROGRAM_ID`, then the `.affitor/.env` and `.affitor/config.json` that Affitor's Node
//! CLI writes (`settings.rs`).
//! `--json` prints one JSON document per command result, for scripts. The exit status is 0 when
//! everything passed, 1 when something failed, 2 for a command line it cannot read.

mod doctor;
mod explain;
mod mock;
mod outbox;
mod output;
mod readiness;
mod settings;
mod status;
mod test;
mod trigger;

use std::process::ExitCode;

use affitor::Client;
use clap::{Parser, Subcommand};

use crate::output::Output;

/// Check an Affitor integration: its configuration, the API, the verification chain, your
/// payment webhooks.
#[derive(Debug, Parser)]
#[command(name = "affitor", version)]
#[command(
    after_help = "Environment: AFFITOR_API_KEY (the program API key, aff_...), \
    AFFITOR_API_URL (default https://api.affitor.com; plain http:// to another machine only \
    with AFFITOR_ALLOW_INSECURE_HTTP=1), AFFITOR_PROGRAM_ID, AFFITOR_OUTBOX, \
    STRIPE_WEBHOOK_SECRET, POLAR_WEBHOOK_SECRET, PADDLE_WEBHOOK_SECRET, \
    LEMONSQUEEZY_WEBHOOK_SECRET. The key, the URL and the program id not given by a flag or \
    the environment are read from .affitor/.env, then .affitor/config.json (what `npx affitor \
    init` writes), in this directory or the nearest parent that has one; their URL only with \
    their key, never with a key from a flag or the environment. NO_COLOR turns colour off."
)]
struct Cli {
    /// Print one JSON document per command result, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check what the integration needs: the API key, the API, readiness's five gates, the
    /// outbox, the webhook secrets. Exits non-zero when something fails.
    Doctor {
        #[command(flatten)]
        api: settings::ApiArgs,
    },
    /// How the integration is doing: readiness's last 24 hours and last events, and the
    /// outbox's rows waiting and dead. Exits non-zero when something needs a person: no API
    /// key, a readiness gate failing, a dead letter, or a row waiting over an hour.
    Status {
        #[command(flatten)]
        api: settings::ApiArgs,
    },
    /// Send test events to the Affitor API.
    Test(test::TestArgs),
    /// Sign a payment provider's sample event as the provider does and post it to your app's
    /// webhook.
    Trigger(trigger::TriggerArgs),
    /// Run the local stand-in of the Affitor API until Ctrl-C.
    Mock(mock::MockArgs),
    /// The dead letters of the outbox at AFFITOR_OUTBOX: list them with their reasons, make
    /// them due again for the app's relay, or delete old ones.
    Outbox(outbox::OutboxArgs),
    /// Why a sale was credited or not, from the attribution journal of the outbox at
    /// AFFITOR_OUTBOX: the timeline and a verdict. Exits 0 when credited (and not refunded in
    /// full since), 1 otherwise.
    Explain(explain::ExplainArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return refused_command_line(&error),
    };
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("affitor: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Doctor { api } => doctor::run(out, &api).await,
            Command::Status { api } => status::run(out, &api).await,
            Command::Test(args) => test::run(out, args).await,
            Command::Trigger(args) => trigger::run(out, args).await,
            Command::Mock(args) => mock::run(out, args).await,
            Command::Outbox(args) => outbox::run(out, args).await,
            Command::Explain(args) => explain::run(out, args).await,
        }
    })
}

/// Prints what clap found wrong with the command line, as clap would, but with the password of
/// any URL in it hidden (an outbox's location given as an argument, say), and returns clap's
/// exit status. `--help` and `--version` are clap's own.
fn refused_command_line(error: &clap::Error) -> ExitCode {
    if !error.use_stderr() {
        error.exit();
    }
    let rendered = error.render().ansi().to_string();
    anstream::eprint!("{}", output::redact_url_credentials(&rendered));
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
}

/// The value of the environment variable `name`, unless it is unset or blank.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// The client of the environment's and `.affitor/`'s settings (see `settings.rs`).
///
/// # Errors
///
/// `MissingApiKey` when no key is found, and the errors of `ClientBuilder::build`.
fn api_client() -> Result<Client, affitor::Error> {
    settings::Settings::from_environment().client()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_is_a_global_flag() {
        let cli = Cli::try_parse_from(["affitor", "doctor", "--json"]).unwrap();
        assert!(cli.json);
        assert!(matches!(cli.command, Command::Doctor { .. }));
    }

    #[test]
    fn the_api_flags_follow_the_command_or_its_subcommand() {
        for args in [
            ["affitor", "test", "--api-key", "aff_x", "lead"],
            ["affitor", "test", "lead", "--api-key", "aff_x"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert!(matches!(cli.command, Command::Test(_)), "{args:?}");
        }
        let cli = Cli::try_parse_from(["affitor", "doctor", "--api-url", "http://x"]).unwrap();
        assert!(matches!(cli.command, Command::Doctor { .. }));
    }
}
