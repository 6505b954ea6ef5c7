//! The file: created private, its connections' settings, and its tables, created when missing
//! at every start (`migrate(false)` only compares the file's with them).

use std::path::Path;
use std::time::Duration;

use crate::config::Config;

/// The page size of a new file (SQLite's default), in bytes.
const PAGE_SIZE: u64 = 4096;

/// How long the reader's and the checkpointer's statements wait for another writer before
/// they fail.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The tables and their indexes, each made when missing. The journal has no index: its entries
/// are appended, on the writer every request's batch waits for, where `Outbox::explain`, which
/// reads it through, and the purge, which reads its oldest entries, are occasional.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS affitor_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    body TEXT NOT NULL,
    transaction_id TEXT,
    other_transaction_id TEXT,
    customer_key TEXT,
    click_id_source TEXT,
    delivery_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    dead_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS affitor_outbox_transaction_id
    ON affitor_outbox (transaction_id, id) WHERE transaction_id IS NOT NULL AND dead_at IS NULL;
CREATE INDEX IF NOT EXISTS affitor_outbox_started
    ON affitor_outbox (customer_key, id)
    WHERE dead_at IS NULL AND (lease_until IS NOT NULL OR attempts > 0);
CREATE INDEX IF NOT EXISTS affitor_outbox_unstarted
    ON affitor_outbox (id) WHERE dead_at IS NULL AND lease_until IS NULL AND attempts = 0;
CREATE TABLE IF NOT EXISTS affitor_outbox_facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS affitor_outbox_facts_expiry ON affitor_outbox_facts (expires_at);
CREATE TABLE IF NOT EXISTS affitor_outbox_journal (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    step TEXT NOT NULL,
    customer_key TEXT,
    click_id TEXT,
    transaction_id TEXT,
    other_transaction_id TEXT,
    amount INTEGER,
    currency TEXT,
    detail TEXT,
    sale_id INTEGER,
    commission_id INTEGER,
    click_age_days INTEGER,
    window_days INTEGER,
    next_attempt_at INTEGER,
    event_id INTEGER,
    origin TEXT,
    stored_at INTEGER
);
";

/// The settings of every connection to the file: WAL; `NORMAL` syncs (a batch with money in it
/// is written with `FULL`); a deleted row's bytes overwritten with zeros, in its page and in
/// the pages it frees, so that delivered leads' emails do not stay in the file; temporary data
/// in memory (a batch's INSERT reads the whole batch into a temporary table before it writes,
/// as it reads the table it writes; past 64 KiB SQLite would spill it to a file, created and
/// deleted for each batch).
pub(super) const SETTINGS: [(&str, &str); 4] = [
    ("journal_mode", "WAL"),
    ("synchronous", "NORMAL"),
    ("secure_delete", "ON"),
    ("temp_store", "MEMORY"),
];

/// Creates the file at `path` readable and writable by its owner only (it holds customers'
/// emails; SQLite gives its `-wal` and `-shm` files the same mode), or warns when an existing
/// one is readable by others.
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{:o}", mode & 0o777),
                        "the Affitor outbox file is readable by other users: it holds customers' \
                         emails; `chmod 600` it (and its -wal and -shm files)"
                    );
                }
            }
            Err(error) => return Err(error),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A connection to the file with the [`SETTINGS`] and the file's limit (`max_file_size`, in
/// pages of [`PAGE_SIZE`] bytes: past it a write fails with `SQLITE_FULL`, as on a full disk);
/// its writes wait `busy` for another connection's.
pub(super) fn connect(
    path: &Path,
    config: &Config,
    busy: Duration,
) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(busy)?;
    let pages = config.max_file_size.map(|bytes| (bytes / PAGE_SIZE).max(1));
    if pages.is_some() {
        // Before WAL: the page size of a new file is set before its first write.
        connection.pragma_update(None, "page_size", PAGE_SIZE)?;
    }
    for (name, value) in SETTINGS {
        connection.pragma_update(None, name, value)?;
    }
    if let Some(pages) = pages {
        connection.pragma_update(None, "max_page_count", pages)?;
    }
    Ok(connection)
}

/// Creates the tables and indexes when missing; a file another process has just given them is
/// left as it is.
pub(super) fn create_tables(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(SCHEMA)
}

/// What the file at `path` lacks of this version's tables, read without changing anything:
/// `None` when they are current (or ahead: every version only adds); else what is wrong and
/// what to do: tables or indexes missing, which a start creates, or a table without this
/// version's columns, which is not this outbox's. For an outbox opened with `migrate(false)`,
/// which must leave the file as it is.
pub(super) fn behind(path: &Path) -> rusqlite::Result<Option<String>> {
    const FIX: &str = "an outbox opened with `migrate(true)` (the default: the app's, at its \
                       start) creates them and brings them up to date; this one, opened with \
                       `migrate(false)`, changes nothing";
    if !path.exists() {
        return Ok(Some(format!(
            "there is no file there, so no outbox tables either — {FIX}"
        )));
    }
    let connection = open_to_look(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let present = layout(&connection)?;
    if !present
        .iter()
        .any(|name| name.starts_with("affitor_outbox"))
    {
        return Ok(Some(format!("its outbox tables are missing — {FIX}")));
    }
    let current = rusqlite::Connection::open_in_memory()?;
    create_tables(&current)?;
    let lacking: Vec<String> = layout(&current)?
        .into_iter()
        .filter(|name| !present.contains(name))
        .collect();
    if lacking.is_empty() {
        return Ok(None);
    }
    // A start creates what is missing, never a column of a table that is there: such a table
    // is another program's, or another version's.
    let columns: Vec<&str> = lacking
        .iter()
        .filter(|name| name.starts_with("the column "))
        .map(String::as_str)
        .collect();
    if !columns.is_empty() {
        return Ok(Some(format!(
            "its tables named `affitor_outbox…` are not this outbox's (without {}): another \
             program's tables of those names, or another version's schema — give the outbox \
             a file of its own, or rename those tables",
            columns.join(", ")
        )));
    }
    Ok(Some(format!(
        "its outbox tables lack {} — {FIX}",
        lacking.join(", ")
    )))
}

/// A connection that only reads the file at `path` and writes nothing beside it: read-only,
/// and immutable when no `-wal` file is beside it (a WAL-mode file read otherwise gets its
/// `-wal` and `-shm` created). With a `-wal` there (an outbox that is open, or was killed),
/// it is read with the WAL, whose files are already there.
fn open_to_look(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;

    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if Path::new(&wal).exists() {
        return rusqlite::Connection::open_with_flags(path, flags);
    }
    // A URI's path escapes `%`, `?` and `#`, which a file name may hold.
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", c as u32)),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    rusqlite::Connection::open_with_flags(uri, flags)
}

/// The outbox's tables and indexes in `connection`'s database, by name, and their columns
/// (`the column <table>.<column>`), in the order they were made.
fn layout(connection: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    connection
        .prepare(
            "SELECT name FROM sqlite_master WHERE name GLOB 'affitor_outbox*'
             UNION ALL
             SELECT 'the column ' || m.name || '.' || c.name
             FROM sqlite_master m, pragma_table_info(m.name) c
             WHERE m.type = 'table' AND m.name GLOB 'affitor_outbox*'",
        )?
        .query_map([], |row| row.get(0))?
        .collect()
}
