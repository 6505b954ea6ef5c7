//! How an outbox is configured and opened.

use std::time::Duration;

use affitor::Client;

use crate::config::Config;
use crate::error::{OutboxError, redact};
use crate::outbox::Outbox;
use crate::store::{Store, StoreError};

/// The most connections of the pool an outbox opens on a Postgres location; its writer keeps
/// one more of its own, so an outbox holds at most 9. A pool of your own
/// ([`OutboxBuilder::postgres`]) keeps its own limit (its `max_connections`), plus the writer's.
#[cfg(feature = "postgres")]
const POSTGRES_CONNECTIONS: u32 = 8;

impl Outbox {
    /// Starts configuring an outbox that delivers through `client`.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_in_flight(512);
    /// # }
    /// ```
    pub fn builder(client: Client) -> OutboxBuilder {
        OutboxBuilder::new(client)
    }

    /// Opens the outbox at `location` (a SQLite path, or a `postgres://` URL) with the default
    /// settings, and starts its relay: [`Outbox::builder`]`(client).`[`open`](OutboxBuilder::open)`(location)`.
    ///
    /// # Errors
    ///
    /// As [`OutboxBuilder::open`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = affitor::Client::from_env()?;
    /// let location = std::env::var("AFFITOR_OUTBOX")?;
    /// let outbox = affitor_outbox::Outbox::open(&location, client).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(location: &str, client: Client) -> Result<Self, OutboxError> {
        Self::builder(client).open(location).await
    }
}

/// Configures an [`Outbox`]: start from [`Outbox::builder`], end with
/// [`open`](Self::open) (or `postgres` with a pool of your own, feature `postgres`).
///
/// ```no_run
/// use std::time::Duration;
///
/// # async fn run(client: affitor::Client) -> Result<(), affitor_outbox::OutboxError> {
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
    relay_client: Option<Client>,
    config: Config,
}

