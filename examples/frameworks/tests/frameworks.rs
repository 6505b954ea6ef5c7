//! Each app served on 127.0.0.1, on a port of its own, and sent real HTTP/1.1 requests: the
//! handler sees the click id `AffitorLayer` found through the framework's Tower compatibility,
//! and the body as it was sent, also when the layer read it for the click id.

use std::error::Error;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type TestResult = Result<(), Box<dyn Error>>;

#[tokio::test]
async fn poem_handler_sees_the_click_id_and_the_body() -> TestResult {
    serve_and_check(affitor_frameworks::poem_app::serve).await
}

#[tokio::test]
async fn salvo_handler_sees_the_click_id_and_the_body() -> TestResult {
    serve_and_check(affitor_frameworks::salvo_app::serve).await
}

/// Serves an app with `serve` on an ephemeral port of 127.0.0.1, and checks what its handler
/// answers (the click id it saw, the lookup, the body it read) to each kind of request.
async fn serve_and_check<F, S>(serve: F) -> TestResult
where
    F: FnOnce(TcpListener) -> S,
    S: Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(serve(listener));

    let body = r#"{"email":"ada@example.com","affitorClickId":"clk_from_body"}"#;

    // The cookie comes first in the default order: the body is not read, and streams through.
    let cookie = "theme=dark; affitor_click_id=clk_from_cookie";
    let answer = post(address, "/api/signup", Some(cookie), body).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body,
        format!("clk_from_cookie\nclick id found in the cookie `affitor_click_id`\n{body}")
    );

    // No header or cookie: the layer reads the JSON body for the click id, and the handler gets
    // the body again, byte for byte.
    let answer = post(address, "/api/signup", None, body).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body,
        format!("clk_from_body\nclick id found in the JSON body field `affitorClickId`\n{body}")
    );

    // No click id anywhere: the handler runs, with a lookup that found none.
    let plain = r#"{"email":"grace@example.com"}"#;
    let answer = post(address, "/api/signup", None, plain).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    let (click_id, rest) = answer
        .body
        .split_once('\n')
        .ok_or("an answer of one line")?;
    assert_eq!(click_id, "-");
    assert!(rest.ends_with(&format!("\n{plain}")), "{answer:?}");

    // The framework's own answers go back through the layer as they were: no route, a 404.
    let answer = post(address, "/api/nowhere", None, body).await?;
    assert_eq!(answer.status, 404, "{answer:?}");

    server.abort();
    Ok(())
}

/// An answer's status code and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

/// Sends a `POST` to `path` with a JSON body (its second half sent a moment after the first,
/// so that a body read for the click id arrives in more than one piece) and, when given, a
/// `Cookie` header.
async fn post(
    address: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> Result<Answer, Box<dyn Error>> {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if let Some(cookie) = cookie {
            head.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        head.push_str("\r\n");
        let (first, second) = body.split_at(body.len() / 2);
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(first.as_bytes()).await?;
        stream.flush().await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        stream.write_all(second.as_bytes()).await?;

        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s")??;
    let response = String::from_utf8(response)?;

    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("an answer without a blank line")?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .ok_or_else(|| format!("not an HTTP/1.1 answer: {response:?}"))?
        .parse()?;
    let chunked = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        unchunk(body)?
    } else {
        body.to_owned()
    };
    Ok(Answer { status, body })
}

/// The data of a chunked body.
fn unchunk(mut body: &str) -> Result<String, Box<dyn Error>> {
    let mut data = String::new();
    loop {
        let (size, rest) = body
            .split_once("\r\n")
            .ok_or("a chunk without its size line")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or_default().trim(), 16)?;
        if size == 0 {
            return Ok(data);
        }
        let chunk = rest.get(..size).ok_or("a chunk shorter than its size")?;
        data.push_str(chunk);
        body = rest.get(size + 2..).ok_or("a chunk without its line end")?;
    }
}
