//! A durable outbox for Affitor tracking events.
//!
//! [`Client::send_in_background`](affitor::LeadRequest::send_in_background) keeps events
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
//!   ends. A sale or a refund is safe to repeat (its transaction id is the idempotency key); a
//!   lead is idempotent on the customer.
//! - A store that cannot keep up makes the request wait, up to
//!   [`OutboxBuilder::enqueue_timeout`]; one that fails or is slower than that never fails the
//!   request: the event falls back to the client's in-memory queue, counted in
//!   [`OutboxStats::fell_back`] and warned at most once a minute (with how many since).
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

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "affitor-outbox needs a store: enable its `sqlite` feature (the default), `postgres`, or both"
);

mod builder;
mod config;
mod connection;
mod error;
mod metrics;
pub mod migrations;
mod outbox;
mod payments;
mod relay;
mod sends;
mod shared;
mod stats;
mod store;
mod writer;

#[doc = include_str!("../docs/fleet.md")]
pub mod fleet {}

pub use builder::OutboxBuilder;
pub use connection::OutboxConnection;
pub use error::OutboxError;
pub use outbox::Outbox;
pub use stats::OutboxStats;
pub use store::DeadLetter;

/// The `sqlx` this crate is built against (feature `postgres`): name its types through it
/// (`affitor_outbox::sqlx::PgPool`, `affitor_outbox::sqlx::Transaction`), and a `sqlx` of
/// another version in your `Cargo.toml` can never hand `OutboxBuilder::postgres` or
/// [`Outbox::enqueue_in`] a type they do not take.
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
/// transaction whatever `rusqlite` your `Cargo.toml` names.
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

    #[allow(dead_code)]
    async fn futures_are_send(outbox: crate::Outbox, client: affitor::Client, pool: sqlx::PgPool) {
        send(outbox.enqueue(client.lead("u")));
        send(outbox.waiting());
        send(outbox.dead_letters());
        send(outbox.shutdown(std::time::Duration::ZERO));
        send(crate::Outbox::builder(client.clone()).postgres(pool));
        send(crate::Outbox::builder(client).open("x"));
    }
}
