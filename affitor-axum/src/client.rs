//! The `AffitorClient` extractor, where it finds the client, and its rejection.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use affitor::client::BoundClient;
use affitor_tower::{ClickId, Client};
use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::click_id::lookup;

/// The Affitor client, bound to this request's click id.
///
/// [`lead`](BoundClient::lead) and [`sale`](BoundClient::sale) fill in the click id that
/// [`AffitorLayer`](crate::AffitorLayer) found in the request, unless you set one yourself, so a
/// handler tracks a signup or a payment in one line. It dereferences to [`BoundClient`], which
/// has the methods: `lead`, `sale`, `refund`, `click_id` and `client`.
///
/// Where the client comes from is the type parameter:
/// - `AffitorClient` (that is, `AffitorClient<FromLayer>`): the client the layer carries, given
///   with [`AffitorLayer::client`](crate::AffitorLayer::client). This works with any router
///   state, `()` included.
/// - [`AffitorClient<FromState>`](FromState): the [`Client`] in your router state, read through
///   [`FromRef`]. The layer still finds the click id, so install it, with or without a client.
///
/// ```
/// use affitor_axum::{AffitorClient, AffitorLayer, Client};
/// use axum::{Json, Router, routing::post};
/// use serde_json::{Value, json};
///
/// async fn signup(affitor: AffitorClient, Json(form): Json<Value>) -> Json<Value> {
///     let user_id = "user_123"; // create the user in your database
///     let email = form["email"].as_str().unwrap_or_default();
///     // The click id comes from the cookie, a header or the body; Affitor is never waited on.
///     affitor.lead(user_id).email(email).send_in_background();
///     Json(json!({ "userId": user_id }))
/// }
///
/// # fn main() -> Result<(), affitor_axum::affitor::Error> {
/// let affitor = Client::builder().api_key("aff_example").build()?;
/// let app: Router = Router::new()
///     .route("/api/signup", post(signup))
///     .layer(AffitorLayer::new().client(affitor));
/// # drop(app);
/// # Ok(())
/// # }
/// ```
pub struct AffitorClient<Source = FromLayer> {
    bound: BoundClient,
    source: PhantomData<fn() -> Source>,
}

/// [`AffitorClient`] takes the client that [`AffitorLayer`](crate::AffitorLayer) carries: the
/// default, so `AffitorClient` alone means `AffitorClient<FromLayer>`.
///
/// Without a client on the layer, the extractor answers 500 with
/// [`ClientRejection::MissingClient`].
///
/// ```
/// use affitor_axum::{AffitorClient, FromLayer};
///
/// // The same type, spelled out.
/// async fn signup(affitor: AffitorClient<FromLayer>) {
///     affitor.lead("user_123").send_in_background();
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub enum FromLayer {}

/// [`AffitorClient<FromState>`](AffitorClient) takes the [`Client`] in the router state, through
/// [`FromRef`]: for apps that keep their clients in the state already.
///
/// [`AffitorLayer`](crate::AffitorLayer) still finds the click id, so install it; it needs no
/// client of its own, and the state's client is used even when it has one.
///
/// ```
/// use affitor_axum::{AffitorClient, AffitorLayer, Client, FromState};
/// use axum::{Router, extract::FromRef, routing::post};
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     affitor: Client,
///     // your database pool, your settings...
/// }
///
/// async fn signup(affitor: AffitorClient<FromState>) -> &'static str {
///     affitor.lead("user_123").send_in_background();
///     "welcome"
/// }
///
/// # fn main() -> Result<(), affitor_axum::affitor::Error> {
/// let state = AppState { affitor: Client::builder().api_key("aff_example").build()? };
/// let app: Router = Router::new()
///     .route("/api/signup", post(signup))
///     .layer(AffitorLayer::new()) // finds the click id; the client comes from the state
///     .with_state(state);
/// # drop(app);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub enum FromState {}

impl<Source> AffitorClient<Source> {
    fn new(bound: BoundClient) -> Self {
        Self {
            bound,
            source: PhantomData,
        }
    }