impl OutboxBuilder {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            relay_client: None,
            config: Config::default(),
        }
    }

    /// Whether this process runs a relay that delivers the stored events (default `true`).
    /// Turn it off in a process that only writes events, when others deliver them.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
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
    /// The sends run on a thread of their own, with a runtime of their own: however many are in
    /// flight, they take one core at most. A relay in a process of its own on another machine,
    /// the web servers' outboxes opened with [`relay(false)`](Self::relay), takes nothing from
    /// them at all.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_in_flight(1024);
    /// # }
    /// ```
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.config.max_in_flight = max_in_flight.max(1);
        self
    }

    /// The client the relay sends through (default: the one the outbox was opened with).
    ///
    /// The relay's sends run on a thread of their own, and the connections they open to the
    /// API are driven by that thread. With the default, they are in the connection pool your
    /// handlers' client shares: a handler's own call to the API (a click captured on the
    /// server, a sale sent inline) that picks one waits for that thread, which is busy while the
    /// relay sends flat out (the repository's BENCHMARKS.md, "The relay's client", has the
    /// figures). An app whose handlers call the API inline gives the relay a client of its own,
    /// as the repository's examples do; so does one that wants another timeout or retry policy
    /// for the relay than for its handlers.
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// // The same key and URL as the handlers' client, and a connection pool of its own.
    /// let relay_client = affitor::Client::from_env()?;
    /// let builder = affitor_outbox::Outbox::builder(client).relay_client(relay_client);
    /// # Ok(())
    /// # }
    /// ```
    pub fn relay_client(mut self, client: Client) -> Self {
        self.relay_client = Some(client);
        self
    }

    /// How long a relay's claim on a row lasts unless renewed (default 15 s). While a row is
    /// being sent, its relay renews the lease every third of it (one statement for all its
    /// rows), so a long send (the client's retries, a slow API) keeps its rows however long it
    /// takes; a relay that dies (a crash, a SIGKILL, a lost machine) stops renewing, and its
    /// rows go again, on another relay or at the next start, within one lease. Shorter: a
    /// dead relay's rows wait less, at the cost of more renewals; keep it a few times longer
    /// than a renewal takes when the store is busy (on Postgres, a query's round trip).
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client).lease(Duration::from_secs(30));
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
    /// # fn run(client: affitor::Client) {
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
    /// # fn run(client: affitor::Client) {
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
    /// # fn run(client: affitor::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_attempts(500);
    /// # }
    /// ```
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.config.max_attempts = max_attempts.max(1);
        self
    }

    /// How long a dead letter is kept before the relay deletes it (default 7 days): time to
    /// look at it ([`Outbox::dead_letters`]) and send it again
    /// ([`Outbox::retry_dead_letters`]) once its cause is mended, without the store keeping the
    /// emails of events given up on for ever. The relay purges at most every 5 minutes (sooner
    /// for a shorter retention, at most once a second); the dead letters left are counted in
    /// [`OutboxStats::dead_letters`](crate::OutboxStats::dead_letters).
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client)
    ///     .dead_letter_retention(Duration::from_secs(30 * 24 * 3600));
    /// # }
    /// ```
    pub fn dead_letter_retention(mut self, retention: Duration) -> Self {
        self.config.dead_letter_retention = retention;
        self
    }

    /// How long a refund whose sale Affitor does not know is tried again, from when it was
    /// stored (default 4 days: longer than any provider retries a webhook, Stripe's three days
    /// included). Its sale may still be on its way: in this store behind it, in another
    /// replica's request, or in the provider's retries after an outage. Past it, the refund is
    /// a dead letter whose error names the ids it was tried under: a refund of a sale Affitor
    /// never recorded (an organic customer's, most often), or of a sale that was lost; never
    /// acknowledged and dropped.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client)
    ///     .refund_patience(Duration::from_secs(7 * 24 * 3600));
    /// # }
    /// ```
    pub fn refund_patience(mut self, patience: Duration) -> Self {
        self.config.refund_patience = patience;
        self
    }

    /// How long [`Outbox::enqueue`] waits for the store to take the event (default 2 s) before
    /// it hands it to the client's in-memory queue instead: the backpressure of a store that
    /// cannot keep up. Rows are written in batches, one transaction each, by one writer task: the
    /// enqueue waits this long for the writer to take its row into a batch, and a batch is
    /// given up on only before its `COMMIT`, this long after the writer took it. A commit under
    /// way is waited for to its end, so that an event never goes both ways (twice): a request
    /// waits at most about twice this timeout, plus one commit.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
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
    /// # fn run(client: affitor::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_file_size(512 * 1024 * 1024);
    /// # }
    /// ```
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.config.max_file_size = Some(bytes);
        self
    }

    /// Whether the outbox brings its schema up to date at its start (default `true`), or only
    /// checks it.
    ///
    /// On Postgres, on, a start reads the schema's version (a plain `SELECT`, which no transaction on the
    /// outbox's table holds up) and, when it is current, runs no DDL. When it is behind, the
    /// start applies the missing versions of [`migrations::POSTGRES`](crate::migrations::POSTGRES),
    /// once across the fleet, under an advisory lock: another instance's upgrade is waited for
    /// (up to 30 s), and each statement waits at most 5 s for a lock on the table (`lock_timeout`),
    /// after which nothing is changed and the start fails with [`OutboxError::Unusable`], saying
    /// so: the next start tries again.
    ///
    /// Off, the schema is left to your migration tool (see [`migrations`](crate::migrations)):
    /// the start only checks its version, and fails with [`OutboxError::Unusable`], naming the
    /// versions to apply, when it is behind. The database user then needs no right to create
    /// tables.
    ///
    /// On SQLite, the file is the app's own and has no list of versions: on, a start creates the
    /// file and its tables when missing and brings them up to date; off, it changes nothing, and
    /// fails with [`OutboxError::Unusable`] when the file or its tables are missing or an
    /// earlier version's. Off is for a process that must only look (a diagnostic such as
    /// `affitor doctor`), the app's own start leaving it on.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).migrate(false);
    /// # }
    /// ```
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.config.migrate = migrate;
        self
    }

    /// Opens the outbox at `location`, creating its tables when missing (see
    /// [`migrate`](Self::migrate)), and starts its relay:
    ///
    /// - a `postgres://` or `postgresql://` URL, or a `key=value` connection string
    ///   (`host=db dbname=shop user=app`): a Postgres database (feature `postgres`);
    /// - a path, or a `sqlite:` / `sqlite://` location: a SQLite file, created when missing, with
    ///   its folder (feature `sqlite`).
    ///
    /// Any other `scheme://` (`postgress://`, `pg://`, `jdbc:postgresql://`, ...) is refused, so
    /// a typo never runs on a local file of that name while the fleet's database waits.
    ///
    /// Postgres over TLS takes libpq's settings, in the URL's query or the `key=value` string:
    /// `sslmode` (`disable`, `prefer` — the default —, `require`, `verify-ca`, `verify-full`),
    /// `sslrootcert` (the CA's PEM file), `sslcert` and `sslkey`: see [`fleet`](crate::fleet).
    ///
    /// # Errors
    ///
    /// [`OutboxError::UnknownLocation`] when the location has a scheme of neither store;
    /// [`OutboxError::Open`] when the store cannot be reached (a TLS connection refused: the
    /// error says what to set) or its table created; [`OutboxError::Unusable`] when its schema
    /// is behind and not brought up to date ([`migrate`](Self::migrate));
    /// [`OutboxError::MissingFeature`] when the location names a store this build leaves out.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # if cfg!(not(feature = "sqlite")) { return Ok(()); }
    /// # let dir = std::env::temp_dir().join(format!("affitor-outbox-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let client = affitor::Client::builder().api_key("aff_key").build()?;
    /// let outbox = affitor_outbox::Outbox::builder(client)
    ///     .open(dir.join("outbox.db").to_str().unwrap_or("outbox.db"))
    ///     .await?;
    /// # outbox.shutdown(std::time::Duration::from_secs(1)).await;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(self, location: &str) -> Result<Outbox, OutboxError> {
        match Location::read(location.trim())? {
            Location::Postgres(url) => self.open_postgres(url).await,
            Location::Sqlite(path) => self.open_sqlite(path).await,
        }
    }

    /// Opens the outbox in the Postgres database of `pool` (your own, so that
    /// [`Outbox::enqueue_in`] can write in your transactions), creating its tables when
    /// missing (see [`migrate`](Self::migrate)), and starts its relay. The pool is of the
    /// `sqlx` this crate re-exports ([`crate::sqlx`], 0.9): your app's, when it is on the same.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Open`] when the tables cannot be created; [`OutboxError::Unusable`] when
    /// the schema is behind and not brought up to date.
    ///
    /// ```no_run
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use affitor_outbox::sqlx::PgPool;
    ///
    /// let pool = PgPool::connect("postgres://app@localhost/shop").await?;
    /// let outbox = affitor_outbox::Outbox::builder(client).postgres(pool.clone()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "postgres")]
    pub async fn postgres(self, pool: sqlx::PgPool) -> Result<Outbox, OutboxError> {
        let location = "postgres (the given pool)".to_owned();
        self.start_postgres(pool, location).await
    }

    #[cfg(feature = "postgres")]
    async fn open_postgres(self, url: &str) -> Result<Outbox, OutboxError> {
        use sqlx::postgres::PgPoolOptions;

        let location = redact(url);
        let open = |source: sqlx::Error| OutboxError::Open {
            location: location.clone(),
            source: StoreError::from(source).into_source(),
        };
        // No `extra_float_digits` at the start, which PgBouncer refuses unless told to ignore it
        // (`unsupported startup parameter`): the outbox reads no float as text.
        let options = postgres_options(url)
            .map_err(open)?
            .extra_float_digits(None);
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_CONNECTIONS)
            .acquire_timeout(self.config.enqueue_timeout)
            .connect_with(options.clone())
            .await
            .map_err(|error| open(crate::store::postgres::tls::explain(error, &options)))?;
        self.start_postgres(pool, location).await
    }

    /// Starts the outbox on `pool` once its schema is current.
    #[cfg(feature = "postgres")]
    async fn start_postgres(
        self,
        pool: sqlx::PgPool,
        location: String,
    ) -> Result<Outbox, OutboxError> {
        use crate::store::postgres::{PostgresStore, schema::SchemaError};

        match PostgresStore::open(pool, &self.config).await {
            Ok(store) => self.start_checked(Store::Postgres(store), location).await,
            Err(SchemaError::Unusable(reason)) => Err(OutboxError::Unusable { location, reason }),
            Err(SchemaError::Database(source)) => Err(open_error(location, source.into())),
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
        use crate::store::sqlite::SqliteStore;

        let location = redact(path);
        if !self.config.migrate {
            match SqliteStore::behind(path.as_ref()).await {
                Ok(None) => {}
                Ok(Some(reason)) => return Err(OutboxError::Unusable { location, reason }),
                Err(source) => return Err(open_error(location, source)),
            }
        }
        let store = SqliteStore::open(path.as_ref(), &self.config).await;
        match store {
            Ok(store) => self.start_checked(Store::Sqlite(store), location).await,
            Err(source) => Err(open_error(location, source)),
        }
    }

    #[cfg(not(feature = "sqlite"))]
    async fn open_sqlite(self, path: &str) -> Result<Outbox, OutboxError> {
        Err(OutboxError::MissingFeature {
            location: redact(path),
            feature: "sqlite",
        })
    }

    /// Starts the outbox once its store has shown it can write to its table: an outbox that
    /// cannot would keep every event in memory only, where the caller expects them kept.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    async fn start_checked(self, store: Store, location: String) -> Result<Outbox, OutboxError> {
        if let Err(error) = store.probe().await {
            let reason = unusable(&error).unwrap_or_else(|| not_this_outbox(&error.to_string()));
            return Err(OutboxError::Unusable { location, reason });
        }
        let relay_client = self.relay_client.unwrap_or_else(|| self.client.clone());
        Ok(Outbox::start(
            store,
            self.client,
            relay_client,
            self.config,
            location,
        ))
    }
}

