//! What the four example apps share, so that each app's own code is only its framework's wiring.
//!
//! - [`Environment`]: the example contract's configuration (`AFFITOR_API_URL`, `AFFITOR_API_KEY`,
//!   `ADDR`, `AFFITOR_OUTBOX`), starting the local Affitor API stand-in when no API URL is set,
//!   and opening the durable outbox when `AFFITOR_OUTBOX` names one.
//! - [`Users`]: an in-memory user store standing in for the app's database.
//! - [`SIGNUP_PAGE`]: the signup page, whose script posts the click id as `affitorClickId`.
//! - [`checkout_session`] and [`PaymentEvent`]: the checkout and payment-webhook shapes.
//! - [`PaymentWebhooks`]: the Stripe and Polar webhook verifiers of the checkout apps, and
//!   [`sample`]: signed sample events (the `send-webhook` example sends one).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use affitor::webhook::{
    self, LemonSqueezy, Paddle, Polar, Provider as _, Stripe, Verifier, WebhookError,
    WebhookErrorKind, checkout_fields,
};
use affitor::{
    ClickId, Client,
    client::{BoundClient, Currency},
};
use affitor_mock::MockServer;
use affitor_mock::SignedWebhook;
use affitor_outbox::Outbox;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The signup page served at `GET /`.
///
/// It shows the click id of the `affitor_click_id` cookie, which the app's Affitor layer or
/// middleware sets when the visitor arrives through a partner link (`/?aff=partner`). Its
/// script posts the click id as `affitorClickId` with the email and password; without
/// JavaScript the form posts as a form body, and the cookie goes with it.
pub const SIGNUP_PAGE: &str = include_str!("signup.html");

/// The click id of a partner's click that the local stand-in API knows from the start, so the
/// README's `curl` works as it is written.
pub const DEMO_CLICK_ID: &str = "cust_demo_1";

fn demo_click_id() -> ClickId {
    DEMO_CLICK_ID
        .parse()
        .expect("the demo click id is a valid click id")
}

/// The address an example listens on when `ADDR` is unset.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The environment variable naming the durable outbox: a SQLite path, or a `postgres://` URL.
const OUTBOX_VARIABLE: &str = "AFFITOR_OUTBOX";

/// What an example app needs to serve requests: the Affitor client, the program id, and the
/// durable outbox, if any.
#[derive(Clone, Debug)]
#[non_exhaustive] // made by `new` only, which puts the outbox behind the client
pub struct AppConfig {
    /// The Affitor API client of the layer and the handlers: its `send_in_background` writes
    /// to the outbox when there is one, and queues in memory otherwise.
    pub affitor: Client,
    /// The Affitor program id, put in the Stripe metadata of a checkout.
    pub program_id: String,
    /// The durable outbox, for `main` to shut down; the handlers reach it through `affitor`.
    pub outbox: Option<Outbox>,
}

impl AppConfig {
    /// The configuration of an app whose events go through `outbox` when there is one (the
    /// client's [backend](affitor::client::Backend)), else `affitor`'s in-memory queue.
    /// `affitor` is the client the outbox's relay sends through.
    pub fn new(affitor: Client, program_id: String, outbox: Option<Outbox>) -> Self {
        let affitor = match &outbox {
            Some(outbox) => affitor.with_backend(outbox.clone()),
            None => affitor,
        };
        Self {
            affitor,
            program_id,
            outbox,
        }
    }
}

/// The example contract's configuration, read from the environment.
#[derive(Debug)]
pub struct Environment {
    /// Where to listen (`ADDR`, default [`DEFAULT_ADDR`]).
    pub addr: SocketAddr,
    /// The app's configuration.
    pub config: AppConfig,
    /// The local stand-in API, when `AFFITOR_API_URL` is unset or empty. It serves as long as
    /// this lives.
    pub stand_in: Option<MockServer>,
    /// The payment webhooks' verifiers (the checkout apps use them).
    pub webhooks: PaymentWebhooks,
}

