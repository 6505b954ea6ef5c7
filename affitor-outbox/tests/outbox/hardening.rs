//! What an attack run found in the outbox: files others could read, emails left in the WAL, an
//! outbox that silently kept everything in memory, a URL read as a file name, a password in a
//! log, organic signups buried as dead letters.

use std::time::Duration;

use affitor_outbox::{Outbox, OutboxError};

use crate::support::{sqlite, sqlite_path, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(20);

#[cfg(unix)]
#[tokio::test]
async fn the_file_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let (mock, client) = stand_in().await;
    let path = sqlite_path("modes");
    let outbox = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    outbox
        .enqueue(
            client
                .lead("user_1")
                .email("ada@example.com")
                .click_id(mock.click("partner")),
        )
        .await;
    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
}

#[tokio::test]
async fn a_delivered_email_does_not_stay_in_the_file_or_the_wal() {
    let (mock, client) = stand_in().await;
    let path = sqlite_path("wal");
    let outbox = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(50))
        .open(&path)
        .await
        .unwrap();
    let email = "grace.hopper.unique@example.com";
    outbox
        .enqueue(
            client
                .lead("user_1")
                .email(email)
                .click_id(mock.click("partner")),
        )
        .await;
    wait_until("the lead to be delivered", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(mock.leads().len(), 1);
    let readable = |file: &str| {
        std::fs::read(file).is_ok_and(|bytes| {
            bytes
                .windows(email.len())
                .any(|window| window == email.as_bytes())
        })
    };
    wait_until(
        "the email to leave the WAL and the file",
        A_WHILE,
        async || !readable(&format!("{path}-wal")) && !readable(&path),
    )
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// Twenty leads delivered and deleted, the outbox stopped (its connections still open): no
/// email of theirs is left in the file nor in its WAL, neither in the rows' pages (overwritten
/// as they are deleted) nor in the WAL's copies of the pages the inserts wrote (emptied).
#[tokio::test]
async fn twenty_delivered_leads_leave_no_email_in_the_file_or_the_wal() {
    let (mock, client) = stand_in().await;
    let path = sqlite_path("wal20");
    let outbox = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(50))
        .open(&path)
        .await
        .unwrap();
    let emails: Vec<String> = (0..20)
        .map(|n| format!("lead.{n}.ada{}@example.com", std::process::id()))
        .collect();
    for (n, email) in emails.iter().enumerate() {
        outbox
            .enqueue(
                client
                    .lead(format!("user_{n}"))
                    .email(email)
                    .click_id(mock.click("partner")),
            )
            .await;
    }
    wait_until("the leads delivered and deleted", A_WHILE, async || {
        mock.leads().len() == emails.len() && outbox.waiting().await.unwrap() == 0
    })
    .await;
    let stats = outbox.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.delivered, 20, "{stats:?}");

    for file in [path.clone(), format!("{path}-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for email in &emails {
            assert!(
                !bytes
                    .windows(email.len())
                    .any(|window| window == email.as_bytes()),
                "{email} is still in {file}"
            );
        }
        assert!(
            !bytes.windows(11).any(|window| window == b"example.com"),
            "an email is still in {file}"
        );
    }
    drop(outbox);
}

