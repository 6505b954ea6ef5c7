use super::{Location, is_secret, percent_decode};
use crate::OutboxError;

/// The location as shown, or the error's location when it is refused.
fn shown(location: &str) -> String {
    match Location::parse(location) {
        Ok(location) => location.shown().to_owned(),
        Err(
            OutboxError::InvalidLocation { location, .. }
            | OutboxError::UnknownLocation { location },
        ) => location,
        Err(other) => panic!("{location}: {other}"),
    }
}

fn postgres(location: &str) -> super::Postgres {
    match Location::parse(location) {
        Ok(Location::Postgres(postgres)) => postgres,
        other => panic!("{location}: {other:?}"),
    }
}

#[test]
fn a_postgres_url_or_connection_string_is_postgres() {
    for location in [
        "postgres://app@db/shop",
        "Postgres://app:s3cret@db/shop",
        "POSTGRESQL://db/shop",
        "host=db dbname=shop user=app password=s3cret",
        "dbname=shop",
        "host = db password = s3cret",
    ] {
        assert!(
            matches!(Location::parse(location), Ok(Location::Postgres(_))),
            "{location}"
        );
    }
}

/// libpq's quoting and backslash escapes: a password holding a quote is read whole, never
/// shown, and the string is never taken for a SQLite file's name.
#[test]
fn a_connection_string_is_read_with_libpq_escapes() {
    let location = r"host=db user=app password='p\'w0rdTail' dbname=shop";
    let parsed = postgres(location);
    assert_eq!(parsed.param("password"), Some("p'w0rdTail"));
    assert_eq!(parsed.param("dbname"), Some("shop"));
    assert_eq!(shown(location), "host=db user=app password=*** dbname=shop");
    let parsed = postgres(r"host=db password=a\ b\\c dbname='my shop'");
    assert_eq!(parsed.param("password"), Some(r"a b\c"));
    assert_eq!(parsed.param("dbname"), Some("my shop"));
    assert_eq!(parsed.shown, "host=db password=*** dbname='my shop'");
}

/// Each location shown as expected, without any of its secrets (each holds `s3`, or `other`
/// or `ss@` in a password).
fn assert_hidden(cases: &[(&str, &str)]) {
    for (location, expected) in cases {
        let shown = shown(location);
        assert_eq!(&shown, expected, "{location}");
        assert!(!shown.to_lowercase().contains("s3"), "{shown}");
        assert!(
            !shown.contains("other") && !shown.contains("ss@"),
            "{shown}"
        );
    }
}

#[test]
fn a_password_never_shows_in_a_connection_string() {
    assert_hidden(&[
        (
            "host=db user=app password=s3cret dbname=shop",
            "host=db user=app password=*** dbname=shop",
        ),
        (
            "host=db password='s3 cret' dbname=shop",
            "host=db password=*** dbname=shop",
        ),
        // An unquoted password ends at a space only: `#`, `;` and `&` are its own.
        (
            "host=db password=S3y7#kL9q dbname=shop",
            "host=db password=*** dbname=shop",
        ),
        ("host=db password=S3y7;kL9q&x", "host=db password=***"),
        (
            "host=db Password = 'S3 cr3t' dbname=shop",
            "host=db Password=*** dbname=shop",
        ),
        (
            "host=db passwor%64=S3cr3t dbname=shop",
            "host=db passwor%64=*** dbname=shop",
        ),
        // Another driver's string as one value: the whole value goes.
        ("host=db;password=S3cr3t;dbname=shop", "host=***"),
        (
            "host=db sslpassword=s3cret password = 'an other'",
            "host=db sslpassword=*** password=***",
        ),
    ]);
}