impl Environment {
    /// Reads `ADDR`, `AFFITOR_API_URL` (or its alias `AFFITOR_API_BASE`), `AFFITOR_API_KEY`,
    /// `AFFITOR_PROGRAM_ID`, `AFFITOR_OUTBOX`, `STRIPE_WEBHOOK_SECRET` and
    /// `POLAR_WEBHOOK_SECRET`.
    ///
    /// With neither API variable set (or both empty), starts the local Affitor API stand-in,
    /// which logs every event it receives, seeds a demo click, and prints how to try the app.
    /// With `AFFITOR_OUTBOX` set and not empty, opens the durable outbox there (a SQLite path,
    /// or a `postgres://` URL), delivering through the app's client.
    pub async fn from_env() -> Result<Self, SetupError> {
        let addr = std::env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
        let addr = addr.parse().map_err(|_| {
            SetupError(format!(
                "ADDR `{addr}` is not an address like {DEFAULT_ADDR}"
            ))
        })?;
        let program_id = std::env::var("AFFITOR_PROGRAM_ID").ok();

        // The rule of `Client::from_env`: an empty value is unset. So `AFFITOR_API_URL=` (as
        // docker-compose writes it) starts the stand-in, where a mere "is it set" test would
        // send the demo's events to the real API.
        let is_set = |name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
        if is_set("AFFITOR_API_URL") || is_set("AFFITOR_API_BASE") {
            let affitor = Client::from_env()
                .map_err(|error| SetupError(format!("cannot build the Affitor client: {error}")))?;
            let outbox = open_outbox(&affitor).await?;
            let program_id = program_id.unwrap_or_else(|| "YOUR_PROGRAM_ID".to_owned());
            let config = AppConfig::new(affitor, program_id, outbox);
            return Ok(Self {
                addr,
                config,
                stand_in: None,
                webhooks: PaymentWebhooks::from_env(false)?,
            });
        }

        let stand_in = MockServer::builder()
            .log_events(true)
            .start()
            .await
            .map_err(|error| {
                SetupError(format!(
                    "cannot start the local Affitor API stand-in: {error}"
                ))
            })?;
        let affitor = Client::builder()
            .base_url(stand_in.url())
            .api_key(stand_in.api_key())
            .build()
            .map_err(|error| SetupError(format!("cannot build the Affitor client: {error}")))?;
        stand_in.click_with_id("partner", demo_click_id());
        println!(
            "AFFITOR_API_URL is unset or empty: started the local Affitor API stand-in at {}",
            stand_in.url()
        );
        let outbox = open_outbox(&affitor).await?;
        let program_id = program_id.unwrap_or_else(|| stand_in.program_id().to_string());
        let config = AppConfig::new(affitor, program_id, outbox);
        Ok(Self {
            addr,
            config,
            stand_in: Some(stand_in),
            webhooks: PaymentWebhooks::from_env(true)?,
        })
    }
}

/// Opens the outbox of `AFFITOR_OUTBOX`, if it is set and not empty, delivering through
/// `affitor`.
async fn open_outbox(affitor: &Client) -> Result<Option<Outbox>, SetupError> {
    let location = match std::env::var(OUTBOX_VARIABLE) {
        Ok(location) if !location.trim().is_empty() => location,
        _ => return Ok(None),
    };
    // The error names the variable and the location, its password left out.
    let outbox = Outbox::open(location.trim(), affitor.clone())
        .await
        .map_err(|error| SetupError(error.to_string()))?;
    Ok(Some(outbox))
}

/// Prints `listening on http://ADDR`, where the events go, and, on the local stand-in, how to
/// try the app.
pub fn announce(env: &Environment, listening: SocketAddr) {
    println!("listening on http://{listening}");
    match &env.config.outbox {
        Some(outbox) => println!(
            "tracking events go through the durable outbox at {} ({OUTBOX_VARIABLE})",
            outbox.location()
        ),
        None => println!(
            "tracking events are sent in the background from memory; set {OUTBOX_VARIABLE} \
             (a SQLite path, or a postgres:// URL) to write them to a durable outbox first"
        ),
    }
    if env.stand_in.is_some() {
        println!(
            "open http://{listening}/?aff=partner as a visitor sent by the partner `partner`: \
             the app records the click and the page shows the click id it set"
        );
        println!(
            "a partner's link was clicked; sign up as that visitor with its click id:\n  \
             curl -s http://{listening}/api/signup -H 'content-type: application/json' \
             -b 'affitor_click_id={DEMO_CLICK_ID}' \
             -d '{{\"email\":\"ada@example.com\",\"password\":\"correct horse\"}}'"
        );
    }
}

/// Prints, for each payment webhook on its demo secret, how to send it a signed sample event.
pub fn announce_webhooks(env: &Environment, listening: SocketAddr) {
    for provider in &env.webhooks.demo {
        println!(
            "{} is unset: on the local stand-in, /webhooks/{provider} verifies with a demo \
             secret; send it a signed sample sale (then `refund`) as the user of the signup \
             above (its userId):\n  \
             cargo run -p example-support --example send-webhook -- {provider} sale USER_ID \
             http://{listening}",
            provider.secret_variable()
        );
    }
}

/// Why an example could not start.
#[derive(Debug)]
pub struct SetupError(String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// The Prometheus text of the process's metrics, for the apps' `GET /metrics`: the Affitor
/// client's counters of its events (queued, delivered, retried, dropped and failed by reason),
/// its calls' durations and its queue, and the outbox's (written, delivered, rescheduled,
/// dead-lettered, waiting). The recorder is installed by the first call; a process
/// that installed another `metrics` recorder first gets an empty page.
pub fn metrics_page() -> String {
    static RECORDER: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    let handle = RECORDER.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(%error, "GET /metrics stays empty: another metrics recorder is installed");
            None
        }
    });
    handle
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// Installs the metrics recorder now, so that the counters of the first events are kept: the
/// apps call it when they are built.
pub fn install_metrics() {
    let _ = metrics_page();
}

