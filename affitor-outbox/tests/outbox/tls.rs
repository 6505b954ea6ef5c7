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