/// Every form a Postgres location takes (a URL's user info, a query key plain or
/// percent-encoded, a `key=value` string): the password is in no error, displayed or debugged,
/// whether the store is unreachable or this build lacks Postgres.
#[tokio::test]
async fn a_password_is_never_printed_whatever_the_locations_form() {
    let (_mock, client) = stand_in().await;
    for location in [
        "postgres://127.0.0.1:1/shop?user=affitor&passwor%64=S3cr3t",
        "postgres://127.0.0.1:1/shop?user=affitor&%70assword=S3cr3t",
        "postgres://127.0.0.1:1/shop?user=affitor&password=S3cr3t",
        "postgres://affitor:S3cr3t@127.0.0.1:1/shop",
        "postgresql://127.0.0.1:1/shop?user=affitor&sslpassword=S3cr3t",
        "host=127.0.0.1 port=1 dbname=shop user=affitor password=S3cr3t",
        "host=127.0.0.1 port=1 dbname=shop user=affitor password = 'S3cr3t'",
    ] {
        let error = Outbox::builder(client.clone())
            .enqueue_timeout(Duration::from_millis(500))
            .open(location)
            .await
            .unwrap_err();
        let mut message = format!("{error} {error:?}");
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(" {cause} {cause:?}"));
            source = cause.source();
        }
        assert!(!message.contains("S3cr3t"), "{location}: {message}");
        assert!(
            matches!(
                error,
                OutboxError::Open { .. } | OutboxError::MissingFeature { .. }
            ) || (location.contains("sslpassword")
                && matches!(error, OutboxError::InvalidLocation { .. })),
            "{location}: {message}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_outbox_that_cannot_write_does_not_open() {
    use std::os::unix::fs::PermissionsExt;

    let (_mock, client) = stand_in().await;
    // A read-only file (root ignores modes: the check needs another user to mean anything).
    let is_root = std::fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
        .unwrap_or(false);
    if !is_root {
        let path = sqlite_path("readonly");
        Outbox::open(&path, client.clone())
            .await
            .unwrap()
            .shutdown(Duration::from_secs(1))
            .await;
        let folder = std::path::Path::new(&path).parent().unwrap().to_owned();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o500)).unwrap();
        let error = Outbox::open(&path, client.clone()).await.unwrap_err();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(
            matches!(
                error,
                OutboxError::Unusable { .. } | OutboxError::Open { .. }
            ),
            "{error}"
        );
        // What failed, or what the database answered (the error's source).
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(" | {cause}"));
            source = cause.source();
        }
        assert!(message.contains("writ"), "{message}");
    }

    // A table of that name from another program, and another version's schema.
    for (name, schema) in [
        (
            "foreign",
            "CREATE TABLE affitor_outbox (id INTEGER PRIMARY KEY, payload BLOB)",
        ),
        (
            "version",
            "CREATE TABLE affitor_outbox (id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL, \
             body TEXT NOT NULL, created_at INTEGER NOT NULL)",
        ),
    ] {
        let path = sqlite_path(name);
        std::fs::File::create(&path).unwrap();
        sqlite(&path).execute(schema, []).unwrap();
        let error = Outbox::open(&path, client.clone()).await.unwrap_err();
        assert!(matches!(error, OutboxError::Unusable { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("not this outbox's"), "{message}");
        assert!(
            message.contains("a database (or a file) of its own"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_postgres_location_is_never_taken_for_a_file_name() {
    let (_mock, client) = stand_in().await;
    let folder = std::env::temp_dir().join(format!("affitor-outbox-pg-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let before: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
    // Nothing listens on port 9: each is tried as Postgres, fails, and says so, password left out.
    for location in [
        "Postgres://app:s3cret@127.0.0.1:9/shop",
        "host=127.0.0.1 port=9 dbname=shop user=app password=s3cret",
    ] {
        let error = Outbox::builder(client.clone())
            .enqueue_timeout(Duration::from_millis(500))
            .open(location)
            .await
            .unwrap_err();
        let message = format!("{error} {error:?}");
        assert!(!message.contains("s3cret"), "{message}");
        assert!(
            matches!(
                error,
                OutboxError::Open { .. } | OutboxError::MissingFeature { .. }
            ),
            "{message}"
        );
    }
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), before.len());
    assert!(!std::path::Path::new("Postgres:").exists());
    assert!(
        !std::path::Path::new("host=127.0.0.1 port=9 dbname=shop user=app password=s3cret")
            .exists()
    );
}

/// A typo in a fleet's location (`postgress://`) must not start a private SQLite file on each
/// server, named with the password: it is refused at start, and nothing is created.
#[tokio::test]
async fn a_location_of_no_known_store_is_refused_at_start() {
    let (_mock, client) = stand_in().await;
    for location in [
        "postgress://user:S3cr3t@127.0.0.1:9/shop",
        "pg://user:S3cr3t@127.0.0.1:9/shop",
        "jdbc:postgresql://127.0.0.1:9/shop?user=app&password=S3cr3t",
    ] {
        let error = Outbox::open(location, client.clone()).await.unwrap_err();
        let message = format!("{error} {error:?}");
        assert!(
            matches!(error, OutboxError::UnknownLocation { .. }),
            "{message}"
        );
        assert!(!message.contains("S3cr3t"), "{message}");
        assert!(message.contains("postgres://"), "{message}");
        let scheme = location.split("://").next().unwrap_or_default();
        assert!(!std::path::Path::new(scheme).exists(), "{scheme} created");
        assert!(!std::path::Path::new(&format!("{scheme}:")).exists());
    }
}

/// A directory named in place of a file in it (a container's volume): refused, naming a file to
/// give instead, never told to `chmod 600` the directory.
#[tokio::test]
async fn a_directory_is_refused_naming_a_file_in_it() {
    let (_mock, client) = stand_in().await;
    let dir = std::env::temp_dir().join(format!("affitor-outbox-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let location = dir.to_string_lossy().into_owned();
    let error = Outbox::open(&location, client).await.unwrap_err();
    let message = affitor::ErrorReport::new(&error).to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(message.contains("names a directory"), "{message}");
    assert!(message.contains("affitor-outbox.db"), "{message}");
}

/// A connection string is read as libpq reads it, escapes included: a password holding a
/// quote is never taken for a SQLite file's name, nor shown; a URL parameter the driver would
/// log is refused before it connects.
#[tokio::test]
async fn a_location_is_parsed_before_it_is_shown_or_opened() {
    let (_mock, client) = stand_in().await;
    let location = r"host=127.0.0.1 port=9 dbname=shop password='p\'w0rdTail'";
    let error = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::from_secs(2))
        .open(location)
        .await
        .unwrap_err();
    let message = format!("{error} {error:?}");
    assert!(
        cfg!(not(feature = "postgres")) || matches!(error, OutboxError::Open { .. }),
        "{message}"
    );
    assert!(!message.contains("w0rdTail"), "{message}");
    assert!(!std::path::Path::new(location).exists());
    for location in [
        "postgres://127.0.0.1:9/shop?sslpassword=S3cr3t",
        "postgres://127.0.0.1:9/shop?Password=S3cr3t",
        "host=127.0.0.1 port=9 sslmode=verify-full sslmode_typo=require",
    ] {
        let error = Outbox::open(location, client.clone()).await.unwrap_err();
        let message = format!("{error} {error:?}");
        assert!(
            matches!(error, OutboxError::InvalidLocation { .. }),
            "{message}"
        );
        assert!(!message.contains("S3cr3t"), "{message}");
    }
}