/// A connection string that does not parse is refused, whichever key comes first, and shown
/// without its password: never taken for a SQLite file's name (which the logs would show).
#[test]
fn a_malformed_connection_string_is_refused_never_a_file() {
    for (location, expected) in [
        (
            "sslmode=verify-full host=db user=app password=s3 cret dbname=shop",
            "sslmode=verify-full host=db user=app password=*** …",
        ),
        (
            "application_name=shop password='s3 cret",
            "application_name=shop …",
        ),
        (
            "sslmode=require host=db pass-word=s3cret",
            "sslmode=require host=db pass-word=***",
        ),
    ] {
        assert!(
            matches!(
                Location::parse(location),
                Err(OutboxError::InvalidLocation { .. })
            ),
            "{location}"
        );
        assert_eq!(shown(location), expected, "{location}");
        let error = Location::parse(location).map(drop).unwrap_err().to_string();
        assert!(!error.contains("cret") && !error.contains("s3"), "{error}");
    }
    for path in ["./data/a=b.db", "/var/lib/app/outbox db=1", "outbox.db"] {
        assert_eq!(
            Location::parse(path).ok(),
            Some(Location::Sqlite(path.to_owned())),
            "{path}"
        );
    }
}

/// Another driver's connection string, a URL without its scheme, a `.pgpass` line: never a
/// SQLite file's path, which would be shown and logged whole; shown up to where a password
/// may start. A word of a connection string that is no key is never shown either.
#[test]
fn a_text_that_holds_a_password_is_never_a_file() {
    for (location, expected) in [
        (
            "Server=db;Port=5432;Database=shop;User Id=app;Password=s3cret;",
            "Server…",
        ),
        (
            "Driver={PostgreSQL Unicode};Server=db;Uid=app;Pwd=s3cret;",
            "Driver…",
        ),
        ("pwd=s3cret", "pwd…"),
        ("PGPASSWORD=s3cret", "PGPASSWORD…"),
        ("app:s3cret@db:5432/shop", "app…"),
        ("postgres//app:s3cret@db/shop", "postgres//app…"),
        ("postgres;//app:s3cret@db/shop", "postgres…"),
        ("db:5432:shop:app:s3cret", "db…"),
        ("password:s3cret dbname=shop", "password…"),
        ("dbname=shop password:s3cret", "dbname=shop …"),
        ("host=db user=app s3cret", "host=db user=app …"),
        ("sqlite:", "sqlite:"),
        ("", ""),
    ] {
        let refused = Location::parse(location).map(drop).expect_err(location);
        let OutboxError::InvalidLocation {
            location: shown,
            reason,
        } = &refused
        else {
            panic!("{location}: {refused:?}");
        };
        assert_eq!(shown, expected, "{location}");
        let message = format!("{refused} {refused:?}");
        assert!(!message.contains("s3cret"), "{message}");
        assert!(!reason.is_empty(), "{location}");
    }
    // What starts as a path is one, whatever it holds; `sqlite:` names any file.
    for (location, path) in [
        ("./app:v2@host=1;.db", "./app:v2@host=1;.db"),
        ("C:\\data\\outbox.db", "C:\\data\\outbox.db"),
        ("sqlite:app@v2.db", "app@v2.db"),
        ("data/outbox.db", "data/outbox.db"),
    ] {
        assert_eq!(
            Location::parse(location).ok(),
            Some(Location::Sqlite(path.to_owned())),
            "{location}"
        );
    }
}

