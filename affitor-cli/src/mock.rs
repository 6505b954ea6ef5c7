//! `affitor mock`: the local stand-in of the Affitor API ([`MockServer`]) on a port, for apps
//! and tests in any language or process, until Ctrl-C. It logs each event it receives.

use std::process::ExitCode;

use affitor_mock::{Fault, MockServer};
use clap::Args;
use serde_json::json;

use crate::output::{Output, Status};

#[derive(Debug, Args)]
pub(crate) struct MockArgs {
    /// The port on 127.0.0.1 (0: one the system picks).
    #[arg(long, default_value_t = 4010)]
    port: u16,
    /// The program API key it accepts.
    #[arg(long, default_value = "aff_test_key")]
    api_key: String,
    /// Answers every request this many milliseconds late, as a slow API would (0: at once).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    answer_after: u64,
}

pub(crate) async fn run(out: Output, args: MockArgs) -> ExitCode {
    // The stand-in logs each event it receives at `info`; RUST_LOG can say more or less.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("affitor_mock=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let started = MockServer::builder()
        .port(args.port)
        .api_key(&args.api_key)
        .log_events(true)
        .start()
        .await;
    let mock = match started {
        Ok(mock) => mock,
        Err(error) => {
            let problem = format!("cannot listen on 127.0.0.1:{}: {error}", args.port);
            out.status(Status::Fail, "mock", &problem);
            out.hint("choose another port with --port (0: any free one)");
            out.document(
                &json!({ "command": "mock", "ok": false, "error": { "message": problem } }),
            );
            return ExitCode::FAILURE;
        }
    };
    let demo_click = mock.demo_click();
    if args.answer_after > 0 {
        mock.inject(Fault::delay(std::time::Duration::from_millis(args.answer_after)).always());
    }
    out.status(
        Status::Pass,
        "Affitor stand-in",
        &format!("listening on {}", mock.url()),
    );
    out.line(format_args!(
        "  program {}, API key {}, partner link code `partner` (?aff=partner)",
        mock.program_id(),
        mock.api_key()
    ));
    out.line(format_args!(
        "  demo click id {demo_click}: sign up with the cookie affitor_click_id={demo_click}, \
         or track a lead with it, and the partner is credited"
    ));
    out.line(format_args!(
        "  export AFFITOR_API_URL={} AFFITOR_API_KEY={}",
        mock.url(),
        mock.api_key()
    ));
    out.line("  Ctrl-C stops it");
    out.document(&json!({
        "command": "mock",
        "ok": true,
        "url": mock.url(),
        "api_key": mock.api_key(),
        "program_id": mock.program_id(),
        "demo_click_id": demo_click.as_str(),
    }));
    let stopped = tokio::signal::ctrl_c().await;
    mock.shutdown().await;
    match stopped {
        Ok(()) => {
            out.line("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("affitor mock: cannot wait for Ctrl-C: {error}");
            ExitCode::FAILURE
        }
    }
}
