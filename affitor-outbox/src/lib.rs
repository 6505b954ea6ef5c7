//! A durable outbox for Affitor tracking events.
//!
//! [`send_in_background`](affitor::LeadRequest::send_in_background) keeps events
//! in memory: a deploy, a crash or an out-of-memory kill loses the ones still waiting. An
//! [`Outbox`] writes each event to a store, and a relay delivers
//! the stored events with the client's per-endpoint retry policy, then with a backoff that
//! survives restarts, until Affitor has answered.
//!
//! - **SQLite** (feature `sqlite`, on by default): a file, bundled (nothing to install), in WAL
//!   mode; sales and refunds are written with `synchronous=FULL`.
//! - Either way, the rows that wait are written together, one transaction (one commit, one
//!   sync) per batch (group commit): concurrent requests share a commit instead of queueing for
//!   one each, and each `enqueue` still returns once its own row is committed.
//! - **Postgres** (feature `postgres`): for a fleet of servers. A relay leases the rows it
//!   claims with an `UPDATE` that leaves to another relay a row it leased first, under a lease
//!   that a crashed relay's rows outlive, and
//!   [`Outbox::enqueue_in`] writes an event inside your own transaction, with the order
//!   or the signup it reports: the reason an outbox exists. A batch of leads alone commits with
//!   `synchronous_commit = off` (the app's crash loses none of it; the server's may lose its last
//!   fraction of a second); one with a sale or a refund waits for the server's WAL flush.
//!
//! ```no_run
//! use affitor_outbox::Outbox;
//! use affitor::Client;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let direct = Client::from_env()?; // the relay sends through it
//! // A SQLite path, or a `postgres://` URL.
//! let outbox = Outbox::open("affitor-outbox.db", direct.clone()).await?;
//! // The client of your layer and handlers: its `send_in_background` writes to the outbox.
//! let client = direct.with_backend(outbox.clone());
//!
//! // In a signup handler, the same line as without an outbox: written, then delivered.
//! client.lead("user_123").email("ada@example.com").send_in_background();
//! // Or written before the handler goes on:
//! outbox.enqueue(client.lead("user_456")).await;
//!
//! // At the end of `main`: the writes end, the relay finishes what it is sending (the rest
//! // waits in the store), and the client's in-memory queue is flushed.
//! client.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(())
//! # }
//! ```
//!
//! [`Outbox::open`] takes a SQLite path (or `sqlite:` location) or a Postgres `postgres://` URL
//! (or `host=... dbname=...` string); any other `scheme://` (a typo such as `postgress://`) is
//! refused at start, with the password left out of the error. Open it once at start-up, on the
//! client its relay sends through, and give your layer the client `with_backend(outbox)`: the
//! handlers do not change, their `send_in_background()` and `enqueue()` now write to the outbox.
//! At the end of `main`, one `shutdown` of that client stops the outbox's relay and its
//! in-memory fallback. The repository's example apps take one from `AFFITOR_OUTBOX`.
//!
//! # Waiting for the store, or not
//!
//! `enqueue().await` waits until the event is stored: a few milliseconds, as the rows that wait
//! are written together, one transaction for many. When the store is behind (more signups a
//! second than its disk takes), the request waits for it, up to the outbox's
//! [`enqueue_timeout`](OutboxBuilder::enqueue_timeout) (2 s), rather than its event leaving the
//! store (backpressure). Past that, or when a write fails (a full disk, Postgres away), the
//! event is held in memory, counted ([`spilled`](OutboxStats::spilled)), and later events skip
//! the store at once while a probe looks every half second whether it answers again; then the
//! events held are written to it. Only what that spill cannot hold
//! ([`max_spilled`](OutboxBuilder::max_spilled)), or what waited there past
//! [`max_spill_wait`](OutboxBuilder::max_spill_wait), goes to the client's in-memory queue,
//! counted ([`fell_back`](OutboxStats::fell_back)) and warned about once a minute.
//! `send_in_background()` hands the event to a write of its own and answers at once: the event is
//! stored a moment later, and under a load the store cannot take, it waits in memory instead of
//! the request.
//!
//! # In your own transaction
//!
//! [`Outbox::enqueue_in`] writes the event inside your own transaction, with the order or the
//! signup it reports: both are committed, or neither. On Postgres, open the outbox on your pool
//! and name the pool's types through `affitor_outbox::sqlx` (feature `postgres`), the `sqlx`
//! the outbox is built against (or depend on `sqlx = "0.9"` yourself; a `sqlx` of another version
//! gives types the outbox does not take). On SQLite, open your connection to the outbox's file
//! through `affitor_outbox::rusqlite` (feature `sqlite`) and pass its transaction the same way.
//!
#![cfg_attr(feature = "postgres", doc = "```no_run")]
#![cfg_attr(not(feature = "postgres"), doc = "```ignore")]
//! use std::time::Duration;
//!
//! use affitor::Client;
//! use affitor_outbox::Outbox;
//! use affitor_outbox::sqlx::{self, PgPool};
//!
//! /// Records an order and its sale: both are committed, or neither.
//! async fn checkout(pool: &PgPool, outbox: &Outbox, client: &Client) -> Result<(), Box<dyn std::error::Error>> {
//!     let mut transaction = pool.begin().await?;
//!     sqlx::query("INSERT INTO orders (id, amount_cents) VALUES ('in_1001', 4900)")
//!         .execute(&mut *transaction)
//!         .await?;
//!     outbox
//!         .enqueue_in(&mut *transaction, client.sale("in_1001", 4900).customer_key("user_123"))
//!         .await?;
//!     transaction.commit().await?; // the order and its sale, or neither
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = Client::from_env()?;
//!     let pool = PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
//!     let outbox = Outbox::builder(client.clone()).postgres(pool.clone()).await?;
//!     let client = client.with_backend(outbox.clone());
//!     checkout(&pool, &outbox, &client).await?;
//!     client.shutdown(Duration::from_secs(5)).await; // stops the relay
//!     Ok(())
//! }
//! ```
//!
//! # What the relay guarantees
//!
//! - A row is done, and deleted, when Affitor has answered with an outcome: a sale answered 409
//!   (already recorded) and a refund answered `skipped` count as done.
//! - Events of one customer or one transaction are sent one after the other, in the order they
//!   were written; a customer's sale waits for their lead, and a refund for every waiting sale
//!   of its transaction (under either of its ids), even one written after it. A refund
//!   Affitor knows no sale for yet is tried again for the
//!   [refund patience](OutboxBuilder::refund_patience) (4 days), then becomes a dead letter
//!   that names its ids: never acknowledged and dropped.
//! - An attempt that fails and may succeed later (the API down, a 5xx, a timeout, a 429) is
//!   tried again after a backoff that doubles up to [`OutboxBuilder::backoff`]'s ceiling, kept
//!   in the row, so a restart does not reset it. An event the API refuses, or that runs out of
//!   [`OutboxBuilder::max_attempts`], becomes a [`DeadLetter`]: kept, counted and logged, never
//!   deleted silently. So is a row that cannot be read back (corrupt).
//! - A relay holds the rows it sends under a short [lease](OutboxBuilder::lease) (15 s), which
//!   it renews every third of it while the send is in flight: a long send keeps its rows, and
//!   the rows of a relay that died (SIGKILL, a lost machine) go again within one lease, on
//!   another relay or at the next start.
//! - Delivery is at least once: an event whose relay died mid-send goes again when the lease
//!   ends, and so does one whose batch a silent Postgres never answered (it may be in the
//!   table; it is written again when the server answers). A sale or a refund is safe to
//!   repeat (its transaction id is the idempotency key); a lead is idempotent on the customer.
//! - A store that cannot keep up makes the request wait, up to
//!   [`OutboxBuilder::enqueue_timeout`]; one that fails or is slower than that never fails the
//!   request, and holds no later one: the outbox is degraded, its events held in memory
//!   ([`OutboxStats::spilled`], bounded by [`OutboxBuilder::max_spilled`]) and written to the
//!   store once a probe finds it answering (every 0.5 s), each once: an event leaves memory
//!   either written or handed to the client's in-memory queue, never both. What the spill
//!   cannot hold, or holds past [`OutboxBuilder::max_spill_wait`], or holds when the outbox
//!   flushes or stops, goes to that queue, counted in [`OutboxStats::fell_back`] and warned at
//!   most once a minute (with how many since). A payment webhook is the exception: its event
//!   is never kept in memory only, and a degraded outbox answers it 503 at once (below).
//! - A lead whose click id Affitor refuses for good (unknown, another program's, already
//!   converted) is never kept as a dead letter, so a visitor cannot mint them: the relay sends it
//!   again for its customer key alone, or drops it with a warning at most once a minute
//!   ([`OutboxStats::click_id_refused`]).
//! - A lead without a click id, named by its customer key alone, is stored and delivered as
//!   the in-memory queue delivers it: it settles the customer's browser lead (recorded
//!   provisional where the program requires server-side leads). When Affitor knows no such
//!   customer (an organic signup), or refuses them for good, the relay deletes it, counted
//!   ([`OutboxStats::customer_refused`]) and logged at `debug`: never a dead letter.
//! - Dead letters are listed ([`Outbox::dead_letters`]), sent again once mended
//!   ([`Outbox::retry_dead_letters`]), and deleted by age
//!   ([`Outbox::purge_dead_letters`]); the relay deletes those older than 7 days on its own
//!   ([`OutboxBuilder::dead_letter_retention`]), and counts those left
//!   ([`OutboxStats::dead_letters`], the gauge `affitor_outbox_dead_letters`).
//! - An outbox that cannot write to its store (a read-only file, another program's or another
//!   version's `affitor_outbox` table) does not open: [`Outbox::open`] says what is wrong and
//!   what to do, instead of keeping every event in memory.
//! - What it holds stays private: a SQLite file (and its `-wal`, `-shm`) is created `0600`, a
//!   deleted row's bytes are overwritten (`secure_delete`), and the WAL is emptied
//!   (`wal_checkpoint(TRUNCATE)`) after the relay's deletes: at most every 5 s while it sends,
//!   within a second once idle, at once when it stops. So no delivered lead's email stays on
//!   disk. A location (a URL, or `host=… password=…`, whatever the case or percent-encoding of
//!   its keys) is shown with its password left out.
//! - On Postgres, a deleted row is only marked dead: its bytes stay in the table's pages until
//!   VACUUM (autovacuum) reuses them, and in the WAL, base backups and replicas until those are
//!   recycled. VACUUM makes the space reusable but does not overwrite it; VACUUM FULL rewrites
//!   the table and leaves the old files to the filesystem. Keep the database's disks, backups
//!   and WAL archive under the same protection as your customers' data.
//!
//! # Run a relay
//!
//! Web servers whose outboxes only write ([`relay(false)`](OutboxBuilder::relay)) leave the
//! delivery to a relay in a process of its own, on the same SQLite file or Postgres database:
//! `cargo install affitor-outbox --features relay` installs one, `affitor-relay`. It reads
//! `AFFITOR_OUTBOX`, `AFFITOR_API_KEY` and `AFFITOR_API_URL`, serves its Prometheus page on
//! `METRICS_ADDR`, and stops on SIGTERM or Ctrl-C within `AFFITOR_RELAY_SHUTDOWN_SECS` (10 s),
//! what it has not sent left in the store; `affitor-relay --help` lists its settings.
//!
//! # Payment webhooks
//!
//! An outbox is a webhook verifier's [`PaymentState`](affitor::webhook::PaymentState) too
//! (`verifier.with_payment_state(outbox.clone())`): a payment webhook (`affitor::webhook`, the
//! `WebhookEvent` extractors) writes its sale or refund here and answers the provider 200 once it is committed:
//! *stored, will be delivered*, whatever happens to the process after. A store that cannot
//! write is answered 503 (never kept in memory only), so that the provider delivers the event
//! again. What a later event needs, which invoice a Stripe payment intent paid, is kept in a
//! second table, `affitor_outbox_facts`, shared by every outbox on the same database: on one
//! Postgres, a refund finds its sale whichever replica saw the payment, and after any deploy.
//!
//! From then on the relay owns the event: through a deploy, a crash, an outage longer than the
//! provider retries. A refund is sent only after its sale's row is delivered, and a refund
//! Affitor knows no sale for yet is tried again for the
//! [refund patience](OutboxBuilder::refund_patience) (4 days: longer than any provider
//! retries), then kept as a dead letter that names its ids. Without an outbox, the 200 means
//! *recorded by Affitor*, and a 503 hands the event back to the provider's retries, which end
//! (`affitor::webhook` says how).
//!
//! # A fleet on one Postgres
//!
//! A fleet (several replicas, or a serverless app) opens its outbox on **one Postgres**
//! database: every replica writes its events and its Stripe links there, any replica's relay
//! delivers them, and a relay that dies leaves its rows to the others once its lease ends.
//!
//! - Each outbox's writer keeps one connection of its own beside the pool's (so a replica
//!   holds 9: the 8 of the pool it opens on a location, and the writer's; or your pool's
//!   `max_connections` + 1, given `OutboxBuilder::postgres(pool)`), and its batches never wait
//!   for the pool. That connection keeps session settings (`statement_timeout`,
//!   `plan_cache_mode`, `synchronous_commit`): point the outbox at Postgres directly or through
//!   a pooler in session mode, not transaction mode (PgBouncer's or Supavisor's would hand those
//!   settings to other clients' transactions).
//! - The schema (version 1: the tables and all their indexes) is made by the first start on
//!   the database, once across the fleet under an advisory lock; a start whose schema is
//!   current runs no DDL. To apply it with your own migration tool instead, see
//!   [`migrations`] and the [`fleet`] guide.
//! - Leave autovacuum on (Postgres's default): delivered rows are deleted, and their space is
//!   reused once vacuumed.
//! - The relay's claims read the rows waiting through an index of their own, oldest first,
//!   whatever the table's statistics say: a new table flooded in its first minute is claimed
//!   from as fast as an old one.
//!
//! A SQLite outbox is for one server with a disk that outlives its deploys; its writer runs on a
//! thread of its own with its own connection to the file, beside a reader's and the
//! checkpointer's.
//!
//! # The relay's sends
//!
//! The relay's HTTP exchanges run on a thread of their own, `affitor-relay`, with a runtime of
//! their own: however many rows are in flight, they take one core at most. They go through the
//! client the outbox was opened with, or one of the relay's own
//! ([`relay_client`](OutboxBuilder::relay_client)), which an app whose handlers call the API
//! inline gives it. For a fleet, let the web servers only write, with
//! [`Outbox::builder(client).relay(false)`](OutboxBuilder::relay), and run `affitor-relay`
//! ([above](#run-a-relay)) on the same Postgres: on a machine of its own, it takes no CPU from
//! them.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "affitor-outbox needs a store: enable its `sqlite` feature (the default), `postgres`, or both"
);

