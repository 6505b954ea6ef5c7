//! The outbox you can watch: its counters and gauges, read through a real Prometheus recorder,
//! and its relay's spans, after a run against the stand-in in which a sale is rescheduled, a
//! lead refused for good, and the journal's inline entries overflow.
//!
//! One binary of its own: the metrics recorder is global to the process.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use affitor::client::{Backend as _, Endpoint, IntoEvent as _, LeadOutcome, Outcome};
use affitor_mock::{Fault, MockServer, quick_retries};
use affitor_outbox::Outbox;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The names of the spans opened, in order.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attributes: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.0
            .lock()
            .unwrap()
            .push(attributes.metadata().name().to_owned());
    }
}

/// The value of the sample `name{labels}` in Prometheus's text, 0 when absent.
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_rescheduled_sale_and_a_dead_letter_show_in_the_metrics_and_the_spans() {
    let recorder = PrometheusBuilder::new().install_recorder().unwrap();
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry()
        .with(spans.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("affitor-outbox-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("outbox.db").to_string_lossy().into_owned();
    runtime.block_on(async {
        let mock = MockServer::start().await.unwrap();
        // One attempt per send: a failure is the relay's to reschedule.
        let client = mock
            .client_builder()
            .retry(quick_retries().max_attempts(1))
            .build()
            .unwrap();
        let outbox = Outbox::builder(client.clone())
            .backoff(Duration::from_millis(10), Duration::from_millis(20))
            .poll_interval(Duration::from_millis(10))
            .open(&path)
            .await
            .unwrap();
        let client = client.with_backend(outbox.clone());

        // The sale's first attempt is answered 503: rescheduled, then delivered.
        mock.inject(Fault::status(503).on(Endpoint::Sale).times(1));
        // The lead is refused for good (a 400): a dead letter.
        mock.inject(Fault::status(400).on(Endpoint::Lead).times(1));
        client
            .sale("in_1", 4900)
            .click_id(mock.click("partner"))
            .send_in_background();
        client
            .lead("user_1")
            .click_id(mock.click("partner"))
            .send_in_background();
        let settled = mock
            .wait_until(Duration::from_secs(10), |_| {
                let stats = outbox.stats();
                stats.delivered == 1 && stats.dead == 1
            })
            .await;
        assert!(settled, "{:?}", outbox.stats());
        // The relay counts what waits at most once a second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        outbox.shutdown(Duration::from_secs(5)).await;
    });
    // On a runtime of one thread, no journal entry is written before this task yields: 600
    // sends, two entries each, overflow the 1,024 that may wait by 176.
    let one_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    one_thread.block_on(async {
        let client = MockServer::start().await.unwrap().client();
        let outbox = Outbox::builder(client.clone())
            .relay(false)
            .journal(affitor_outbox::journal::DEFAULT_RETENTION)
            .open(&path)
            .await
            .unwrap();
        let lead = client.lead("user_2").into_event().unwrap();
        for _ in 0..600 {
            outbox.sent(&lead, Ok(&Outcome::Lead(LeadOutcome::Tracked)));
        }
        outbox.shutdown(Duration::from_secs(5)).await;
    });
    let _ = std::fs::remove_dir_all(&dir);

    let text = recorder.render();
    let expect = |name: &str, value: f64| {
        assert_eq!(sample(&text, name), value, "{name} in:\n{text}");
    };
    expect(
        "affitor_outbox_events_total{endpoint=\"sale\",result=\"enqueued\"}",
        1.0,
    );
    expect(
        "affitor_outbox_events_total{endpoint=\"lead\",result=\"enqueued\"}",
        1.0,
    );
    expect(
        "affitor_outbox_events_total{endpoint=\"sale\",result=\"rescheduled\"}",
        1.0,
    );
    expect(
        "affitor_outbox_events_total{endpoint=\"sale\",result=\"delivered\"}",
        1.0,
    );
    expect(
        "affitor_outbox_events_total{endpoint=\"lead\",result=\"dead_lettered\"}",
        1.0,
    );
    expect("affitor_outbox_journal_lost_total", 176.0);
    expect("affitor_outbox_waiting", 0.0);
    expect("affitor_outbox_in_flight", 0.0);
    // The relay's spans hold the client's: one per row sent, three rows' sends in all.
    let spans = spans.0.lock().unwrap();
    let delivers = spans
        .iter()
        .filter(|name| *name == "affitor.outbox.deliver")
        .count();
    assert_eq!(delivers, 3, "{spans:?}");
    assert!(spans.iter().any(|name| name == "affitor.http"), "{spans:?}");
}
