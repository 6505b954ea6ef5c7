#![doc = include_str!("../docs/guide.md")]
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
pub mod journal;
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
mod sync;
mod throttle;
mod writer;

#[doc = include_str!("../docs/fleet.md")]
pub mod fleet {}

pub use builder::OutboxBuilder;
pub use check::OutboxCheck;
pub use connection::OutboxConnection;
pub use error::OutboxError;
pub use outbox::Outbox;
pub use stats::{Backlog, OutboxStats};
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
        send(outbox.retry_dead_letter(1));
        send(outbox.backlog());
        send(outbox.shutdown(std::time::Duration::ZERO));
        send(crate::Outbox::builder(client.clone()).postgres(pool));
        send(crate::Outbox::builder(client).open("x"));
    }
}