/// Logs to stderr; `RUST_LOG` filters (default: `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// The body of `POST /api/signup`, as JSON or as a form.
///
/// The click id travels in the same body as `affitorClickId`, but the handler does not read it:
/// the Affitor layer or middleware already found it.
#[derive(Clone, Deserialize)]
pub struct SignupForm {
    /// The new user's email.
    pub email: String,
    /// The new user's password.
    pub password: String,
}

impl fmt::Debug for SignupForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignupForm").finish_non_exhaustive()
    }
}

/// The answer of `POST /api/signup`.
#[derive(Clone, Debug, Serialize)]
pub struct SignupResponse {
    /// The new user's id, which is the Affitor `customer_key`.
    #[serde(rename = "userId")]
    pub user_id: String,
}

/// A user of the example app.
#[derive(Clone, Debug)]
pub struct User {
    /// The user's id, sent to Affitor as the `customer_key`.
    pub id: String,
    /// The user's email.
    pub email: String,
    /// The click id the user signed up with, kept for the Stripe metadata of a later checkout.
    pub click_id: Option<ClickId>,
}

/// An in-memory user store, standing in for the app's database.
#[derive(Clone, Debug, Default)]
pub struct Users {
    inner: Arc<UsersInner>,
}

#[derive(Debug, Default)]
struct UsersInner {
    table: Mutex<UserTable>,
}

#[derive(Debug, Default)]
struct UserTable {
    by_id: HashMap<String, User>,
    /// The lower-cased emails in use.
    emails: HashSet<String>,
}

impl Users {
    /// Creates a user, remembering the click id they came with.
    pub fn create(
        &self,
        form: &SignupForm,
        click_id: Option<ClickId>,
    ) -> Result<User, SignupError> {
        let email = form.email.trim();
        if !email.contains('@') || email.len() > 254 {
            return Err(SignupError::InvalidEmail);
        }
        if form.password.len() < 8 {
            return Err(SignupError::WeakPassword);
        }
        let mut table = self
            .inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !table.emails.insert(email.to_ascii_lowercase()) {
            return Err(SignupError::EmailTaken);
        }
        let user = User {
            id: new_user_id(),
            email: email.to_owned(),
            click_id,
        };
        table.by_id.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    /// The user with this id.
    pub fn get(&self, id: &str) -> Option<User> {
        let table = self
            .inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table.by_id.get(id).cloned()
    }
}

/// A new user id: 96 random bits, so that no one reaches another user's checkout (their email
/// and click id) by guessing an id next to their own.
fn new_user_id() -> String {
    let mut bytes = [0u8; 12];
    // The OS's random source does not fail on the platforms the examples run on; if it ever
    // did, the process could not make a safe id at all.
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("user_{hex}")
}

/// Why a signup was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignupError {
    /// The email has no `@`, or is too long.
    InvalidEmail,
    /// The password is shorter than 8 characters.
    WeakPassword,
    /// A user with this email exists.
    EmailTaken,
}

impl SignupError {
    /// The HTTP status to answer with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidEmail | Self::WeakPassword => 400,
            Self::EmailTaken => 409,
        }
    }

    /// The JSON body to answer with.
    pub fn body(self) -> Value {
        json!({ "error": self.to_string() })
    }
}

impl fmt::Display for SignupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidEmail => "enter a valid email address",
            Self::WeakPassword => "choose a password of at least 8 characters",
            Self::EmailTaken => "an account with this email exists: sign in instead",
        })
    }
}

impl std::error::Error for SignupError {}

/// The body of `POST /api/checkout`.
#[derive(Clone, Debug, Deserialize)]
pub struct CheckoutRequest {
    /// The paying user's id.
    #[serde(rename = "userId")]
    pub user_id: String,
    /// The Stripe price to buy (default `price_pro_monthly`).
    #[serde(rename = "priceId")]
    pub price_id: Option<String>,
    /// Whose checkout: `stripe` (the default), `polar`, `paddle` or `lemonsqueezy`.
    pub provider: Option<String>,
}

impl CheckoutRequest {
    /// The provider asked for, Stripe unless named.
    pub fn provider(&self) -> Result<Provider, SetupError> {
        self.provider
            .as_deref()
            .map_or(Ok(Provider::Stripe), str::parse)
    }
}