/// The error of a store that did not open: unusable when it opened but cannot be written or
/// holds another table of that name, else not reachable.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn open_error(location: String, source: StoreError) -> OutboxError {
    match unusable(&source) {
        Some(reason) => OutboxError::Unusable { location, reason },
        None => OutboxError::Open {
            location,
            source: source.into_source(),
        },
    }
}

/// What to say of a store that opened but failed: `None` when its error says neither that it
/// cannot be written nor that its table is another's.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn unusable(error: &StoreError) -> Option<String> {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("readonly") || lower.contains("read-only") || lower.contains("permission") {
        return Some(format!(
            "it cannot write there ({text}) — make the file and its folder writable by this \
             process (SQLite writes -wal and -shm files beside it), or give the database user \
             INSERT, UPDATE and DELETE on affitor_outbox"
        ));
    }
    let schema = [
        "no such column",
        "has no column",
        "does not exist",
        "no column named",
    ];
    schema
        .iter()
        .any(|phrase| lower.contains(phrase))
        .then(|| not_this_outbox(&text))
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn not_this_outbox(text: &str) -> String {
    format!(
        "its table `affitor_outbox` is not this outbox's ({text}): another version's schema, \
         or another program's table of that name — give the outbox a database (or a file) of \
         its own, or rename that table"
    )
}

