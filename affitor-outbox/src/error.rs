//! What can go wrong when opening an outbox or writing to it in a transaction.

/// An outbox could not be opened, or an event could not be written in your transaction.
///
/// [`Outbox::enqueue`](crate::Outbox::enqueue) never returns one: a store that fails there
/// hands the event to the client's in-memory queue instead.
///
/// Its message says what failed and what to do. The database's own error, when there is one,
/// is its [`source`](std::error::Error::source), and is not repeated in the message, as with
/// `affitor::Error`: print the chain to see it (`anyhow`'s `{:#}`, or a walk of `source()`).
///
#[cfg_attr(feature = "sqlite", doc = "```")]
#[cfg_attr(not(feature = "sqlite"), doc = "```ignore")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::error::Error as _;
///
/// let client = affitor::Client::builder().api_key("aff_key").build().unwrap();
/// // A folder cannot be made inside a file.
/// let error = affitor_outbox::Outbox::open("/dev/null/outbox.db", client).await.unwrap_err();
/// assert!(matches!(error, affitor_outbox::OutboxError::Open { .. }));
/// assert!(error.to_string().contains("/dev/null/outbox.db"));
/// let cause = error.source().expect("the file system's error");
/// assert!(cause.downcast_ref::<std::io::Error>().is_some());
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The store could not be opened, or its table created.
    #[error(
        "could not open the Affitor outbox at {location} — check that this process reaches \
         the store: a SQLite file's folder and permissions; a Postgres server's being up, and \
         the host, port, user, password, database and TLS settings"
    )]
    Open {
        /// Where it was, the password of a URL left out.
        location: String,
        /// The database's error: a `rusqlite::Error` (SQLite), a `sqlx::Error` (Postgres) or a
        /// `std::io::Error` (the file or its folder); `downcast_ref` it to look inside.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store opened, but the outbox cannot use it: it cannot write there (a read-only
    /// file or database), the `affitor_outbox` table is not this outbox's (another program's
    /// table of that name), or its schema is missing or behind this outbox's and was not
    /// brought up to date (left to the app with
    /// [`OutboxBuilder::migrate`](crate::OutboxBuilder::migrate), or a Postgres upgrade waited
    /// too long for a lock).
    #[error("the Affitor outbox at {location} cannot be used: {reason}")]
    Unusable {
        /// Where it was, the password left out.
        location: String,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// The location names a store this build of `affitor-outbox` leaves out.
    #[error(
        "the Affitor outbox at {location} needs the `{feature}` feature of affitor-outbox — \
         enable it in Cargo.toml, or open a store this build has"
    )]
    MissingFeature {
        /// Where it was, the password of a URL left out.
        location: String,
        /// The feature to enable: `sqlite` or `postgres`.
        feature: &'static str,
    },
    /// The location has a scheme of neither store (`postgress://`, `pg://`,
    /// `jdbc:postgresql://`, ...): refused before anything is opened, so that a typo never runs
    /// on a local file of that name.
    #[error(
        "the Affitor outbox location {location} names no store this crate knows — check it for \
         a typo: a SQLite file path (`outbox.db`, `sqlite:outbox.db`), or Postgres as a \
         `postgres://` or `postgresql://` URL or a `host=... dbname=...` string"
    )]
    UnknownLocation {
        /// The location, its passwords left out.
        location: String,
    },
    /// The event is invalid (see [`IntoEvent`](affitor::client::IntoEvent)); nothing was written.
    /// Its message is the event's error's (what is wrong with it, and what to do), and so is its
    /// source.
    #[error(transparent)]
    Invalid(affitor::Error),
    /// The store refused the write or the read: its source is the database's error (a
    /// `rusqlite::Error` on SQLite, a `sqlx::Error` on Postgres, to be downcast), or the
    /// outbox's own when the store did not answer in time or its writer has stopped.
    #[error(
        "the Affitor outbox's store failed to write or read — check that the database is up and \
         reachable, and that its disk has room"
    )]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::store::StoreError> for OutboxError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Store(error.into_source())
    }
}

/// `location` as logs and errors show it: the passwords left out, of a URL (its user info, or
/// a query parameter) or of a `key=value` connection string (spaces around `=` too). A
/// parameter's key is read as the database reads it, percent-decoded (`passwor%64` is
/// `password`), and the value of any key that reads as a secret is left out ([`is_secret`]).
pub(crate) fn redact(location: &str) -> String {
    let location = redact_secret_parameters(location);
    let Some((scheme, rest)) = location.split_once("://") else {
        return location;
    };
    // The user info ends at the last `@`: a password may hold `/`, `?`, `#` or `@` unencoded,
    // and leaving out too much of what only logs show is the safe side.
    let Some(at) = rest.rfind('@') else {
        return location.clone();
    };
    let user_info = &rest[..at];
    let user = user_info
        .split_once(':')
        .map_or(user_info, |(user, _)| user);
    let user = user.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{user}:***{}", &rest[at..])
}

/// Whether a parameter's key, as written, names a secret once percent-decoded: `password` and
/// any key ending in it (`sslpassword`), `passwd`, `pwd`, or a key naming a secret or a token.
fn is_secret(key: &str) -> bool {
    let key = percent_decode(key).trim().to_ascii_lowercase();
    key.ends_with("password")
        || key.ends_with("passwd")
        || key.ends_with("pwd")
        || key.contains("secret")
        || key.contains("token")
}

