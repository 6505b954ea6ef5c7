//! The payment webhook extractors, `StripeEvent` and `PolarEvent`, and their rejection.

use std::fmt;
use std::ops::Deref;

use affitor_tower::Client;
use affitor_tower::webhook::{Polar, ProviderEvent, Stripe, WebhookError};
use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequest, Request};
use axum_core::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

/// A Stripe webhook event, verified: the extractor reads the raw body (up to the verifier's
/// [`body_limit`](Stripe::body_limit)), checks its `Stripe-Signature` with the [`Stripe`]
/// verifier of the router state, and reads the event. A delivery that fails is answered 400
/// (413 for a body over the limit) with a message that says why: the handler never runs.
///
/// [`track`](Self::track) sends the sale or refund and gives the status to answer. If your
/// program is connected to Affitor's Stripe integration, do not also track Stripe events
/// here: each sale would count twice.
///
/// ```
/// use affitor_axum::{AffitorClient, AffitorLayer, Client, StripeEvent};
/// use affitor_axum::affitor_tower::webhook::Stripe;
/// use axum::{Router, http::StatusCode, routing::post};
///
/// async fn stripe_webhook(affitor: AffitorClient, event: StripeEvent) -> StatusCode {
///     event.track(&affitor).await
/// }
///
/// fn app(client: Client) -> Result<Router, Box<dyn std::error::Error>> {
///     // STRIPE_WEBHOOK_SECRET, and never a built-in fallback: anyone could sign with it.
///     let stripe = Stripe::from_env()?;
///     Ok(Router::new()
///         .route("/webhooks/stripe", post(stripe_webhook))
///         .with_state(stripe) // or a field of your state, with `#[derive(FromRef)]`
///         .layer(AffitorLayer::new().client(client)))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct StripeEvent(ProviderEvent);

/// A Polar (Standard Webhooks) event, verified: as [`StripeEvent`], with the [`Polar`]
/// verifier of the router state.
///
/// ```
/// use affitor_axum::{Client, PolarEvent};
/// use affitor_axum::affitor_tower::webhook::Polar;
/// use axum::{Router, extract::{FromRef, State}, http::StatusCode, routing::post};
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     affitor: Client,
///     polar: Polar,
/// }
///
/// async fn polar(State(affitor): State<Client>, event: PolarEvent) -> StatusCode {
///     event.track(&affitor).await
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = AppState {
///     affitor: Client::builder().api_key("aff_example").build()?,
///     polar: Polar::new("polar_whs_demo")?, // or Polar::from_env()?: POLAR_WEBHOOK_SECRET
/// };
/// let app: Router = Router::new().route("/webhooks/polar", post(polar)).with_state(state);
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
            /// nothing) and returns the status to answer: 200 when handled, 503 when Affitor
            /// could not take it now and the provider should deliver it again. What happened is
            /// logged; [`into_inner`](Self::into_inner) and
            /// [`ProviderEvent::track`](affitor_tower::webhook::ProviderEvent::track) give it as a value.
            ///
            #[doc = concat!("```\n# async fn handler(client: affitor_axum::Client, event: affitor_axum::", stringify!($extractor), ") -> http::StatusCode {\nevent.track(&client).await\n# }\n```")]
            pub async fn track(&self, client: impl AsRef<Client>) -> StatusCode {
                self.0.track(client).await.status()
            }

            /// The verified event.
            ///
            #[doc = concat!("```\n# fn handler(event: affitor_axum::", stringify!($extractor), ") {\nlet event: affitor_axum::affitor_tower::webhook::ProviderEvent = event.into_inner();\n# }\n```")]
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

        impl<S> FromRequest<S> for $extractor
        where
            S: Send + Sync,
            $verifier: FromRef<S>,
        {
            type Rejection = WebhookRejection;

            async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
                let verifier = $verifier::from_ref(state);
                let (parts, body) = request.into_parts();
                let body = read_body(body, verifier.body_limit()).await?;
                let event = verifier
                    .verify(&parts.headers, &body)
                    .map_err(|error| rejected(error, &parts.headers, stringify!($verifier)))?;
                Ok(Self(event))
            }
        }
    };
}

event_extractor!(StripeEvent, Stripe);
event_extractor!(PolarEvent, Polar);

/// Reads the body, stopping one byte past `limit`: the verifier refuses what is over it.
async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, WebhookRejection> {
    let mut read = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| WebhookRejection::Body(error.to_string()))?;
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

fn rejected(error: WebhookError, headers: &HeaderMap, provider: &str) -> WebhookRejection {
    tracing::warn!(
        provider,
        %error,
        user_agent = headers.get(http::header::USER_AGENT).and_then(|value| value.to_str().ok()),
        "webhook refused"
    );
    WebhookRejection::Verification(error)
}

/// Why a webhook extractor refused a delivery; the handler does not run. Answered with
/// [`status`](Self::status) and a message that says what is wrong, which the provider shows in
/// its delivery log.
///
/// ```
/// use affitor_axum::WebhookRejection;
/// use affitor_axum::affitor_tower::webhook::Stripe;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let error = Stripe::new("whsec_demo")?.verify(Vec::<(&str, &str)>::new(), "{}").unwrap_err();
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
    /// The delivery failed verification, or is not an event: see [`WebhookError`].
    Verification(WebhookError),
}

impl WebhookRejection {
    /// The status of the rejection's response: 400, or 413 for a body over the limit.
    ///
    /// ```
    /// let rejection = affitor_axum::WebhookRejection::Body("connection reset".into());
    /// assert_eq!(rejection.status().as_u16(), 400);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Body(_) => StatusCode::BAD_REQUEST,
            Self::Verification(error) => error.status(),
        }
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body(error) => write!(f, "the webhook's body could not be read: {error}"),
            Self::Verification(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Body(_) => None,
            Self::Verification(error) => Some(error),
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}
