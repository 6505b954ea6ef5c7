//! The payment webhook extractor, `WebhookEvent<P>`, and its rejection.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use affitor::webhook::{Provider, ProviderEvent, Verifier, WebhookError};
use affitor_tower::Client;
use affitor_tower::adapter::BodyWaitStarted;
use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequest, Request};
use axum_core::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body_util::BodyExt;

/// A webhook event of the provider `P`, verified: `WebhookEvent<Stripe>`,
/// `WebhookEvent<Polar>`. The extractor reads the raw body (up to the verifier's
/// [`body_limit`](Verifier::body_limit)), checks its signature with the [`Verifier<P>`] of the
/// router state, and reads the event. A delivery it refuses is answered with a
/// [`WebhookRejection`], whose message says why, and the handler never runs: 400 for a body
/// that could not be read or that fails verification, 413 for a body over the limit, 408 for a
/// body that did not all come within the verifier's
/// [`body_timeout`](affitor::webhook::Builder::body_timeout).
///
/// [`track`](Self::track) sends the sale or refund and gives the status to answer. If your
/// program is connected to Affitor's Stripe integration, do not also track Stripe events
/// here: each sale would count twice.
///
/// ```
/// use affitor_axum::{AffitorClient, AffitorLayer, Client, WebhookEvent};
/// use affitor_axum::affitor::webhook::{Stripe, Verifier};
/// use axum::{Router, http::StatusCode, routing::post};
///
/// async fn stripe_webhook(affitor: AffitorClient, event: WebhookEvent<Stripe>) -> StatusCode {
///     event.track(&affitor).await
/// }
///
/// fn app(client: Client) -> Result<Router, Box<dyn std::error::Error>> {
///     // STRIPE_WEBHOOK_SECRET, and never a built-in fallback: anyone could sign with it.
///     let stripe = Verifier::<Stripe>::from_env()?;
///     Ok(Router::new()
///         .route("/webhooks/stripe", post(stripe_webhook))
///         .with_state(stripe) // or a field of your state, with `#[derive(FromRef)]`
///         .layer(AffitorLayer::new().client(client)))
/// }
/// ```
///
/// Several providers, each verifier a field of the state:
///
/// ```
/// use affitor_axum::{Client, WebhookEvent};
/// use affitor_axum::affitor::webhook::{Polar, Stripe, Verifier};
/// use axum::{Router, extract::{FromRef, State}, http::StatusCode, routing::post};
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     affitor: Client,
///     stripe: Verifier<Stripe>,
///     polar: Verifier<Polar>,
/// }
///
/// async fn polar(State(affitor): State<Client>, event: WebhookEvent<Polar>) -> StatusCode {
///     event.track(&affitor).await
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = AppState {
///     affitor: Client::builder().api_key("aff_example").build()?,
///     stripe: Verifier::new("whsec_demo_signing")?, // or Verifier::from_env()?
///     polar: Verifier::new("polar_whs_demo_signing")?,
/// };
/// let app: Router = Router::new().route("/webhooks/polar", post(polar)).with_state(state);
/// # Ok(())
/// # }
/// ```
pub struct WebhookEvent<P> {
    event: ProviderEvent,
    provider: PhantomData<fn() -> P>,
}

impl<P: Provider> WebhookEvent<P> {
    /// Sends the event's sale or refund with `client` (a [`Client`], or the
    /// [`AffitorClient`](crate::AffitorClient) of the request; nothing for an event that asks
    /// nothing) and returns the status to answer,
    /// [`Tracked::status`](affitor::webhook::Tracked::status): 200 when handled, 503 when
    /// Affitor could not take it now and the provider should deliver it again, 500 when the
    /// provider should keep it until the app is mended. What happened is logged;
    /// [`into_inner`](Self::into_inner) and
    /// [`ProviderEvent::track`](affitor::webhook::ProviderEvent::track) give it as a value.
    ///
    /// ```
    /// use affitor_axum::{Client, WebhookEvent};
    /// use affitor_axum::affitor::webhook::Stripe;
    ///
    /// async fn handler(client: Client, event: WebhookEvent<Stripe>) -> http::StatusCode {
    ///     event.track(&client).await
    /// }
    /// ```
    pub async fn track(&self, client: impl AsRef<Client>) -> StatusCode {
        self.event.track(client).await.status()
    }

    /// The verified event.
    ///
    /// ```
    /// use affitor_axum::WebhookEvent;
    /// use affitor_axum::affitor::webhook::{Polar, ProviderEvent};
    ///
    /// fn handler(event: WebhookEvent<Polar>) -> ProviderEvent {
    ///     event.into_inner()
    /// }
    /// ```
    pub fn into_inner(self) -> ProviderEvent {
        self.event
    }
}

impl<P> Deref for WebhookEvent<P> {
    type Target = ProviderEvent;

    fn deref(&self) -> &ProviderEvent {
        &self.event
    }
}

impl<P> Clone for WebhookEvent<P> {
    fn clone(&self) -> Self {
        Self {
            event: self.event.clone(),
            provider: PhantomData,
        }
    }
}

impl<P: Provider> fmt::Debug for WebhookEvent<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebhookEvent")
            .field(&P::NAME)
            .field(&self.event)
            .finish()
    }
}

