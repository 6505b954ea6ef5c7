//! A client of an API on this machine never goes through the environment's proxy: over plain
//! `http://` the proxy would read the API key.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use affitor::Client;
use affitor::client::ClickOutcome;
use affitor_mock::MockServer;

/// The proxy the child process is given (`HTTP_PROXY`): set for a child process of this binary
/// that runs this test alone, since setting it here would race the tests on other threads.
const PROXY: &str = "AFFITOR_TEST_PROXY_OF_THE_PARENT";

#[test]
fn a_local_api_is_reached_without_the_environments_proxy() {
    if std::env::var_os(PROXY).is_none() {
        // A proxy that counts the connections it gets, and answers none.
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let proxied = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&proxied);
        std::thread::spawn(move || {
            for connection in proxy.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(connection);
            }
        });
        let test = "proxy::a_local_api_is_reached_without_the_environments_proxy";
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--test-threads=1"])
            .env(PROXY, "1")
            .env("HTTP_PROXY", &proxy_url)
            .env("http_proxy", &proxy_url)
            .env("ALL_PROXY", &proxy_url)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("test result: ok. 1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy was used");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mock = MockServer::start().await.unwrap();
        let client = Client::builder()
            .api_key(mock.api_key())
            .base_url(mock.url())
            .build()
            .unwrap();
        let outcome = client
            .click("https://shop.example/?aff=partner")
            .send()
            .await;
        assert!(
            matches!(outcome, Ok(ClickOutcome::Recorded { .. })),
            "{outcome:?}"
        );
        assert_eq!(mock.requests().len(), 1);
    });
}
