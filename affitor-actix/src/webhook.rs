//! The payment webhook extractor, `WebhookEvent<P>`, and its error.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use affitor::webhook::{Provider, ProviderEvent, Verifier, WebhookError};
use affitor_tower::Client;
use affitor_tower::adapter::BodyWaitStarted;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;

/// A webhook event of the provider `P`, verified: `WebhookEvent<Stripe>`,
/// `WebhookEvent<Polar>`. The extractor reads the raw body (up to the verifier's
/// [`body_limit`](Verifier::body_limit)), checks its signature with the [`Verifier<P>`] of the
/// app data (`web::Data<Verifier<P>>`, or `Verifier<P>` itself), and reads the event. A
/// delivery it refuses is answered with a [`WebhookRejection`], whose message says why, and the
/// handler never runs: 400 for a body that could not be read or that fails verification, 413
/// for a body over the limit, 408 for a body that did not all come within the verifier's
/// [`body_timeout`](affitor::webhook::Builder::body_timeout), 500 when the app data has no
/// `Verifier<P>`.
///
/// [`track`](Self::track) sends the sale or refund and gives the response to answer. If your
/// program is connected to Affitor's Stripe integration, do not also track Stripe events
/// here: each sale would count twice.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use affitor_actix::{Affitor, AffitorClient, Client, WebhookEvent};
/// use affitor_actix::affitor::webhook::{Polar, Stripe, Verifier};
///
/// async fn stripe_webhook(affitor: AffitorClient, event: WebhookEvent<Stripe>) -> HttpResponse {
///     event.track(&affitor).await
/// }
///
/// async fn polar_webhook(affitor: AffitorClient, event: WebhookEvent<Polar>) -> HttpResponse {
///     event.track(&affitor).await
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let client = Client::builder().api_key("aff_example").build()?;
/// # let configure = |client: Client| -> Result<_, Box<dyn std::error::Error>> {
/// // STRIPE_WEBHOOK_SECRET and POLAR_WEBHOOK_SECRET, and never a built-in fallback: anyone
/// // could sign with it.
/// let stripe = Verifier::<Stripe>::from_env()?;
/// let polar = Verifier::<Polar>::from_env()?;
/// let app = App::new()
///     .wrap(Affitor::new().client(client))
///     .app_data(web::Data::new(stripe))
///     .app_data(web::Data::new(polar))
///     .route("/webhooks/stripe", web::post().to(stripe_webhook))
///     .route("/webhooks/polar", web::post().to(polar_webhook));
/// # Ok(app)
/// # };
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
    /// nothing) and returns the response to answer, with the status of
    /// [`Tracked::status`](affitor::webhook::Tracked::status): 200 when handled, 503 when
    /// Affitor could not take it now and the provider should deliver it again, 500 when the
    /// provider should keep it until the app is mended. What happened is logged;
    /// [`into_inner`](Self::into_inner) and
    /// [`ProviderEvent::track`](affitor::webhook::ProviderEvent::track) give it as a value.
    ///
    /// ```
    /// use affitor_actix::{Client, WebhookEvent};
    /// use affitor_actix::affitor::webhook::Stripe;
    ///
    /// async fn handler(client: Client, event: WebhookEvent<Stripe>) -> actix_web::HttpResponse {
    ///     event.track(&client).await
    /// }
    /// ```
    pub async fn track(&self, client: impl AsRef<Client>) -> HttpResponse {
        let status = self.event.track(client).await.status();
        // affitor's status (`http` 1) as actix-web's (`http` 0.2). Every code affitor answers
        // converts; were one not to, 503 has the provider deliver again, where a 2xx would
        // drop the event.
        let status =
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        HttpResponse::new(status)
    }

    /// The verified event.
    ///
    /// ```
    /// use affitor_actix::WebhookEvent;
    /// use affitor_actix::affitor::webhook::{Polar, ProviderEvent};
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

impl<P: Provider> FromRequest for WebhookEvent<P> {
    type Error = WebhookRejection;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let verifier = request
            .app_data::<web::Data<Verifier<P>>>()
            .map(|data| Verifier::clone(data))
            .or_else(|| request.app_data::<Verifier<P>>().cloned());
        let request = request.clone();
        let payload = payload.take();
        Box::pin(async move {
            let Some(verifier) = verifier else {
                tracing::error!(
                    path = request.path(),
                    provider = P::NAME,
                    "WebhookEvent was asked for, but the app data has no verifier of its provider"
                );
                return Err(WebhookRejection::MissingVerifier(P::NAME));
            };
            let timeout = verifier.body_timeout();
            // Counted from when the Affitor middleware began waiting for this body, if it did:
            // the two waits together stay within `body_timeout`.
            let started = request
                .extensions()
                .get::<BodyWaitStarted>()
                .map_or_else(tokio::time::Instant::now, |started| started.instant());
            let read = read_body(payload, verifier.body_limit());
            // A timeout past what an instant can hold (`Duration::MAX`) sets no limit: a
            // deadline of `started` would answer 408 to any body not already in.
            let body = match started.checked_add(timeout) {
                Some(deadline) => tokio::time::timeout_at(deadline, read)
                    .await
                    .map_err(|_| WebhookRejection::BodyTimeout(timeout))??,
                None => read.await?,
            };
            // The verifier logs what it refuses (at most one warning per interval).
            let event = verifier
                .verify(request.headers(), &body)
                .map_err(WebhookRejection::Verification)?;
            Ok(Self {
                event,
                provider: PhantomData,
            })
        })
    }
}

/// Reads the payload, stopping one byte past `limit`: the verifier refuses what is over it.
async fn read_body(mut payload: Payload, limit: usize) -> Result<Bytes, WebhookRejection> {
    let mut read = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            PayloadError::Overflow => WebhookRejection::BodyTooLarge,
            error => WebhookRejection::Body(error.to_string()),
        })?;
        let room = limit.saturating_add(1).saturating_sub(read.len());
        read.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if read.len() > limit {
            break;
        }
    }
    Ok(read.freeze())
}

/// Why a webhook extractor refused a delivery; the handler does not run. Answered with
/// [`status`](ResponseError::status_code) and a message that says what is wrong, which the
/// provider shows in its delivery log.
///
/// ```
/// use actix_web::ResponseError;
/// use affitor_actix::WebhookRejection;
///
/// let rejection = WebhookRejection::MissingVerifier("Stripe");
/// assert_eq!(rejection.status_code().as_u16(), 500);
/// assert!(rejection.to_string().contains("app_data(web::Data::new(Verifier::<Stripe>::"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The app data has no verifier of the extractor's provider (named): the app is
    /// misconfigured, 500.
    MissingVerifier(&'static str),
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

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingVerifier(provider) => write!(
                f,
                "the webhook cannot be verified: the app has no {provider} verifier. Register \
                 it with `.app_data(web::Data::new(Verifier::<{provider}>::from_env()?))`"
            ),
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
            Self::Verification(error) => Some(error),
            _ => None,
        }
    }
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingVerifier(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Body(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Verification(error) => {
                StatusCode::from_u16(error.status().as_u16()).unwrap_or(StatusCode::BAD_REQUEST)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}