/// The store a location names.
#[derive(Debug, PartialEq, Eq)]
enum Location<'a> {
    /// A Postgres URL or `key=value` connection string, as given.
    Postgres(&'a str),
    /// A SQLite file's path, without its `sqlite:` prefix.
    Sqlite(&'a str),
}

impl<'a> Location<'a> {
    /// Reads `location`: Postgres ([`is_postgres`]), a `sqlite:` location, a location with any
    /// other scheme (refused), or a path.
    fn read(location: &'a str) -> Result<Self, OutboxError> {
        if is_postgres(location) {
            return Ok(Self::Postgres(location));
        }
        if let Some(path) = strip_prefix_ignore_case(location, "sqlite://")
            .or_else(|| strip_prefix_ignore_case(location, "sqlite:"))
        {
            return Ok(Self::Sqlite(path));
        }
        match location.split_once("://") {
            Some((scheme, _)) if is_scheme(scheme) => Err(OutboxError::UnknownLocation {
                location: redact(location),
            }),
            _ => Ok(Self::Sqlite(location)),
        }
    }
}

/// `text` without `prefix`, matched in any case.
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Whether `text` reads as a URL scheme (`postgress`, `pg`, `jdbc:postgresql`): a letter, then
/// letters, digits, `+`, `-`, `.` or `:`. A path's folder (`./data`, `C:\data`) never does.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | ':'))
}

