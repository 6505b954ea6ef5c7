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
    /// too long for a lock), or a Postgres pool of your own allows a single connection.
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
    /// The location names a store but cannot be used as written: a connection string that does
    /// not parse, a value quoted whole, a parameter libpq does not know, a parameter the outbox
    /// would have to drop (a TLS or authentication setting, or one whose key reads as a
    /// secret), a password where a value is, an `sslmode` libpq does not know (in the location,
    /// or in `PGSSLMODE` when the location sets none), or a TLS mode that would verify less
    /// than its name says. Refused before anything is opened.
    #[error("the Affitor outbox location {location} is refused: {reason}")]
    InvalidLocation {
        /// The location, its secrets left out.
        location: String,
        /// What is wrong, and what to write instead.
        reason: String,
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
