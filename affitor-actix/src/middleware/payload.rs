//! The payload the handler reads after the middleware read part of it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// What the middleware read (its data gathered into one chunk, then the chunk that passed the
/// limit), then the error that ended the read, if any, then the rest of the original payload.
pub(super) struct Replay {
    chunks: VecDeque<Bytes>,
    error: Option<PayloadError>,
    rest: Payload,
}

impl Replay {
    pub(super) fn new(
        chunks: impl IntoIterator<Item = Bytes>,
        error: Option<PayloadError>,
        rest: Payload,
    ) -> Self {
        Self {
            chunks: chunks
                .into_iter()
                .filter(|chunk| !chunk.is_empty())
                .collect(),
            error,
            rest,
        }
    }

    pub(super) fn into_payload(self) -> Payload {
        Payload::Stream {
            payload: Box::pin(self),
        }
    }
}

impl Stream for Replay {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(chunk) = this.chunks.pop_front() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(error) = this.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        this.rest.poll_next_unpin(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lower, upper) = self.rest.size_hint();
        let replayed = self.chunks.len() + usize::from(self.error.is_some());
        (
            lower.saturating_add(replayed),
            upper.and_then(|upper| upper.checked_add(replayed)),
        )
    }
}
