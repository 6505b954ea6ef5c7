//! What the layer tests share: a scripted request body, and a handler that records what it saw.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use affitor_tower::{ClickId, lookup::ClickIdLookup};
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

/// The error a scripted body fails with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BodyError(pub &'static str);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "body failed: {}", self.0)
    }
}

impl std::error::Error for BodyError {}

/// One step of a scripted body.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Data(Bytes),
    Trailers(HeaderMap),
    Error(BodyError),
    /// Returns `Pending` once, after waking the task.
    Pending,
}

/// A request body that plays a script, and reports an exact size hint when told its length
/// (as hyper does for a request with a `Content-Length`).
#[derive(Clone, Debug)]
pub(crate) struct Scripted {
    steps: VecDeque<Step>,
    remaining: Option<u64>,
}

impl Scripted {
    pub(crate) fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            remaining: None,
        }
    }

    /// The data split into frames of the given sizes (the last frame takes the rest).
    pub(crate) fn split(data: &[u8], sizes: impl IntoIterator<Item = usize>) -> Self {
        let mut steps = Vec::new();
        let mut rest = data;
        for size in sizes {
            if rest.is_empty() {
                break;
            }
            let (frame, tail) = rest.split_at(size.clamp(1, rest.len()));
            steps.push(Step::Data(Bytes::copy_from_slice(frame)));
            rest = tail;
        }
        if !rest.is_empty() {
            steps.push(Step::Data(Bytes::copy_from_slice(rest)));
        }
        Self::new(steps)
    }

    /// One frame.
    pub(crate) fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        let length = data.len() as u64;
        Self::new([Step::Data(data)]).with_length(length)
    }

    /// Announces an exact length in the size hint.
    pub(crate) fn with_length(mut self, length: u64) -> Self {
        self.remaining = Some(length);
        self
    }
}

impl Body for Scripted {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let Some(step) = self.steps.pop_front() else {
            return Poll::Ready(None);
        };
        Poll::Ready(Some(match step {
            Step::Data(data) => {
                if let Some(remaining) = &mut self.remaining {
                    *remaining = remaining.saturating_sub(data.len() as u64);
                }
                Ok(Frame::data(data))
            }
            Step::Trailers(trailers) => Ok(Frame::trailers(trailers)),
            Step::Error(error) => Err(error),
            Step::Pending => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.steps.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(remaining) => SizeHint::with_exact(remaining),
            None => SizeHint::default(),
        }
    }
}

/// What a handler saw of its request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Seen {
    pub(crate) data: Vec<u8>,
    pub(crate) trailers: Option<HeaderMap>,
    pub(crate) error: Option<String>,
    pub(crate) size_hint: (u64, Option<u64>),
    pub(crate) headers: HeaderMap,
    pub(crate) lookup: Option<ClickIdLookup>,
    /// The `ClickId` extension, which only a layer running earlier sets: `AffitorLayer` puts
    /// the click id it finds in the lookup alone.
    pub(crate) click_id_extension: Option<ClickId>,
    /// The body's `Debug`, which tells whether the layer replayed it.
    pub(crate) body_debug: String,
}

impl Seen {
    pub(crate) fn replayed(&self) -> bool {
        self.body_debug.contains("replayed: true")
    }

    pub(crate) fn found(&self) -> Option<&str> {
        self.lookup
            .as_ref()
            .and_then(ClickIdLookup::click_id)
            .map(ClickId::as_str)
    }
}

/// A handler that reads its body frame by frame, stopping at the first error, as a real one
/// would.
pub(crate) async fn observe<B>(request: Request<B>) -> Result<Seen, Infallible>
where
    B: Body<Data = Bytes> + fmt::Debug + Unpin,
    B::Error: fmt::Display,
{
    let (parts, mut body) = request.into_parts();
    let size_hint = (body.size_hint().lower(), body.size_hint().upper());
    let body_debug = format!("{body:?}");
    let mut seen = Seen {
        data: Vec::new(),
        trailers: None,
        error: None,
        size_hint,
        headers: parts.headers,
        lookup: parts.extensions.get::<ClickIdLookup>().cloned(),
        click_id_extension: parts.extensions.get::<ClickId>().cloned(),
        body_debug,
    };
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => seen.data.extend_from_slice(&data),
                Err(frame) => seen.trailers = frame.into_trailers().ok(),
            },
            Err(error) => {
                seen.error = Some(error.to_string());
                break;
            }
        }
    }
    Ok(seen)
}
