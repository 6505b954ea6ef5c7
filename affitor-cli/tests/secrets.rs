//! What the `affitor` binary never prints: the password of a URL a person typed, whether clap
//! refused it, `trigger` posts to it, or a project's file names it as the API.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use support::{affitor, stderr, stdout};

const PASSWORD: &str = "s3cr3tPW";

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
