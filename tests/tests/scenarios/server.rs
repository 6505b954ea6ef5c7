//! What every example server keeps, whatever its framework: the Prometheus page on an address
//! of its own, never the app's port; and an answer to every request, however slowly, or never,
//! its body comes.

use std::time::Duration;

use affitor_scenarios::{ExampleApp, Kind, apps, metrics_url};
use reqwest::StatusCode;
use serde_json::json;

/// The test's own bound on a stalled request: far past the apps' 10 s, so that only a server
/// that never answers reaches it.
const GENEROUS: Duration = Duration::from_secs(60);

/// Runs `scenario` against every app of `kind` at once, each on its own port: the stalled
/// requests wait in parallel.
async fn each_at_once<F>(kind: Kind, scenario: fn(ExampleApp) -> F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut runs = tokio::task::JoinSet::new();
    for app in apps(kind) {
        runs.spawn(scenario(app));
    }
    while let Some(run) = runs.join_next().await {
        if let Err(error) = run {
            std::panic::resume_unwind(error.into_panic());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_address_not_the_apps_port() {
    let metrics = metrics_url().await;
    let http = reqwest::Client::new();
    for app in apps(Kind::Signup) {
        let running = app.start().await;
        let answer = running.get("/metrics").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", app.name);
        assert!(!answer.text.contains("affitor_"), "{}", app.name);

        // A captured partner link and a signup: both counted on the metrics address.
        let page = running.open("GET", "/?aff=partner", &[]).await;
        assert!(page.cookie("affitor_click_id").is_some(), "{}", app.name);
        running.signup("ada@example.com", &json!({}), &[]).await;
        let page = http.get(&metrics).send().await.expect("the metrics page");
        assert_eq!(page.status(), StatusCode::OK, "{}", app.name);
        let text = page.text().await.expect("its text");
        for name in [
            "affitor_events_queued_total{endpoint=\"lead\"}",
            "affitor_capture_clicks_total{result=\"recorded\"}",
            "affitor_capture_clicks_total{result=\"total_limited\"}",
        ] {
            assert!(text.contains(name), "{}: {name} in\n{text}", app.name);
        }
        // Only `/metrics` there.
        let other = http.get(metrics.replace("/metrics", "/")).send().await;
        assert_eq!(
            other.expect("an answer").status(),
            StatusCode::NOT_FOUND,
            "{}",
            app.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_whose_body_never_comes_is_answered() {
    each_at_once(Kind::Signup, |app| async move {
        let running = app.start().await;
        let sent = r#"{"email":"ada@example.com","pass"#;
        let headers = [("content-type", "application/json")];
        let outcome = running
            .post_stalled("/api/signup", &headers, sent, 200, GENEROUS)
            .await;
        assert!(outcome.was_cut_short(), "{}: {outcome:?}", app.name);
        // The app still serves.
        running.signup("ada@example.com", &json!({}), &[]).await;
    })
    .await;
}

/// A client that sends its headers a byte a second, never their end: answered or closed, on
/// every app (the axum apps serve through `serve_axum`, with a bound on the head).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_head_trickles_in_is_answered() {
    each_at_once(Kind::Signup, |app| async move {
        let running = app.start().await;
        let outcome = running.head_trickled("/api/signup", GENEROUS).await;
        assert!(outcome.was_cut_short(), "{}: {outcome:?}", app.name);
        running.signup("ada@example.com", &json!({}), &[]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivery_whose_body_stalls_is_answered() {
    each_at_once(Kind::Checkout, |app| async move {
        let running = app.start().await;
        let sent = r#"{"id":"evt_1","type":"checkout.session.completed","data":"#;
        let headers = [
            ("content-type", "application/json"),
            ("stripe-signature", "t=1700000000,v1=00"),
        ];
        let outcome = running
            .post_stalled("/webhooks/stripe", &headers, sent, 2_000, GENEROUS)
            .await;
        assert!(outcome.was_cut_short(), "{}: {outcome:?}", app.name);
        assert!(running.mock.requests().is_empty(), "{}", app.name);
    })
    .await;
}
