//! Delivery you can watch, through the apps: after a run whose leads the stand-in answers 503 and
//! whose queue overflows, the Prometheus page (on its own address, as `METRICS_ADDR` serves it)
//! shows the retried and the dropped leads.
//!
//! A binary of its own: the metrics recorder is global to the process, so each app's figures
//! are read as what they added to the page.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::{Fault, MockServer};
use affitor_scenarios::{Kind, apps, fast_retries, metrics_url};
use reqwest::StatusCode;
use serde_json::json;

/// The value of the sample `name{labels}` on a Prometheus page, 0 when absent.
fn sample(page: &str, name_and_labels: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

const RETRIED: &str = "affitor_requests_retried_total{endpoint=\"lead\"}";
const DROPPED: &str = "affitor_events_dropped_total{endpoint=\"lead\",reason=\"queue_full\"}";
const DELIVERED: &str = "affitor_events_delivered_total{endpoint=\"lead\"}";

/// The Prometheus page at `url`.
async fn page(url: &str) -> String {
    let answer = reqwest::get(url).await.expect("the metrics page answers");
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().await.expect("its text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_page_shows_retried_and_dropped_leads() {
    let metrics = metrics_url().await;
    for app in apps(Kind::Signup) {
        let mock = MockServer::start().await.expect("the stand-in API starts");
        // A queue of one event, sent one at a time: a signup while a lead is being sent waits
        // for room (2 s at most), then loses its lead, counted.
        let affitor = mock
            .client_builder()
            .retry(fast_retries())
            .timeout(Duration::from_secs(10))
            .queue_capacity(1)
            .max_in_flight(1)
            .build()
            .expect("a client of the stand-in");
        let running = app.start_with(mock, affitor, None);
        let before = page(&metrics).await;

        // The first lead is answered 503 twice (the first time past the second signup's wait
        // for room) before it is recorded: two retries, while the second signup's lead finds
        // the queue full.
        let mock = &running.mock;
        mock.inject(Fault::delay(Duration::from_secs(3)).on(Endpoint::Lead));
        mock.inject(Fault::status(503).on(Endpoint::Lead).times(2));
        let click_id = running.mock.click("partner");
        let cookie = format!("affitor_click_id={click_id}");
        for email in ["ada@example.com", "bob@example.com"] {
            running
                .signup(email, &json!({}), &[("cookie", &cookie)])
                .await;
        }
        let stats = running.affitor.flush(Duration::from_secs(5)).await;
        assert_eq!(stats.pending, 0, "{}: {stats:?}", app.name);

        let after = page(&metrics).await;
        let added = |name: &str| sample(&after, name) - sample(&before, name);
        assert_eq!(added(RETRIED), 2.0, "{}:\n{after}", app.name);
        assert_eq!(added(DROPPED), 1.0, "{}:\n{after}", app.name);
        assert_eq!(added(DELIVERED), 1.0, "{}:\n{after}", app.name);
        assert!(
            after.contains("affitor_request_duration_seconds"),
            "{}",
            app.name
        );
    }
}
