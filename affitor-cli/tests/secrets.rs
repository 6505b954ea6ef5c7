//! What the `affitor` binary never prints: the password of a URL a person typed, whether clap
//! refused it, `trigger` posts to it, or a project's file names it as the API.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use support::{Recorder, affitor, document, stderr, stdout};

const PASSWORD: &str = "s3cr3tPW";

/// All a run printed, on stdout and stderr.
fn said(run: &std::process::Output) -> String {
    stdout(run) + &stderr(run)
}

/// A refused command line is printed as clap prints it, with the URL's password hidden, and
/// clap's exit statuses: 2 for an error, 0 for `--help` and `--version`.
#[tokio::test]
async fn a_refused_argument_is_shown_without_its_password() {
    let location = format!("postgres://affitor:{PASSWORD}@127.0.0.1/affitor_test");
    let run = affitor(&["outbox", "dead-letters", &location], &[]).await;
    let said = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    assert!(!said.contains(PASSWORD), "{said}");
    assert!(
        said.contains("unexpected argument 'postgres://affitor:***@127.0.0.1/affitor_test'"),
        "{said}"
    );
    assert!(
        said.contains("Usage: affitor outbox dead-letters"),
        "{said}"
    );
    assert!(stdout(&run).is_empty(), "{run:?}");

    let flag = format!("--to=https://hook:{PASSWORD}@example.com/wh");
    let run = affitor(&["trigger", "stripe", "nosuchevent", &flag], &[]).await;
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(!stderr(&run).contains(PASSWORD), "{run:?}");

    let help = affitor(&["outbox", "--help"], &[]).await;
    assert_eq!(help.status.code(), Some(0), "{help:?}");
    assert!(stdout(&help).contains("dead-letters"), "{help:?}");
    let version = affitor(&["--version"], &[]).await;
    assert_eq!(version.status.code(), Some(0), "{version:?}");
    assert!(stdout(&version).starts_with("affitor "), "{version:?}");
    // No subcommand: clap's help on stderr, exit 2.
    let bare = affitor(&[], &[]).await;
    assert_eq!(bare.status.code(), Some(2), "{bare:?}");
    assert!(stderr(&bare).contains("Usage: affitor"), "{bare:?}");
}

/// `trigger` shows its `--to` URL with the password as `***`, in every line and in `--json`,
/// and still sends it: the app gets its `Authorization`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_shows_its_url_without_the_password() {
    let app = Recorder::start().await;
    let secret = ["--secret", "whsec_cli_secrets_test"];
    let to = format!("http://hook:{PASSWORD}@{}/wh", app.addr);
    let shown = format!("http://hook:***@{}/wh", app.addr);
    let args = [
        "trigger", "stripe", "sale", "--to", &to, secret[0], secret[1],
    ];
    let run = affitor(&args, &[]).await;
    assert!(run.status.success(), "{run:?}");
    assert!(!said(&run).contains(PASSWORD), "{run:?}");
    let json = affitor(&[&args[..], &["--json"]].concat(), &[]).await;
    assert!(!said(&json).contains(PASSWORD), "{json:?}");
    assert_eq!(document(&json)["url"], shown.as_str());
    let heads = app.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    // `hook:s3cr3tPW`, in Basic.
    let sent = "authorization: Basic aG9vazpzM2NyM3RQVw==";
    assert!(heads.iter().all(|head| head.contains(sent)), "{heads:?}");

    // Not this machine; then nothing listening there.
    let remote = format!("https://hook:{PASSWORD}@example.com/wh");
    let run = affitor(
        &[
            "trigger", "stripe", "sale", "--to", &remote, secret[0], secret[1],
        ],
        &[],
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(!said(&run).contains(PASSWORD), "{run:?}");
    assert!(stdout(&run).contains("--to https://hook:***@example.com/wh is not this machine"));
    let closed = format!("http://hook:{PASSWORD}@127.0.0.1:1/wh");
    let args = [
        "trigger", "stripe", "sale", "--to", &closed, secret[0], secret[1], "--json",
    ];
    let run = affitor(&args, &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(!said(&run).contains(PASSWORD), "{run:?}");
    let failed = document(&run);
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("could not POST to http://hook:***@127.0.0.1:1/wh: "),
        "{failed}"
    );
}