/// The checkout the app would create for `user` with `provider`: for Stripe, the Checkout
/// Session's parameters; for the others, the fields that carry the Affitor keys, as
/// [`checkout_fields`] gives them.
///
/// The click id is the request's, or else the one the user signed up with. Stripe's metadata
/// (in `metadata` and `subscription_data.metadata`, so that renewals are attributed too) also
/// names the program.
pub fn checkout_session(
    user: &User,
    request_click_id: Option<&ClickId>,
    price_id: Option<&str>,
    program_id: &str,
    provider: Provider,
) -> Value {
    let click_id = request_click_id.or(user.click_id.as_ref());
    let mut fields = match provider {
        Provider::Stripe => checkout_fields::<Stripe>(&user.id, click_id),
        Provider::Polar => checkout_fields::<Polar>(&user.id, click_id),
        Provider::Paddle => checkout_fields::<Paddle>(&user.id, click_id),
        Provider::LemonSqueezy => checkout_fields::<LemonSqueezy>(&user.id, click_id),
    };
    if provider != Provider::Stripe {
        fields["provider"] = json!(provider.to_string());
        return fields;
    }
    fields["metadata"]["program_id"] = json!(program_id);
    fields["subscription_data"]["metadata"]["program_id"] = json!(program_id);
    let mut session = json!({
        "mode": "subscription",
        "line_items": [{ "price": price_id.unwrap_or("price_pro_monthly"), "quantity": 1 }],
        "customer_email": user.email,
        "success_url": "http://localhost:3000/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost:3000/cancel",
    });
    if let (Some(session), Value::Object(fields)) = (session.as_object_mut(), fields) {
        session.extend(fields);
    }
    session
}

/// The body of `POST /webhooks/payment`, as a payment provider would send it.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PaymentEvent {
    /// A payment went through: track a sale.
    #[serde(rename = "payment.succeeded")]
    Succeeded(Payment),
    /// A payment was refunded: track a refund of the sale with the same invoice id.
    #[serde(rename = "payment.refunded")]
    Refunded(Payment),
}

impl PaymentEvent {
    /// Tracks the event inline with the request's bound client: a sale for a payment (keyed by
    /// its invoice id, for the paying user), a refund for a refund. What happened is a
    /// provider's webhook's [`Tracked`](webhook::Tracked), whose `status` is the answer (see
    /// [`webhook_status`]).
    pub async fn track(self, affitor: &BoundClient) -> webhook::Tracked {
        use webhook::{Ignored, Tracked};

        match self {
            // A free trial, a full discount: nothing to track.
            Self::Succeeded(payment) if payment.amount_cents == 0 => {
                Tracked::Ignored(Ignored::NoAmount)
            }
            Self::Succeeded(payment) => {
                let mut sale = affitor
                    .sale(&payment.invoice_id, payment.amount_cents)
                    .customer_key(&payment.user_id);
                match payment.currency() {
                    Ok(Some(currency)) => sale = sale.currency(currency),
                    Ok(None) => {}
                    Err(error) => return Tracked::Failed(error),
                }
                sale.send()
                    .await
                    .map_or_else(Tracked::Failed, Tracked::Sale)
            }
            Self::Refunded(payment) => affitor
                .refund(&payment.invoice_id)
                .send()
                .await
                .map_or_else(Tracked::Failed, Tracked::Refund),
        }
    }
}

/// One payment of a [`PaymentEvent`].
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The paying user's id: the Affitor `customer_key`.
    pub user_id: String,
    /// The amount, in cents.
    pub amount_cents: u64,
    /// The provider's invoice id: the Affitor `transaction_id`, and the idempotency key.
    pub invoice_id: String,
    /// The ISO 4217 currency code (default `USD`).
    pub currency: Option<String>,
}

impl Payment {
    /// The payment's currency, if it names one, checked as a three-letter ISO 4217 code.
    pub fn currency(&self) -> Result<Option<Currency>, affitor::Error> {
        self.currency
            .as_deref()
            .map(Currency::from_code)
            .transpose()
    }
}

/// The status a payment webhook answers after tracking: [`Tracked::status`](webhook::Tracked::status),
/// the providers' webhooks' own answer (the provider keeps what is not tracked yet: 503 while
/// Affitor is down, 500 until the app is mended), logged.
pub fn webhook_status(tracked: &webhook::Tracked) -> u16 {
    let status = tracked.status();
    if status.is_success() {
        tracing::info!(?tracked, "payment webhook: answered {status}");
    } else {
        tracing::warn!(
            ?tracked,
            "payment webhook: answered {status}, so that the provider keeps it"
        );
    }
    status.as_u16()
}

/// Stops delivery before the process ends, each step within `deadline`: the outbox's relay
/// first (it sends through the client; what it has not sent waits in its store for the next
/// start), then the client's in-memory queue. Logs what was not delivered.
pub async fn shut_down(config: &AppConfig, deadline: std::time::Duration) {
    if let Some(outbox) = &config.outbox {
        log_outbox_stats(&outbox.shutdown(deadline).await);
    }
    log_delivery_report(&config.affitor.shutdown(deadline).await);
}

