//! Hostile bodies through the layer: a body in thousands of 1-byte chunks holds its bytes, not
//! a chunk each; a body that never comes does not hold the request, on a real axum server on
//! 127.0.0.1.

#![cfg(feature = "layer")]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::convert::Infallible;
use std::time::Duration;

use affitor_tower::AffitorLayer;
use affitor_tower::layer::AffitorBody;
use affitor_tower::lookup::{ClickIdLookup, ClickIdSearch};
use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{ServiceBuilder, ServiceExt};

/// A JSON body of `len` bytes whose click id is at its end, sent one byte a frame.
fn one_byte_frames(
    len: usize,
) -> (
    Vec<u8>,
    impl http_body::Body<Data = Bytes, Error = Infallible>,
) {
    let tail = br#","affitorClickId":"cust_1"}"#;
    let mut json = br#"{"pad":""#.to_vec();
    json.resize(len - tail.len() - 1, b'x');
    json.push(b'"');
    json.extend_from_slice(tail);
    let frames: Vec<Result<http_body::Frame<Bytes>, Infallible>> = json
        .iter()
        .map(|byte| Ok(http_body::Frame::data(Bytes::copy_from_slice(&[*byte]))))
        .collect();
    (json, StreamBody::new(futures_util::stream::iter(frames)))
}

#[tokio::test]
async fn a_body_in_one_byte_chunks_is_held_as_its_bytes() {
    let (sent, body) = one_byte_frames(60 * 1024);
    let handler = tower::service_fn(|request: http::Request<AffitorBody<_>>| async move {
        let found = request
            .extensions()
            .get::<ClickIdLookup>()
            .and_then(|lookup| lookup.click_id().cloned());
        let mut body = request.into_body();
        let (mut frames, mut data) = (0, Vec::new());
        while let Some(frame) = body.frame().await {
            if let Ok(chunk) = frame.unwrap().into_data() {
                frames += 1;
                data.extend_from_slice(&chunk);
            }
        }
        Ok::<_, Infallible>((found, frames, data))
    });
    let service = ServiceBuilder::new()
        .layer(AffitorLayer::new())
        .service(handler);
    let request = http::Request::post("/")
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let (found, frames, data) = service.oneshot(request).await.unwrap();
    assert_eq!(found.unwrap(), "cust_1");
    assert_eq!(data, sent, "the handler reads the bytes that were sent");
    // 61,440 frames came in; the layer held their bytes in one buffer, handed on as one.
    assert_eq!(frames, 1);
}

/// A body past the limit in 1-byte chunks: gathered up to the limit, the rest streamed as it
/// comes, every byte in order.
#[tokio::test]
async fn a_long_body_in_one_byte_chunks_reaches_the_handler_whole() {
    let (sent, body) = one_byte_frames(8 * 1024);
    let handler = tower::service_fn(|request: http::Request<AffitorBody<_>>| async move {
        let data = request.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(data)
    });
    let search = ClickIdSearch::default().body_limit(1024);
    let service = ServiceBuilder::new()
        .layer(AffitorLayer::new().search(search))
        .service(handler);
    let request = http::Request::post("/")
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap(), sent);
}

/// Serves `app` on 127.0.0.1 and returns its address.
async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Reads an HTTP/1.1 response's head and its `Content-Length` body.
async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    let mut response = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the server closed the connection without an answer");
        response.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(str::to_owned)
                })
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text.into_owned();
            }
        }
    }
}

#[tokio::test]
async fn a_body_that_never_comes_does_not_hold_the_request() {
    let search = ClickIdSearch::default().body_timeout(Duration::from_millis(200));
    let app = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .layer(AffitorLayer::new().search(search));
    let addr = serve(app).await;

    // A route that does not exist: the 404 comes although the body never does. (A guard
    // against a hang, not a measure of speed.)
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /no/such/route HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"affitor",
        )
        .await
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), read_response(&mut stream))
        .await
        .expect("an answer while the body never comes");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");

    // A handler's route: the request goes on; the handler reads the body once it comes,
    // every byte of it.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 27\r\n\r\n{\"affitorClickId\":",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // past the body timeout
    stream.write_all(b"\"cust_1\"}").await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), read_response(&mut stream))
        .await
        .expect("the echo");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with("{\"affitorClickId\":\"cust_1\"}"),
        "{response}"
    );
}
