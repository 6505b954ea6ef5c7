//! The faults: how each makes the outbox's location, breaks the store mid-load, and gives it
//! back.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use affitor_outbox::sqlx::{self, Connection, PgConnection};
use reqwest::Url;
use test_support::proxy::Proxy;
use tokio::runtime::Runtime;

use crate::BoxError;
use crate::options::{FaultKind, Options};
use crate::pooler::PgBouncer;

/// How long the disk stays full.
const FULL_FOR: Duration = Duration::from_secs(8);
/// How long Postgres stays silent.
const SILENT_FOR: Duration = Duration::from_secs(15);
/// The Postgres database the outboxes of this tool live in, emptied before each run.
const DATABASE: &str = "affitor_faults";

/// A fault, ready to inject.
#[derive(Debug)]
pub(crate) enum Fault {
    /// A tmpfs mounted at `dir`, the outbox file in it.
    FullDisk { dir: PathBuf },
    /// The outbox reaches Postgres through `proxy`.
    SilentPostgres { proxy: Proxy },
    /// The outbox reaches Postgres through `bouncer`.
    Pooler { bouncer: PgBouncer },
}

impl Fault {
    /// Prepares the fault `options` names, and returns it with the outbox's location. The
    /// proxy runs on `network`.
    pub(crate) fn prepare(
        options: &Options,
        network: &Runtime,
    ) -> Result<(Self, String), BoxError> {
        match options.fault {
            FaultKind::FullDisk => {
                let dir =
                    std::env::temp_dir().join(format!("affitor-faults-{}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                run_command(
                    Command::new("mount")
                        .args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"])
                        .arg(&dir),
                )
                .map_err(|error| {
                    format!(
                        "cannot mount a tmpfs at {} (run as root): {error}",
                        dir.display()
                    )
                })?;
                let location = dir.join("outbox.db").to_string_lossy().into_owned();
                Ok((Self::FullDisk { dir }, location))
            }
            FaultKind::SilentPostgres => {
                let server = postgres_url()?;
                network.block_on(empty_database(&server))?;
                let proxy = network.block_on(Proxy::start(address_of(&server)?))?;
                let location = with_address(&server, proxy.addr());
                Ok((Self::SilentPostgres { proxy }, location))
            }
            FaultKind::Pooler => {
                let server = postgres_url()?;
                network.block_on(empty_database(&server))?;
                let bouncer = PgBouncer::start(address_of(&server)?, options.pool_mode)?;
                let location = with_address(&server, bouncer.addr());
                Ok((Self::Pooler { bouncer }, location))
            }
        }
    }

    /// Breaks the store, waits, and gives it back: returns when it was given back.
    pub(crate) fn inject(&mut self) -> Result<Instant, BoxError> {
        match self {
            Self::FullDisk { dir } => {
                let filler = dir.join("filler");
                fill(&filler)?;
                std::thread::sleep(FULL_FOR);
                std::fs::remove_file(&filler)?;
                Ok(Instant::now())
            }
            Self::SilentPostgres { proxy } => {
                proxy.go_silent();
                std::thread::sleep(SILENT_FOR);
                proxy.reset();
                Ok(Instant::now())
            }
            Self::Pooler { bouncer } => bouncer.restart(),
        }
    }

    /// Unmounts the tmpfs, or stops PgBouncer; the proxy stops with its runtime.
    pub(crate) fn clean_up(self) {
        match self {
            Self::FullDisk { dir } => {
                // actix-web's workers may hold the app's state (the outbox file open) a moment
                // after the server stopped: a busy tmpfs is tried again, then detached (`-l`),
                // freed once the file is closed.
                let mut unmounted = Err("not tried".into());
                for _ in 0..20 {
                    unmounted = run_command(Command::new("umount").arg(&dir));
                    if unmounted.is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                if unmounted.is_err() {
                    unmounted = run_command(Command::new("umount").arg("-l").arg(&dir));
                }
                match unmounted {
                    Ok(()) => {
                        let _ = std::fs::remove_dir(&dir);
                    }
                    Err(error) => eprintln!("faults: cannot unmount {}: {error}", dir.display()),
                }
            }
            Self::SilentPostgres { .. } => {}
            Self::Pooler { bouncer } => bouncer.stop(),
        }
    }
}

/// Writes zeros to `path` until the disk is full.
fn fill(path: &std::path::Path) -> Result<(), BoxError> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(error) if error.raw_os_error() == Some(28) => return Ok(()), // ENOSPC
            Err(error) => return Err(error.into()),
        }
    }
}

/// Runs `command`, an error unless it exits 0.
pub(crate) fn run_command(command: &mut Command) -> Result<(), BoxError> {
    let output = command.output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{:?} exited with {}: {}",
        command,
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )
    .into())
}

/// The Postgres server, as `AFFITOR_TEST_POSTGRES` names it.
fn postgres_url() -> Result<Url, BoxError> {
    let url = std::env::var("AFFITOR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://affitor:affitor@127.0.0.1:5432/affitor_test".to_owned());
    Url::parse(&url).map_err(|error| format!("AFFITOR_TEST_POSTGRES is not a URL: {error}").into())
}

fn address_of(url: &Url) -> Result<SocketAddr, BoxError> {
    let host = url.host_str().unwrap_or("127.0.0.1");
    (host, url.port().unwrap_or(5432))
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{host} has no address").into())
}

/// `server`'s URL with `addr` for its host and port, and this tool's database.
fn with_address(server: &Url, addr: SocketAddr) -> String {
    let mut url = server.clone();
    let _ = url.set_ip_host(addr.ip());
    let _ = url.set_port(Some(addr.port()));
    url.set_path(DATABASE);
    url.to_string()
}

/// Creates this tool's database when missing, and empties it.
async fn empty_database(server: &Url) -> Result<(), BoxError> {
    let mut connection = PgConnection::connect(server.as_str()).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DATABASE)
        .fetch_optional(&mut connection)
        .await?;
    if exists.is_none() {
        sqlx::query("CREATE DATABASE affitor_faults")
            .execute(&mut connection)
            .await?;
    }
    connection.close().await?;
    let mut url = server.clone();
    url.set_path(DATABASE);
    let mut connection = PgConnection::connect(url.as_str()).await?;
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}
