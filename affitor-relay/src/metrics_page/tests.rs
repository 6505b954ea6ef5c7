use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::MetricsPage;

/// How long the test waits before it calls a step hung.
const PATIENCE: Duration = Duration::from_secs(10);

/// Reads one response from `stream`, which stays open: its head, then `Content-Length` bytes.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = stream.read(&mut chunk).await.expect("the page answers");
        assert_ne!(
            read, 0,
            "the page closed the connection before its response ended"
        );
        response.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&response);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|n| n.trim().to_owned())
            })
            .and_then(|n| n.parse().ok())
            .expect("a Content-Length");
        if body.len() >= length {
            return text.into_owned();
        }
    }
}

#[tokio::test]
async fn stopping_the_page_ends_its_accept_loop_and_its_open_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let handle = PrometheusBuilder::new().build_recorder().handle();
    let page = MetricsPage::serve(listener, handle).expect("the page serves");
    let addr = page.addr();

    // A scraper's keep-alive connection, served once and left open.
    let mut scraper = TcpStream::connect(addr).await.expect("the page accepts");
    scraper
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: relay\r\n\r\n")
        .await
        .expect("the request is sent");
    let response = read_response(&mut scraper).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    tokio::time::timeout(PATIENCE, page.stop())
        .await
        .expect("every task of the page ends");

    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, scraper.read_to_end(&mut rest))
        .await
        .expect("the open connection is closed");
    assert!(read.is_ok() && rest.is_empty(), "{read:?}, {rest:?}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens on {addr} once the page stopped"
    );
}