/// Logs what the Affitor client could not deliver before the app stopped.
pub fn log_delivery_report(report: &affitor::client::DeliveryReport) {
    if report.is_complete() {
        tracing::info!(
            delivered = report.stats.delivered,
            "every Affitor event was delivered"
        );
    } else {
        for event in &report.undelivered {
            tracing::warn!(
                endpoint = %event.endpoint,
                transaction_id = event.transaction_id.as_deref(),
                reason = ?event.reason,
                "an Affitor event was not delivered before shutdown"
            );
        }
        tracing::warn!(
            delivered = report.stats.delivered,
            undelivered = report.undelivered.len(),
            "some Affitor events were not delivered before shutdown"
        );
    }
}

/// Logs what the durable outbox did before the app stopped; what it has not delivered waits
/// in its store for the next start.
fn log_outbox_stats(stats: &affitor_outbox::OutboxStats) {
    tracing::info!(
        enqueued = stats.enqueued,
        delivered = stats.delivered,
        fell_back = stats.fell_back,
        dead = stats.dead,
        "the Affitor outbox stopped: what it has not delivered waits in its store for the next start"
    );
    if stats.fell_back > 0 {
        tracing::warn!(
            fell_back = stats.fell_back,
            "some Affitor events were kept in memory only: the outbox's store failed"
        );
    }
}

/// A payment provider whose webhook the checkout apps take, at `POST /webhooks/<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Stripe, at `POST /webhooks/stripe`.
    Stripe,
    /// Polar, at `POST /webhooks/polar`.
    Polar,
    /// Paddle Billing, at `POST /webhooks/paddle`.
    Paddle,
    /// Lemon Squeezy, at `POST /webhooks/lemonsqueezy`.
    LemonSqueezy,
}

impl Provider {
    /// Every provider, in the order the apps mount them.
    pub const ALL: [Self; 4] = [Self::Stripe, Self::Polar, Self::Paddle, Self::LemonSqueezy];

    /// The environment variable of its signing secret.
    pub fn secret_variable(self) -> &'static str {
        match self {
            Self::Stripe => Stripe::SECRET_VARIABLE,
            Self::Polar => Polar::SECRET_VARIABLE,
            Self::Paddle => Paddle::SECRET_VARIABLE,
            Self::LemonSqueezy => LemonSqueezy::SECRET_VARIABLE,
        }
    }

    /// The secret the apps use on the local stand-in when the variable is unset: a demo, never
    /// a real one.
    pub fn demo_secret(self) -> &'static str {
        match self {
            Self::Stripe => "whsec_affitor_rs_demo_only",
            Self::Polar => "polar_whs_affitor_rs_demo_only",
            Self::Paddle => "pdl_ntfset_affitor_rs_demo_only",
            Self::LemonSqueezy => "lemonsqueezy_affitor_rs_demo_only",
        }
    }

    /// The secret of the environment (the first, during a rotation), else the demo one (and
    /// `true`): what `send-webhook` signs with.
    pub fn secret(self) -> (String, bool) {
        let value = std::env::var(self.secret_variable()).unwrap_or_default();
        match value
            .split([',', ' '])
            .find(|secret| !secret.trim().is_empty())
        {
            Some(secret) => (secret.trim().to_owned(), false),
            None => (self.demo_secret().to_owned(), true),
        }
    }

    /// `body` signed now with `secret`, as the provider signs a delivery.
    pub fn sign(self, secret: &str, body: impl Into<String>) -> SignedWebhook {
        match self {
            Self::Stripe => SignedWebhook::stripe(secret, body),
            Self::Polar => SignedWebhook::polar(secret, body),
            Self::Paddle => SignedWebhook::paddle(secret, body),
            Self::LemonSqueezy => SignedWebhook::lemon_squeezy(secret, body),
        }
    }

    /// `body` signed now with the demo secret, as the apps on the stand-in take it.
    pub fn demo_signed(self, body: impl Into<String>) -> SignedWebhook {
        self.sign(self.demo_secret(), body)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stripe => "stripe",
            Self::Polar => "polar",
            Self::Paddle => "paddle",
            Self::LemonSqueezy => "lemonsqueezy",
        })
    }
}

impl std::str::FromStr for Provider {
    type Err = SetupError;

    fn from_str(name: &str) -> Result<Self, SetupError> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.to_string() == name)
            .ok_or_else(|| {
                SetupError(format!(
                    "`{name}` is not a provider: `stripe`, `polar`, `paddle` or `lemonsqueezy`"
                ))
            })
    }
}