    /// The [`BoundClient`] inside, to keep beyond the handler (into a spawned task, say).
    ///
    /// ```
    /// use affitor_axum::{AffitorClient, BoundClient};
    ///
    /// async fn signup(affitor: AffitorClient) {
    ///     let affitor: BoundClient = affitor.into_inner();
    ///     tokio::spawn(async move { affitor.lead("user_123").send().await });
    /// }
    /// ```
    pub fn into_inner(self) -> BoundClient {
        self.bound
    }
}

impl<Source> Deref for AffitorClient<Source> {
    type Target = BoundClient;

    fn deref(&self) -> &BoundClient {
        &self.bound
    }
}

impl<Source> AsRef<Client> for AffitorClient<Source> {
    fn as_ref(&self) -> &Client {
        self.bound.client()
    }
}

impl<Source> Clone for AffitorClient<Source> {
    fn clone(&self) -> Self {
        Self::new(self.bound.clone())
    }
}

/// An `AffitorClient` made by hand, to call a handler in a unit test.
///
/// ```
/// use affitor_axum::{AffitorClient, Client};
///
/// # fn main() -> Result<(), affitor_axum::affitor::Error> {
/// let client = Client::builder().api_key("aff_test_key").build()?;
/// let affitor: AffitorClient = client.bind("abc".parse().ok()).into();
/// assert_eq!(affitor.click_id().map(|id| id.as_str()), Some("abc"));
/// # Ok(())
/// # }
/// ```
impl<Source> From<BoundClient> for AffitorClient<Source> {
    fn from(bound: BoundClient) -> Self {
        Self::new(bound)
    }
}

impl<Source> fmt::Debug for AffitorClient<Source> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AffitorClient").field(&self.bound).finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AffitorClient<FromLayer> {
    type Rejection = ClientRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let click_id = request_click_id(parts)?;
        let client = parts.extensions.get::<Client>().ok_or_else(|| {
            tracing::error!(
                path = parts.uri.path(),
                "AffitorClient was asked for, but AffitorLayer carries no client"
            );
            ClientRejection::MissingClient
        })?;
        Ok(Self::new(client.bind(click_id)))
    }
}

impl<S> FromRequestParts<S> for AffitorClient<FromState>
where
    S: Send + Sync,
    Client: FromRef<S>,
{
    type Rejection = ClientRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let click_id = request_click_id(parts)?;
        Ok(Self::new(Client::from_ref(state).bind(click_id)))
    }
}

/// The click id the layer found, `None` when it found none; an error when no layer saw the request.
fn request_click_id(parts: &Parts) -> Result<Option<ClickId>, ClientRejection> {
    let lookup = lookup(parts).map_err(|_| ClientRejection::MissingLayer)?;
    Ok(lookup.click_id().cloned())
}

/// Why [`AffitorClient`] could not be extracted: the app is misconfigured (500).
///
/// ```
/// use affitor_axum::ClientRejection;
///
/// let rejection = ClientRejection::MissingClient;
/// assert_eq!(rejection.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
/// assert!(rejection.to_string().contains("AffitorLayer::new().client("));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientRejection {
    /// `AffitorLayer` did not see the request, so the click id is unknown.
    MissingLayer,
    /// `AffitorLayer` was installed without a client, and the handler takes the layer's client
    /// ([`AffitorClient`], that is `AffitorClient<FromLayer>`).
    MissingClient,
}

impl ClientRejection {
    /// The status of the rejection's response: always 500.
    ///
    /// ```
    /// use affitor_axum::ClientRejection;
    ///
    /// assert_eq!(ClientRejection::MissingLayer.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    /// ```
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl fmt::Display for ClientRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingLayer => {
                "the Affitor client cannot be bound to the click id: is `AffitorLayer` \
                 installed? Add `.layer(AffitorLayer::new().client(client))` to the Router, \
                 after the routes that use it (`AffitorLayer::new()` alone when the handler \
                 takes `AffitorClient<FromState>`)"
            }
            Self::MissingClient => {
                "the Affitor client cannot be found: `AffitorLayer` was installed without one. \
                 Give it with `AffitorLayer::new().client(client)`, or take \
                 `AffitorClient<FromState>` to use the `Client` in the router state"
            }
        })
    }
}

impl std::error::Error for ClientRejection {}

impl IntoResponse for ClientRejection {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}
