//! A local stand-in of the Affitor API, for your tests and local development.
//!
//! [`MockServer`] serves the six Affitor endpoints over HTTP/1.1 on `127.0.0.1`, on a port the
//! system picks, from a task on your tokio runtime. It plays one program and follows the
//! platform's documented rules: last-click attribution, the attribution window measured from
//! the first click, the 409 on a repeated transaction id, refunds that reverse a commission
//! once, test mode, the synthetic verification chain and its rate limit, the readiness verdict,
//! and the exact error strings of the API reference. It keeps everything in memory, records
//! every request, and can be told to fail ([`Fault`]).
//!
//! [`MockServer::client`] is a client at a test's pace ([`quick_retries`]);
//! [`MockServer::wait_until`] waits for what the code sends in the background ([`poll_until`]
//! for any other wait). [`SignedWebhook`] signs Stripe, Polar, Paddle and Lemon Squeezy events
//! as the providers do, and [`SampleEvent`] writes them, to test a payment webhook handler
//! without the providers.
//!
#![doc = include_str!("../docs/rules.md")]
#![doc = include_str!("../docs/testing.md")]
// Doc examples compile without warnings (an unused import is an error); they may define a
// function they do not call, or bind a value only to show its type.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

mod client;
mod fault;
mod fields;
mod record;
mod rules;
mod server;
mod state;
mod time;
mod wait;
mod webhook;

use std::fmt;

use affitor::client::Endpoint;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use client::quick_retries;
pub use fault::Fault;
pub use record::{
    RecordedClick, RecordedLead, RecordedRefund, RecordedRequest, RecordedSale, RefundStatus,
};
pub use wait::poll_until;
pub use webhook::{SampleEvent, SampleKind, SignedWebhook, WebhookProvider};

use affitor::ClickId;
use server::{Command, Shared};
use state::{Config, State};

/// The click id of the demo click that [`MockServer::demo_click`] records for the partner
/// `partner`: the examples' stand-in and `affitor mock` both know it, so a README's `curl` with
/// the cookie `affitor_click_id=cust_demo_1` works as it is written.
pub const DEMO_CLICK_ID: &str = "cust_demo_1";

