//! One run: the stand-in, the app on its outbox, the clients, the fault, the drain.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use affitor::Client;
use affitor_mock::{Fault as ApiFault, MockServer};
use affitor_outbox::{Outbox, OutboxStats};
use affitor_scenarios::signup::Server;
use example_support::AppConfig;
use tokio::runtime::Runtime;

use crate::clients::Clients;
use crate::fault::Fault;
use crate::options::Options;
use crate::report::{Leads, Report};
use crate::{BoxError, ENQUEUE_TIMEOUT};

/// How late the stand-in answers.
const API_ANSWER: Duration = Duration::from_millis(20);
/// Signups before the fault.
const BEFORE: Duration = Duration::from_secs(5);
/// Signups after the store's return.
const AFTER: Duration = Duration::from_secs(10);
/// How long the stand-in is given to receive every acknowledged lead once the clients stop.
const DRAIN: Duration = Duration::from_secs(30);

/// The runtimes: the app's (its servers, the outbox), the network's (the stand-in, the proxy),
/// and the clients', apart so that neither waits on the other's threads.
struct Runtimes {
    app: Runtime,
    network: Runtime,
    clients: Runtime,
}

pub(crate) fn run(options: Options) -> Result<Report, BoxError> {
    let one_thread = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
    };
    let runtimes = Runtimes {
        app: tokio::runtime::Builder::new_multi_thread()
            .thread_name("app")
            .enable_all()
            .build()?,
        network: one_thread("network")?,
        clients: one_thread("clients")?,
    };
    let mock = runtimes
        .network
        .block_on(MockServer::builder().record_requests(false).start())?;
    mock.inject(ApiFault::delay(API_ANSWER).always());
    let (mut fault, location) = Fault::prepare(&options, &runtimes.network)?;
    let report = measure(&options, &runtimes, &mock, &mut fault, &location);
    fault.clean_up();
    runtimes.network.block_on(mock.shutdown());
    report
}

fn measure(
    options: &Options,
    runtimes: &Runtimes,
    mock: &MockServer,
    fault: &mut Fault,
    location: &str,
) -> Result<Report, BoxError> {
    let (affitor, outbox) = open(&runtimes.app, mock, location)?;
    let config = AppConfig::new(
        affitor.clone(),
        mock.program_id().to_string(),
        Some(outbox.clone()),
    );
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = {
        let _app = runtimes.app.enter();
        Server::signup(options.framework, listener, config)?
    };

    let start = Instant::now();
    let sampler = Sampler::start(outbox.clone(), start);
    let click_id = mock.click("partner").to_string();
    let clients = {
        let _clients = runtimes.clients.enter();
        Clients::start(options.clients, &url, &click_id, start)?
    };
    std::thread::sleep(BEFORE);
    let fault_at = start.elapsed();
    let returned = fault.inject();
    std::thread::sleep(AFTER);
    let signups = runtimes.clients.block_on(clients.stop());
    let ended_at = start.elapsed();
    let leads = drain(mock, &signups);
    let samples = sampler.stop();
    let memory = affitor.delivery_stats();
    let last = runtimes.app.block_on(async {
        app.stop().await;
        let last = outbox.shutdown(Duration::from_secs(5)).await;
        affitor.shutdown(Duration::ZERO).await;
        last
    });
    Ok(Report {
        options: *options,
        fault_at,
        returned_at: returned?.duration_since(start),
        ended_at,
        signups,
        samples,
        leads,
        last,
        memory,
    })
}

/// The Affitor client of the stand-in and the outbox at `location`, on the app runtime (where
/// their delivery worker and relay run).
fn open(app: &Runtime, mock: &MockServer, location: &str) -> Result<(Client, Outbox), BoxError> {
    app.block_on(async {
        let affitor = Client::builder()
            .base_url(mock.url())
            .api_key(mock.api_key())
            .build()?;
        let outbox = Outbox::builder(affitor.clone())
            .enqueue_timeout(ENQUEUE_TIMEOUT)
            .open(location)
            .await
            .map_err(|error| {
                format!(
                    "the outbox did not open at {location}: {}",
                    affitor::ErrorReport::new(&error)
                )
            })?;
        Ok((affitor, outbox))
    })
}

/// Waits up to [`DRAIN`] until the stand-in has received a lead for every acknowledged signup.
fn drain(mock: &MockServer, signups: &[crate::clients::Signup]) -> Leads {
    let acknowledged: Vec<&str> = signups
        .iter()
        .filter_map(|signup| signup.user_id.as_deref())
        .collect();
    let deadline = Instant::now() + DRAIN;
    loop {
        let mut received: HashMap<String, usize> = HashMap::new();
        for lead in mock.leads() {
            if let Some(key) = lead.customer_key {
                *received.entry(key).or_default() += 1;
            }
        }
        let leads = Leads {
            acknowledged: acknowledged.len(),
            received: acknowledged
                .iter()
                .filter(|id| received.contains_key(**id))
                .count(),
            sent_twice: received.values().filter(|&&count| count > 1).count(),
        };
        if leads.received == leads.acknowledged || Instant::now() >= deadline {
            return leads;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `Outbox::stats()` every 100 ms, on a thread of its own.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(Duration, OutboxStats)>>,
}

impl Sampler {
    fn start(outbox: Outbox, start: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stopping.load(Ordering::Acquire) {
                samples.push((start.elapsed(), outbox.stats()));
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        });
        Self { stop, thread }
    }

    fn stop(self) -> Vec<(Duration, OutboxStats)> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_default()
    }
}
