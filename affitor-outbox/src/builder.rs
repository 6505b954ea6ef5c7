//! How an outbox is configured and opened.

use std::time::Duration;

use affitor::Client;

use crate::check::OutboxCheck;
use crate::config::Config;
use crate::error::OutboxError;
use crate::location::{Location, Postgres};
use crate::outbox::Outbox;
use crate::store::{Store, StoreError};

/// The most connections of the pool an outbox opens on a Postgres location, the writer's among
/// them: it keeps one, and the relay's calls, the probe and the webhooks share the other 8. On
/// a pool of your own ([`OutboxBuilder::postgres`]), its `max_connections` is the whole budget.
#[cfg(feature = "postgres")]
const POSTGRES_CONNECTIONS: u32 = 9;

/// The fewest connections a pool must allow the outbox: one its writer keeps, one for the
/// relay's calls.
#[cfg(feature = "postgres")]
const FEWEST_POSTGRES_CONNECTIONS: u32 = 2;

/// The longest enqueue timeout taken (see [`OutboxBuilder::enqueue_timeout`]).
const MAX_ENQUEUE_TIMEOUT: Duration = Duration::from_secs(3600);

impl Outbox {
    /// Starts configuring an outbox that delivers through `client`.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_in_flight(512);
    /// # }
    /// ```
    pub fn builder(client: Client) -> OutboxBuilder {
        OutboxBuilder {
            client,
            relay_client: None,
            config: Config::default(),
        }
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
    /// busy signup page wrote). However many, they take one core at most
    /// ([the relay's sends](crate#the-relays-sends)).
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

    /// Keeps the attribution journal ([`journal`](crate::journal)): each lead, sale and refund
    /// stored and each answer, kept for `retention` (90 days is a good default), then deleted
    /// by the relay; what [`Outbox::explain`] reads. Off by default, and then it costs nothing.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client)
    ///     .journal(Duration::from_secs(90 * 24 * 3600));
    /// # }
    /// ```
    pub fn journal(mut self, retention: Duration) -> Self {
        self.config.journal = Some(retention);
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
    /// it holds it in memory for a write-back instead (see [`max_spilled`](Self::max_spilled)):
    /// the backpressure of a store that cannot keep up. Rows are written in batches, one
    /// transaction each, by one writer: the enqueue waits this long for its row's batch. On
    /// SQLite, a batch waits for another program's write (its lock on the file) no longer than
    /// its first row's timeout, and a request whose batch is committing waits half a second
    /// more for its end (a local file answers), so that an event never goes both ways. On
    /// Postgres, the request waits no longer than this timeout (a server may go silent
    /// mid-batch). Past either limit, an event whose batch did not answer may be stored and
    /// written again, delivered at least once. At most an hour: a longer timeout is taken as an
    /// hour.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client).enqueue_timeout(Duration::from_millis(500));
    /// # }
    /// ```
    pub fn enqueue_timeout(mut self, enqueue_timeout: Duration) -> Self {
        // Deadlines are instants from now, and SQLite's busy timeout an i32 of milliseconds.
        if enqueue_timeout > MAX_ENQUEUE_TIMEOUT {
            tracing::warn!(
                enqueue_timeout = ?enqueue_timeout,
                "Affitor outbox: an enqueue timeout over an hour is taken as an hour"
            );
        }
        self.config.enqueue_timeout = enqueue_timeout.min(MAX_ENQUEUE_TIMEOUT);
        self
    }

    /// The most bytes a SQLite outbox file may hold (default: no limit but the disk's). Past it,
    /// a write fails as on a full disk, and [`Outbox::enqueue`] holds the event in memory until
    /// the file has room again (see [`max_spilled`](Self::max_spilled)). Postgres ignores it.
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

    /// The most events held in memory while the store fails (default 10,000; see
    /// [waiting for the store](crate#waiting-for-the-store-or-not)), counted in
    /// [`OutboxStats::spilled`](crate::OutboxStats::spilled). Past this many, an event goes to
    /// the client's in-memory queue ([`OutboxStats::fell_back`](crate::OutboxStats::fell_back)).
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// let builder = affitor_outbox::Outbox::builder(client).max_spilled(50_000);
    /// # }
    /// ```
    pub fn max_spilled(mut self, events: usize) -> Self {
        self.config.max_spilled = events;
        self
    }

    /// How long an event may wait in memory for the store to answer again (default 30 s; see
    /// [`max_spilled`](Self::max_spilled)): past it, the event goes to the client's in-memory
    /// queue, which sends it, so that a store down for minutes does not hold events back for
    /// as long. Such an event is no longer durable: a crash loses it.
    ///
    /// ```
    /// # fn run(client: affitor::Client) {
    /// use std::time::Duration;
    ///
    /// let builder = affitor_outbox::Outbox::builder(client).max_spill_wait(Duration::from_secs(120));
    /// # }
    /// ```
    pub fn max_spill_wait(mut self, wait: Duration) -> Self {
        self.config.max_spill_wait = wait;
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
    /// fails with [`OutboxError::Unusable`] when the file or its tables are missing or not
    /// this version's. Off is for a process that must only look (a diagnostic such as
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
    /// `sslmode` (`disable`, `prefer` — the default —, `require`, `verify-full`; `verify-ca` is
    /// refused), `sslrootcert` (the CA's PEM file), `sslcert` and `sslkey`: see
    /// [`fleet`](crate::fleet). A server on another machine reached below `verify-full` is
    /// warned about ([`Outbox::tls_warning`]).
    ///
    /// # Errors
    ///
    /// [`OutboxError::UnknownLocation`] when the location has a scheme of neither store;
    /// [`OutboxError::InvalidLocation`] when it cannot be used as written (a malformed
    /// connection string, a parameter the outbox would have to drop, a refused TLS mode);
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
        self.open_at(Location::parse(location)?).await
    }

    async fn open_at(self, location: Location) -> Result<Outbox, OutboxError> {
        match location {
            Location::Postgres(postgres) => self.open_postgres(&postgres).await,
            Location::Sqlite(path) => self.open_sqlite(&path).await,
        }
    }

    /// Checks that an outbox would open at `location` with its schema current, and changes
    /// nothing: no file or table is created or brought up to date, nothing is started, and no
    /// event is written. Answers what it found. A diagnostic's question (`affitor doctor` asks
    /// it).
    ///
    /// On SQLite, the file is only read, and nothing is created beside it: it is opened
    /// read-only, immutable when no `-wal` file is beside it, and its tables are compared with
    /// this version's; a file that does not exist yet is [new](OutboxCheck::is_new) (the app's
    /// first start creates it), one this process cannot write is [`OutboxError::Unusable`]. On
    /// Postgres, the outbox opens as [`open`](Self::open) opens it with
    /// [`migrate(false)`](Self::migrate) and no relay (its check that it can write rolls its
    /// row back), then closes.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # if cfg!(not(feature = "sqlite")) { return; }
    /// let client = affitor::Client::builder().api_key("aff_key").build().unwrap();
    /// // An empty file: a SQLite database without the outbox's tables.
    /// let app = std::env::temp_dir().join("affitor-outbox-check-app.db");
    /// std::fs::File::create(&app).unwrap();
    /// let error = affitor_outbox::Outbox::builder(client)
    ///     .check(app.to_str().unwrap_or("app.db"))
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(error, affitor_outbox::OutboxError::Unusable { .. }));
    /// # }
    /// ```
    pub async fn check(self, location: &str) -> Result<OutboxCheck, OutboxError> {
        match Location::parse(location)? {
            #[cfg(feature = "sqlite")]
            Location::Sqlite(path) => check_sqlite(path).await,
            location => {
                let outbox = self.relay(false).migrate(false).open_at(location).await?;
                let found = OutboxCheck {
                    location: outbox.location().to_owned(),
                    tls_warning: outbox.tls_warning().map(str::to_owned),
                    new: false,
                };
                outbox.shutdown(Duration::from_secs(1)).await;
                Ok(found)
            }
        }
    }

    /// Opens the outbox in the Postgres database of `pool` (your own, so that
    /// [`Outbox::enqueue_in`] can write in your transactions), creating its tables when
    /// missing (see [`migrate`](Self::migrate)), and starts its relay. The pool is of the
    /// `sqlx` this crate re-exports ([`crate::sqlx`], 0.9): your app's, when it is on the same.
    ///
    /// The outbox takes no more connections than the pool's `max_connections`, which it shares
    /// with your app: its writer keeps one from its first write until
    /// [`shutdown`](Outbox::shutdown) (shut the outbox down before you close the pool, which
    /// waits for it), and the relay takes the others in turn.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Open`] when the tables cannot be created; [`OutboxError::Unusable`] when
    /// the schema is behind and not brought up to date, or when the pool allows fewer than two
    /// connections (one for the writer, one for the relay).
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
    async fn open_postgres(self, postgres: &Postgres) -> Result<Outbox, OutboxError> {
        use sqlx::postgres::PgPoolOptions;

        use crate::store::postgres::tls;

        let location = postgres.shown().to_owned();
        let open = |source: sqlx::Error| OutboxError::Open {
            location: location.clone(),
            source: StoreError::from(source).into_source(),
        };
        // No `extra_float_digits` at the start, which PgBouncer refuses unless told to ignore it
        // (`unsupported startup parameter`): the outbox reads no float as text.
        let options = crate::store::postgres::connect_options(postgres)
            .map_err(open)?
            .extra_float_digits(None);
        let root_cert = postgres.param("sslrootcert").is_some()
            || std::env::var_os("PGSSLROOTCERT").is_some_and(|file| !file.is_empty());
        if let Some(reason) = tls::refused(&options, root_cert) {
            return Err(OutboxError::InvalidLocation { location, reason });
        }
        let pool = match PgPoolOptions::new()
            .max_connections(POSTGRES_CONNECTIONS)
            .acquire_timeout(self.config.enqueue_timeout)
            .connect_with(options.clone())
            .await
        {
            Ok(pool) => pool,
            // The pool tries a refused connection again until its deadline, then says only
            // that it timed out: one connection of the outbox's own tells why.
            Err(sqlx::Error::PoolTimedOut) => {
                use sqlx::Connection as _;
                let wait = Duration::from_secs(1);
                let cause =
                    match tokio::time::timeout(wait, sqlx::PgConnection::connect_with(&options))
                        .await
                    {
                        Ok(Err(error)) => error,
                        _ => sqlx::Error::PoolTimedOut,
                    };
                return Err(open(tls::explain(cause, &options)));
            }
            Err(error) => return Err(open(tls::explain(error, &options))),
        };
        self.start_postgres(pool, location).await
    }

    /// Starts the outbox on `pool` once its schema is current.
    #[cfg(feature = "postgres")]
    async fn start_postgres(
        self,
        pool: sqlx::PgPool,
        location: String,
    ) -> Result<Outbox, OutboxError> {
        use crate::store::postgres::{PostgresStore, schema::SchemaError, tls};

        let allowed = pool.options().get_max_connections();
        if allowed < FEWEST_POSTGRES_CONNECTIONS {
            return Err(OutboxError::Unusable {
                location,
                reason: format!(
                    "its pool allows only {allowed} connection at a time, and the outbox needs at least \
                     {FEWEST_POSTGRES_CONNECTIONS}: one its writer keeps, one for its relay — \
                     build the pool with `max_connections({FEWEST_POSTGRES_CONNECTIONS})` or more"
                ),
            });
        }
        let tls_warning = tls::weakness(&pool.connect_options());
        if let Some(warning) = &tls_warning {
            tracing::warn!(%location, "Affitor outbox: {warning}");
        }
        match PostgresStore::open(pool, &self.config).await {
            Ok(store) => {
                let store = Store::Postgres(store);
                self.start_checked(store, location, tls_warning).await
            }
            Err(SchemaError::Unusable(reason)) => Err(OutboxError::Unusable { location, reason }),
            Err(SchemaError::Database(source)) => Err(open_error(location, source.into())),
        }
    }

    #[cfg(not(feature = "postgres"))]
    async fn open_postgres(self, postgres: &Postgres) -> Result<Outbox, OutboxError> {
        Err(OutboxError::MissingFeature {
            location: postgres.shown().to_owned(),
            feature: "postgres",
        })
    }

    #[cfg(feature = "sqlite")]
    async fn open_sqlite(self, path: &str) -> Result<Outbox, OutboxError> {
        use crate::store::sqlite::SqliteStore;

        let location = path.to_owned();
        if !self.config.migrate {
            sqlite_current(path).await?;
        }
        let store = SqliteStore::open(path.as_ref(), &self.config).await;
        match store {
            Ok(store) => {
                self.start_checked(Store::Sqlite(store), location, None)
                    .await
            }
            Err(source) => Err(open_error(location, source)),
        }
    }

    #[cfg(not(feature = "sqlite"))]
    async fn open_sqlite(self, path: &str) -> Result<Outbox, OutboxError> {
        Err(OutboxError::MissingFeature {
            location: path.to_owned(),
            feature: "sqlite",
        })
    }

    /// Starts the outbox once its store has shown it can write to its table: an outbox that
    /// cannot would keep every event in memory only, where the caller expects them kept.
    async fn start_checked(
        self,
        store: Store,
        location: String,
        tls_warning: Option<String>,
    ) -> Result<Outbox, OutboxError> {
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
            tls_warning,
        ))
    }
}

