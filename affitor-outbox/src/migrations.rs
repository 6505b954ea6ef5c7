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
//! - is plain SQL, without `BEGIN` or `COMMIT`, run on the schema the outbox's connections use,
//!   in one transaction, as every migration tool runs a migration;
//! - is known applied whichever tool ran it: it records itself in the table
//!   `affitor_outbox_schema`;
//! - only adds (tables, indexes, columns that are nullable or have a default), so that the
//!   version of your app before it keeps writing and delivering on the same tables during a
//!   rolling deploy, and after a rollback.
//!
//! [`POSTGRES`] shows them written out as the files of sqlx's migrator.
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
    /// Its SQL: several statements to run in one transaction.
    pub sql: &'static str,
}

/// The versions of the Postgres schema, oldest first. Version 1 creates the tables and their
/// indexes.
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
pub const POSTGRES: &[Migration] = &[Migration {
    version: 1,
    name: "tables",
    sql: include_str!("../migrations/postgres/0001_tables.sql"),
}];
