//! The fault figures of the signup examples on a durable outbox: a full disk, a
//! silent Postgres, and a pooler restarted mid-load, each under closed-loop signups.
//!
//! ```sh
//! # The SQLite outbox's disk fills for 8 s (a 32 MiB tmpfs it mounts: run as root).
//! cargo run --release -p affitor-scenarios --bin faults -- --fault full-disk --framework axum
//! # Postgres goes silent for 15 s (a proxy that holds every byte, then resets its connections).
//! cargo run --release -p affitor-scenarios --bin faults -- --fault silent-postgres --framework actix
//! # The outbox through PgBouncer in transaction (or session) mode, restarted mid-load.
//! cargo run --release -p affitor-scenarios --bin faults -- --fault pooler --framework axum
//! cargo run --release -p affitor-scenarios --bin faults -- --fault pooler --pool-mode session --framework axum
//! ```
//!
//! Each run starts the example signup app (`axum_signup::app` or `actix_signup::serve`) in this
//! process on an outbox, its relay sending to the local stand-in, which answers in 20 ms. Eight
//! clients sign up without pause, each with a unique email and the same click id, for 5 s
//! before the fault, during it, and 10 s after the store's return. Then the stand-in is given
//! up to 30 s to receive every acknowledged lead. The tool samples `Outbox::stats()` every
//! 100 ms.
//!
//! It prints the signups answered and failed (non-2xx or error), the longest wait and p99
//! before, during and after the fault, the leads acknowledged (a 2xx) and those the stand-in
//! received, and the time from the store's return until the outbox kept nothing new in memory
//! only (nothing spilled, nothing more spilled or fallen back to the client's memory queue).
//! It exits 1 when a bar is missed: a failed signup, a wait over the
//! enqueue timeout plus 0.5 s, an acknowledged lead not received, or more than 5 s to go back
//! to the store.
//!
//! - `full-disk`: the outbox is a SQLite file on a 32 MiB tmpfs mounted for the run; a file
//!   fills the rest of it for 8 s, then is deleted. Needs root (`mount`).
//! - `silent-postgres`: the outbox is in Postgres (`AFFITOR_TEST_POSTGRES`, default
//!   `postgres://affitor:affitor@127.0.0.1:5432/affitor_test`) through a TCP proxy of this
//!   tool, which holds every byte for 15 s (nothing dropped, nothing reset), then resets its
//!   connections and forwards again.
//! - `pooler`: the outbox is in the same Postgres through a PgBouncer this tool starts for the
//!   run (Debian's `pgbouncer`, as `.ci/pgbouncer` configures it, on a port of its own), in
//!   `--pool-mode transaction` (default) or `session`; mid-load the tool stops it (SIGTERM:
//!   every connection closed) and starts it again.
//!
//! The Postgres outboxes use a database of their own, `affitor_faults`, created when missing
//! and emptied before each run. Options: `--clients N` (8). With `RUST_LOG` set (for example
//! `RUST_LOG=affitor_outbox=debug`), the crates' logs go to stderr.

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

mod clients;
mod fault;
mod options;
mod pooler;
mod report;
mod run;

type BoxError = Box<dyn Error + Send + Sync>;

/// How long each client signup may wait before the tool counts it failed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The outbox's enqueue timeout (its default, spelled out for the bar measured against it).
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    // The outbox's warnings and recovery, when asked for (`RUST_LOG=affitor_outbox=debug`).
    if std::env::var_os("RUST_LOG").is_some() {
        example_support::init_tracing();
    }
    let result = options::Options::parse(std::env::args().skip(1)).and_then(run::run);
    match result {
        Ok(report) => {
            print!("{report}");
            if report.missed().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("faults: {error}");
            ExitCode::FAILURE
        }
    }
}