/// A running stand-in of the Affitor API. See the [module documentation](self).
///
/// The server stops on [`shutdown`](MockServer::shutdown), or when the handle is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use affitor_mock::MockServer;
///
/// let mock = MockServer::start().await?;
/// assert!(mock.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(mock.api_key(), "aff_test_key");
/// # Ok(())
/// # }
/// ```
pub struct MockServer {
    url: String,
    addr: SocketAddr,
    api_key: String,
    program_id: u64,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a stand-in with the default program: key `aff_test_key`, program 42, 60-day
    /// windows, and the link `partner`.
    ///
    /// Binds `127.0.0.1:0` and serves from a task spawned on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// If the loopback port cannot be bound.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start() -> io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder to set up the program before starting.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::builder()
    ///     .attribution_window_days(30)
    ///     .start()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// The base URL to give your client: `http://127.0.0.1:<port>`, without a trailing slash.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// let sale_endpoint = format!("{}/api/v1/track/sale", mock.url());
    /// # Ok(())
    /// # }
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The socket address the stand-in listens on.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// assert!(mock.addr().ip().is_loopback());
    /// # Ok(())
    /// # }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The program key the stand-in accepts as a Bearer token.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// let authorization = format!("Bearer {}", mock.api_key());
    /// # Ok(())
    /// # }
    /// ```
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The id of the program the stand-in plays.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// assert_eq!(mock.program_id(), 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn program_id(&self) -> u64 {
        self.program_id
    }

    /// Adds an active referral link with short code `code` (`?aff=<code>`), or re-activates it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// mock.link("PARTNER1");
    /// let click_id = mock.click("PARTNER1");
    /// # Ok(())
    /// # }
    /// ```
    pub fn link(&self, code: &str) {
        self.shared.lock().set_link(code, false, true);
    }

    /// Adds an inactive referral link with short code `code`, or de-activates it: a click
    /// through it answers `{"success":false,"message":"Referral link is inactive"}`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// mock.inactive_link("OLD");
    /// # Ok(())
    /// # }
    /// ```
    pub fn inactive_link(&self, code: &str) {
        self.shared.lock().set_link(code, false, false);
    }

    /// Adds an active referral link that belongs to another program. Its customers are not
    /// this program's: a lead sent with the key gets `Customer does not belong to this
    /// program`, a sale `No affiliate attribution found for this customer in this program`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// mock.other_program_link("ELSEWHERE");
    /// let foreign_click_id = mock.click("ELSEWHERE");
    /// # Ok(())
    /// # }
    /// ```
    pub fn other_program_link(&self, code: &str) {
        self.shared.lock().set_link(code, true, true);
    }

    /// Does what the browser tracker does when a visitor lands through `?aff=<code>`: records
    /// a click for a new customer and returns its click id (the `affitor_click_id` cookie).
    ///
    /// # Panics
    ///
    /// If there is no active link `code`: seed it with [`link`](Self::link) first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// let click_id = mock.click("partner");
    /// assert!(click_id.as_str().starts_with("cust_"));
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn click(&self, code: &str) -> ClickId {
        self.click_at(code, 0)
    }

    /// Like [`click`](Self::click), with the customer's first click `days_ago` days in the past:
    /// for attribution window tests. A sale is attributed while the first click is at most
    /// `attribution_window_days` whole days old.
    ///
    /// # Panics
    ///
    /// If there is no active link `code`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?; // 60-day window
    /// let stale = mock.click_at("partner", 61); // a sale for it is not attributed
    /// let fresh = mock.click_at("partner", 60); // a sale for it is
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn click_at(&self, code: &str, days_ago: u32) -> ClickId {
        let seeded = self.shared.lock().seed_click(code, days_ago, None);
        match seeded {
            Ok(click_id) => click_id,
            Err(message) => panic!("MockServer::click: {message}"),
        }
    }

    /// Like [`click`](Self::click), with a click id of your choosing instead of a new one: for a
    /// fixed id in a demo, a README or a browser test.
    ///
    /// # Panics
    ///
    /// If there is no active link `code`, or the click id is already taken.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// let click_id = mock.click_with_id("partner", "demo_click".parse()?);
    /// assert_eq!(click_id, "demo_click");
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn click_with_id(&self, code: &str, click_id: ClickId) -> ClickId {
        let seeded = self.shared.lock().seed_click(code, 0, Some(click_id));
        match seeded {
            Ok(click_id) => click_id,
            Err(message) => panic!("MockServer::click_with_id: {message}"),
        }
    }

    /// Records the partner `partner`'s demo click, whose id is [`DEMO_CLICK_ID`], and returns
    /// it: a click id to sign up with in a demo, with no partner link visited first.
    ///
    /// # Panics
    ///
    /// If the link `partner` is not active, or the demo click is recorded already.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// assert_eq!(mock.demo_click(), affitor_mock::DEMO_CLICK_ID);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn demo_click(&self) -> ClickId {
        match DEMO_CLICK_ID.parse() {
            Ok(click_id) => self.click_with_id("partner", click_id),
            Err(error) => panic!("MockServer::demo_click: {error}"),
        }
    }

    /// Every request received so far, in order, including the ones that were rejected or hit
    /// by a fault.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// assert!(mock.requests().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// The requests received for `endpoint`, in order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use affitor::client::Endpoint;
    /// use affitor_mock::MockServer;
    ///
    /// let mock = MockServer::start().await?;
    /// assert_eq!(mock.requests_to(Endpoint::Lead).len(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|request| request.endpoint == Some(endpoint))
            .cloned()
            .collect()
    }

    /// The clicks recorded, in order: through the API and through [`click`](Self::click).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// mock.click("partner");
    /// assert_eq!(mock.clicks().len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn clicks(&self) -> Vec<RecordedClick> {
        self.shared.lock().clicks.iter().cloned().collect()
    }

    /// The leads recorded, in order (test-mode leads included, with `test: true`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// assert!(mock.leads().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn leads(&self) -> Vec<RecordedLead> {
        self.shared.lock().leads.clone()
    }

    /// The sales stored, in order (test-mode sales included, with `test: true`); a sale outside
    /// the attribution window is not stored.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// assert!(mock.sales().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn sales(&self) -> Vec<RecordedSale> {
        self.shared.lock().sales.clone()
    }

    /// The refunds processed, in order (repeats included, as [`RefundStatus::Skipped`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// assert!(mock.refunds().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn refunds(&self) -> Vec<RecordedRefund> {
        self.shared.lock().refunds.clone()
    }

    /// Injects a fault: see [`Fault`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use affitor::client::Endpoint;
    /// use affitor_mock::{Fault, MockServer};
    ///
    /// let mock = MockServer::start().await?;
    /// mock.inject(Fault::status(503).on(Endpoint::Sale).times(2));
    /// # Ok(())
    /// # }
    /// ```
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.inject(fault);
    }

    /// Removes every fault not yet used up.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use affitor_mock::{Fault, MockServer};
    ///
    /// let mock = MockServer::start().await?;
    /// mock.inject(Fault::status(500).always());
    /// mock.clear_faults();
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Simulates the API being down: closes the listener and every open connection, and
    /// listens again on the same port after `duration`. Returns once connections are refused.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    ///
    /// let mock = affitor_mock::MockServer::start().await?;
    /// mock.refuse_connections_for(Duration::from_millis(100)).await;
    /// assert!(tokio::net::TcpStream::connect(mock.addr()).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn refuse_connections_for(&self, duration: Duration) {
        let (closed, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Refuse { duration, closed })
            .is_ok()
        {
            let _ = done.await;
        }
    }

    /// Stops the server: closes the listener and every connection, and waits for the task.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// let addr = mock.addr();
    /// mock.shutdown().await;
    /// assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        let (closed, done) = oneshot::channel();
        if self.commands.send(Command::Shutdown { closed }).is_ok() {
            let _ = done.await;
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("url", &self.url)
            .field("program_id", &self.program_id)
            .finish_non_exhaustive()
    }
}

