//! The `AffitorClickId` extractor and its error.

use std::cell::Ref;
use std::fmt;
use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError};
use affitor_tower::{ClickId, lookup::ClickIdLookup};

/// Extracts the click id that the [`Affitor`](crate::Affitor) middleware found in the request.
///
/// As `AffitorClickId`, the handler runs only when the request carries a valid click id, and
/// the request is otherwise answered with a 400 that says where the click id was looked for and
/// why the values found were refused. A missing middleware is a 500 that says to install it: a
/// misconfigured app fails loudly instead of silently tracking nothing.
///
/// As `Option<AffitorClickId>`, a request without a click id is `None`. Beware that actix-web
/// turns *every* extractor error into `None` for an `Option`, the missing middleware included:
/// the extractor then still logs the misconfiguration at `error` level, but the handler runs.
/// To fail loudly when the click id is optional, take [`AffitorClient`](crate::AffitorClient)
/// and read [`click_id`](affitor::client::BoundClient::click_id) from it, or take
/// `web::ReqData<ClickIdLookup>`.
///
/// ```
/// use actix_web::{App, web};
/// use affitor_actix::{Affitor, AffitorClickId};
///
/// async fn signup(click_id: Option<AffitorClickId>) -> String {
///     match click_id {
///         Some(AffitorClickId(id)) => format!("referred by click {id}"),
///         None => "organic signup".to_owned(),
///     }
/// }
///
/// let app = App::new()
///     .wrap(Affitor::new())
///     .route("/api/signup", web::post().to(signup));
/// # drop(app);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AffitorClickId(pub ClickId);

impl AffitorClickId {
    /// The click id, consuming the extractor.
    ///
    /// ```
    /// # use affitor_actix::{AffitorClickId, ClickId};
    /// let id: ClickId = "abc".parse()?;
    /// assert_eq!(AffitorClickId(id.clone()).into_inner(), id);
    /// # Ok::<(), affitor_actix::affitor_tower::lookup::InvalidClickId>(())
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

impl FromRequest for AffitorClickId {
    type Error = ClickIdRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let result = lookup(request).and_then(|lookup| match lookup.click_id() {
            Some(click_id) => Ok(Self(click_id.clone())),
            None => Err(ClickIdRejection::NotFound(ClickIdLookup::clone(&lookup))),
        });
        ready(result)
    }
}

/// The lookup the middleware left in the request, or the error that says to install it.
pub(crate) fn lookup(request: &HttpRequest) -> Result<Ref<'_, ClickIdLookup>, ClickIdRejection> {
    Ref::filter_map(request.extensions(), |extensions| {
        extensions.get::<ClickIdLookup>()
    })
    .map_err(|_| {
        tracing::error!(
            path = request.path(),
            "an Affitor extractor ran on a request that the Affitor middleware did not see"
        );
        ClickIdRejection::MissingMiddleware
    })
}

/// Why [`AffitorClickId`] could not be extracted.
///
/// Its response is the [`status`](Self::status) with the message as plain text.
///
/// ```
/// use actix_web::ResponseError;
/// use affitor_actix::ClickIdRejection;
///
/// let rejection = ClickIdRejection::MissingMiddleware;
/// assert_eq!(rejection.status(), actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
/// assert!(rejection.to_string().contains(".wrap(Affitor::new())"));
/// assert_eq!(rejection.error_response().status(), 500);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClickIdRejection {
    /// The request carries no valid click id (400). The lookup says where it was looked for
    /// and why the values found were refused.
    NotFound(ClickIdLookup),
    /// The [`Affitor`](crate::Affitor) middleware did not see the request (500): the app is
    /// misconfigured.
    MissingMiddleware,
}

impl ClickIdRejection {
    /// The status of the response: 400 for a request without a click id, 500 for a missing
    /// middleware.
    ///
    /// ```
    /// # use affitor_actix::{ClickIdLookup, ClickIdRejection};
    /// let rejection = ClickIdRejection::NotFound(ClickIdLookup::not_found(Vec::new()));
    /// assert_eq!(rejection.status(), actix_web::http::StatusCode::BAD_REQUEST);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::BAD_REQUEST,
            Self::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ClickIdRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(lookup) => write!(
                f,
                "{lookup}: send the Affitor click id where the `Affitor` middleware looks for it (by \
                 default the `affitor_click_id` cookie, the `x-affitor-click-id` header or the \
                 `affitorClickId` body field), or take `Option<AffitorClickId>` if it is \
                 optional"
            ),
            Self::MissingMiddleware => f.write_str(
                "the Affitor click id cannot be read: is the `Affitor` middleware installed? \
                 Add `.wrap(Affitor::new())` to the App or to the scope of the routes that use it",
            ),
        }
    }
}

impl std::error::Error for ClickIdRejection {}

impl ResponseError for ClickIdRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }
}
