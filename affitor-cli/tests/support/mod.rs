//! How each test of the `affitor` binary runs it and reads what it printed, and the servers it
//! runs against: the local stand-in of the API and the axum checkout example.

#![allow(dead_code)] // Each test binary uses its own part.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use affitor_mock::MockServer;
use example_support::{AppConfig, PaymentWebhooks};
use serde_json::Value;

/// Runs `affitor` with `args` and only the environment `env` (plus `NO_COLOR`), off the
/// runtime's threads, so the servers of the test keep answering.
pub(crate) async fn affitor(args: &[&str], env: &[(&str, &str)]) -> Output {
    run(args, env, None, "").await
}

/// `affitor` as [`affitor`] runs it, in the directory `dir`.
pub(crate) async fn affitor_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run(args, env, Some(dir), "").await
}

/// `affitor` as [`affitor`] runs it, with `input` on its standard input.
pub(crate) async fn affitor_fed(args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
    run(args, env, None, input).await
}

async fn run(args: &[&str], env: &[(&str, &str)], dir: Option<&Path>, input: &str) -> Output {
    use std::io::Write as _;

    let mut command = Command::new(env!("CARGO_BIN_EXE_affitor"));
    command
        .args(args)
        .env_clear()
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let input = input.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output()
    })
    .await
    .unwrap()
    .unwrap()
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The one JSON document a `--json` run prints, and nothing else on its standard output.
pub(crate) fn document(output: &Output) -> Value {
    let stdout = stdout(output);
    let mut lines = stdout.lines().filter(|line| !line.trim().is_empty());
    let document = lines
        .next()
        .unwrap_or_else(|| panic!("no output: {output:?}"));
    assert_eq!(lines.next(), None, "one document only: {stdout}");
    serde_json::from_str(document).unwrap_or_else(|error| panic!("{error}: {document}"))
}

/// The environment of a client of `mock`.
pub(crate) fn api_env(mock: &MockServer) -> [(&'static str, String); 2] {
    [
        ("AFFITOR_API_URL", mock.url().to_owned()),
        ("AFFITOR_API_KEY", mock.api_key().to_owned()),
    ]
}

/// `env` as the pairs [`affitor`] takes.
pub(crate) fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

/// The axum checkout example on an ephemeral port, its events sent to `mock`, its webhooks on
/// their demo secrets.
pub(crate) async fn checkout_app(mock: &MockServer) -> SocketAddr {
    let config = AppConfig::new(mock.client(), mock.program_id().to_string(), None);
    let app = axum_checkout::app(config, PaymentWebhooks::demo());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A schema of its own on the test Postgres (`AFFITOR_TEST_POSTGRES`), dropped by
/// [`PostgresSchema::drop_all`]: `None`, said on stderr, when the variable is unset.
pub(crate) struct PostgresSchema {
    pub(crate) pool: affitor_outbox::sqlx::PgPool,
    pub(crate) name: String,
    /// The URL, its `search_path` the schema: where an outbox in it is.
    pub(crate) location: String,
}

impl PostgresSchema {
    pub(crate) async fn create(prefix: &str) -> Option<Self> {
        use affitor_outbox::sqlx;

        let Some(url) = std::env::var("AFFITOR_TEST_POSTGRES")
            .ok()
            .filter(|url| !url.trim().is_empty())
        else {
            eprintln!("skipped: AFFITOR_TEST_POSTGRES is unset");
            return None;
        };
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let name = format!("{prefix}_{}", std::process::id());
        let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
        let separator = if url.contains('?') { '&' } else { '?' };
        let location = format!("{url}{separator}options[search_path]={name}");
        Some(Self {
            pool,
            name,
            location,
        })
    }

    pub(crate) async fn drop_all(self) {
        let sql = format!("DROP SCHEMA {} CASCADE", self.name);
        affitor_outbox::sqlx::raw_sql(affitor_outbox::sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .unwrap();
        self.pool.close().await;
    }
}

/// A folder of its own in the temp dir, `affitor-cli-<name>-<pid>`, empty when made and removed
/// when dropped, even by a failed test: where a test keeps its SQLite files.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("affitor-cli-{name}-{}", std::process::id()));
        // What an earlier run of the same process id left would count as this test's files.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The location of the file `name` in it, as `AFFITOR_OUTBOX` or `Outbox::open` takes it.
    pub(crate) fn sqlite_location(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server on 127.0.0.1 that answers every request `200 ok` and keeps each one's head (its
/// request line and headers): where `trigger` posts, or the proxy it must not go through.
pub(crate) struct Recorder {
    pub(crate) addr: SocketAddr,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    pub(crate) async fn start() -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let kept = std::sync::Arc::clone(&heads);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let kept = std::sync::Arc::clone(&kept);
                tokio::spawn(async move {
                    let mut read = Vec::new();
                    let mut buffer = [0; 4096];
                    let head = loop {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read.extend_from_slice(&buffer[..n]),
                        }
                        let text = String::from_utf8_lossy(&read);
                        if let Some((head, _)) = text.split_once("\r\n\r\n") {
                            break head.to_owned();
                        }
                    };
                    kept.lock().unwrap().push(head);
                    let answer =
                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { addr, heads }
    }

    /// The heads of the requests it received, in order.
    pub(crate) fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}
