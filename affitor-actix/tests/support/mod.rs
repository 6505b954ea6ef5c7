//! What the handler saw, and scripted request bodies.

#![allow(dead_code, unreachable_pub)]

use std::sync::Mutex;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use affitor_actix::{ClickId, ClickIdLookup, Client};
use bytes::Bytes;
use futures_util::StreamExt;

/// What a handler saw of one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seen {
    pub lookup: Option<ClickIdLookup>,
    /// The `ClickId` extension, which only a middleware running earlier sets: `Affitor` puts
    /// the click id it finds in the lookup alone.
    pub click_id_extension: Option<ClickId>,
    pub client: bool,
    pub content_length: Option<String>,
    pub chunks: Vec<Bytes>,
    pub data: Vec<u8>,
    pub error: Option<String>,
}

/// Where the handler leaves what it saw.
pub type Seens = web::Data<Mutex<Vec<Seen>>>;

/// The handler: reads the whole payload, up to its end or its first error, then one more poll
/// after an error, as a careless handler might.
pub async fn observe(
    request: HttpRequest,
    mut payload: web::Payload,
    seens: Seens,
) -> HttpResponse {
    let mut seen = Seen {
        lookup: request.extensions().get::<ClickIdLookup>().cloned(),
        click_id_extension: request.extensions().get::<ClickId>().cloned(),
        client: request.extensions().get::<Client>().is_some(),
        content_length: request
            .headers()
            .get("content-length")
            .map(|value| value.to_str().unwrap().to_owned()),
        ..Seen::default()
    };
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) => {
                seen.data.extend_from_slice(&chunk);
                seen.chunks.push(chunk);
            }
            Err(error) => {
                seen.error = Some(error.to_string());
                break;
            }
        }
    }
    let len = seen.data.len();
    seens.lock().unwrap().push(seen);
    HttpResponse::Ok().body(len.to_string())
}

/// One step of a scripted body.
#[derive(Clone, Debug)]
pub enum Step {
    Chunk(Bytes),
    Fail,
}

pub fn chunk(bytes: impl Into<Bytes>) -> Step {
    Step::Chunk(bytes.into())
}

/// A streamed (chunked, no `Content-Length`) payload that follows the script.
pub fn scripted(steps: &[Step]) -> Payload {
    let items: Vec<Result<Bytes, PayloadError>> = steps
        .iter()
        .map(|step| match step {
            Step::Chunk(bytes) => Ok(bytes.clone()),
            Step::Fail => Err(PayloadError::Incomplete(None)),
        })
        .collect();
    Payload::Stream {
        payload: Box::pin(futures_util::stream::iter(items)),
    }
}

/// A JSON object of exactly `len` bytes with the click id `abc` in `affitorClickId`.
pub fn json_of_len(len: usize) -> Vec<u8> {
    let head = br#"{"affitorClickId":"abc","pad":""#;
    let tail = br#""}"#;
    assert!(len >= head.len() + tail.len());
    let mut body = head.to_vec();
    body.resize(len - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

/// A shared log of what handlers saw.
pub fn seens() -> Seens {
    web::Data::new(Mutex::new(Vec::new()))
}

/// Takes the one thing the handler saw.
pub fn take_one(seens: &Seens) -> Seen {
    let mut seens = seens.lock().unwrap();
    assert_eq!(seens.len(), 1, "the handler ran {} times", seens.len());
    seens.pop().unwrap()
}