/// The checkout apps' payment webhooks: the verifiers of the provider routes that are mounted,
/// and whether the unsigned demo route `POST /webhooks/payment` is.
///
/// A provider's route is mounted when its secret is set (`STRIPE_WEBHOOK_SECRET="new,old"` is
/// two, during a rotation), or on the local stand-in, where it takes a demo secret. Anywhere
/// else, a route without its secret is not mounted: a verifier on a secret anyone can read
/// would let anyone forge sales.
#[derive(Clone, Debug, Default)]
pub struct PaymentWebhooks {
    /// Verifies `POST /webhooks/stripe`; `None`: the route is not mounted.
    pub stripe: Option<Verifier<Stripe>>,
    /// Verifies `POST /webhooks/polar`; `None`: the route is not mounted.
    pub polar: Option<Verifier<Polar>>,
    /// Verifies `POST /webhooks/paddle`; `None`: the route is not mounted.
    pub paddle: Option<Verifier<Paddle>>,
    /// Verifies `POST /webhooks/lemonsqueezy`; `None`: the route is not mounted.
    pub lemon_squeezy: Option<Verifier<LemonSqueezy>>,
    /// Whether `POST /webhooks/payment` is mounted: it takes unsigned events, so only on the
    /// local stand-in.
    pub plain_payment: bool,
    /// The providers whose route verifies with the demo secret.
    pub demo: Vec<Provider>,
}

impl PaymentWebhooks {
    /// The verifiers of each provider's secret variable (`STRIPE_WEBHOOK_SECRET`, ..., as
    /// `Verifier::from_env` reads them). With a secret unset, the provider's route verifies
    /// with the demo secret `on_stand_in`, and is not mounted otherwise (a warning says so).
    pub fn from_env(on_stand_in: bool) -> Result<Self, SetupError> {
        let mut demo = Vec::new();
        let webhooks = Self {
            stripe: mounted(Provider::Stripe, on_stand_in, Verifier::from_env, &mut demo)?,
            polar: mounted(Provider::Polar, on_stand_in, Verifier::from_env, &mut demo)?,
            paddle: mounted(Provider::Paddle, on_stand_in, Verifier::from_env, &mut demo)?,
            lemon_squeezy: mounted(
                Provider::LemonSqueezy,
                on_stand_in,
                Verifier::from_env,
                &mut demo,
            )?,
            plain_payment: on_stand_in,
            demo: Vec::new(),
        };
        if !on_stand_in {
            tracing::info!(
                "POST /webhooks/payment (unsigned demo events) is mounted only on the local \
                 stand-in"
            );
        }
        Ok(Self { demo, ..webhooks })
    }

    /// Every route, on the demo secrets: the apps on the local stand-in, as tests run them.
    pub fn demo() -> Self {
        let demo = |provider: Provider| provider.demo_secret().to_owned();
        Self {
            stripe: Verifier::new(demo(Provider::Stripe)).ok(),
            polar: Verifier::new(demo(Provider::Polar)).ok(),
            paddle: Verifier::new(demo(Provider::Paddle)).ok(),
            lemon_squeezy: Verifier::new(demo(Provider::LemonSqueezy)).ok(),
            plain_payment: true,
            demo: Provider::ALL.to_vec(),
        }
    }
}

/// The verifier of `provider`'s route: from its environment variable, else on the demo secret
/// `on_stand_in` (noted in `demo`), else none: the route is not mounted.
fn mounted<P: webhook::Provider>(
    provider: Provider,
    on_stand_in: bool,
    from_env: impl FnOnce() -> Result<Verifier<P>, WebhookError>,
    demo: &mut Vec<Provider>,
) -> Result<Option<Verifier<P>>, SetupError> {
    let variable = provider.secret_variable();
    match from_env() {
        Ok(verifier) => Ok(Some(verifier)),
        Err(error) if error.kind() == WebhookErrorKind::MissingSecret && on_stand_in => {
            demo.push(provider);
            Verifier::new(provider.demo_secret())
                .map(Some)
                .map_err(|error| SetupError(format!("the demo secret: {error}")))
        }
        Err(error) if error.kind() == WebhookErrorKind::MissingSecret => {
            tracing::warn!(
                "{variable} is unset: POST /webhooks/{provider} is not mounted; set it to the \
                 endpoint's signing secret (several, comma-separated, during a rotation)"
            );
            Ok(None)
        }
        Err(error) => Err(SetupError(format!("{variable}: {error}"))),
    }
}

/// Sample payment events, shaped as each provider sends them (only the fields that matter
/// here, and a few around them), for the `send-webhook` example and the scenario suite.
///
/// Each event happens now (Stripe's `created`, Polar's `timestamp`, Paddle's `occurred_at`), as
/// a live event.
pub mod sample {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde_json::{Value, json};

    use super::Provider;

    /// `provider`'s event of a one-off payment of `amount_cents` USD by `customer_key`, through
    /// `click_id`, keyed by `key`: its sale's transaction id is [`transaction_id`].
    pub fn sale(
        provider: Provider,
        key: &str,
        amount_cents: u64,
        customer_key: &str,
        click_id: Option<&str>,
    ) -> Value {
        match provider {
            Provider::Stripe => {
                stripe_checkout_completed(key, amount_cents, customer_key, click_id)
            }
            Provider::Polar => {
                polar_order("order.paid", key, amount_cents, 0, customer_key, click_id)
            }
            Provider::Paddle => {
                paddle_transaction_completed(key, amount_cents, customer_key, click_id)
            }
            Provider::LemonSqueezy => lemon_squeezy_order(
                "order_created",
                key,
                amount_cents,
                0,
                customer_key,
                click_id,
            ),
        }
    }

