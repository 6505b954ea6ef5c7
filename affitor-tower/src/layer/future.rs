//! The response future: read the body if the lookup needs it, then call the inner service.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http::Request;
use http::request::Parts;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::AffitorBody;
use crate::lookup::BodyLookup;

pin_project! {
    /// The response future of [`AffitorService`](crate::layer::AffitorService).
    ///
    /// It either calls the inner service at once, or first reads the request body (up to the
    /// limit) to look for the click id in it, then calls the inner service with the body
    /// replayed.
    ///
    /// ```
    /// use affitor_tower::AffitorLayer;
    /// use affitor_tower::layer::{AffitorBody, ResponseFuture};
    /// use http_body_util::Empty;
    /// use tower::Layer;
    ///
    /// type Handler = tower::util::ServiceFn<
    ///     fn(http::Request<AffitorBody<Empty<bytes::Bytes>>>) -> std::future::Ready<Result<(), ()>>,
    /// >;
    /// // The future a layered handler returns.
    /// type Future = ResponseFuture<Handler, Empty<bytes::Bytes>>;
    /// # let _: Option<Future> = None;
    /// ```
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<AffitorBody<B>>>,
        B: Body,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<AffitorBody<B>>>,
        B: Body,
    {
        Reading { reading: Option<Box<Reading<S, B>>> },
        Calling { #[pin] future: S::Future },
    }
}

/// A request whose body is being read, and the service, ready, that will take it.
struct Reading<S, B: Body> {
    service: S,
    parts: Parts,
    body: Pin<Box<B>>,
    initial: SizeHint,
    frames: VecDeque<Frame<B::Data>>,
    len: usize,
    lookup: BodyLookup,
}

/// How the read ended.
enum ReadEnd<E> {
    /// The whole body, within the limit.
    Whole,
    /// The limit was passed; the rest is still in the body.
    TooLong,
    /// The body failed.
    Failed(E),
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<AffitorBody<B>>>,
    B: Body,
{
    /// Calls the inner service at once.
    pub(crate) fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    /// Reads the body first; `service` must be the one that was polled ready.
    pub(crate) fn reading(service: S, parts: Parts, body: B, lookup: BodyLookup) -> Self {
        Self {
            state: State::Reading {
                reading: Some(Box::new(Reading {
                    service,
                    parts,
                    initial: body.size_hint(),
                    body: Box::pin(body),
                    frames: VecDeque::new(),
                    len: 0,
                    lookup,
                })),
            },
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<Request<AffitorBody<B>>>,
    B: Body,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Reading { reading: slot } => {
                    let end = match slot.as_mut() {
                        Some(reading) => ready!(reading.poll_read(cx)),
                        None => unreachable!("`ResponseFuture` polled after it completed"),
                    };
                    let Some(reading) = slot.take() else {
                        unreachable!("the read state was just polled")
                    };
                    let future = reading.call(end);
                    self.as_mut().project().state.set(State::Calling { future });
                }
            }
        }
    }
}

impl<S, B> Reading<S, B>
where
    S: Service<Request<AffitorBody<B>>>,
    B: Body,
{
    /// Reads frames until the body ends, fails, or passes the limit.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<ReadEnd<B::Error>> {
        loop {
            match ready!(self.body.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(ReadEnd::Whole),
                Some(Err(error)) => return Poll::Ready(ReadEnd::Failed(error)),
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.len = self.len.saturating_add(data.remaining());
                    }
                    self.frames.push_back(frame);
                    if self.len > self.lookup.limit() {
                        return Poll::Ready(ReadEnd::TooLong);
                    }
                }
            }
        }
    }

    /// Finishes the lookup and calls the service with the body replayed.
    fn call(self, end: ReadEnd<B::Error>) -> S::Future {
        let Self {
            mut service,
            mut parts,
            body,
            initial,
            frames,
            len,
            lookup,
        } = self;
        let (lookup, body) = match end {
            ReadEnd::Whole => {
                let lookup = match contiguous(&frames, len) {
                    Some(bytes) => lookup.finish(&bytes),
                    None => lookup.finish_without_body(),
                };
                (
                    lookup,
                    AffitorBody::replay(frames, None, body, true, initial),
                )
            }
            ReadEnd::TooLong => (
                lookup.finish_without_body(),
                AffitorBody::replay(frames, None, body, false, initial),
            ),
            ReadEnd::Failed(error) => (
                lookup.finish_without_body(),
                AffitorBody::replay(frames, Some(error), body, false, initial),
            ),
        };
        parts.extensions.insert(lookup);
        service.call(Request::from_parts(parts, body))
    }
}

/// The data of `frames` in one slice: borrowed when it is a single frame.
///
/// `None` when a frame's data is not one contiguous chunk (a `Buf` such as `Chain`): it cannot
/// be read without consuming it, and the frames must be replayed as they came. Bodies from
/// hyper, axum and `http-body-util` carry `Bytes`, which always is.
fn contiguous<D: Buf>(frames: &VecDeque<Frame<D>>, len: usize) -> Option<Cow<'_, [u8]>> {
    let mut chunks = frames.iter().filter_map(Frame::data_ref).map(|data| {
        let chunk = data.chunk();
        (chunk.len() == data.remaining()).then_some(chunk)
    });
    match (chunks.next(), chunks.next()) {
        (None, _) => Some(Cow::Borrowed(&[])),
        (Some(only), None) => only.map(Cow::Borrowed),
        (Some(first), Some(second)) => {
            let mut bytes = Vec::with_capacity(len);
            bytes.extend_from_slice(first?);
            bytes.extend_from_slice(second?);
            for chunk in chunks {
                bytes.extend_from_slice(chunk?);
            }
            Some(Cow::Owned(bytes))
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<AffitorBody<B>>>,
    B: Body,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Reading { .. } => "reading the body",
            State::Calling { .. } => "calling the inner service",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
