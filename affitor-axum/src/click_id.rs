//! The `AffitorClickId` extractor and its rejection.

use std::fmt;
use std::ops::Deref;

use affitor_tower::{ClickId, lookup::ClickIdLookup};
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

/// Extracts the click id that [`AffitorLayer`](crate::AffitorLayer) found in the request.
///
/// As `AffitorClickId`, the handler runs only when the request carries a valid click id, and
/// the request is otherwise rejected with a 400 that says where the click id was looked for and
/// why the values found were refused. As `Option<AffitorClickId>`, a request without one is
/// `None`. Either way, a missing `AffitorLayer` is a 500 that says to install it: a
/// misconfigured app fails loudly instead of silently tracking nothing.
///
/// ```
/// use affitor_axum::{AffitorClickId, AffitorLayer};
/// use axum::{Router, routing::post};
///
/// async fn signup(click_id: Option<AffitorClickId>) -> String {
///     match click_id {
///         Some(AffitorClickId(id)) => format!("referred by click {id}"),
///         None => "organic signup".to_owned(),
///     }
/// }
///
/// let app: Router = Router::new()
///     .route("/api/signup", post(signup))
///     .layer(AffitorLayer::new());
/// # drop(app);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AffitorClickId(pub ClickId);

impl AffitorClickId {
    /// The click id, consuming the extractor.
    ///
    /// ```
    /// # use affitor_axum::{AffitorClickId, ClickId};
    /// let id: ClickId = "abc".parse()?;
    /// assert_eq!(AffitorClickId(id.clone()).into_inner(), id);
    /// # Ok::<(), affitor_axum::affitor_tower::lookup::InvalidClickId>(())
    /// ```
    pub fn into_inner(self) -> ClickId {
        self.0
    }
}

impl Deref for AffitorClickId {
    type Target = ClickId;

    fn deref(&self) -> &ClickId {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AffitorClickId {
    type Rejection = ClickIdRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let lookup = lookup(parts)?;
        match lookup.click_id() {
            Some(click_id) => Ok(Self(click_id.clone())),
            None => Err(ClickIdRejection::NotFound(lookup.clone())),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AffitorClickId {
    type Rejection = ClickIdRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(lookup(parts)?.click_id().cloned().map(Self))
    }
}

/// The lookup the layer left in the request, or the rejection that says to install the layer.
pub(crate) fn lookup(parts: &Parts) -> Result<&ClickIdLookup, ClickIdRejection> {
    parts.extensions.get::<ClickIdLookup>().ok_or_else(|| {
        tracing::error!(
            path = parts.uri.path(),
            "an Affitor extractor ran on a request that AffitorLayer did not see"
        );
        ClickIdRejection::MissingLayer
    })
}

/// Why [`AffitorClickId`] rejected a request.
///
/// ```
/// use affitor_axum::ClickIdRejection;
/// use axum::response::IntoResponse;
///
/// let rejection = ClickIdRejection::MissingLayer;
/// assert_eq!(rejection.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
/// assert!(rejection.to_string().contains("AffitorLayer"));
/// assert_eq!(rejection.into_response().status(), 500);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClickIdRejection {
    /// The request carries no valid click id (400). The lookup says where it was looked for
    /// and why the values found were refused.
    NotFound(ClickIdLookup),
    /// `AffitorLayer` did not see the request (500): the app is misconfigured.
    MissingLayer,
}

impl ClickIdRejection {
    /// The status of the rejection's response.
    ///
    /// ```
    /// use affitor_axum::ClickIdRejection;
    /// use affitor_axum::affitor_tower::lookup::ClickIdLookup;
    ///
    /// let rejection = ClickIdRejection::NotFound(ClickIdLookup::not_found(Vec::new()));
    /// assert_eq!(rejection.status(), http::StatusCode::BAD_REQUEST);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::BAD_REQUEST,
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ClickIdRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(lookup) => write!(
                f,
                "{lookup}: send the Affitor click id where `AffitorLayer` looks for it (by \
                 default the `affitor_click_id` cookie, the `x-affitor-click-id` header or the \
                 `affitorClickId` body field), or take `Option<AffitorClickId>` if it is \
                 optional"
            ),
            Self::MissingLayer => f.write_str(
                "the Affitor click id cannot be read: is `AffitorLayer` installed? Add \
                 `.layer(AffitorLayer::new())` to the Router, after the routes that use it",
            ),
        }
    }
}

impl std::error::Error for ClickIdRejection {}

impl IntoResponse for ClickIdRejection {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}
