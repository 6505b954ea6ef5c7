//! The `AffitorClient` extractor and its rejection.

use std::fmt;

use affitor_tower::{ClickId, Client, LeadRequest, RefundRequest, SaleRequest};
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::click_id::lookup;

/// The Affitor client, bound to this request's click id.
///
/// [`lead`](Self::lead) and [`sale`](Self::sale) fill in the click id that
/// [`AffitorLayer`](crate::AffitorLayer) found in the request, unless you set one yourself, so a
/// handler tracks a signup or a payment in one line. The client comes from the layer: give it
/// one with [`AffitorLayer::client`](crate::AffitorLayer::client).
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
#[derive(Clone, Debug)]
pub struct AffitorClient {
    client: Client,
    click_id: Option<ClickId>,
}

impl AffitorClient {
    /// Binds `client` to `click_id`: what the extractor does with the layer's client and the
    /// request's click id.
    ///
    /// ```
    /// # use affitor_axum::{AffitorClient, Client};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = Client::builder().api_key("aff_example").build()?;
    /// let affitor = AffitorClient::new(client, Some("cust_42".parse()?));
    /// assert_eq!(affitor.click_id().map(|id| id.as_str()), Some("cust_42"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(client: Client, click_id: Option<ClickId>) -> Self {
        Self { client, click_id }
    }

    /// A lead (a signup) of the customer `customer_key`, your stable user id, with this
    /// request's click id.
    ///
    /// ```
    /// # use affitor_axum::{AffitorClient, Client};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let affitor = AffitorClient::new(Client::builder().api_key("aff_example").build()?, None);
    /// let lead = affitor.lead("user_123").email("ada@example.com");
    /// # drop(lead);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lead(&self, customer_key: impl Into<String>) -> LeadRequest {
        self.client
            .lead(customer_key)
            .click_id(self.click_id.clone())
    }

    /// A sale of `amount_cents` under the idempotency key `transaction_id` (your payment
    /// provider's invoice or charge id), with this request's click id.
    ///
    /// ```
    /// # use affitor_axum::{AffitorClient, Client};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let affitor = AffitorClient::new(Client::builder().api_key("aff_example").build()?, None);
    /// let sale = affitor.sale("in_1Qx", 4_999).customer_key("user_123");
    /// # drop(sale);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sale(&self, transaction_id: impl Into<String>, amount_cents: u64) -> SaleRequest {
        self.client
            .sale(transaction_id, amount_cents)
            .click_id(self.click_id.clone())
    }

    /// A refund of the sale tracked under `transaction_id`.
    ///
    /// ```
    /// # use affitor_axum::{AffitorClient, Client};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let affitor = AffitorClient::new(Client::builder().api_key("aff_example").build()?, None);
    /// let refund = affitor.refund("in_1Qx").reason("requested_by_customer");
    /// # drop(refund);
    /// # Ok(())
    /// # }
    /// ```
    pub fn refund(&self, transaction_id: impl Into<String>) -> RefundRequest {
        self.client.refund(transaction_id)
    }

    /// This request's click id, if it carries one.
    ///
    /// ```
    /// # use affitor_axum::{AffitorClient, Client};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let affitor = AffitorClient::new(Client::builder().api_key("aff_example").build()?, None);
    /// assert!(affitor.click_id().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn click_id(&self) -> Option<&ClickId> {
        self.click_id.as_ref()
    }

    /// The client itself, for the calls that are not about this request.
    ///
    /// ```
    /// # use affitor_axum::{AffitorClient, Client};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let affitor = AffitorClient::new(Client::builder().api_key("aff_example").build()?, None);
    /// let readiness = affitor.client().readiness();
    /// # drop(readiness);
    /// # Ok(())
    /// # }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
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
        Ok(Self { client, click_id })
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
