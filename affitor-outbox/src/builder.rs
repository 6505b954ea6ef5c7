//! How an outbox is configured and opened.

use std::time::Duration;

use affitor_tower::Client;

use crate::error::{OutboxError, redact};
use crate::outbox::Outbox;
use crate::store::Store;

/// The settings of an outbox and its relay, checked once.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) relay: bool,
    pub(crate) max_in_flight: usize,
    pub(crate) lease: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) enqueue_timeout: Duration,
    pub(crate) connections: u32,
    pub(crate) max_file_size: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            relay: true,
            max_in_flight: 2048,
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_attempts: 100,
            enqueue_timeout: Duration::from_secs(2),
            connections: 8,
            max_file_size: None,
        }
    }
}

/// Configures an [`Outbox`]: start from [`Outbox::builder`], end with
/// [`open`](Self::open) (or [`postgres`](Self::postgres) with a pool of your own).
///
/// ```no_run
/// use std::time::Duration;
///
/// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_outbox::OutboxError> {
/// let outbox = affitor_outbox::Outbox::builder(client)
///     .max_in_flight(512)
///     .backoff(Duration::from_secs(2), Duration::from_secs(600))
///     .open("affitor-outbox.db")
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "an OutboxBuilder does nothing until `open`"]
pub struct OutboxBuilder {
    client: Client,
    config: Config,
}