    /// `provider`'s event of a refund of `refunded_cents` of the sale [`sale`] keyed by `key`.
    pub fn refund(provider: Provider, key: &str, amount_cents: u64, refunded_cents: u64) -> Value {
        match provider {
            Provider::Stripe => stripe_charge_refunded(key, amount_cents, refunded_cents),
            Provider::Polar => polar_order(
                "order.refunded",
                key,
                amount_cents,
                refunded_cents,
                "",
                None,
            ),
            Provider::Paddle => paddle_refund_approved(key, amount_cents, refunded_cents),
            Provider::LemonSqueezy => lemon_squeezy_order(
                "order_refunded",
                key,
                amount_cents,
                refunded_cents,
                "",
                None,
            ),
        }
    }

    /// The transaction id of the sale of [`sale`] keyed by `key`, as Affitor records it.
    pub fn transaction_id(provider: Provider, key: &str) -> String {
        match provider {
            Provider::LemonSqueezy => format!("orders/{key}"),
            _ => key.to_owned(),
        }
    }

    /// Paddle `transaction.completed` of the one-off transaction `transaction_id` of
    /// `amount_cents` USD (tax included) by `customer_key`, through `click_id`.
    pub fn paddle_transaction_completed(
        transaction_id: &str,
        amount_cents: u64,
        customer_key: &str,
        click_id: Option<&str>,
    ) -> Value {
        let total = amount_cents.to_string();
        json!({
            "event_id": format!("evt_{transaction_id}_completed"),
            "event_type": "transaction.completed",
            "occurred_at": now_rfc3339(),
            "notification_id": format!("ntf_{transaction_id}_completed"),
            "data": {
                "id": transaction_id,
                "status": "completed",
                "origin": "web",
                "subscription_id": null,
                "currency_code": "USD",
                "custom_data": metadata(customer_key, "affitor_customer_key", click_id),
                "details": { "totals": { "total": total, "grand_total": total, "currency_code": "USD" } },
            },
        })
    }

    /// Paddle `adjustment.updated`: the refund of `refunded_cents` of the transaction
    /// `transaction_id` of `amount_cents`, approved.
    pub fn paddle_refund_approved(
        transaction_id: &str,
        amount_cents: u64,
        refunded_cents: u64,
    ) -> Value {
        json!({
            "event_id": format!("evt_{transaction_id}_refunded"),
            "event_type": "adjustment.updated",
            "occurred_at": now_rfc3339(),
            "notification_id": format!("ntf_{transaction_id}_refunded"),
            "data": {
                "id": format!("adj_{transaction_id}"),
                "action": "refund",
                "type": if refunded_cents >= amount_cents { "full" } else { "partial" },
                "status": "approved",
                "transaction_id": transaction_id,
                "reason": "requested_by_customer",
                "currency_code": "USD",
                "totals": { "total": refunded_cents.to_string(), "currency_code": "USD" },
            },
        })
    }

    /// Lemon Squeezy `order_created` (or `order_refunded`, with `refunded_cents`) of the order
    /// `order_id` of `amount_cents` USD by `customer_key`, through `click_id`.
    pub fn lemon_squeezy_order(
        event_name: &str,
        order_id: &str,
        amount_cents: u64,
        refunded_cents: u64,
        customer_key: &str,
        click_id: Option<&str>,
    ) -> Value {
        let status = match refunded_cents {
            0 => "paid",
            refunded if refunded >= amount_cents => "refunded",
            _ => "partial_refund",
        };
        json!({
            "meta": {
                "event_name": event_name,
                "test_mode": false,
                "custom_data": metadata(customer_key, "affitor_customer_key", click_id),
            },
            "data": {
                "type": "orders",
                "id": order_id,
                "attributes": {
                    "status": status,
                    "total": amount_cents,
                    "refunded": refunded_cents > 0,
                    "refunded_amount": refunded_cents,
                    "currency": "USD",
                    "created_at": now_rfc3339(),
                    "updated_at": now_rfc3339(),
                },
            },
        })
    }

