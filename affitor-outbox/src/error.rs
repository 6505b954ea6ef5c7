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

/// `location` as logs and errors show it: a URL's password left out.
pub(crate) fn redact(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return location.to_owned();
    };
    let user = &rest[..at];
    let user = user.split_once(':').map_or(user, |(user, _)| user);
    format!("{scheme}://{user}:***{}", &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::redact;

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