#[test]
fn a_password_never_shows_in_debug_output() {
    for location in [
        "postgres://app:s3cret@db/shop",
        "host=db password=s3cret dbname=shop",
    ] {
        let debug = format!("{:?}", Location::parse(location));
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}

#[test]
fn a_password_never_shows_in_a_url() {
    assert_hidden(&[
        (
            "postgres://db/shop?user=app&password=s3cret&sslmode=require",
            "postgres://db/shop?user=app&password=***&sslmode=require",
        ),
        (
            "Postgres://app:s3cret@db/shop",
            "postgres://app:***@db/shop",
        ),
        (
            "postgres://app:s3cret@db:5432/shop",
            "postgres://app:***@db:5432/shop",
        ),
        (
            "postgres://app:s3%40cr3t@db/shop",
            "postgres://app:***@db/shop",
        ),
        ("postgres://app:s3@cr@db/shop", "postgres://app:***@db/shop"),
        ("postgres://db/shop", "postgres://db/shop"),
        (
            "postgres://127.0.0.1:1/shop?user=affitor&passwor%64=S3cr3t",
            "postgres://127.0.0.1:1/shop?user=affitor&passwor%64=***",
        ),
        (
            "postgres://db/shop?%70%61%73%73%77%6F%72%64=S3cr3t&sslmode=require",
            "postgres://db/shop?%70%61%73%73%77%6F%72%64=***&sslmode=require",
        ),
        // Refused, and shown without the secret.
        (
            "postgres://db/shop?PASSWORD=S3cr3t",
            "postgres://db/shop?PASSWORD=***",
        ),
        (
            "postgres://db/shop?sslpassword=S3cr3t",
            "postgres://db/shop?sslpassword=***",
        ),
        (
            "postgres://db/shop?ssl%70assword=S3cr3t#x",
            "postgres://db/shop?ssl%70assword=***",
        ),
        ("postgres://app:pa/ss@db/shop", "postgres://***@db/shop"),
        ("postgres://app:p@s?s@db/shop", "postgres://***@…"),
        (
            "postgres://app:pa/ss@db/shop?password=s3cret",
            "postgres://***@db/shop",
        ),
        ("postgres://db/shop?password=ss@cr3t", "postgres://***@…"),
        ("postgres://db/shop#ss@cr3t", "postgres://***@…"),
    ]);
}

/// A parameter sqlx does not read is left out of the URL it reads (those it would have to
/// drop are refused: `tests/outbox/location.rs`); an alias reads as libpq's key.
#[test]
fn parameters_sqlx_does_not_read_never_reach_it() {
    let parsed = postgres("postgres://app@db/shop?connect_timeout=10&sslmode=require#top");
    assert_eq!(parsed.url(), Some("postgres://app@db/shop?sslmode=require"));
    let parsed = postgres("host=db connect_timeout=10");
    assert_eq!(parsed.param("host"), Some("db"));
    let parsed = postgres("postgres://db/shop?ssl-ca=/ca.pem&ssl-mode=verify-full");
    assert_eq!(parsed.param("sslrootcert"), Some("/ca.pem"));
    assert_eq!(parsed.param("sslmode"), Some("verify-full"));
}

#[test]
fn a_key_is_decoded_before_it_is_judged() {
    assert!(is_secret("passwor%64"));
    assert!(is_secret("%50ASSWORD"));
    assert!(is_secret("sslpassword"));
    assert!(is_secret("client_secret"));
    assert!(is_secret("Pass-Word"));
    assert!(!is_secret("user"));
    assert!(!is_secret("passfile"));
    assert_eq!(percent_decode("a%2Fb+c%zz%4"), "a/b c%zz%4");
}

/// libpq connects to `hostaddr` and verifies the certificate as `host`; sqlx has one host for
/// both, so the two together are refused unless they are the same, and `hostaddr` alone is
/// the host, as libpq reads it.
#[test]
fn hostaddr_beside_another_host_is_refused() {
    for location in [
        "host=db.example.com hostaddr=10.0.0.5 sslmode=verify-full dbname=shop",
        "hostaddr=10.0.0.5 host=db.example.com dbname=shop",
        "postgres://app@db.example.com:5432/shop?hostaddr=10.0.0.5&sslmode=verify-full",
        "postgres://app@[::1]/shop?hostaddr=10.0.0.5",
        "postgres:///shop?host=db.example.com&hostaddr=10.0.0.5",
    ] {
        match Location::parse(location) {
            Err(OutboxError::InvalidLocation { reason, .. }) => {
                assert!(reason.contains("`hostaddr` beside `host`"), "{reason}");
                assert!(reason.contains("give `host` alone"), "{reason}");
            }
            other => panic!("{location}: {other:?}"),
        }
    }
    for location in [
        "hostaddr=10.0.0.5 dbname=shop",
        "host=10.0.0.5 hostaddr=10.0.0.5",
        "postgres:///shop?hostaddr=10.0.0.5",
        "postgres://app@[::1]:5432/shop?hostaddr=::1",
    ] {
        assert!(
            matches!(Location::parse(location), Ok(Location::Postgres(_))),
            "{location}"
        );
    }
}

/// A quoted or mistyped Postgres URL, or a URL pasted with what came before it, is refused,
/// shown with its scheme and host alone: never taken for a SQLite file's path, which would be
/// shown and logged whole.
#[test]
fn a_quoted_or_mistyped_postgres_url_is_refused_never_a_file() {
    for (location, expected) in [
        (
            r#""postgres://app:s3cret@db/shop""#,
            r#""postgres://***@db"#,
        ),
        ("'postgres://app:s3cret@db/shop'", "'postgres://***@db"),
        ("\"password=s3cret\"", "\"…"),
        ("postgres:/app:s3cret@db/shop", "postgres:/***@db"),
        ("PostgreSQL:app:s3cret@db/shop", "PostgreSQL:***@db"),
        ("postgres:app:s3/cr@db/shop", "postgres:…"),
        (
            "DATABASE_URL=postgres://app:s3cret@db/shop",
            "postgres://***@db",
        ),
        ("\u{feff}postgres://app:s3cret@db/shop", "postgres://***@db"),
        (
            "<postgres://app:s3cret@db:5432/shop>",
            "postgres://***@db:5432",
        ),
        ("mysql://db/shop?password=s3@cret", "mysql://…"),
        ("mysql://app:s3cret/shop", "mysql://app:***"),
        ("mysql://[::1]:5432/shop", "mysql://[::1]:5432"),
        (
            "jdbc:postgresql://db:5432/shop?user=app&password=s3cret",
            "jdbc:postgresql://db:5432",
        ),
    ] {
        match Location::parse(location) {
            Err(OutboxError::UnknownLocation { location: shown })
            | Err(OutboxError::InvalidLocation {
                location: shown, ..
            }) => assert_eq!(shown, expected, "{location}"),
            other => panic!("{location}: {other:?}"),
        }
        let error = Location::parse(location).map(drop).unwrap_err();
        let message = format!("{error} {error:?}");
        assert!(
            !message.contains("s3") && !message.contains("cret"),
            "{message}"
        );
    }
    let error = Location::parse("\"outbox.db\"").map(drop).unwrap_err();
    assert!(error.to_string().contains("remove them"), "{error}");
    // A path that holds `://` or a quote past its start is still a path.
    for path in [
        "./data/a://b.db",
        "/var/lib/app/a://b.db",
        "data/o'brien.db",
    ] {
        assert_eq!(
            Location::parse(path).ok(),
            Some(Location::Sqlite(path.to_owned())),
            "{path}"
        );
    }
}

/// A key libpq does not know is refused, as libpq refuses it, named but never with its value;
/// one libpq knows that sqlx does not read is left out with a warning.
#[test]
fn a_key_libpq_does_not_know_is_refused_without_its_value() {
    for (location, expected) in [
        (
            "host=db user=app pass=hunter2 dbname=shop",
            "host=db user=app pass=*** dbname=shop",
        ),
        (
            "postgres://app@db/shop?pass=hunter2",
            "postgres://app@db/shop?pass=***",
        ),
        (
            "postgres://app@db/shop?sslmode=require&hunter2",
            "postgres://app@db/shop?sslmode=require&***",
        ),
    ] {
        let OutboxError::InvalidLocation {
            location: shown,
            reason,
        } = Location::parse(location).map(drop).expect_err(location)
        else {
            panic!("{location}");
        };
        assert_eq!(shown, expected, "{location}");
        assert!(!reason.contains("hunter2"), "{reason}");
        assert!(
            reason.contains("remove it") || reason.contains("no `=`"),
            "{reason}"
        );
    }
    let OutboxError::InvalidLocation { reason, .. } = Location::parse("host=db pass=hunter2")
        .map(drop)
        .unwrap_err()
    else {
        panic!("refused");
    };
    assert!(
        reason.contains("`pass`") && reason.contains("libpq"),
        "{reason}"
    );
    // libpq's `passfile`, which sqlx does not read: dropped, the password would be missing.
    for location in [
        "host=db passfile=/run/pgpass",
        "postgres://app@db/shop?passfile=/run/pgpass",
    ] {
        match Location::parse(location) {
            Err(OutboxError::InvalidLocation { reason, .. }) => {
                assert!(reason.contains("PGPASSFILE"), "{reason}");
            }
            other => panic!("{location}: {other:?}"),
        }
    }
    // libpq's authentication settings that sqlx does not read: dropped, they would weaken it.
    for location in [
        "host=db requirepeer=postgres",
        "postgres://db/shop?oauth_issuer=https://id.example.com",
        "host=db scram_client_key=abc",
    ] {
        match Location::parse(location) {
            Err(OutboxError::InvalidLocation { reason, .. }) => {
                assert!(reason.contains("weaken"), "{reason}");
            }
            other => panic!("{location}: {other:?}"),
        }
    }
    for location in [
        "host=db connect_timeout=10 keepalives=1",
        "postgres://db/shop?target_session_attrs=read-write&fallback_application_name=x",
    ] {
        assert!(
            matches!(Location::parse(location), Ok(Location::Postgres(_))),
            "{location}"
        );
    }
}

/// An `sslmode` libpq does not know is refused, listing the six it takes, in either form; a
/// URL holding another driver's `;password=...` is refused as a `key=value` string is, and
/// shown without it.
#[test]
fn an_sslmode_libpq_does_not_know_or_a_secret_in_a_url_is_refused() {
    for location in [
        "host=db sslmode=verfy-full",
        "host=db sslmode=Require",
        "host=db sslmode=''",
        "postgres://db/shop?sslmode=verfy-full",
        "postgres://db/shop?ssl-mode=true",
        "postgres://db/shop?sslmode=verify-full&sslmode=",
    ] {
        match Location::parse(location) {
            Err(OutboxError::InvalidLocation { reason, .. }) => {
                assert!(reason.contains("libpq does not know"), "{reason}");
                for mode in [
                    "disable",
                    "allow",
                    "prefer",
                    "require",
                    "verify-ca",
                    "verify-full",
                ] {
                    assert!(reason.contains(mode), "{reason}");
                }
            }
            other => panic!("{location}: {other:?}"),
        }
    }
    for mode in [
        "disable",
        "prefer",
        "require",
        "verify-full",
        "allow",
        "verify-ca",
    ] {
        let location = format!("postgres://db/shop?sslmode={mode}");
        assert!(postgres(&location).param("sslmode") == Some(mode));
    }
    for (location, expected) in [
        (
            "postgres://app@db/shop?sslmode=require;password=s3cret",
            "postgres://app@db/shop?sslmode=***",
        ),
        (
            "postgres://app@db/shop?application_name=x%3Bpassword%3Ds3cret",
            "postgres://app@db/shop?application_name=***",
        ),
        (
            "postgres://app@db/shop;password=s3cret",
            "postgres://app@db/***",
        ),
        (
            "postgres://app;password=s3cret@db/shop",
            "postgres://***@db/shop",
        ),
        (
            "postgres://app@db;password=s3cret/shop",
            "postgres://app@***/shop",
        ),
    ] {
        match Location::parse(location) {
            Err(OutboxError::InvalidLocation {
                location: shown,
                reason,
            }) => {
                assert_eq!(shown, expected, "{location}");
                assert!(reason.contains("holds a password"), "{reason}");
                assert!(!reason.contains("s3"), "{reason}");
            }
            other => panic!("{location}: {other:?}"),
        }
    }
}

/// A `PGSSLMODE` libpq does not know is refused, naming it, when the location sets no
/// sslmode: sqlx would run it as `prefer`. The environment's value is handed in, never set.
#[test]
fn a_pgsslmode_libpq_does_not_know_is_refused() {
    use std::ffi::OsStr;

    let bare = postgres("postgres://app@db/shop");
    for mode in ["verfy-full", "Require", "", "true"] {
        match bare.check_env_sslmode(Some(OsStr::new(mode))) {
            Err(OutboxError::InvalidLocation { location, reason }) => {
                assert_eq!(location, "postgres://app@db/shop");
                assert!(reason.contains("PGSSLMODE"), "{reason}");
                assert!(reason.contains("verify-ca or verify-full"), "{reason}");
            }
            other => panic!("{mode}: {other:?}"),
        }
    }
    for mode in [None, Some("verify-full"), Some("prefer"), Some("disable")] {
        assert!(
            bare.check_env_sslmode(mode.map(OsStr::new)).is_ok(),
            "{mode:?}"
        );
    }
    // The location's own sslmode is what libpq and sqlx read: PGSSLMODE is not.
    for location in [
        "host=db sslmode=verify-full",
        "postgres://db/shop?ssl-mode=require",
    ] {
        let set = postgres(location);
        assert!(set.check_env_sslmode(Some(OsStr::new("verfy"))).is_ok());
    }
}
