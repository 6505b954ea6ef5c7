//! What can go wrong when opening an outbox or writing to it in a transaction.

/// An outbox could not be opened, or an event could not be written in your transaction.
///
/// [`Outbox::enqueue`](crate::Outbox::enqueue) never returns one: a store that fails there
/// hands the event to the client's in-memory queue instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = affitor_tower::Client::builder().api_key("aff_key").build().unwrap();
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
        /// The database's error.
        #[source]
        source: sqlx::Error,
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
    /// The event is invalid (see [`IntoEvent`](affitor_tower::client::IntoEvent)); nothing was written.
    #[error("the Affitor event was not written: {0}")]
    Invalid(#[source] affitor_tower::Error),
    /// The store refused the write or the read.
    #[error("the Affitor outbox store failed: {0}")]
    Store(#[source] sqlx::Error),
}

/// `location` as logs and errors show it: the password left out, of a URL (its user info or
/// a `password=` query parameter) or of a `key=value` connection string.
pub(crate) fn redact(location: &str) -> String {
    let location = redact_password_parameter(location);
    let Some((scheme, rest)) = location.split_once("://") else {
        return location;
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return location.clone();
    };
    let user = &rest[..at];
    let user = user.split_once(':').map_or(user, |(user, _)| user);
    format!("{scheme}://{user}:***{}", &rest[at..])
}

/// `password=...` (in a query or a `key=value` string, quoted or not) as `password=***`.
fn redact_password_parameter(location: &str) -> String {
    let lower = location.to_ascii_lowercase();
    let mut redacted = String::with_capacity(location.len());
    let mut rest = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("password=") {
        let start = search + found;
        let starts_a_key = start == 0
            || matches!(
                location.as_bytes()[start - 1],
                b' ' | b'\t' | b'?' | b'&' | b';'
            );
        let value = start + "password=".len();
        search = value;
        if !starts_a_key {
            continue;
        }
        let bytes = location.as_bytes();
        let end = if bytes.get(value) == Some(&b'\'') {
            location[value + 1..]
                .find('\'')
                .map_or(location.len(), |close| value + 1 + close + 1)
        } else {
            location[value..]
                .find([' ', '\t', '&', ';', '#'])
                .map_or(location.len(), |end| value + end)
        };
        redacted.push_str(&location[rest..value]);
        redacted.push_str("***");
        rest = end;
        search = end;
    }
    redacted.push_str(&location[rest..]);
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
