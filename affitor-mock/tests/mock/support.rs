//! A minimal HTTP/1.1 client for the stand-in, and the helpers every module shares. The
//! common imports are re-exported here, so each module starts with `use crate::support::*;`.

pub(crate) use std::io;
pub(crate) use std::net::SocketAddr;
pub(crate) use std::sync::Arc;
pub(crate) use std::time::Duration;

pub(crate) use affitor::client::Endpoint;
pub(crate) use affitor_mock::{Fault, MockServer, RefundStatus, poll_until};
pub(crate) use serde_json::{Value, json};
pub(crate) use tokio::io::{AsyncReadExt, AsyncWriteExt};
pub(crate) use tokio::net::TcpStream;

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body, json!({ "error": message }), "{self:?}");
    }
}

/// The raw bytes of one request.
pub(crate) fn request_bytes(
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: affitor.test\r\nUser-Agent: mock-tests/1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(authorization) = authorization {
        head.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one response; an `UnexpectedEof` error when the server closed without answering.
pub(crate) async fn read_reply(stream: &mut TcpStream) -> io::Result<Reply> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection without answering",
            ));
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.to_owned()))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..read]);
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// One request on a fresh connection.
pub(crate) async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(&request_bytes(method, path, authorization, body))
        .await?;
    read_reply(&mut stream).await
}

pub(crate) fn bearer(mock: &MockServer) -> String {
    format!("Bearer {}", mock.api_key())
}

/// POST with the program key.
pub(crate) async fn post(mock: &MockServer, endpoint: Endpoint, body: Value) -> Reply {
    let auth = bearer(mock);
    send(
        mock.addr(),
        "POST",
        endpoint.path(),
        Some(&auth),
        body.to_string().as_bytes(),
    )
    .await
    .unwrap()
}

/// POST without an `Authorization` header (as the browser does).
pub(crate) async fn post_anonymous(mock: &MockServer, endpoint: Endpoint, body: Value) -> Reply {
    send(
        mock.addr(),
        "POST",
        endpoint.path(),
        None,
        body.to_string().as_bytes(),
    )
    .await
    .unwrap()
}

/// POST with exactly this `Authorization` header value.
pub(crate) async fn post_with_auth(
    mock: &MockServer,
    endpoint: Endpoint,
    auth: &str,
    body: Value,
) -> Reply {
    send(
        mock.addr(),
        "POST",
        endpoint.path(),
        Some(auth),
        body.to_string().as_bytes(),
    )
    .await
    .unwrap()
}

/// GET with the program key.
pub(crate) async fn get(mock: &MockServer, path: &str) -> Reply {
    let auth = bearer(mock);
    send(mock.addr(), "GET", path, Some(&auth), b"")
        .await
        .unwrap()
}

pub(crate) async fn readiness(mock: &MockServer) -> Value {
    let reply = get(mock, Endpoint::Readiness.path()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

pub(crate) fn click_body(code: &str) -> Value {
    json!({
        "affiliate_url": format!("https://shop.example/pricing?utm=x&aff={code}"),
        "page_url": "https://shop.example/pricing",
    })
}

pub(crate) fn is_cust_click_id(click_id: &str) -> bool {
    let parts: Vec<&str> = click_id.split('_').collect();
    parts.len() == 3
        && parts[0] == "cust"
        && parts[1..]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// A sale recorded on a click of `partner`; its commission id.
pub(crate) async fn seed_sale(mock: &MockServer, transaction_id: &str, amount_cents: u64) -> u64 {
    let click_id = mock.click("partner");
    let reply = post(
        mock,
        Endpoint::Sale,
        json!({ "transaction_id": transaction_id, "amount_cents": amount_cents,
                "click_id": click_id.as_str() }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["commission_id"].as_u64().unwrap()
}