mod builder;
mod check;
mod config;
mod connection;
mod error;
mod location;
mod metrics;
pub mod migrations;
mod outbox;
mod payments;
mod recover;
mod relay;
mod shared;
mod spill;
mod stats;
mod store;
mod throttle;
mod writer;

#[doc = include_str!("../docs/fleet.md")]
pub mod fleet {}

pub use builder::OutboxBuilder;
pub use check::OutboxCheck;
pub use connection::OutboxConnection;
pub use error::OutboxError;
pub use outbox::Outbox;
pub use stats::OutboxStats;
pub use store::DeadLetter;

/// The `sqlx` this crate is built against (feature `postgres`): name its types through it
/// (`affitor_outbox::sqlx::PgPool`, `affitor_outbox::sqlx::Transaction`), and a `sqlx` of
/// another version in your `Cargo.toml` can never hand `OutboxBuilder::postgres` or
/// [`Outbox::enqueue_in`] a type they do not take. A public dependency on purpose: a new major
/// version of sqlx is a breaking change of this crate (a minor version before 1.0).
///
/// ```
/// # #[cfg(feature = "postgres")]
/// # async fn signup(
/// #     outbox: affitor_outbox::Outbox,
/// #     client: affitor::Client,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use affitor_outbox::sqlx::PgPool;
///
/// let pool = PgPool::connect("postgres://app@localhost/shop").await?;
/// let mut transaction = pool.begin().await?;
/// outbox.enqueue_in(&mut *transaction, client.lead("user_123")).await?;
/// transaction.commit().await?;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sqlx;