impl OutboxBuilder {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            config: Config::default(),
        }
    }

    /// Whether this process runs a relay that delivers the stored events (default `true`).
    /// Turn it off in a process that only writes events, when others deliver them.
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// let writer_only = affitor_outbox::Outbox::builder(client).relay(false);
    /// # }
    /// ```
    pub fn relay(mut self, relay: bool) -> Self {
        self.config.relay = relay;
        self
    }

    /// The most rows the relay sends at once (default 2,048, at least 1). Each takes one
    /// connection to the API while it waits for the answer: against an API answering in
    /// 200 ms, 2,048 deliver about 10,000 events a second (256 delivered a fifth of what a
    /// busy signup page wrote).
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_in_flight(1024);
    /// # }
    /// ```
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.config.max_in_flight = max_in_flight.max(1);
        self
    }

    /// How long a relay holds the rows it claimed (default 2 minutes). A relay that dies while
    /// sending leaves its rows claimed until then; they go again after. Keep it longer than
    /// the client's [`RetryPolicy::deadline`](affitor_tower::client::RetryPolicy::deadline), or a slow
    /// send may be claimed by a second relay while the first still waits for its answer.
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client).lease(Duration::from_secs(300));
    /// # }
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// How often the relay looks for rows it was not told about (default 1 s): rows written
    /// by other processes or in your transactions, retries falling due, leases ending.
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client).poll_interval(Duration::from_millis(250));
    /// # }
    /// ```
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.config.poll_interval = poll_interval.max(Duration::from_millis(1));
        self
    }

    /// The wait before trying a failed row again: `initial` after the first failed attempt,
    /// doubling up to `max` (defaults 1 s and 5 minutes), each wait drawn between half and all
    /// of it so that relays do not retry in step. A `Retry-After` from the API is honoured up
    /// to `max`.
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client)
    ///     .backoff(Duration::from_secs(5), Duration::from_secs(900));
    /// # }
    /// ```
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial.max(Duration::from_millis(1));
        self.config.backoff_max = max.max(self.config.backoff_initial);
        self
    }

    /// The attempts after which a row that keeps failing becomes a dead letter (default 100:
    /// with the default backoff, about eight hours of an API that is down). Each attempt is a
    /// whole `send` with the client's own retries.
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_attempts(500);
    /// # }
    /// ```
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.config.max_attempts = max_attempts.max(1);
        self
    }

    /// How long [`Outbox::enqueue`] waits for the store (default 2 s) before it hands the event
    /// to the client's in-memory queue instead. Also the most a Postgres write waits for a
    /// connection of the pool.
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client).enqueue_timeout(Duration::from_millis(500));
    /// # }
    /// ```
    pub fn enqueue_timeout(mut self, enqueue_timeout: Duration) -> Self {
        self.config.enqueue_timeout = enqueue_timeout;
        self
    }

    /// The most bytes a SQLite outbox file may hold (default: no limit but the disk's). Past it,
    /// a write fails as on a full disk, and [`Outbox::enqueue`] hands the event to the client's
    /// in-memory queue, counted in [`OutboxStats::fell_back`](crate::OutboxStats::fell_back).
    /// Postgres ignores it.
    ///
    /// ```
    /// # fn run(client: affitor_tower::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_file_size(512 * 1024 * 1024);
    /// # }
    /// ```
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.config.max_file_size = Some(bytes);
        self
    }

    /// Opens the outbox at `location`, creating its table when missing, and starts its relay:
    ///
    /// - a `postgres://` (or `postgresql://`) URL: a Postgres database (feature `postgres`);
    /// - anything else: a SQLite file path, created when missing, with its folder (feature
    ///   `sqlite`); a `sqlite://` prefix is allowed.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Open`] when the store cannot be reached or its table created;
    /// [`OutboxError::MissingFeature`] when the location names a store this build leaves out.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # if cfg!(not(feature = "sqlite")) { return Ok(()); }
    /// # let dir = std::env::temp_dir().join(format!("affitor-outbox-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let outbox = affitor_outbox::Outbox::builder(client)
    ///     .open(dir.join("outbox.db").to_str().unwrap_or("outbox.db"))
    ///     .await?;
    /// # outbox.shutdown(std::time::Duration::from_secs(1)).await;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(self, location: &str) -> Result<Outbox, OutboxError> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            return self.open_postgres(location).await;
        }
        let path = location
            .strip_prefix("sqlite://")
            .or_else(|| location.strip_prefix("sqlite:"))
            .unwrap_or(location);
        self.open_sqlite(path).await
    }

    /// Opens the outbox in the Postgres database of `pool` (your own, so that
    /// [`Outbox::enqueue_in`] can write in your transactions), creating its table when
    /// missing, and starts its relay.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Open`] when the table cannot be created.
    ///
    /// ```no_run
    /// # async fn run(client: affitor_tower::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/shop").await?;
    /// let outbox = affitor_outbox::Outbox::builder(client).postgres(pool.clone()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "postgres")]
    pub async fn postgres(self, pool: sqlx::PgPool) -> Result<Outbox, OutboxError> {
        let location = "postgres (the given pool)".to_owned();
        match crate::store::postgres::PostgresStore::open(pool).await {
            Ok(store) => Ok(self.start(Store::Postgres(store), location)),
            Err(source) => Err(OutboxError::Open { location, source }),
        }
    }

    #[cfg(feature = "postgres")]
    async fn open_postgres(self, url: &str) -> Result<Outbox, OutboxError> {
        use sqlx::postgres::PgPoolOptions;

        let location = redact(url);
        let pool = PgPoolOptions::new()
            .max_connections(self.config.connections)
            .acquire_timeout(self.config.enqueue_timeout)
            .connect(url)
            .await
            .map_err(|source| OutboxError::Open {
                location: location.clone(),
                source,
            })?;
        match crate::store::postgres::PostgresStore::open(pool).await {
            Ok(store) => Ok(self.start(Store::Postgres(store), location)),
            Err(source) => Err(OutboxError::Open { location, source }),
        }
    }

    #[cfg(not(feature = "postgres"))]
    async fn open_postgres(self, url: &str) -> Result<Outbox, OutboxError> {
        Err(OutboxError::MissingFeature {
            location: redact(url),
            feature: "postgres",
        })
    }

    #[cfg(feature = "sqlite")]
    async fn open_sqlite(self, path: &str) -> Result<Outbox, OutboxError> {
        let location = path.to_owned();
        let store = crate::store::sqlite::SqliteStore::open(path.as_ref(), &self.config).await;
        match store {
            Ok(store) => Ok(self.start(Store::Sqlite(store), location)),
            Err(source) => Err(OutboxError::Open { location, source }),
        }
    }

    #[cfg(not(feature = "sqlite"))]
    async fn open_sqlite(self, path: &str) -> Result<Outbox, OutboxError> {
        Err(OutboxError::MissingFeature {
            location: path.to_owned(),
            feature: "sqlite",
        })
    }

    fn start(self, store: Store, location: String) -> Outbox {
        Outbox::start(store, self.client, self.config, location)
    }
}