/// [`OutboxBuilder::check`] of a SQLite file: read, never written nor created.
#[cfg(feature = "sqlite")]
async fn check_sqlite(path: String) -> Result<OutboxCheck, OutboxError> {
    let found = |new| OutboxCheck {
        location: path.clone(),
        tls_warning: None,
        new,
    };
    if !std::path::Path::new(&path).exists() {
        return Ok(found(true));
    }
    sqlite_current(&path).await?;
    let read_only = std::fs::metadata(&path).map(|meta| meta.permissions().readonly());
    match read_only {
        Ok(false) => Ok(found(false)),
        Ok(true) => Err(OutboxError::Unusable {
            reason: unusable(&StoreError::from(std::io::Error::from(
                std::io::ErrorKind::PermissionDenied,
            )))
            .unwrap_or_default(),
            location: path,
        }),
        Err(source) => Err(open_error(path, StoreError::from(source))),
    }
}

/// `Ok` when the SQLite file at `path` holds this version's tables, else why it is unusable.
#[cfg(feature = "sqlite")]
async fn sqlite_current(path: &str) -> Result<(), OutboxError> {
    use crate::store::sqlite::SqliteStore;

    match SqliteStore::behind(path.as_ref()).await {
        Ok(None) => Ok(()),
        Ok(Some(reason)) => Err(OutboxError::Unusable {
            location: path.to_owned(),
            reason,
        }),
        Err(source) => Err(open_error(path.to_owned(), source)),
    }
}

/// The error of a store that did not open: unusable when it opened but cannot be written or
/// holds another table of that name, else not reachable.
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

fn not_this_outbox(text: &str) -> String {
    format!(
        "its table `affitor_outbox` is not this outbox's ({text}): another version's schema, \
         or another program's table of that name — give the outbox a database (or a file) of \
         its own, or rename that table"
    )
}
