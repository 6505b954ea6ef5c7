//! Delivery you can watch: the client's metrics, read through a real Prometheus recorder, and
//! its spans, one per HTTP attempt with OpenTelemetry's attribute names, after a run against
//! the stand-in that fails, retries and drops; and `Client::flush`, which leaves the client
//! usable.
//!
//! One binary of its own: the metrics recorder is global to the process.

#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affitor::client::Endpoint;
use affitor::client::RetryPolicy;
use affitor_mock::{Fault, MockServer};
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The fields of every `affitor.http` span, as they were last recorded.
#[derive(Clone, Default)]
struct HttpSpans(Arc<Mutex<HashMap<u64, HashMap<String, String>>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").replace('"', ""),
        );
    }
}

impl<S: tracing::Subscriber> Layer<S> for HttpSpans {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attributes.metadata().name() == "affitor.http" {
            let mut fields = HashMap::new();
            attributes.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().insert(id.into_u64(), fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(fields) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

/// The value of the sample `name{labels}` in Prometheus's text, 0 when absent.
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_fault_run_shows_in_the_metrics_and_the_spans() {
    let recorder = PrometheusBuilder::new().install_recorder().unwrap();
    let spans = HttpSpans::default();
    let subscriber = tracing_subscriber::registry()
        .with(spans.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mock = MockServer::start().await.unwrap();
        let client = mock
            .client_builder()
            .retry(
                RetryPolicy::default()
                    .base_delay(Duration::from_millis(5))
                    .max_delay(Duration::from_millis(20)),
            )
            .queue_capacity(1)
            .max_in_flight(1)
            .build()
            .unwrap();
        let click_id = mock.click("partner");

        // A sale answered 503 twice, then recorded: two retries.
        mock.inject(Fault::status(503).on(Endpoint::Sale).times(2));
        client
            .sale("in_1", 4900)
            .click_id(click_id.clone())
            .send_in_background();
        // The queue holds one event: while the sale is being sent, a lead is dropped.
        client
            .lead("user_1")
            .click_id(click_id.clone())
            .send_in_background();
        // Invalid: neither a customer key nor a click id.
        client.lead("").send_in_background();
        let stats = client.flush(Duration::from_secs(5)).await;
        assert_eq!(stats.pending, 0, "{stats:?}");
        assert_eq!((stats.delivered, stats.retried), (1, 2), "{stats:?}");

        // The client is still usable after a flush.
        let new_visitor = mock.click("partner");
        client
            .lead("user_2")
            .click_id(new_visitor)
            .send_in_background();
        let stats = client.flush(Duration::from_secs(5)).await;
        assert_eq!(stats.delivered, 2, "{stats:?}");
        assert_eq!(mock.leads().len(), 1);
    });

    let text = recorder.render();
    let expect = |name: &str, value: f64| {
        assert_eq!(sample(&text, name), value, "{name} in:\n{text}");
    };
    expect("affitor_events_queued_total{endpoint=\"sale\"}", 1.0);
    expect("affitor_events_delivered_total{endpoint=\"sale\"}", 1.0);
    expect("affitor_requests_retried_total{endpoint=\"sale\"}", 2.0);
    expect(
        "affitor_events_dropped_total{endpoint=\"lead\",reason=\"queue_full\"}",
        1.0,
    );
    expect(
        "affitor_events_failed_total{endpoint=\"lead\",reason=\"invalid\"}",
        1.0,
    );
    expect("affitor_events_delivered_total{endpoint=\"lead\"}", 1.0);
    expect("affitor_delivery_pending", 0.0);
    assert!(
        text.contains(
            "affitor_request_duration_seconds_count{endpoint=\"sale\",outcome=\"recorded\"} 1"
        ),
        "{text}"
    );

    // One span per HTTP attempt: the sale's three, the first two answered 503.
    let spans = spans.0.lock().unwrap();
    let mut sale_attempts: Vec<&HashMap<String, String>> = spans
        .values()
        .filter(|fields| fields["url.full"].ends_with("/api/v1/track/sale"))
        .collect();
    sale_attempts.sort_by_key(|fields| fields.get("http.request.resend_count").cloned());
    assert_eq!(sale_attempts.len(), 3, "{sale_attempts:?}");
    let statuses: Vec<&str> = sale_attempts
        .iter()
        .map(|fields| fields["http.response.status_code"].as_str())
        .collect();
    let resends: Vec<Option<&str>> = sale_attempts
        .iter()
        .map(|fields| fields.get("http.request.resend_count").map(String::as_str))
        .collect();
    assert_eq!(resends, [None, Some("1"), Some("2")]);
    assert_eq!(
        statuses.iter().filter(|status| **status == "503").count(),
        2
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == "200").count(),
        1
    );
    let first = sale_attempts[0];
    assert_eq!(first["http.request.method"], "POST");
    assert_eq!(first["otel.kind"], "client");
    assert_eq!(first["server.address"], "127.0.0.1");
    assert!(!format!("{spans:?}").contains("Bearer"));
}
