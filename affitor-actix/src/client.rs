//! The `AffitorClient` extractor and its error.

use std::fmt;
use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use affitor::client::BoundClient;
use affitor_tower::Client;

use crate::click_id::lookup;

/// The Affitor client, bound to this request's click id.
///
/// [`lead`](BoundClient::lead) and [`sale`](BoundClient::sale) fill in the click id that the
/// [`Affitor`](crate::Affitor) middleware found in the request, unless you set one yourself, so
/// a handler tracks a signup or a payment in one line.
///
/// The client comes from the middleware ([`Affitor::client`](crate::Affitor::client)) or,
/// failing that, from the app data: a `web::Data<Client>` or a plain `Client` registered with
/// `App::app_data`. The middleware must be installed either way, since it finds the click id:
/// without it, or without a client, the extractor answers 500 with a message that says what to
/// add. [`click_id`](BoundClient::click_id) is the way to read an optional click id that still
/// fails loudly on a misconfigured app (`Option<AffitorClickId>` cannot: see
/// [`AffitorClickId`](crate::AffitorClickId)).
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use affitor_actix::{Affitor, AffitorClient, Client};
/// use serde_json::{Value, json};
///
/// async fn signup(affitor: AffitorClient, form: web::Json<Value>) -> HttpResponse {
///     let user_id = "user_123"; // create the user in your database
///     let email = form["email"].as_str().unwrap_or_default().to_owned();
///     // The click id comes from the cookie, a header or the body; Affitor is never waited on.
///     affitor.lead(user_id).email(email).send_in_background();
///     HttpResponse::Ok().json(json!({ "userId": user_id }))
/// }
///
/// # fn main() -> Result<(), affitor_actix::affitor::Error> {
/// let affitor = Client::builder().api_key("aff_example").build()?;
/// let app = App::new()
///     .wrap(Affitor::new().client(affitor))
///     .route("/api/signup", web::post().to(signup));
/// # drop(app);
/// # Ok(())
/// # }
/// ```
///
/// It dereferences to [`BoundClient`], which has the methods: `lead`, `sale`, `refund`,
/// `click_id` and `client`.
#[derive(Clone, Debug)]
pub struct AffitorClient(BoundClient);

impl AffitorClient {
    /// The [`BoundClient`] inside, to keep beyond the handler (into a spawned task, say).
    ///
    /// ```
    /// use affitor_actix::{AffitorClient, BoundClient};
    ///
    /// async fn signup(affitor: AffitorClient) -> &'static str {
    ///     let affitor: BoundClient = affitor.into_inner();
    ///     actix_web::rt::spawn(async move { affitor.lead("user_123").send().await });
    ///     "welcome"
    /// }
    /// ```
    pub fn into_inner(self) -> BoundClient {
        self.0
    }
}

/// An `AffitorClient` made by hand, to call a handler in a unit test.
///
/// ```
/// use affitor_actix::{AffitorClient, Client};
///
/// # fn main() -> Result<(), affitor_actix::affitor::Error> {
/// let client = Client::builder().api_key("aff_test_key").build()?;
/// let affitor = AffitorClient::from(client.bind("abc".parse().ok()));
/// assert_eq!(affitor.click_id().map(|id| id.as_str()), Some("abc"));
/// # Ok(())
/// # }
/// ```
impl From<BoundClient> for AffitorClient {
    fn from(bound: BoundClient) -> Self {
        Self(bound)
    }
}

impl Deref for AffitorClient {
    type Target = BoundClient;

    fn deref(&self) -> &BoundClient {
        &self.0
    }
}

impl AsRef<Client> for AffitorClient {
    fn as_ref(&self) -> &Client {
        self.0.client()
    }
}

impl FromRequest for AffitorClient {
    type Error = ClientRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(extract(request))
    }
}

fn extract(request: &HttpRequest) -> Result<AffitorClient, ClientRejection> {
    let click_id = lookup(request)
        .map_err(|_| ClientRejection::MissingMiddleware)?
        .click_id()
        .cloned();
    let carried = request.extensions().get::<Client>().cloned();
    let client = carried
        .or_else(|| {
            request
                .app_data::<web::Data<Client>>()
                .map(|data| Client::clone(data))
        })
        .or_else(|| request.app_data::<Client>().cloned())
        .ok_or_else(|| {
            tracing::error!(
                path = request.path(),
                "AffitorClient was asked for, but neither the Affitor middleware nor the app \
                 data has a client"
            );
            ClientRejection::MissingClient
        })?;
    Ok(AffitorClient(client.bind(click_id)))
}

/// Why [`AffitorClient`] could not be extracted: the app is misconfigured (500).
///
/// Its response is the [`status`](Self::status) with the message as plain text.
///
/// ```
/// use affitor_actix::ClientRejection;
///
/// let rejection = ClientRejection::MissingClient;
/// assert_eq!(rejection.status(), actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
/// assert!(rejection.to_string().contains("Affitor::new().client("));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientRejection {
    /// The [`Affitor`](crate::Affitor) middleware did not see the request.
    MissingMiddleware,
    /// Neither the middleware nor the app data has a client.
    MissingClient,
}

impl ClientRejection {
    /// The status of the response: always 500.
    ///
    /// ```
    /// # use affitor_actix::ClientRejection;
    /// assert_eq!(ClientRejection::MissingMiddleware.status(), 500);
    /// ```
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl fmt::Display for ClientRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingMiddleware => {
                "the Affitor client cannot be found: is the `Affitor` middleware installed? Add \
                 `.wrap(Affitor::new().client(client))` to the App or to the scope of the \
                 routes that use it"
            }
            Self::MissingClient => {
                "the Affitor client cannot be found: the `Affitor` middleware was installed \
                 without one. Give it with `.wrap(Affitor::new().client(client))`, or register \
                 it with `.app_data(client)`"
            }
        })
    }
}

impl std::error::Error for ClientRejection {}

impl ResponseError for ClientRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }
}
