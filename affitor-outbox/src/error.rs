//! What can go wrong when opening an outbox or writing to it in a transaction.

/// An outbox could not be opened, or an event could not be written in your transaction.
///
/// [`Outbox::enqueue`](crate::Outbox::enqueue) never returns one: a store that fails there
/// hands the event to the client's in-memory queue instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = affitor::Client::builder().api_key("aff_key").build().unwrap();
/// // A folder cannot be made inside a file.
/// let error = affitor_outbox::Outbox::open("/dev/null/outbox.db", client).await.unwrap_err();
/// assert!(error.to_string().contains("AFFITOR_OUTBOX"));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The store could not be opened, or its table created.
    #[error(
        "could not open the Affitor outbox at {location}: {source} — check AFFITOR_OUTBOX (a \
         SQLite file path, or a postgres:// URL) and that the store is reachable"
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
    /// file or database), or the `affitor_outbox` table is not this outbox's (another
    /// version's schema, or another program's table of that name).
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
         enable it in Cargo.toml, or set AFFITOR_OUTBOX to a store this build has"
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
        "the Affitor outbox location {location} names no store this crate knows — check \
         AFFITOR_OUTBOX: a SQLite file path (`outbox.db`, `sqlite:outbox.db`), or Postgres as a \
         `postgres://` or `postgresql://` URL or a `host=... dbname=...` string"
    )]
    UnknownLocation {
        /// The location, its passwords left out.
        location: String,
    },
    /// The event is invalid (see [`IntoEvent`](affitor::client::IntoEvent)); nothing was written.
    #[error("the Affitor event was not written: {0}")]
    Invalid(#[source] affitor::Error),
    /// The store refused the write or the read: the database's error (a `rusqlite::Error` on
    /// SQLite, a `sqlx::Error` on Postgres, to be downcast), or the outbox's own when the store
    /// did not answer in time or its writer has stopped.
    #[error("the Affitor outbox store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::store::StoreError> for OutboxError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Store(error.into_source())
    }
}

/// `location` as logs and errors show it: the passwords left out, of a URL (its user info, or
/// a query parameter) or of a `key=value` connection string (any key that ends in `password`,
/// such as `sslpassword`; spaces around `=` too).
pub(crate) fn redact(location: &str) -> String {
    let location = redact_password_parameters(location);
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

/// The value of each `...password = value` parameter (in a query or a `key=value` string, quoted
/// or not) as `***`.
fn redact_password_parameters(location: &str) -> String {
    const KEY: &str = "password";
    let lower = location.to_ascii_lowercase();
    let bytes = location.as_bytes();
    let mut redacted = String::with_capacity(location.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(KEY) {
        let key_end = search + found + KEY.len();
        search = key_end;
        // The key is `password` or ends in it (`sslpassword`), starting the string or a
        // parameter.
        let key_start = lower[..key_end - KEY.len()]
            .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
            .len();
        let starts_a_key =
            key_start == 0 || matches!(bytes[key_start - 1], b' ' | b'\t' | b'?' | b'&' | b';');
        let after_key = location[key_end..].trim_start_matches([' ', '\t']);
        let Some(value) = after_key.strip_prefix('=') else {
            continue;
        };
        if !starts_a_key {
            continue;
        }
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
        redacted.push_str(&location[copied..value_start]);
        redacted.push_str("***");
        copied = value_end;
        search = value_end;
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