/// The `rusqlite` this crate is built against (feature `sqlite`, SQLite bundled): open your
/// connection to the outbox's file through it, so that [`Outbox::enqueue_in`] takes it in your
/// transaction whatever `rusqlite` your `Cargo.toml` names. A public dependency on purpose: a
/// new major version of rusqlite is a breaking change of this crate (a minor version before 1.0).
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # async fn signup(
/// #     outbox: affitor_outbox::Outbox,
/// #     client: affitor::Client,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use affitor_outbox::rusqlite::Connection;
///
/// let mut database = Connection::open("affitor-outbox.db")?;
/// let mut transaction = database.transaction()?;
/// outbox.enqueue_in(&mut transaction, client.lead("user_123")).await?;
/// transaction.commit()?;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use rusqlite;

/// The futures a web handler awaits must be `Send`: checked at compile time.
#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod send_checks {
    fn send<T: Send>(_: T) {}

    #[expect(dead_code, reason = "compiled for its checks, never called")]
    async fn futures_are_send(
        outbox: crate::Outbox,
        client: affitor::Client,
        pool: sqlx::PgPool,
        connection: &mut sqlx::PgConnection,
    ) {
        send(outbox.enqueue(client.lead("u")));
        // A handler's own transaction on Postgres: `&mut *transaction` is a `&mut PgConnection`.
        send(outbox.enqueue_in(connection, client.lead("u")));
        send(outbox.waiting());
        send(outbox.dead_letters());
        send(outbox.shutdown(std::time::Duration::ZERO));
        send(crate::Outbox::builder(client.clone()).postgres(pool));
        send(crate::Outbox::builder(client).open("x"));
    }
}
