//! The HTTP side: the accept loop, one hyper HTTP/1 connection per client, faults, and the
//! event log.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use super::fault::{Canned, Effect};
use super::record::RecordedRequest;
use super::rules::{Call, Reply, loggable};
use super::state::{JsonBody, State};
use affitor::client::Endpoint;

/// The largest request body the stand-in reads; a larger one gets a 413.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long to wait before trying again to re-bind the port after a refusal.
const REBIND_RETRY: Duration = Duration::from_millis(20);

/// What the server task and the request handlers share with the handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    log_events: bool,
}

impl Shared {
    pub(crate) fn new(state: State) -> Self {
        Self {
            log_events: state.config.log_events,
            state: Mutex::new(state),
        }
    }

    /// Locks the state. Never held across an `.await`; a poisoned lock is still usable since
    /// every update leaves the state consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Orders from the handle to the server task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Close the listener and every connection now, re-bind the same port after `duration`.
    Refuse {
        duration: Duration,
        closed: oneshot::Sender<()>,
    },
    /// Close everything and end the task.
    Shutdown { closed: oneshot::Sender<()> },
}

/// The server task: accepts connections until a shutdown, or until the handle is dropped.
pub(crate) async fn run(
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut listener = Some(listener);
    let mut reopen_at = Instant::now();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Refuse { duration, closed }) => {
                    listener = None;
                    connections.shutdown().await;
                    reopen_at = reopen_at.max(Instant::now() + duration);
                    let _ = closed.send(());
                }
                Some(Command::Shutdown { closed }) => {
                    drop(listener);
                    connections.shutdown().await;
                    let _ = closed.send(());
                    return;
                }
                None => return,
            },
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, _)) => serve(&mut connections, stream, Arc::clone(&shared)),
                Err(error) => tracing::debug!(%error, "affitor mock: accept failed"),
            },
            () = sleep_until(reopen_at), if listener.is_none() => {
                match TcpListener::bind(addr).await {
                    Ok(bound) => listener = Some(bound),
                    Err(error) => {
                        tracing::debug!(%error, %addr, "affitor mock: re-bind failed, retrying");
                        reopen_at = Instant::now() + REBIND_RETRY;
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves one connection until the client leaves, a fault hangs up, or the task is aborted.
fn serve(connections: &mut JoinSet<()>, stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    connections.spawn(async move {
        let hang_up = Arc::new(Notify::new());
        let service = {
            let hang_up = Arc::clone(&hang_up);
            service_fn(move |request| respond(Arc::clone(&shared), Arc::clone(&hang_up), request))
        };
        let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        tokio::select! {
            result = connection => {
                if let Err(error) = result {
                    tracing::debug!(%error, "affitor mock: connection ended with an error");
                }
            }
            // Dropping the connection closes the socket without an answer.
            () = hang_up.notified() => {}
        }
    });
}

async fn respond(
    shared: Arc<Shared>,
    hang_up: Arc<Notify>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or_else(
        || parts.uri.path().to_owned(),
        |target| target.as_str().to_owned(),
    );
    let known = crate::record::endpoint_at(parts.uri.path());
    let endpoint = known.filter(|endpoint| endpoint.method() == parts.method);

    let (bytes, read_error) = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => (collected.to_bytes(), None),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => (
            Bytes::new(),
            Some((
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large: the limit is 1 MiB",
            )),
        ),
        Err(_) => (
            Bytes::new(),
            Some((StatusCode::BAD_REQUEST, "Could not read the request body")),
        ),
    };
    let body = JsonBody::parse(&bytes);
    let call = |endpoint| Call {
        endpoint,
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|value| value.to_str().unwrap_or_default()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok()),
        query: parts.uri.query().unwrap_or_default(),
        body: &body,
    };

    // Under one lock: take the fault, process the request if it is to be processed (always
    // right after receipt, before any injected delay), and record it, its parsed body moved
    // into the record rather than cloned.
    let planned = {
        let mut state = shared.lock();
        let planned = match (endpoint, read_error) {
            (Some(endpoint), None) => {
                let triggered = state.faults.take(endpoint, bytes.len());
                let plan = match triggered.effect {
                    None => Plan::Processed(state.handle(&call(endpoint))),
                    Some(effect @ (Effect::ProcessThenRespond(_) | Effect::DropResponse)) => {
                        let processed = state.handle(&call(endpoint));
                        Plan::Fault(effect, Some(processed))
                    }
                    Some(effect @ (Effect::Respond(_) | Effect::DropConnection)) => {
                        Plan::Fault(effect, None)
                    }
                };
                Some((endpoint, plan, triggered.delay))
            }
            _ => None,
        };
        if state.config.record_requests {
            let keep = state.config.keep_last;
            super::state::push_bounded(
                &mut state.requests,
                keep,
                RecordedRequest {
                    method: parts.method.clone(),
                    path: target,
                    headers: owned_headers(&parts.headers),
                    body: body.into_value(),
                    endpoint,
                },
            );
        }
        planned
    };
    if let Some((status, message)) = read_error {
        return Ok(json_response(status, &json!({ "error": message }), None));
    }
    let Some((endpoint, plan, delay)) = planned else {
        return Ok(match known {
            Some(endpoint) => {
                let mut response = json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &json!({ "error": format!("Method not allowed: use {}", endpoint.method()) }),
                    None,
                );
                if let Ok(allow) = HeaderValue::from_str(endpoint.method().as_str()) {
                    response.headers_mut().insert(header::ALLOW, allow);
                }
                response
            }
            None => json_response(
                StatusCode::NOT_FOUND,
                &json!({ "error": "Not found" }),
                None,
            ),
        });
    };
    if let Plan::Processed(reply) | Plan::Fault(_, Some(reply)) = &plan {
        log_event(&shared, endpoint, reply, None);
    }

    let reply = match plan {
        Plan::Processed(reply) => reply,
        Plan::Fault(
            Effect::Respond(Canned {
                status,
                body,
                retry_after,
            }),
            _,
        ) => {
            let reply = Reply {
                status,
                body,
                retry_after,
                outcome: "injected_fault",
                subject: None,
                reason: None,
            };
            log_event(
                &shared,
                endpoint,
                &reply,
                Some("answered by an injected fault"),
            );
            reply
        }
        Plan::Fault(
            Effect::ProcessThenRespond(Canned {
                status,
                body,
                retry_after,
            }),
            processed,
        ) => {
            tracing::debug!(%endpoint, processed = processed.as_ref().map(|reply| reply.status.as_u16()),
                status = status.as_u16(),
                "affitor mock: processed, answering an injected fault instead");
            let reply = Reply {
                status,
                body,
                retry_after,
                outcome: "injected_fault",
                subject: processed.and_then(|processed| processed.subject),
                reason: None,
            };
            log_event(
                &shared,
                endpoint,
                &reply,
                Some("processed, then answered by an injected fault"),
            );
            reply
        }
        Plan::Fault(Effect::DropConnection, _) => {
            tracing::debug!(%endpoint, "affitor mock: dropping the connection (injected fault)");
            if shared.log_events {
                tracing::info!(
                    endpoint = endpoint.name(),
                    outcome = "dropped_connection",
                    "affitor mock: connection dropped before processing (injected fault)"
                );
            }
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            match hang_up_now(&hang_up).await {}
        }
        Plan::Fault(Effect::DropResponse, processed) => {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            tracing::debug!(%endpoint, status = processed.as_ref().map(|reply| reply.status.as_u16()),
                "affitor mock: processed, dropping the response (injected fault)");
            match hang_up_now(&hang_up).await {}
        }
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    Ok(json_response(reply.status, &reply.body, reply.retry_after))
}

/// Asks the connection task to drop the connection, and never answers.
/// What the stand-in does with a recorded request.
enum Plan {
    /// Answer what the endpoint's rules answered: no fault.
    Processed(Reply),
    /// An injected fault, with what the rules answered when the fault processes first.
    Fault(Effect, Option<Reply>),
}

/// A copy of `headers` that owns its values. hyper's header values share the connection's read
/// buffer: a recorded clone would keep one such buffer alive per request, and hyper would
/// allocate a new one for every request (most of the stand-in's CPU under load, in page faults).
fn owned_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let mut owned = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        owned.append(name.clone(), copy);
    }
    owned
}

