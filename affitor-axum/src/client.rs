//! The `AffitorClient` extractor and its rejection.

use std::fmt;
use std::ops::Deref;

use affitor_tower::{BoundClient, Client};
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::click_id::lookup;

/// The Affitor client, bound to this request's click id.
///
/// [`lead`](BoundClient::lead) and [`sale`](BoundClient::sale) fill in the click id that
/// [`AffitorLayer`](crate::AffitorLayer) found in the request, unless you set one yourself, so a
/// handler tracks a signup or a payment in one line. The client comes from the layer: give it
/// one with [`AffitorLayer::client`](crate::AffitorLayer::client). If your client also lives in
/// your router state, give the layer that same client (a clone shares its pool and its delivery
/// queue): the extractor does not read the state through `FromRef`, since that would require
/// every router state, `()` included, to hold a client.
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
/// # fn main() -> Result<(), affitor_axum::affitor_tower::Error> {
/// let affitor = Client::builder().api_key("aff_example").build()?;
/// let app: Router = Router::new()
///     .route("/api/signup", post(signup))
///     .layer(AffitorLayer::new().client(affitor));
/// # drop(app);
/// # Ok(())
/// # }
/// ```
///
/// It dereferences to [`BoundClient`], which has the methods: `lead`, `sale`, `refund`,
/// `click_id` and `client`.
#[derive(Clone, Debug)]
pub struct AffitorClient(pub BoundClient);

impl Deref for AffitorClient {
    type Target = BoundClient;

    fn deref(&self) -> &BoundClient {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AffitorClient {
    type Rejection = ClientRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let click_id = lookup(parts)
            .map_err(|_| ClientRejection::MissingLayer)?
            .click_id()
            .cloned();
        let client = parts.extensions.get::<Client>().cloned().ok_or_else(|| {
            tracing::error!(
                path = parts.uri.path(),
                "AffitorClient was asked for, but AffitorLayer carries no client"
            );
            ClientRejection::MissingClient
        })?;
        Ok(Self(client.bind(click_id)))
    }
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
    /// `AffitorLayer` did not see the request.
    MissingLayer,
    /// `AffitorLayer` was installed without a client.
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
                "the Affitor client cannot be found: is `AffitorLayer` installed? Add \
                 `.layer(AffitorLayer::new().client(client))` to the Router, after the routes \
                 that use it"
            }
            Self::MissingClient => {
                "the Affitor client cannot be found: `AffitorLayer` was installed without one. \
                 Give it with `AffitorLayer::new().client(client)`"
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
