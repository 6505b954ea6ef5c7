//! The response future: read the body if the lookup needs it, then call the inner service; a
//! partner link's click call runs from the start, beside both.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use affitor_tower::adapter::BodyLookup;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::StreamExt;
use pin_project_lite::pin_project;

use super::capture::Capture;
use super::payload::Replay;

pin_project! {
    /// The future of [`AffitorMiddleware`](super::AffitorMiddleware).
    ///
    /// It either calls the inner service at once, or first reads the request body (up to the
    /// limit) to look for the click id in it, then calls the inner service with the body put
    /// back.
    ///
    /// ```
    /// use actix_web::dev::{Service, ServiceRequest, Transform, fn_service};
    /// use actix_web::{HttpResponse, test};
    /// use affitor_actix::{Affitor, dev::ResponseFuture};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let inner = fn_service(|request: ServiceRequest| async {
    ///     Ok::<_, actix_web::Error>(request.into_response(HttpResponse::NoContent()))
    /// });
    /// let service = Affitor::new().new_transform(inner).await.expect("building it never fails");
    /// let future: ResponseFuture<_> = service.call(test::TestRequest::get().to_srv_request());
    /// assert_eq!(future.await?.status(), 204);
    /// # Ok::<_, actix_web::Error>(())
    /// # }).unwrap();
    /// ```
    pub struct ResponseFuture<S>
    where
        S: Service<ServiceRequest>,
    {
        #[pin]
        state: State<S>,
        // The click capture, when the request is a partner link (boxed: most requests are not).
        capture: Option<Box<Capture<S::Response>>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S>
    where
        S: Service<ServiceRequest>,
    {
        Reading { reading: Option<Box<Reading<S>>> },
        Calling { #[pin] future: S::Future },
    }
}

/// A request whose body is being read, and the service that will take it.
struct Reading<S> {
    service: Rc<S>,
    request: ServiceRequest,
    payload: Payload,
    /// The data read, gathered into one buffer as it comes: what is held is the body's bytes,
    /// however many chunks they came in (at most the limit).
    read: BytesMut,
    /// The chunk that passed the limit, kept as it came.
    overflow: Option<Bytes>,
    lookup: BodyLookup,
    /// When the body stops being waited for: set when it first keeps the lookup waiting.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How the read ended.
enum ReadEnd {
    /// The whole body, within the limit.
    Whole,
    /// The limit was passed; the rest is still in the payload.
    TooLong,
    /// The body did not end within the timeout; the rest, if any, is still in the payload.
    TimedOut,
    /// The payload failed.
    Failed(PayloadError),
}

impl<S> ResponseFuture<S>
where
    S: Service<ServiceRequest>,
{
    /// Calls the inner service at once.
    pub(super) fn calling(future: S::Future, capture: Option<Box<Capture<S::Response>>>) -> Self {
        Self {
            state: State::Calling { future },
            capture,
        }
    }

    /// Reads `payload`, taken from `request`, first.
    pub(super) fn reading(
        service: Rc<S>,
        request: ServiceRequest,
        payload: Payload,
        lookup: BodyLookup,
        capture: Option<Box<Capture<S::Response>>>,
    ) -> Self {
        Self {
            capture,
            state: State::Reading {
                reading: Some(Box::new(Reading {
                    service,
                    request,
                    payload,
                    read: BytesMut::new(),
                    overflow: None,
                    lookup,
                    deadline: None,
                })),
            },
        }
    }
}

impl<S, B> Future for ResponseFuture<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let this = self.as_mut().project();
            match this.state.project() {
                StateProj::Calling { future } => {
                    return match this.capture {
                        None => future.poll(cx),
                        Some(capture) => capture.poll(future, cx),
                    };
                }
                StateProj::Reading { reading: slot } => {
                    // The click call runs from the request's arrival, the body read or not.
                    if let Some(capture) = this.capture {
                        capture.poll_click(cx);
                    }
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

impl<S> Reading<S>
where
    S: Service<ServiceRequest>,
{
    /// Reads chunks until the payload ends, fails, passes the limit or outlasts the timeout.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<ReadEnd> {
        loop {
            let next = match self.payload.poll_next_unpin(cx) {
                Poll::Ready(next) => next,
                Poll::Pending => {
                    let timeout = self.lookup.timeout();
                    let deadline = self
                        .deadline
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    ready!(deadline.poll_unpin(cx));
                    tracing::debug!(
                        ?timeout,
                        read = self.read.len(),
                        "the request body did not come within the timeout: the request goes on \
                         without looking in it"
                    );
                    return Poll::Ready(ReadEnd::TimedOut);
                }
            };
            match next {
                None => return Poll::Ready(ReadEnd::Whole),
                Some(Err(error)) => return Poll::Ready(ReadEnd::Failed(error)),
                Some(Ok(chunk)) => {
                    if self.read.len().saturating_add(chunk.len()) > self.lookup.limit() {
                        self.overflow = Some(chunk);
                        return Poll::Ready(ReadEnd::TooLong);
                    }
                    self.read.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// Finishes the lookup, puts the body back and calls the service.
    fn call(self, end: ReadEnd) -> S::Future {
        let Self {
            service,
            mut request,
            payload,
            read,
            overflow,
            lookup,
            deadline: _,
        } = self;
        let read = read.freeze();
        let (lookup, payload) = match end {
            ReadEnd::Whole => {
                let body = read;
                let lookup = lookup.finish(&body);
                let payload = if body.is_empty() {
                    Payload::None
                } else {
                    Payload::from(body)
                };
                (lookup, payload)
            }
            ReadEnd::TooLong | ReadEnd::TimedOut => (
                lookup.finish_without_body(),
                Replay::new([read].into_iter().chain(overflow), None, payload).into_payload(),
            ),
            ReadEnd::Failed(error) => (
                lookup.finish_without_body(),
                Replay::new([read].into_iter().chain(overflow), Some(error), payload)
                    .into_payload(),
            ),
        };
        request.set_payload(payload);
        super::insert(&request, lookup);
        service.call(request)
    }
}

impl<S> fmt::Debug for ResponseFuture<S>
where
    S: Service<ServiceRequest>,
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
