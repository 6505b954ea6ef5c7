//! Postgres over TLS, against the test server's TLS-only database (`.ci/postgres` sets it up:
//! `ssl = on`, a certificate for `localhost` signed by a test CA, and a `hostnossl ... reject`
//! line for `affitor_tls`).

use std::time::Duration;

use affitor_outbox::{Outbox, OutboxError};

use crate::support::postgres::Tls;
use crate::support::stand_in;

/// Opens a writer-only outbox at `location`, checks that it reads its table, and closes it.
async fn opens(location: &str) {
    let (_mock, client) = stand_in().await;
    let outbox = Outbox::builder(client)
        .relay(false)
        .open(location)
        .await
        .unwrap_or_else(|error| panic!("{location}: {error}"));
    outbox.waiting().await.expect("a query over TLS");
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// `error`'s message and those of its sources: the outbox's says what failed and what to do,
/// the sources what the server or rustls answered.
fn chain(error: &OutboxError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(" | {cause}"));
        source = cause.source();
    }
    text
}

/// The error of opening an outbox at `location`.
async fn refused(location: &str) -> OutboxError {
    let (_mock, client) = stand_in().await;
    match Outbox::builder(client).relay(false).open(location).await {
        Ok(_) => panic!("{location} opened"),
        Err(error) => error,
    }
}

#[tokio::test]
async fn sslmode_require_encrypts_without_verifying() {
    let tls = Tls::find();
    opens(&tls.url("127.0.0.1", "sslmode=require")).await;
}

#[tokio::test]
async fn verify_full_checks_the_ca_and_the_host_name() {
    let tls = Tls::find();
    let ca = &tls.ca;
    opens(&tls.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await;
    // The same as a key=value string, whose password is left out of the location shown.
    opens(&tls.key_values(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    ))
    .await;
}

#[tokio::test]
async fn a_wrong_ca_is_refused_naming_sslrootcert() {
    let tls = Tls::find();
    let other = &tls.other_ca;
    let location = tls.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={other}"),
    );
    let error = refused(&location).await;
    let OutboxError::Open { source, .. } = &error else {
        panic!("not an Open error: {error:?}");
    };
    assert!(
        matches!(source.downcast_ref(), Some(sqlx::Error::Tls(_))),
        "{source:?}"
    );
    let text = chain(&error);
    println!("{text}");
    assert!(text.contains("set sslrootcert"), "{text}");
    assert!(!text.contains(&format!(":{}@", "affitor")), "{text}");
}

#[tokio::test]
async fn a_connection_without_tls_is_refused_by_the_tls_only_database() {
    let tls = Tls::find();
    let error = refused(&tls.url("127.0.0.1", "sslmode=disable")).await;
    let text = chain(&error);
    println!("{text}");
    assert!(matches!(error, OutboxError::Open { .. }), "{error:?}");
    assert!(text.contains("pg_hba.conf"), "{text}");
}

/// sqlx 0.9 cannot confine a verification to sslrootcert (it adds the public web's CAs, and its
/// verify-ca checks no host name): the modes in which libpq does are refused before connecting,
/// saying what to use. Before, verify-ca passed here, and require with a CA that did not sign the
/// server's certificate connected without looking at it.
#[tokio::test]
async fn modes_that_would_verify_less_than_libpq_are_refused() {
    let tls = Tls::find();
    let (ca, other) = (&tls.ca, &tls.other_ca);
    for location in [
        tls.url("localhost", &format!("sslmode=verify-ca&sslrootcert={ca}")),
        tls.url("127.0.0.1", "sslmode=verify-ca"),
        tls.url("127.0.0.1", &format!("sslmode=require&sslrootcert={other}")),
        tls.key_values("127.0.0.1", &format!("sslmode=require sslrootcert={other}")),
    ] {
        let error = refused(&location).await;
        let text = chain(&error);
        assert!(
            matches!(error, OutboxError::InvalidLocation { .. }),
            "{location}: {text}"
        );
        assert!(text.contains("use sslmode=verify-full"), "{text}");
        assert!(!text.contains(&format!(":{}@", "affitor")), "{text}");
    }
}

/// A verified connection, or one to this machine, is not warned about.
#[tokio::test]
async fn a_verified_or_local_connection_has_no_tls_warning() {
    let tls = Tls::find();
    let ca = &tls.ca;
    for location in [
        tls.url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        tls.url("127.0.0.1", "sslmode=require"),
    ] {
        let (_mock, client) = stand_in().await;
        let outbox = Outbox::builder(client)
            .relay(false)
            .open(&location)
            .await
            .unwrap_or_else(|error| panic!("{location}: {error}"));
        assert_eq!(outbox.tls_warning(), None);
        outbox.shutdown(Duration::from_secs(1)).await;
    }
}

/// sqlx logs at WARN the value of a URL parameter it does not read: such a parameter never
/// reaches it, and the outbox's own warning names its key alone.
#[tokio::test]
async fn a_parameter_sqlx_does_not_read_is_logged_without_its_value() {
    if !test_support::alone!() {
        return;
    }
    let (logs, _guard) = test_support::Logs::capture("warn");
    let tls = Tls::find();
    opens(&tls.url(
        "127.0.0.1",
        "sslmode=require&connect_timeout=Zq9value&fallback_application_name=Zq9name",
    ))
    .await;
    let text = logs.text();
    assert!(text.contains("connect_timeout"), "{text}");
    assert!(!text.contains("Zq9"), "{text}");
}