/// Sets up the program a [`MockServer`] plays. Every setting is optional.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use affitor_mock::MockServer;
///
/// let mock = MockServer::builder()
///     .api_key("aff_my_test_key")
///     .program_id(7)
///     .attribution_window_days(30)
///     .cookie_window_days(30)
///     .lead_auth_server_required(true)
///     .log_events(true)
///     .start()
///     .await?;
/// assert_eq!(mock.api_key(), "aff_my_test_key");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MockServerBuilder {
    config: Config,
    port: u16,
}

impl MockServerBuilder {
    /// The program key accepted as a Bearer token (default `aff_test_key`).
    ///
    /// ```
    /// let builder = affitor_mock::MockServer::builder().api_key("aff_other");
    /// ```
    #[must_use]
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.config.api_key = api_key.into();
        self
    }

    /// The program id (default 42), reported by readiness and in test-mode answers.
    ///
    /// ```
    /// let builder = affitor_mock::MockServer::builder().program_id(7);
    /// ```
    #[must_use]
    pub fn program_id(mut self, program_id: u64) -> Self {
        self.config.program_id = program_id;
        self
    }

    /// How many whole days after the first click a sale is still attributed (default 60).
    ///
    /// ```
    /// let builder = affitor_mock::MockServer::builder().attribution_window_days(30);
    /// ```
    #[must_use]
    pub fn attribution_window_days(mut self, days: u32) -> Self {
        self.config.attribution_window_days = days;
        self
    }

    /// The `cookie_window_days` a click answers (default 60).
    ///
    /// ```
    /// let builder = affitor_mock::MockServer::builder().cookie_window_days(90);
    /// ```
    #[must_use]
    pub fn cookie_window_days(mut self, days: u32) -> Self {
        self.config.cookie_window_days = days;
        self
    }

    /// Whether the program requires server-side leads (`lead_auth: server_required`, default
    /// false): a lead sent without a Bearer token is then only provisional.
    ///
    /// ```
    /// let builder = affitor_mock::MockServer::builder().lead_auth_server_required(true);
    /// ```
    #[must_use]
    pub fn lead_auth_server_required(mut self, required: bool) -> Self {
        self.config.lead_auth_server_required = required;
        self
    }

    /// Whether to log each event received with `tracing::info!` (default false): the endpoint,
    /// the outcome and the transaction or click id; never the key or an email.
    ///
    /// ```
    /// let builder = affitor_mock::MockServer::builder().log_events(true);
    /// ```
    #[must_use]
    pub fn log_events(mut self, log_events: bool) -> Self {
        self.config.log_events = log_events;
        self
    }

    /// Whether to keep every request received for [`MockServer::requests`] and
    /// [`MockServer::requests_to`] (default true). A load test that sends it millions of
    /// requests turns this off, so that the stand-in neither grows by a copy of every request
    /// nor spends its time making them; [`MockServer::requests`] is then always empty. The
    /// program's rows ([`MockServer::leads`], [`MockServer::sales`], ...) are kept either way.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::builder()
    ///     .record_requests(false)
    ///     .start()
    ///     .await?;
    /// assert!(mock.requests().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn record_requests(mut self, record_requests: bool) -> Self {
        self.config.record_requests = record_requests;
        self
    }

    /// How many of the last requests and clicks it keeps, the older ones dropped (default
    /// 10,000), so that an example that runs for days does not grow with its visits. The
    /// program's other rows (customers, leads, sales, refunds) are kept whole: they grow with
    /// signups and payments, not with visits.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::builder().keep_last(2).start().await?;
    /// for _ in 0..3 {
    ///     mock.click("partner");
    /// }
    /// assert_eq!(mock.clicks().len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn keep_last(mut self, count: usize) -> Self {
        self.config.keep_last = count;
        self
    }

    /// The port on 127.0.0.1 (default 0: the system picks one), as `affitor mock --port` sets.
    ///
    /// ```
    /// let builder = affitor_mock::MockServer::builder().port(4010);
    /// ```
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds 127.0.0.1 ([`port`](Self::port)) and serves from a task on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// If the loopback port cannot be bound (a fixed port that is in use).
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = affitor_mock::MockServer::builder().start().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(self) -> io::Result<MockServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let addr = listener.local_addr()?;
        let api_key = self.config.api_key.clone();
        let program_id = self.config.program_id;
        let shared = Arc::new(Shared::new(State::new(self.config)));
        let (commands, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(server::run(listener, addr, Arc::clone(&shared), received));
        Ok(MockServer {
            url: format!("http://{addr}"),
            addr,
            api_key,
            program_id,
            shared,
            commands,
            task: Some(task),
        })
    }
}

impl fmt::Debug for MockServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        f.debug_struct("MockServerBuilder")
            .field("api_key", &"<redacted>")
            .field("program_id", &config.program_id)
            .field("attribution_window_days", &config.attribution_window_days)
            .field("cookie_window_days", &config.cookie_window_days)
            .field(
                "lead_auth_server_required",
                &config.lead_auth_server_required,
            )
            .field("log_events", &config.log_events)
            .field("record_requests", &config.record_requests)
            .field("port", &self.port)
            .finish()
    }
}
