//! The request body the inner service receives.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The request body behind [`AffitorLayer`](crate::AffitorLayer): the original body, byte
    /// for byte.
    ///
    /// When the layer did not read the body, this is the original body's frames, with no
    /// allocation (its data as `Bytes`: moved, not copied, when it already is). When it did,
    /// the data it read is replayed first, in one frame (what it read was gathered as it came,
    /// so a body sent in many small chunks holds its bytes, not a chunk each), then the rest of
    /// the original stream follows: the data, the trailers, the error if the stream failed, and
    /// the [`size_hint`](Body::size_hint) are the ones the original body would have given.
    ///
    /// ```
    /// use affitor_tower::{AffitorLayer, layer::AffitorBody};
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let handler = tower::service_fn(|request: http::Request<AffitorBody<Full<bytes::Bytes>>>| async move {
    ///     let body = request.into_body().collect().await?.to_bytes();
    ///     Ok::<_, std::convert::Infallible>(body)
    /// });
    /// let service = ServiceBuilder::new().layer(AffitorLayer::new()).service(handler);
    ///
    /// let request = http::Request::post("/")
    ///     .header("content-type", "application/json")
    ///     .body(Full::from(r#"{"affitorClickId":"abc"}"#))?;
    /// let seen = service.oneshot(request).await?;
    /// assert_eq!(seen, r#"{"affitorClickId":"abc"}"#);
    /// # Ok(())
    /// # }
    /// ```
    pub struct AffitorBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B>
    where
        B: Body,
    {
        Passthrough { #[pin] body: B },
        Replay { replay: Box<Replay<B>> },
    }
}

/// What the layer read, then the rest of the body.
struct Replay<B: Body> {
    /// The data read and not yet handed on: what was gathered, then the chunk that passed the
    /// limit; then the trailers, if the body ended with them.
    read: Read,
    /// The size hint of the original body before the layer read it.
    initial: SizeHint,
    /// The bytes of data handed on from `frames`.
    replayed: u64,
    /// The error that ended the read, handed on after the frames.
    error: Option<B::Error>,
    /// The original body, boxed because it was pinned while the layer read it.
    body: Pin<Box<B>>,
    /// Whether the original body already returned its end.
    ended: bool,
}

impl<B: Body> AffitorBody<B> {
    /// The original body, untouched.
    pub(crate) fn passthrough(body: B) -> Self {
        Self {
            kind: Kind::Passthrough { body },
        }
    }

    /// What was `read`, then `error` if the read failed, then the rest of `body` unless it
    /// `ended`. `initial` is the size hint `body` gave before it was read.
    pub(crate) fn replay(
        read: Read,
        error: Option<B::Error>,
        body: Pin<Box<B>>,
        ended: bool,
        initial: SizeHint,
    ) -> Self {
        Self {
            kind: Kind::Replay {
                replay: Box::new(Replay {
                    read,
                    initial,
                    replayed: 0,
                    error,
                    body,
                    ended,
                }),
            },
        }
    }
}

/// What the layer read of a body: the data gathered, the chunk that passed the limit, and the
/// trailers when the body ended with them.
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub(crate) data: Bytes,
    pub(crate) overflow: Option<Bytes>,
    pub(crate) trailers: Option<HeaderMap>,
}

impl Read {
    fn is_empty(&self) -> bool {
        self.data.is_empty() && self.overflow.is_none() && self.trailers.is_none()
    }

    /// The next frame to replay, if any.
    fn next(&mut self) -> Option<Frame<Bytes>> {
        if !self.data.is_empty() {
            return Some(Frame::data(std::mem::take(&mut self.data)));
        }
        if let Some(overflow) = self.overflow.take() {
            return Some(Frame::data(overflow));
        }
        self.trailers.take().map(Frame::trailers)
    }
}

/// A frame of the original body, its data as `Bytes` (moved, for a body of `Bytes`).
fn into_bytes<D: Buf>(frame: Frame<D>) -> Frame<Bytes> {
    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
}

impl<B: Body> Body for AffitorBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Passthrough { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map(into_bytes))),
            KindProj::Replay { replay } => replay.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Passthrough { body } => body.is_end_stream(),
            Kind::Replay { replay } => {
                replay.read.is_empty()
                    && replay.error.is_none()
                    && (replay.ended || replay.body.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Passthrough { body } => body.size_hint(),
            // While it replays, the body tells what the original told before it was read, less
            // what was replayed; then the original speaks for itself.
            Kind::Replay { replay } if replay.read.is_empty() && replay.error.is_none() => {
                replay.body.size_hint()
            }
            Kind::Replay { replay } => {
                let mut hint = SizeHint::new();
                if let Some(upper) = replay.initial.upper() {
                    hint.set_upper(upper.saturating_sub(replay.replayed));
                }
                hint.set_lower(replay.initial.lower().saturating_sub(replay.replayed));
                hint
            }
        }
    }
}

/// What `Body::poll_frame` returns for the body behind a body of type `B`.
type PolledFrame<B> = Poll<Option<Result<Frame<Bytes>, <B as Body>::Error>>>;

impl<B: Body> Replay<B> {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> PolledFrame<B> {
        if let Some(frame) = self.read.next() {
            if let Some(data) = frame.data_ref() {
                self.replayed = self.replayed.saturating_add(data.len() as u64);
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        let frame = std::task::ready!(self.body.as_mut().poll_frame(cx));
        self.ended = frame.is_none();
        Poll::Ready(frame.map(|frame| frame.map(into_bytes)))
    }
}

impl<B: Body> fmt::Debug for AffitorBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("AffitorBody");
        match &self.kind {
            Kind::Passthrough { .. } => debug.field("replayed", &false),
            Kind::Replay { replay } => debug
                .field("replayed", &true)
                .field("read_left", &!replay.read.is_empty()),
        };
        debug.finish_non_exhaustive()
    }
}
