//! The example contract's configuration: where to listen, the Affitor client (of the API, or
//! of the local stand-in), the durable outbox, and the payment webhooks' secrets.

use std::fmt;
use std::net::SocketAddr;

use affitor::Client;
use affitor_mock::MockServer;
use affitor_outbox::Outbox;

use crate::metrics::MetricsAddr;
use crate::outbox::open_outbox;
use crate::stand_in;
use crate::webhooks::PaymentWebhooks;

/// The address an example listens on when `ADDR` is unset.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// What an example app needs to serve requests: the Affitor client, the program id, and the
/// durable outbox, if any.
#[derive(Clone, Debug)]
#[non_exhaustive] // made by `new` only, which puts the outbox behind the client
pub struct AppConfig {
    /// The Affitor API client of the layer and the handlers: its `enqueue` and
    /// `send_in_background` write to the outbox when there is one, and queue in memory
    /// otherwise.
    pub affitor: Client,
    /// The Affitor program id, put in the Stripe metadata of a checkout.
    pub program_id: String,
    /// The durable outbox, when `AFFITOR_OUTBOX` names one: `affitor`'s backend (one
    /// `affitor.shutdown` stops it), kept here for its own counters.
    pub outbox: Option<Outbox>,
}

impl AppConfig {
    /// The configuration of an app whose events go through `outbox` when there is one (the
    /// client's [backend](affitor::client::Backend)), else `affitor`'s in-memory queue.
    /// `affitor` is the client the outbox was opened with.
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
    /// Where to serve the Prometheus page (`METRICS_ADDR`, default
    /// [`DEFAULT_METRICS_ADDR`](crate::DEFAULT_METRICS_ADDR), or `off`): never the app's port.
    pub metrics: MetricsAddr,
    /// The app's configuration.
    pub config: AppConfig,
    /// The local stand-in API, when `AFFITOR_API_URL` is unset or empty. It serves as long as
    /// this lives.
    pub stand_in: Option<MockServer>,
    /// The payment webhooks' verifiers (the checkout apps use them).
    pub webhooks: PaymentWebhooks,
}

impl Environment {
    /// Reads `ADDR`, `METRICS_ADDR`, `AFFITOR_API_URL` (or its alias `AFFITOR_API_BASE`), `AFFITOR_API_KEY`,
    /// `AFFITOR_PROGRAM_ID`, `AFFITOR_OUTBOX`, `STRIPE_WEBHOOK_SECRET` and
    /// `POLAR_WEBHOOK_SECRET`.
    ///
    /// With neither API variable set (or both empty), starts the local Affitor API stand-in,
    /// which logs every event it receives and knows a demo click, and prints its URL and API
    /// key.
    /// With `AFFITOR_OUTBOX` set and not empty, opens the durable outbox there (a SQLite path,
    /// or a `postgres://` URL), its relay sending through a client of its own.
    pub async fn from_env() -> Result<Self, SetupError> {
        let addr = std::env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
        let addr = addr.parse().map_err(|_| {
            SetupError(format!(
                "ADDR `{addr}` is not an address like {DEFAULT_ADDR}"
            ))
        })?;
        let metrics = MetricsAddr::from_env()?;
        let program_id = std::env::var("AFFITOR_PROGRAM_ID").ok();

        // The rule of `Client::from_env`: an empty value is unset. So `AFFITOR_API_URL=` (as
        // docker-compose writes it) starts the stand-in, where a mere "is it set" test would
        // send the demo's events to the real API.
        let is_set = |name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
        if is_set("AFFITOR_API_URL") || is_set("AFFITOR_API_BASE") {
            let client = || {
                Client::from_env().map_err(|error| {
                    SetupError(format!("cannot build the Affitor client: {error}"))
                })
            };
            let affitor = client()?;
            let outbox = open_outbox(&affitor, client).await?;
            let program_id = program_id.unwrap_or_else(|| "YOUR_PROGRAM_ID".to_owned());
            let config = AppConfig::new(affitor, program_id, outbox);
            return Ok(Self {
                addr,
                metrics,
                config,
                stand_in: None,
                webhooks: PaymentWebhooks::from_env(false)?,
            });
        }

        let (stand_in, affitor) = stand_in::start().await?;
        let outbox = open_outbox(&affitor, || stand_in::client(&stand_in)).await?;
        let program_id = program_id.unwrap_or_else(|| stand_in.program_id().to_string());
        let config = AppConfig::new(affitor, program_id, outbox);
        Ok(Self {
            addr,
            metrics,
            config,
            stand_in: Some(stand_in),
            webhooks: PaymentWebhooks::from_env(true)?,
        })
    }
}

impl Environment {
    /// Listens on the app's address, `ADDR`: an address in use is told with the address, the
    /// variable, and what to do.
    pub async fn listen(&self) -> Result<tokio::net::TcpListener, SetupError> {
        tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|error| listen_error(self.addr, &error))
    }

    /// [`listen`](Self::listen) for a server that takes a standard listener (actix-web).
    pub fn listen_std(&self) -> Result<std::net::TcpListener, SetupError> {
        std::net::TcpListener::bind(self.addr).map_err(|error| listen_error(self.addr, &error))
    }
}

fn listen_error(addr: SocketAddr, error: &std::io::Error) -> SetupError {
    let fix = match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another process listens there: stop it, or set ADDR to a free address"
        }
        _ => "set ADDR to an address of this machine, such as 127.0.0.1:3000",
    };
    SetupError(format!("cannot listen on {addr} (ADDR): {error}; {fix}"))
}

/// Why an example could not start. Its `Debug` is its message: a `main` that returns it prints
/// the sentence.
pub struct SetupError(pub(crate) String);

impl fmt::Debug for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may unwrap.

    use super::*;

    #[test]
    fn an_address_in_use_is_told_with_the_address_and_the_variable() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let error = std::net::TcpListener::bind(addr).unwrap_err();
        let message = format!("{:?}", listen_error(addr, &error));
        assert!(message.starts_with(&format!("cannot listen on {addr} (ADDR): ")));
        assert!(message.ends_with("set ADDR to a free address"), "{message}");
    }
}