async fn hang_up_now(hang_up: &Notify) -> Infallible {
    hang_up.notify_one();
    std::future::pending().await
}

fn json_response(
    status: StatusCode,
    body: &Value,
    retry_after: Option<u64>,
) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// One `info` line per event received, when `log_events` is on, with why a refused call was
/// refused. Never the key or an email; ids are shown only when they are plain tokens.
fn log_event(shared: &Shared, endpoint: Endpoint, reply: &Reply, note: Option<&str>) {
    if !shared.log_events {
        return;
    }
    let id = reply.subject.as_deref().map(loggable);
    let message = reply.body.get("error").and_then(Value::as_str);
    let why = match (&reply.reason, message) {
        (Some(reason), _) => format!(": {reason}"),
        (None, Some(message)) if reply.status.is_client_error() => format!(": {message}"),
        _ => String::new(),
    };
    tracing::info!(
        endpoint = endpoint.name(),
        status = reply.status.as_u16(),
        outcome = reply.outcome,
        id = id.as_deref().unwrap_or("-"),
        "affitor mock: {} {}{why}",
        endpoint.name(),
        note.unwrap_or(reply.outcome),
    );
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::MockServer;

    /// Sends one lead for `click_id` over a raw HTTP/1.1 connection and returns the status line.
    async fn send_lead(mock: &MockServer, click_id: &affitor::ClickId) -> String {
        let body = format!(r#"{{"click_id":"{click_id}","customer_key":"user_1"}}"#);
        let request = format!(
            "POST /api/v1/track/lead HTTP/1.1\r\nHost: affitor.test\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            mock.api_key(),
            body.len(),
        );
        let mut stream = TcpStream::connect(mock.addr()).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn requests_are_recorded_with_their_headers_and_body() {
        let mock = MockServer::start().await.unwrap();
        let click_id = mock.click("partner");
        assert_eq!(send_lead(&mock, &click_id).await, "HTTP/1.1 200 OK");
        let requests = mock.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].bearer_token(), Some(mock.api_key()));
        assert_eq!(requests[0].header("content-type"), Some("application/json"));
        assert_eq!(requests[0].body["click_id"], click_id.as_str());
        assert_eq!(requests[0].body["customer_key"], "user_1");
        assert_eq!(mock.leads().len(), 1);
    }

    #[tokio::test]
    async fn without_recording_requests_the_rows_are_still_kept() {
        let mock = MockServer::builder()
            .record_requests(false)
            .start()
            .await
            .unwrap();
        let click_id = mock.click("partner");
        assert_eq!(send_lead(&mock, &click_id).await, "HTTP/1.1 200 OK");
        assert!(mock.requests().is_empty());
        let leads = mock.leads();
        assert_eq!(leads.len(), 1);
        assert_eq!(leads[0].customer_key.as_deref(), Some("user_1"));
        assert!(leads[0].authenticated);
    }
}