    /// Now, in Unix seconds.
    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }

    /// Now, in RFC 3339 (`2025-06-01T10:00:00Z`), as Polar writes its `timestamp`.
    fn now_rfc3339() -> String {
        let seconds = now();
        let (days, rest) = (seconds / 86_400, seconds % 86_400);
        // The civil date of a day count (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let (era, day_of_era) = (z / 146_097, z % 146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_index + 2) / 5 + 1;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        };
        let year = year_of_era + era * 400 + u64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }

    /// Stripe `checkout.session.completed` of a one-off payment of `amount_cents` USD by
    /// `customer_key`, through `click_id`; its sale is keyed by `payment_intent`.
    pub fn stripe_checkout_completed(
        payment_intent: &str,
        amount_cents: u64,
        customer_key: &str,
        click_id: Option<&str>,
    ) -> Value {
        json!({
            "id": format!("evt_{payment_intent}_completed"),
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": now(),
            "type": "checkout.session.completed",
            "data": { "object": {
                "id": format!("cs_test_{payment_intent}"),
                "object": "checkout.session",
                "mode": "payment",
                "status": "complete",
                "payment_status": "paid",
                "payment_intent": payment_intent,
                "amount_total": amount_cents,
                "currency": "usd",
                "client_reference_id": customer_key,
                "metadata": metadata(customer_key, "affitor_customer_key", click_id),
            }},
            "livemode": true,
        })
    }

    /// Metadata as the checkout writes it: the customer key under `key_name`, and the click id
    /// when there is one (metadata values are strings).
    fn metadata(customer_key: &str, key_name: &str, click_id: Option<&str>) -> Value {
        let mut metadata = json!({ key_name: customer_key });
        if let Some(click_id) = click_id {
            metadata["affitor_click_id"] = json!(click_id);
        }
        metadata
    }

    /// Stripe `charge.refunded`: `refunded_cents` of the payment `payment_intent` of
    /// `amount_cents`.
    pub fn stripe_charge_refunded(
        payment_intent: &str,
        amount_cents: u64,
        refunded_cents: u64,
    ) -> Value {
        json!({
            "id": format!("evt_{payment_intent}_refunded"),
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": now(),
            "type": "charge.refunded",
            "data": { "object": {
                "id": format!("ch_{payment_intent}"),
                "object": "charge",
                "amount": amount_cents,
                "amount_refunded": refunded_cents,
                "refunded": refunded_cents >= amount_cents,
                "currency": "usd",
                "payment_intent": payment_intent,
            }},
            "livemode": true,
        })
    }

    /// Polar `order.paid` (or `order.refunded`, with `refunded_cents`) of the one-off order
    /// `order_id` of `amount_cents` USD by `customer_key`, through `click_id`.
    pub fn polar_order(
        event_type: &str,
        order_id: &str,
        amount_cents: u64,
        refunded_cents: u64,
        customer_key: &str,
        click_id: Option<&str>,
    ) -> Value {
        json!({
            "type": event_type,
            "timestamp": now_rfc3339(),
            "data": {
                "id": order_id,
                "status": if refunded_cents >= amount_cents { "refunded" } else { "paid" },
                "total_amount": amount_cents,
                "refunded_amount": refunded_cents,
                "currency": "usd",
                "billing_reason": "purchase",
                "metadata": metadata(customer_key, "user_id", click_id),
                "customer": { "external_id": customer_key },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may unwrap.

    use super::*;

    fn unset() -> Result<Verifier<Stripe>, WebhookError> {
        Verifier::<Stripe>::builder().build()
    }

    fn rotating() -> Result<Verifier<Stripe>, WebhookError> {
        Verifier::<Stripe>::builder()
            .secret("whsec_new")
            .secret("whsec_old")
            .build()
    }

    fn empty() -> Result<Verifier<Stripe>, WebhookError> {
        Verifier::<Stripe>::builder().secret("  ").build()
    }

    #[test]
    fn a_route_without_its_secret_is_mounted_only_on_the_stand_in() {
        let mut demo = Vec::new();
        let away = mounted(Provider::Stripe, false, unset, &mut demo).unwrap();
        assert!(away.is_none());
        assert!(demo.is_empty());
        let local = mounted(Provider::Stripe, true, unset, &mut demo).unwrap();
        assert!(local.is_some());
        assert_eq!(demo, [Provider::Stripe]);
    }

    #[test]
    fn a_set_secret_is_used_anywhere_and_a_bad_one_stops_the_app() {
        let mut demo = Vec::new();
        let set = mounted(Provider::Stripe, false, rotating, &mut demo).unwrap();
        assert_eq!(
            format!("{set:?}").matches("secrets: 2").count(),
            1,
            "{set:?}"
        );
        assert!(demo.is_empty());
        let error = mounted(Provider::Stripe, true, empty, &mut demo).unwrap_err();
        assert!(
            error.to_string().starts_with("STRIPE_WEBHOOK_SECRET"),
            "{error}"
        );
    }

    #[test]
    fn user_ids_are_random() {
        let users = Users::default();
        let form = |email: &str| SignupForm {
            email: email.to_owned(),
            password: "correct horse".to_owned(),
        };
        let a = users.create(&form("a@example.com"), None).unwrap();
        let b = users.create(&form("b@example.com"), None).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), "user_".len() + 24);
    }
}
