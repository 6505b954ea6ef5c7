//! The `affitor-relay` binary, run as a fleet runs it: web servers' outboxes
//! opened with `relay(false)` store the events, and the binary, pointed at the same store and
//! at the stand-in API on 127.0.0.1, delivers them, serves its Prometheus page, and stops on
//! SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use affitor::Client;
use affitor::client::Endpoint;
use affitor_mock::MockServer;
use affitor_outbox::Outbox;

mod support;

/// The binary under test.
const RELAY: &str = env!("CARGO_BIN_EXE_affitor-relay");

/// The leads the web server stores, and as many sales (one per lead's customer).
const EVENTS: usize = 20;

/// The relay's shutdown deadline in these tests (`AFFITOR_RELAY_SHUTDOWN_SECS`).
const SHUTDOWN_SECS: u64 = 5;

/// How long the tests wait for the relay to deliver, or to show a line in its log.
const PATIENCE: Duration = Duration::from_secs(30);

/// Stores [`EVENTS`] leads, and a sale for each lead's customer, through a writer-only outbox
/// on `writer` (a web server's: `relay(false)`), which sends none of them.
async fn store_as_a_web_server(mock: &MockServer, writer: Outbox, client: &Client) {
    for n in 0..EVENTS {
        let customer = format!("user_{n}");
        writer
            .enqueue(client.lead(&customer).click_id(mock.click("partner")))
            .await;
        writer
            .enqueue(support::sale(mock, client, n).customer_key(&customer))
            .await;
    }
    let stats = writer.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.enqueued, 2 * EVENTS as u64, "every event stored");
    assert!(
        mock.requests_to(Endpoint::Lead).is_empty() && mock.requests_to(Endpoint::Sale).is_empty(),
        "a writer-only outbox sends nothing"
    );
}

/// Waits until the stand-in has each stored lead and sale, then checks each came once.
async fn assert_each_delivered_once(mock: &MockServer) {
    support::wait_until("the relay's deliveries", PATIENCE, async || {
        mock.leads().len() >= EVENTS && mock.sales().len() >= EVENTS
    })
    .await;
    let mut customers: Vec<String> = mock
        .leads()
        .into_iter()
        .filter_map(|lead| lead.customer_key)
        .collect();
    customers.sort();
    let mut expected: Vec<String> = (0..EVENTS).map(|n| format!("user_{n}")).collect();
    expected.sort();
    assert_eq!(customers, expected, "each lead delivered once");
    let mut sales = support::sale_requests(mock);
    sales.sort();
    let mut expected: Vec<String> = (0..EVENTS).map(|n| format!("in_{n}")).collect();
    expected.sort();
    assert_eq!(sales, expected, "each sale delivered once");
}

/// An `affitor-relay` process, and its log (stderr) as it comes.
struct Relay {
    child: Child,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

/// How a relay stopped.
struct Stopped {
    status: ExitStatus,
    /// From the SIGTERM to its exit.
    took: Duration,
    log: String,
}

impl Relay {
    /// Starts the binary on the outbox at `location`, delivering to `mock`, with `env` on top.
    fn start(location: &str, mock: &MockServer, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(RELAY);
        command
            .env("AFFITOR_OUTBOX", location)
            .env("AFFITOR_API_KEY", mock.api_key())
            .env("AFFITOR_API_URL", mock.url())
            .env("AFFITOR_RELAY_SHUTDOWN_SECS", SHUTDOWN_SECS.to_string())
            .env("RUST_LOG", "info")
            .env_remove("AFFITOR_API_BASE")
            .env_remove("METRICS_ADDR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the affitor-relay binary starts");
        let stderr = child.stderr.take().expect("its stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let lines = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = lines.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self {
            child,
            log,
            reader: Some(reader),
        }
    }

    /// Its log so far.
    fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The first line of its log holding `text`, once it is there.
    async fn line_with(&self, text: &str) -> String {
        let found = affitor_mock::poll_until(PATIENCE, async || {
            self.log()
                .lines()
                .find(|line| line.contains(text))
                .map(str::to_owned)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no line with `{text}` in the relay's log after {PATIENCE:?}:\n{}",
                self.log()
            )
        })
    }