/// Whether `location` names a Postgres database: a `postgres://` or `postgresql://` URL (the
/// scheme in any case), or a `key=value` connection string such as
/// `host=db dbname=shop user=app password=...`.
pub(crate) fn is_postgres(location: &str) -> bool {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return true;
    }
    const KEYS: [&str; 6] = ["host", "hostaddr", "dbname", "user", "port", "password"];
    key_values(location).is_some_and(|pairs| {
        !pairs.is_empty()
            && pairs.iter().all(|(key, _)| {
                !key.is_empty()
                    && !key.contains(|c: char| c.is_whitespace() || c == '/' || c == '\\')
            })
            && pairs
                .iter()
                .any(|(key, _)| KEYS.contains(&key.to_ascii_lowercase().as_str()))
    })
}

/// The connection options of a Postgres location: a URL (its scheme in any case), or a
/// `key=value` string (values may be single-quoted). Either gives `sslmode`, `sslrootcert`,
/// `sslcert` and `sslkey`.
#[cfg(feature = "postgres")]
fn postgres_options(location: &str) -> sqlx::Result<sqlx::postgres::PgConnectOptions> {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    if let Some((scheme, rest)) = location.split_once("://") {
        return PgConnectOptions::from_str(&format!("{}://{rest}", scheme.to_ascii_lowercase()));
    }
    let pairs = key_values(location)
        .ok_or_else(|| sqlx::Error::Configuration("not a URL nor `key=value` pairs".into()))?;
    let mut options = PgConnectOptions::new();
    for (key, value) in pairs {
        options = match key.to_ascii_lowercase().as_str() {
            "host" | "hostaddr" => options.host(&value),
            "port" => options.port(value.parse().map_err(|_| {
                sqlx::Error::Configuration(format!("port `{value}` is not a number").into())
            })?),
            "user" => options.username(&value),
            "password" => options.password(&value),
            "dbname" => options.database(&value),
            "sslmode" => options.ssl_mode(PgSslMode::from_str(&value)?),
            "sslrootcert" => options.ssl_root_cert(&value),
            "sslcert" => options.ssl_client_cert(&value),
            "sslkey" => options.ssl_client_key(&value),
            "application_name" => options.application_name(&value),
            other => {
                tracing::warn!(key = other, "Affitor outbox: connection key ignored");
                options
            }
        };
    }
    Ok(options)
}

