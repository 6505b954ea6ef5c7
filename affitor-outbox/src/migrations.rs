//! The SQL of each version of the Postgres outbox's schema, for the migration tool your app
//! already runs (sqlx's `migrate!`, refinery, diesel, Flyway, ...).
//!
//! By default an outbox opened on Postgres applies the versions its database lacks itself, once
//! each, under an advisory lock; a start whose schema is current only reads its version, and
//! runs no DDL. With [`OutboxBuilder::migrate(false)`](crate::OutboxBuilder::migrate) it leaves
//! them to you: copy each version into a migration of yours, in order (in your tool's own
//! numbering), and the start checks that they were applied.
//!
//! Each version:
//! - is plain SQL, without `BEGIN` or `COMMIT`, run on the schema the outbox's connections use;
//! - runs in one transaction, as every migration tool runs a migration, unless it says
//!   otherwise ([`Migration::transaction`]: an index built `CONCURRENTLY`, which Postgres
//!   builds only outside a transaction, and without holding the table's writes; its first
//!   line, `-- no-transaction`, tells sqlx's migrator so);
//! - is known applied whichever tool ran it: it records itself in the table
//!   `affitor_outbox_schema`, or, an index, is found valid in the catalog;
//! - only adds (tables, indexes, columns that are nullable or have a default), so that the
//!   version of your app before it keeps writing and delivering on the same tables during a
//!   rolling deploy, and after a rollback.
//!
//! ```no_run
//! // Written once into your migrations folder (here sqlx's: `<number>_<name>.sql`), then
//! // committed with the rest of your migrations.
//! for migration in affitor_outbox::migrations::POSTGRES {
//!     let path = format!(
//!         "migrations/20260101{:06}_affitor_outbox_{}.sql",
//!         migration.version, migration.name
//!     );
//!     std::fs::write(path, migration.sql)?;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The SQLite outbox has no such list: its file is the app's own, and every start brings it up
//! to date (unless opened with `migrate(false)`, which only checks it).

/// One version of a store's schema: its number, its name and its SQL.
///
/// ```
/// let first = &affitor_outbox::migrations::POSTGRES[0];
/// assert_eq!(first.version, 1);
/// assert!(first.sql.contains("CREATE TABLE IF NOT EXISTS affitor_outbox"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Migration {
    /// Its number: 1, 2, ..., applied in that order.
    pub version: u32,
    /// What it makes, in a word (`tables`): for a file name.
    pub name: &'static str,
    /// Its SQL: several statements to run in one transaction, or, when it is not
    /// [`transaction`](Self::transaction)al, one statement to run alone.
    pub sql: &'static str,
    /// Whether it runs in one transaction: `false` for an index built `CONCURRENTLY`, which
    /// Postgres builds only outside one.
    pub transaction: bool,
}

/// The versions of the Postgres schema, oldest first: the outbox starts on version 1 and writes
/// fastest on the last.
///
/// - Version 1 creates the tables and indexes; on a table made by an earlier `affitor-outbox`
///   (before the schema was versioned), it brings that table to its layout, and on one
///   already at it, it only records itself.
/// - Version 2 indexes the live rows by customer, so that a write never walks
///   the entries a long-held snapshot keeps in the table. It is built `CONCURRENTLY`, outside
///   a transaction, and the outbox needs it only to write fast: a start that finds it missing
///   writes as version 1 did, and builds it in the background (or, with `migrate(false)`,
///   warns that it is missing).
///
/// Written out as the files of sqlx's `migrate!` (`<number>_<name>.sql`, here in a folder of
/// their own), each version once, in order:
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use affitor_outbox::migrations::POSTGRES;
///
/// # let migrations = std::env::temp_dir()
/// #     .join(format!("affitor-migrations-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&migrations);
/// let file = |version: u32, name: &str| format!("20260101{version:06}_affitor_outbox_{name}.sql");
/// std::fs::create_dir_all(&migrations)?;
/// for migration in POSTGRES {
///     std::fs::write(migrations.join(file(migration.version, migration.name)), migration.sql)?;
/// }
/// let last = POSTGRES.last().expect("at least one version");
/// assert!(migrations.join(file(last.version, last.name)).exists());
/// # std::fs::remove_dir_all(&migrations)?;
/// # Ok(())
/// # }
/// ```
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "tables",
        sql: include_str!("../migrations/postgres/0001_tables.sql"),
        transaction: true,
    },
    Migration {
        version: 2,
        name: "live_by_customer",
        sql: include_str!("../migrations/postgres/0002_live_by_customer.sql"),
        transaction: false,
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn versions_follow_each_other_and_say_how_they_run() {
        for (index, migration) in super::POSTGRES.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
            let upper = migration.sql.to_ascii_uppercase();
            assert!(!upper.contains("BEGIN;") && !upper.contains("COMMIT"));
            if migration.transaction {
                let record = format!(
                    "INSERT INTO affitor_outbox_schema (version, name) VALUES ({}, '{}')",
                    migration.version, migration.name
                );
                assert!(migration.sql.contains(&record), "{}", migration.version);
            } else {
                // sqlx's migrator reads this first line; one statement, outside a transaction.
                assert!(migration.sql.starts_with("-- no-transaction\n"));
                assert!(upper.contains("CONCURRENTLY"));
                let statements = migration
                    .sql
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("--"))
                    .filter(|line| line.contains(';'))
                    .count();
                assert_eq!(statements, 1, "{}", migration.version);
            }
        }
    }
}