impl<S, P> FromRequest<S> for WebhookEvent<P>
where
    S: Send + Sync,
    P: Provider,
    Verifier<P>: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::<P>::from_ref(state);
        let (parts, body) = request.into_parts();
        let timeout = verifier.body_timeout();
        // Counted from when the Affitor layer began waiting for this body, if it did: the two
        // waits together stay within `body_timeout`.
        let started = parts
            .extensions
            .get::<BodyWaitStarted>()
            .map_or_else(tokio::time::Instant::now, |started| started.instant());
        let read = read_body(body, verifier.body_limit());
        // A timeout past what an instant can hold (`Duration::MAX`) sets no limit: a deadline
        // of `started` would answer 408 to any body not already in.
        let body = match started.checked_add(timeout) {
            Some(deadline) => tokio::time::timeout_at(deadline, read)
                .await
                .map_err(|_| WebhookRejection::BodyTimeout(timeout))??,
            None => read.await?,
        };
        // The verifier logs what it refuses (at most one warning per interval).
        let event = verifier
            .verify(&parts.headers, &body)
            .map_err(WebhookRejection::Verification)?;
        Ok(Self {
            event,
            provider: PhantomData,
        })
    }
}

/// Reads the body, stopping one byte past `limit`: the verifier refuses what is over it.
async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, WebhookRejection> {
    let mut read = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            let error = error.into_inner();
            if over_a_limit(&*error) {
                WebhookRejection::BodyTooLarge
            } else {
                WebhookRejection::Body(error.to_string())
            }
        })?;
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_add(1).saturating_sub(read.len());
            read.extend_from_slice(&data[..data.len().min(room)]);
            if read.len() > limit {
                break;
            }
        }
    }
    Ok(read.freeze())
}

/// Whether `error`, or one of its causes, is a body limit's (`http_body_util::Limited`, which
/// tower-http's `RequestBodyLimitLayer` wraps the body in).
fn over_a_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        next = error.source();
    }
    false
}

/// Why a webhook extractor refused a delivery; the handler does not run. Answered with
/// [`status`](Self::status) and a message that says what is wrong, which the provider shows in
/// its delivery log.
///
/// ```
/// use affitor_axum::WebhookRejection;
/// use affitor_axum::affitor::webhook::{Stripe, Verifier};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let error = Verifier::<Stripe>::new("whsec_demo_signing")?.verify(Vec::<(&str, &str)>::new(), "{}").unwrap_err();
/// let rejection = WebhookRejection::Verification(error);
/// assert_eq!(rejection.status().as_u16(), 400);
/// assert!(rejection.to_string().contains("no signature header"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The body could not be read (the connection broke): 400.
    Body(String),
    /// The body went past a limit set in front of the extractor (an outer body limit, such as
    /// tower-http's `RequestBodyLimitLayer` or actix-web's `PayloadConfig`): 413.
    BodyTooLarge,
    /// The whole body did not come within the verifier's
    /// [`body_timeout`](affitor::webhook::Builder::body_timeout) (named): 408.
    BodyTimeout(std::time::Duration),
    /// The delivery failed verification, or is not an event: see [`WebhookError`].
    Verification(WebhookError),
}

impl WebhookRejection {
    /// The status of the rejection's response: 400 for a body that could not be read or that
    /// fails verification, 413 for a body over the limit, 408 for a body that did not all come
    /// within the verifier's `body_timeout`.
    ///
    /// ```
    /// let rejection = affitor_axum::WebhookRejection::Body("connection reset".into());
    /// assert_eq!(rejection.status().as_u16(), 400);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Body(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Verification(error) => error.status(),
        }
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body(error) => write!(f, "the webhook's body could not be read: {error}"),
            Self::BodyTooLarge => f.write_str(
                "the webhook's body is over the limit a layer in front of the extractor sets: \
                 raise that limit for the webhook's route",
            ),
            Self::BodyTimeout(timeout) => write!(
                f,
                "the webhook's body did not come within {timeout:?}: send it whole, or raise the \
                 verifier's `body_timeout`"
            ),
            Self::Verification(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Body(_) | Self::BodyTooLarge | Self::BodyTimeout(_) => None,
            Self::Verification(error) => Some(error),
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}