/// The `key=value` pairs of a connection string (spaces around `=` allowed, as libpq does); a
/// value may be single-quoted (with spaces). `None` when some of the text is not a pair.
fn key_values(text: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().to_owned();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('\'') {
            Some(quoted) => match quoted.split_once('\'') {
                Some((value, next)) => (value.to_owned(), next),
                None => (quoted.to_owned(), ""),
            },
            None => match after.split_once(char::is_whitespace) {
                Some((value, next)) => (value.to_owned(), next),
                None => (after.to_owned(), ""),
            },
        };
        pairs.push((key, value));
        rest = next.trim_start();
    }
    rest.is_empty().then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::{Location, is_postgres};
    use crate::OutboxError;

    #[test]
    fn a_location_is_sqlite_postgres_or_refused() {
        for (location, path) in [
            ("outbox.db", "outbox.db"),
            ("/var/lib/app/outbox.db", "/var/lib/app/outbox.db"),
            ("sqlite://outbox.db", "outbox.db"),
            ("sqlite:data/outbox.db", "data/outbox.db"),
            ("SQLite:outbox.db", "outbox.db"),
            ("./data/a://b.db", "./data/a://b.db"),
        ] {
            assert_eq!(Location::read(location).ok(), Some(Location::Sqlite(path)));
        }
        for location in [
            "postgres://app@db/shop",
            "postgresql://db/shop",
            "dbname=shop",
        ] {
            assert_eq!(
                Location::read(location).ok(),
                Some(Location::Postgres(location))
            );
        }
        // Typos and other programs' forms are refused, the password left out of the error.
        for location in [
            "postgress://user:S3cr3t@db/shop",
            "pg://user:S3cr3t@db/shop",
            "jdbc:postgresql://db:5432/shop?user=app&password=S3cr3t",
            "mysql://user:S3cr3t@db/shop",
            "file:///var/lib/outbox.db",
        ] {
            let error = Location::read(location).unwrap_err();
            assert!(
                matches!(error, OutboxError::UnknownLocation { .. }),
                "{error}"
            );
            let message = format!("{error} {error:?}");
            assert!(!message.contains("S3cr3t"), "{message}");
            assert!(message.contains("postgres://"), "{message}");
            assert!(message.contains("SQLite"), "{message}");
        }
    }

    #[test]
    fn postgres_locations_are_told_from_sqlite_paths() {
        for location in [
            "postgres://app@db/shop",
            "Postgres://app:s3cret@db/shop",
            "POSTGRESQL://db/shop",
            "host=db dbname=shop user=app password=s3cret",
            "dbname=shop",
            "host = db password = s3cret",
        ] {
            assert!(is_postgres(location), "{location}");
        }
        for location in [
            "outbox.db",
            "/var/lib/app/outbox.db",
            "sqlite://outbox.db",
            "./data/host=a.db",
            "",
        ] {
            assert!(!is_postgres(location), "{location}");
        }
    }

    /// The TLS settings are read from either form of a Postgres location.
    #[cfg(feature = "postgres")]
    #[test]
    fn sslmode_is_read_from_a_url_and_from_key_values() {
        use sqlx::postgres::PgSslMode;

        for location in [
            "postgres://app@db/shop?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem",
            "POSTGRESQL://app@db/shop?sslmode=verify-full",
            "host=db dbname=shop sslmode=verify-full sslrootcert='/etc/ssl/ca.pem'",
        ] {
            let options = super::postgres_options(location).unwrap();
            assert!(
                matches!(options.get_ssl_mode(), PgSslMode::VerifyFull),
                "{location}"
            );
        }
        let options = super::postgres_options("host=db sslmode=require").unwrap();
        assert!(matches!(options.get_ssl_mode(), PgSslMode::Require));
        assert!(super::postgres_options("host=db sslmode=sometimes").is_err());
    }

    #[test]
    fn a_key_value_string_is_read_with_quotes() {
        assert_eq!(
            super::key_values("host=db password='s3 cret' dbname=shop").unwrap(),
            [
                ("host".to_owned(), "db".to_owned()),
                ("password".to_owned(), "s3 cret".to_owned()),
                ("dbname".to_owned(), "shop".to_owned())
            ]
        );
    }
}
