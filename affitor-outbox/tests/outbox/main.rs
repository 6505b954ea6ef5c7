//! The outbox against real stores (a SQLite file; a Postgres server, see `.ci/postgres`) and
//! the project's stand-in API over HTTP on 127.0.0.1.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod support;

#[cfg(feature = "sqlite")]
mod backend;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod backlog;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod batching;
#[cfg(feature = "sqlite")]
mod crash;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod flush;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod foreign;
#[cfg(feature = "sqlite")]
mod hardening;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod journal;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod lease;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod location;
#[cfg(feature = "sqlite")]
mod locked;
#[cfg(feature = "postgres")]
mod lost;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod order;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod payments;
#[cfg(feature = "postgres")]
mod pooler;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod probe;
#[cfg(feature = "sqlite")]
mod recovery;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod refused;
#[cfg(feature = "sqlite")]
mod relay;
#[cfg(feature = "postgres")]
mod schema;
#[cfg(feature = "postgres")]
mod search_path;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod shutdown;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "postgres")]
mod timeouts;
#[cfg(feature = "postgres")]
mod tls;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod transaction;
