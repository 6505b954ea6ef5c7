//! The response future: read the body if the lookup needs it, then call the inner service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use http::Request;
use http::request::Parts;
use http_body::{Body, SizeHint};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::AffitorBody;
use super::body::Read;
use crate::adapter::BodyLookup;

pin_project! {
    /// The response future of [`AffitorService`](crate::layer::AffitorService).
    ///
    /// It either calls the inner service at once, or first reads the request body (up to the
    /// limit) to look for the click id in it, then calls the inner service with the body
    /// replayed.
    ///
    /// ```
    /// use affitor_tower::layer::{AffitorBody, ResponseFuture};
    /// use http_body_util::Empty;
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
    /// The data read, gathered into one buffer as it comes: what is held is the body's bytes,
    /// however many chunks they came in (at most the limit, plus the chunk that passed it).
    read: BytesMut,
    /// The chunk that passed the limit, kept as it came.
    overflow: Option<bytes::Bytes>,
    /// The trailers, if the body ended with them.
    trailers: Option<http::HeaderMap>,
    lookup: BodyLookup,
    /// When the body stops being waited for: set when it first keeps the lookup waiting (a
    /// body already there costs no timer).
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How the read ended.
enum ReadEnd<E> {
    /// The whole body, within the limit.
    Whole,
    /// The limit was passed; the rest is still in the body.
    TooLong,
    /// The body did not end within the timeout; the rest, if any, is still in it.
    TimedOut,
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
                    read: BytesMut::new(),
                    overflow: None,
                    trailers: None,
                    deadline: None,
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
    /// Reads frames until the body ends, fails, passes the limit or outlasts the timeout.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<ReadEnd<B::Error>> {
        loop {
            let frame = match self.body.as_mut().poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    let timeout = self.lookup.timeout();
                    let deadline = self
                        .deadline
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    ready!(deadline.as_mut().poll(cx));
                    tracing::debug!(
                        timeout = ?self.lookup.timeout(),
                        read = self.read.len(),
                        "the request body did not come within the timeout: the request goes on \
                         without looking in it"
                    );
                    return Poll::Ready(ReadEnd::TimedOut);
                }
            };
            match frame {
                None => return Poll::Ready(ReadEnd::Whole),
                Some(Err(error)) => return Poll::Ready(ReadEnd::Failed(error)),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        let len = data.remaining();
                        if self.read.len().saturating_add(len) > self.lookup.limit() {
                            self.overflow = Some(data.copy_to_bytes(len));
                            return Poll::Ready(ReadEnd::TooLong);
                        }
                        self.read.put(data);
                    }
                    // Trailers end a body; any other frame is not data to look in.
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            self.trailers = Some(trailers);
                        }
                    }
                },
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
            read,
            overflow,
            trailers,
            lookup,
            deadline: _,
        } = self;
        let read = Read {
            data: read.freeze(),
            overflow,
            trailers,
        };
        let (lookup, body) = match end {
            ReadEnd::Whole => (
                lookup.finish(&read.data),
                AffitorBody::replay(read, None, body, true, initial),
            ),
            ReadEnd::TooLong | ReadEnd::TimedOut => (
                lookup.finish_without_body(),
                AffitorBody::replay(read, None, body, false, initial),
            ),
            ReadEnd::Failed(error) => (
                lookup.finish_without_body(),
                AffitorBody::replay(read, Some(error), body, false, initial),
            ),
        };
        parts.extensions.insert(lookup);
        service.call(Request::from_parts(parts, body))
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
