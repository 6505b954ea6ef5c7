//! Locations as `OutboxBuilder::check` reads them, before anything is opened: a SQLite path as
//! written, and the locations refused with their secrets left out.

use affitor_outbox::{Outbox, OutboxCheck, OutboxError};

/// What `check` finds at `location`.
async fn check(location: &str) -> Result<OutboxCheck, OutboxError> {
    let client = affitor::Client::builder()
        .api_key("aff_key")
        .build()
        .expect("a client");
    Outbox::builder(client).check(location).await
}

/// The error `check` answers for `location`, refused before anything is opened.
async fn refused(location: &str) -> OutboxError {
    match check(location).await {
        Ok(found) => panic!("{location}: {found:?}"),
        Err(error) => error,
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_sqlite_location_is_its_path_as_written() {
    for (location, path) in [
        ("outbox.db", "outbox.db"),
        ("/var/lib/app/outbox.db", "/var/lib/app/outbox.db"),
        ("sqlite://outbox.db", "outbox.db"),
        ("sqlite:data/outbox.db", "data/outbox.db"),
        ("SQLite:outbox.db", "outbox.db"),
        ("./data/a://b.db", "./data/a://b.db"),
        ("./data/host=a.db", "./data/host=a.db"),
        (
            "/var/lib/app/notapassword=x.db",
            "/var/lib/app/notapassword=x.db",
        ),
    ] {
        let found = check(location)
            .await
            .unwrap_or_else(|error| panic!("{location}: {error}"));
        assert_eq!(found.location(), path);
        assert!(found.is_new(), "{location}: no such file, none created");
    }
}

/// Typos and other programs' forms are refused, the password left out of the error.
#[tokio::test]
async fn a_location_of_no_store_is_refused() {
    for location in [
        "postgress://user:S3cr3t@db/shop",
        "pg://user:S3cr3t@db/shop",
        "jdbc:postgresql://db:5432/shop?user=app&password=S3cr3t",
        "mysql://user:S3cr3t@db/shop",
        "mysql://user:S3/cr3t@db/shop",
        "file:///var/lib/outbox.db",
    ] {
        let error = refused(location).await;
        assert!(
            matches!(error, OutboxError::UnknownLocation { .. }),
            "{error}"
        );
        let message = format!("{error} {error:?}");
        assert!(!message.contains("S3"), "{message}");
        assert!(message.contains("postgres://"), "{message}");
        assert!(message.contains("SQLite"), "{message}");
    }
}

/// A malformed connection string is refused, never taken for a file: what follows the error
/// is not shown.
#[tokio::test]
async fn a_malformed_connection_string_is_refused() {
    for location in ["host=db password='S3cr3t dbname=shop", "host=db password"] {
        let error = refused(location).await;
        assert!(
            matches!(error, OutboxError::InvalidLocation { .. }),
            "{error}"
        );
        let message = format!("{error} {error:?}");
        assert!(!message.contains("S3"), "{message}");
        assert!(message.contains("host=db"), "{message}");
    }
}

/// sqlx logs the value of a URL parameter it does not read: a secret-looking one, or a TLS
/// setting it would drop, is refused before sqlx sees it.
#[tokio::test]
async fn parameters_sqlx_would_drop_or_log_are_refused() {
    for location in [
        "postgres://db/shop?Password=S3cr3t",
        "postgres://db/shop?sslpassword=S3cr3t",
        "postgres://db/shop?api_token=S3cr3t",
        "postgres://db/shop?SSLMODE=verify-full",
        "postgres://db/shop?sslcompression=1",
        "postgres://db/shop?channel_binding=require",
        "host=db sslmode=verify-full sslsni=1",
        "host=db require_auth=scram-sha-256",
        "host=db client_secret=S3cr3t",
    ] {
        let error = refused(location).await;
        let OutboxError::InvalidLocation { reason, .. } = &error else {
            panic!("{location}: {error:?}");
        };
        let message = format!("{error} {error:?}");
        assert!(!message.contains("S3cr3t"), "{message}");
        assert!(reason.contains("remove it"), "{reason}");
    }
    let error = refused("postgres://db/shop?Password=S3cr3t").await;
    assert!(error.to_string().contains("`password`"), "{error}");
}