/// `text` with each `%XX` read as the byte it encodes (`+` as a space, as in a query); an
/// invalid escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| text.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[at]) {
            (Some(byte), _) => {
                decoded.push(byte);
                at += 3;
            }
            (None, b'+') => {
                decoded.push(b' ');
                at += 1;
            }
            (None, byte) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The value of each secret parameter ([`is_secret`]) as `***`: `key=value` in a URL's query
/// or a connection string, the value quoted or not, spaces around `=` allowed. A key starts the
/// text or follows a space, `?`, `&` or `;`, and is made of letters, digits, `_`, `-`, `.` and
/// `%` escapes: a path's `notapassword=x.db` is no key.
fn redact_secret_parameters(location: &str) -> String {
    const STARTS_AFTER: [u8; 5] = [b' ', b'\t', b'?', b'&', b';'];
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '%');
    let bytes = location.as_bytes();
    let mut redacted = String::with_capacity(location.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        // `at` follows an ASCII byte (or starts the text): a char boundary.
        if at > 0 && !STARTS_AFTER.contains(&bytes[at - 1]) {
            at += 1;
            continue;
        }
        let key_end = location[at..]
            .find(|c: char| !is_key_char(c))
            .map_or(location.len(), |end| at + end);
        let key = &location[at..key_end];
        let value = location[key_end..]
            .trim_start_matches([' ', '\t'])
            .strip_prefix('=');
        let (false, Some(value)) = (key.is_empty(), value) else {
            at = key_end.max(at + 1);
            continue;
        };
        let value = value.trim_start_matches([' ', '\t']);
        let value_start = location.len() - value.len();
        let value_end = if let Some(quoted) = value.strip_prefix('\'') {
            quoted
                .find('\'')
                .map_or(location.len(), |close| value_start + 1 + close + 1)
        } else {
            value
                .find([' ', '\t', '&', ';', '#'])
                .map_or(location.len(), |end| value_start + end)
        };
        if is_secret(key) {
            redacted.push_str(&location[copied..value_start]);
            redacted.push_str("***");
            copied = value_end;
        }
        at = value_end.max(at + 1);
    }
    redacted.push_str(&location[copied..]);
    redacted
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_parameter_never_shows() {
        assert_eq!(
            redact("host=db user=app password=s3cret dbname=shop"),
            "host=db user=app password=*** dbname=shop"
        );
        assert_eq!(
            redact("host=db password='s3 cret' dbname=shop"),
            "host=db password=*** dbname=shop"
        );
        assert_eq!(
            redact("postgres://db/shop?user=app&password=s3cret&sslmode=require"),
            "postgres://db/shop?user=app&password=***&sslmode=require"
        );
        assert_eq!(
            redact("Postgres://app:s3cret@db/shop"),
            "Postgres://app:***@db/shop"
        );
        assert_eq!(
            redact("/var/lib/app/notapassword=x.db"),
            "/var/lib/app/notapassword=x.db"
        );
        assert_eq!(
            redact("host=db sslpassword=s3cret password = 'an other' dbname=shop"),
            "host=db sslpassword=*** password = *** dbname=shop"
        );
        assert_eq!(
            redact("postgres://db/shop?sslpassword=s3cret"),
            "postgres://db/shop?sslpassword=***"
        );
        // A password with an unencoded `/`, `@` or `?`: all of the user info goes.
        assert_eq!(
            redact("postgres://app:pa/ss@db/shop"),
            "postgres://app:***@db/shop"
        );
        assert_eq!(
            redact("postgres://app:p@s?s@db/shop"),
            "postgres://app:***@db/shop"
        );
    }

    /// Every form a location takes: the password never shows, whatever case or
    /// percent-encoding its key is written in.
    #[test]
    fn a_password_never_shows_in_any_form() {
        for (location, shown) in [
            (
                "postgres://127.0.0.1:1/shop?user=affitor&passwor%64=S3cr3t",
                "postgres://127.0.0.1:1/shop?user=affitor&passwor%64=***",
            ),
            (
                "postgres://db/shop?%70%61%73%73%77%6F%72%64=S3cr3t&sslmode=require",
                "postgres://db/shop?%70%61%73%73%77%6F%72%64=***&sslmode=require",
            ),
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
                "postgres://db/shop?ssl%70assword=***#x",
            ),
            (
                "postgres://app:S3cr3t@db/shop?user=app",
                "postgres://app:***@db/shop?user=app",
            ),
            (
                "postgres://app:S3%40cr3t@db/shop",
                "postgres://app:***@db/shop",
            ),
            (
                "host=db passwor%64=S3cr3t dbname=shop",
                "host=db passwor%64=*** dbname=shop",
            ),
            (
                "host=db Password = 'S3 cr3t' dbname=shop",
                "host=db Password = *** dbname=shop",
            ),
            (
                "host=db;password=S3cr3t;dbname=shop",
                "host=db;password=***;dbname=shop",
            ),
        ] {
            let redacted = redact(location);
            assert_eq!(redacted, shown, "{location}");
            assert!(!redacted.contains("S3"), "{redacted}");
        }
    }

    #[test]
    fn a_key_is_decoded_before_it_is_judged() {
        assert!(super::is_secret("passwor%64"));
        assert!(super::is_secret("%50ASSWORD"));
        assert!(super::is_secret("sslpassword"));
        assert!(super::is_secret("client_secret"));
        assert!(!super::is_secret("user"));
        assert!(!super::is_secret("passfile"));
        assert_eq!(super::percent_decode("a%2Fb+c%zz%4"), "a/b c%zz%4");
    }

    #[test]
    fn a_password_never_shows() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(redact("postgres://db/shop"), "postgres://db/shop");
        assert_eq!(redact("outbox.db"), "outbox.db");
    }
}