    /// Sends it `signal` (`TERM`, `INT`).
    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("`kill` runs");
        assert!(kill.success(), "kill -{signal} {pid}: {kill}");
    }

    /// Sends it SIGTERM and waits for it to exit: within its shutdown deadline, give or take
    /// a generous 10 s for a busy machine.
    async fn terminate(self) -> Stopped {
        let sent = Instant::now();
        self.signal("TERM");
        self.exit(sent, Duration::from_secs(SHUTDOWN_SECS + 10))
            .await
    }

    /// Waits for it to exit, at most `bound` after `signalled`.
    async fn exit(mut self, signalled: Instant, bound: Duration) -> Stopped {
        let status =
            affitor_mock::poll_until(bound.saturating_sub(signalled.elapsed()), async || {
                self.child.try_wait().expect("the relay's status")
            })
            .await;
        let took = signalled.elapsed();
        let Some(status) = status else {
            panic!(
                "the relay still ran {took:?} after its signal:\n{}",
                self.log()
            );
        };
        if let Some(reader) = self.reader.take() {
            reader
                .join()
                .expect("the log's reader ends with the process");
        }
        let log = self.log();
        println!("the relay exited {took:?} after its signal ({status}); its log:\n{log}");
        Stopped { status, took, log }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // A test that failed midway leaves no relay behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that `stopped` is a clean stop after delivering every event, none left behind.
fn assert_stopped_cleanly(stopped: &Stopped) {
    let log = &stopped.log;
    assert!(
        stopped.status.success(),
        "exit 0 after SIGTERM, not {}:\n{log}",
        stopped.status
    );
    assert!(
        stopped.took < Duration::from_secs(SHUTDOWN_SECS + 10),
        "took {:?}",
        stopped.took
    );
    assert!(log.contains("SIGTERM: stopping within 5s"), "{log}");
    let summary = log
        .lines()
        .find(|line| line.contains("affitor-relay stopped"))
        .unwrap_or_else(|| panic!("no summary at the end:\n{log}"));
    assert!(
        summary.contains(&format!("delivered={}", 2 * EVENTS)),
        "{summary}"
    );
    assert!(summary.contains("kept=0"), "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_relay_delivers_what_a_writer_only_outbox_stored_and_stops_on_sigterm() {
    let (mock, client) = support::stand_in().await;
    let path = support::sqlite_path("relay-binary");
    let writer = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .expect("the web server's outbox opens");
    store_as_a_web_server(&mock, writer, &client).await;

    let relay = Relay::start(&path, &mock, &[]);
    let started = relay.line_with("affitor-relay delivers").await;
    assert!(
        started.contains(&path),
        "the start line names the store: {started}"
    );
    assert_each_delivered_once(&mock).await;

    let stopped = relay.terminate().await;
    assert_stopped_cleanly(&stopped);
    assert!(
        !stopped.log.contains("Prometheus"),
        "no page without METRICS_ADDR:\n{}",
        stopped.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_whose_sends_hang_stops_at_its_deadline_and_at_once_on_a_second_signal() {
    let (mock, client) = support::stand_in().await;
    let path = support::sqlite_path("relay-binary-hanging");
    let writer = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .expect("the web server's outbox opens");
    store_as_a_web_server(&mock, writer, &client).await;
    mock.inject(affitor_mock::Fault::delay(Duration::from_secs(60)).always());
    let leads_sent = || mock.requests_to(Endpoint::Lead).len();

    // SIGTERM while the API holds every send: at its deadline (1 s), the relay gives them up
    // and exits 0, their rows left in the store for the next relay.
    let relay = Relay::start(&path, &mock, &[("AFFITOR_RELAY_SHUTDOWN_SECS", "1")]);
    support::wait_until("a lead in flight", PATIENCE, async || leads_sent() > 0).await;
    let stopped = relay.terminate().await;
    let log = &stopped.log;
    assert!(stopped.status.success(), "exit 0 at the deadline:\n{log}");
    assert!(log.contains("SIGTERM: stopping within 1s"), "{log}");
    let summary = log
        .lines()
        .find(|line| line.contains("affitor-relay stopped"))
        .unwrap_or_else(|| panic!("no summary at the end:\n{log}"));
    assert!(summary.contains("delivered=0"), "{summary}");
    assert!(
        summary.contains(&format!("kept={}", 2 * EVENTS)),
        "{summary}"
    );

    // A second signal exits at once, however long the deadline: 128 + SIGINT.
    let before = leads_sent();
    let relay = Relay::start(&path, &mock, &[("AFFITOR_RELAY_SHUTDOWN_SECS", "600")]);
    support::wait_until("a lead in flight again", PATIENCE, async || {
        leads_sent() > before
    })
    .await;
    let signalled = Instant::now();
    relay.signal("TERM");
    relay.line_with("SIGTERM: stopping within 600s").await;
    relay.signal("INT");
    let stopped = relay.exit(signalled, Duration::from_secs(10)).await;
    assert_eq!(stopped.status.code(), Some(130), "{}", stopped.log);
    assert!(
        stopped.log.contains("SIGINT again: exiting at once"),
        "{}",
        stopped.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_relay_serves_the_outbox_metrics_on_metrics_addr() {
    let (mock, client) = support::stand_in().await;
    let path = support::sqlite_path("relay-binary-metrics");
    let writer = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .expect("the web server's outbox opens");
    store_as_a_web_server(&mock, writer, &client).await;

    let relay = Relay::start(&path, &mock, &[("METRICS_ADDR", "127.0.0.1:0")]);
    let line = relay.line_with("Prometheus metrics on http://").await;
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("an address in {line}"))
        .to_owned();
    assert_each_delivered_once(&mock).await;

    let delivered =
        format!("affitor_outbox_events_total{{endpoint=\"lead\",result=\"delivered\"}} {EVENTS}");
    // The relay counts an answer just after the stand-in records its call: the page is polled
    // until it shows every line, not read once.
    let lines = [
        delivered.as_str(),
        "affitor_outbox_events_total{endpoint=\"sale\",result=\"delivered\"}",
        "affitor_outbox_in_flight",
        "affitor_request_duration_seconds",
    ];
    let mut last_page = String::new();
    let shown = affitor_mock::poll_until(PATIENCE, async || {
        let (status, page) = get(&addr, "/metrics").await;
        let complete = status == 200 && lines.iter().all(|line| page.contains(line));
        last_page = page;
        complete.then_some(())
    })
    .await;
    assert!(
        shown.is_some(),
        "the page lacks one of {lines:?}:\n{last_page}\n{}",
        relay.log()
    );
    let (status, _) = get(&addr, "/").await;
    assert_eq!(status, 404, "the page is at /metrics alone");

    assert_stopped_cleanly(&relay.terminate().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_on_postgres_delivers_what_the_web_servers_stored() {
    let schema = support::Schema::create("binary").await;
    // The test server's URL, on the test's schema: the web server's and the relay's.
    let location = schema.location();
    let (mock, client) = support::stand_in().await;
    let writer = Outbox::builder(client.clone())
        .relay(false)
        .open(&location)
        .await
        .expect("the web server's outbox opens");
    store_as_a_web_server(&mock, writer, &client).await;

    let url = support::postgres_url();
    let relay = Relay::start(&location, &mock, &[]);
    let started = relay.line_with("affitor-relay delivers").await;
    assert_each_delivered_once(&mock).await;

    let stopped = relay.terminate().await;
    assert_stopped_cleanly(&stopped);
    // The start line names the database, its password left out.
    assert!(started.contains(schema.name()), "{started}");
    if let Some(password) = password(&url) {
        assert!(
            !stopped.log.contains(&format!(":{password}@")),
            "the password in the log:\n{}",
            stopped.log
        );
    }
    schema.drop_all().await;
}

#[test]
fn without_affitor_outbox_the_relay_exits_non_zero_naming_the_variable() {
    let output = Command::new(RELAY)
        .env_remove("AFFITOR_OUTBOX")
        .env("AFFITOR_API_KEY", "aff_test_key")
        .output()
        .expect("the affitor-relay binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AFFITOR_OUTBOX is unset"), "{stderr}");
}

/// The library's error says what is wrong with the location; the relay adds where it read it.
#[test]
fn an_outbox_that_does_not_open_is_told_naming_the_variable() {
    let output = Command::new(RELAY)
        .env("AFFITOR_OUTBOX", "pg://app:S3cr3t@db/shop")
        .env("AFFITOR_API_KEY", "aff_test_key")
        .output()
        .expect("the affitor-relay binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AFFITOR_OUTBOX: "), "{stderr}");
    assert!(stderr.contains("names no store"), "{stderr}");
    assert!(!stderr.contains("S3cr3t"), "{stderr}");

    // Nothing listens on port 1: what failed, then what the system answered.
    let output = Command::new(RELAY)
        .env("AFFITOR_OUTBOX", "postgres://app:S3cr3t@127.0.0.1:1/shop")
        .env("AFFITOR_API_KEY", "aff_test_key")
        .output()
        .expect("the affitor-relay binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("AFFITOR_OUTBOX: could not open the Affitor outbox"),
        "{stderr}"
    );
    assert!(stderr.contains("(cause: "), "{stderr}");
    assert!(
        stderr.contains("refused"),
        "the system's word, not a timeout: {stderr}"
    );
    assert!(!stderr.contains("S3cr3t"), "{stderr}");
}

/// A mistyped location (a SQLite file that is not there): refused, naming what to do, and
/// nothing created there, where a relay would watch an empty store for ever.
#[test]
fn a_location_with_no_outbox_is_refused_and_left_as_it_is() {
    let dir = std::env::temp_dir().join(format!("affitor-relay-typo-{}", std::process::id()));
    let path = dir.join("affitor-outbx.db");
    let output = Command::new(RELAY)
        .env("AFFITOR_OUTBOX", &path)
        .env("AFFITOR_API_KEY", "aff_test_key")
        .env_remove("METRICS_ADDR")
        .output()
        .expect("the affitor-relay binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("never creates the outbox"), "{stderr}");
    assert!(
        !path.exists() && !dir.exists(),
        "{} was created",
        path.display()
    );
}

#[test]
fn its_help_lists_the_variables_it_reads() {
    let output = Command::new(RELAY)
        .arg("--help")
        .output()
        .expect("the affitor-relay binary runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "AFFITOR_OUTBOX",
        "AFFITOR_API_KEY",
        "AFFITOR_API_URL",
        "METRICS_ADDR",
        "AFFITOR_RELAY_SHUTDOWN_SECS",
        "RUST_LOG",
    ] {
        assert!(help.contains(variable), "{variable} in:\n{help}");
    }
    let refused = Command::new(RELAY)
        .arg("--outbox")
        .output()
        .expect("the affitor-relay binary runs");
    assert_eq!(
        refused.status.code(),
        Some(2),
        "an unknown argument is refused"
    );
}

/// An outbox's URL given as an argument, not in `AFFITOR_OUTBOX`: refused without being shown,
/// since its password would reach the terminal and whatever collects the relay's stderr.
#[test]
fn an_unexpected_argument_is_refused_without_being_shown() {
    for args in [
        &["postgres://affitor:s3cr3tPW@127.0.0.1/affitor_test"][..],
        &[
            "--help",
            "postgres://affitor:s3cr3tPW@127.0.0.1/affitor_test",
        ],
    ] {
        let output = Command::new(RELAY)
            .args(args)
            .output()
            .expect("the affitor-relay binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cr3tPW"), "{stderr}");
        assert!(!stderr.contains("127.0.0.1"), "{stderr}");
        assert!(
            stderr.contains("unexpected argument (not shown"),
            "{stderr}"
        );
        assert!(stderr.contains("AFFITOR_OUTBOX"), "{stderr}");
        assert!(stderr.contains("affitor-relay --help"), "{stderr}");
    }
}

/// `GET path` on `addr`: the status and the body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the Prometheus page accepts a connection");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("the response is read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or_else(String::new, |(_, body)| body.to_owned());
    (status, body)
}

/// The password of a `postgres://user:password@host/...` URL.
fn password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let (user_info, _) = rest.rsplit_once('@')?;
    let (_, password) = user_info.split_once(':')?;
    Some(password).filter(|password| !password.is_empty())
}
