//! The payment webhook extractors, `StripeEvent` and `PolarEvent`, and their error.

use std::fmt;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use affitor_tower::Client;
use affitor_tower::webhook::{Polar, ProviderEvent, Stripe, WebhookError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;

/// A Stripe webhook event, verified: the extractor reads the raw body (up to the verifier's
/// [`body_limit`](Stripe::body_limit)), checks its `Stripe-Signature` with the [`Stripe`]
/// verifier of the app data (`web::Data<Stripe>`, or `Stripe` itself), and reads the event. A
/// delivery that fails is answered 400 (413 for a body over the limit) with a message that says
/// why: the handler never runs.
///
/// [`track`](Self::track) sends the sale or refund and gives the response to answer. If your
/// program is connected to Affitor's Stripe integration, do not also track Stripe events
/// here: each sale would count twice.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use affitor_actix::{Affitor, AffitorClient, Client, StripeEvent};
/// use affitor_actix::affitor_tower::webhook::Stripe;
///
/// async fn stripe_webhook(affitor: AffitorClient, event: StripeEvent) -> HttpResponse {
///     event.track(&affitor).await
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let client = Client::builder().api_key("aff_example").build()?;
/// # let configure = |client: Client| -> Result<_, Box<dyn std::error::Error>> {
/// // STRIPE_WEBHOOK_SECRET, and never a built-in fallback: anyone could sign with it.
/// let stripe = Stripe::from_env()?;
/// let app = App::new()
///     .wrap(Affitor::new().client(client))
///     .app_data(web::Data::new(stripe))
///     .route("/webhooks/stripe", web::post().to(stripe_webhook));
/// # Ok(app)
/// # };
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct StripeEvent(ProviderEvent);

/// A Polar (Standard Webhooks) event, verified: as [`StripeEvent`], with the [`Polar`]
/// verifier of the app data.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use affitor_actix::{AffitorClient, Client, PolarEvent};
/// use affitor_actix::affitor_tower::webhook::Polar;
///
/// // `AffitorClient` finds the `web::Data<Client>` of the app without the middleware.
/// async fn polar_webhook(affitor: AffitorClient, event: PolarEvent) -> HttpResponse {
///     event.track(&affitor).await
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let affitor = Client::builder().api_key("aff_example").build()?;
/// let polar = Polar::new("polar_whs_demo")?; // or Polar::from_env()?: POLAR_WEBHOOK_SECRET
/// let app = App::new()
///     .app_data(web::Data::new(affitor))
///     .app_data(web::Data::new(polar))
///     .route("/webhooks/polar", web::post().to(polar_webhook));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PolarEvent(ProviderEvent);

macro_rules! event_extractor {
    ($extractor:ident, $verifier:ident) => {
        impl $extractor {
            /// Sends the event's sale or refund with `client` (a [`Client`], or the
            /// [`AffitorClient`](crate::AffitorClient) of the request; nothing for an event that asks
            /// nothing) and returns the response to answer: 200 when handled, 503 when Affitor
            /// could not take it now and the provider should deliver it again. What happened is
            /// logged; [`into_inner`](Self::into_inner) and
            /// [`ProviderEvent::track`](affitor_tower::webhook::ProviderEvent::track) give it as a value.
            ///
            #[doc = concat!("```\n# async fn handler(client: affitor_actix::Client, event: affitor_actix::", stringify!($extractor), ") -> actix_web::HttpResponse {\nevent.track(&client).await\n# }\n```")]
            pub async fn track(&self, client: impl AsRef<Client>) -> HttpResponse {
                let status = self.0.track(client).await.status();
                HttpResponse::new(
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::OK),
                )
            }

            /// The verified event.
            ///
            #[doc = concat!("```\n# fn handler(event: affitor_actix::", stringify!($extractor), ") {\nlet event: affitor_actix::affitor_tower::webhook::ProviderEvent = event.into_inner();\n# }\n```")]
            pub fn into_inner(self) -> ProviderEvent {
                self.0
            }
        }

        impl Deref for $extractor {
            type Target = ProviderEvent;

            fn deref(&self) -> &ProviderEvent {
                &self.0
            }
        }

        impl FromRequest for $extractor {
            type Error = WebhookRejection;
            type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

            fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let verifier = request
                    .app_data::<web::Data<$verifier>>()
                    .map(|data| $verifier::clone(data))
                    .or_else(|| request.app_data::<$verifier>().cloned());
                let request = request.clone();
                let payload = payload.take();
                Box::pin(async move {
                    let Some(verifier) = verifier else {
                        tracing::error!(
                            path = request.path(),
                            concat!(
                                stringify!($extractor),
                                " was asked for, but the app data has no ",
                                stringify!($verifier),
                                " verifier"
                            )
                        );
                        return Err(WebhookRejection::MissingVerifier(stringify!($verifier)));
                    };
                    let body = read_body(payload, verifier.body_limit()).await?;
                    let event = verifier.verify(request.headers(), &body).map_err(|error| {
                        tracing::warn!(provider = stringify!($verifier), %error, "webhook refused");
                        WebhookRejection::Verification(error)
                    })?;
                    Ok(Self(event))
                })
            }
        }
    };
}

event_extractor!(StripeEvent, Stripe);
event_extractor!(PolarEvent, Polar);

/// Reads the payload, stopping one byte past `limit`: the verifier refuses what is over it.
async fn read_body(mut payload: Payload, limit: usize) -> Result<Bytes, WebhookRejection> {
    let mut read = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| WebhookRejection::Body(error.to_string()))?;
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
/// assert!(rejection.to_string().contains("app_data(web::Data::new("));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The app data has no verifier for the extractor (named): the app is misconfigured, 500.
    MissingVerifier(&'static str),
    /// The body could not be read (the connection broke): 400.
    Body(String),
    /// The delivery failed verification, or is not an event: see [`WebhookError`].
    Verification(WebhookError),
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingVerifier(verifier) => write!(
                f,
                "the webhook cannot be verified: the app has no {verifier} verifier. Register \
                 it with `.app_data(web::Data::new({verifier}::from_env()?))`"
            ),
            Self::Body(error) => write!(f, "the webhook's body could not be read: {error}"),
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
