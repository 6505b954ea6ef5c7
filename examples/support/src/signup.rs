//! The signup's HTTP side: the page, the form it posts, and the answers.

use std::borrow::Cow;
use std::fmt;

use affitor_tower::adapter::{HeldClick, Visit};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The signup page served at `GET /` (see [`signup_page`]).
///
/// It shows the click id of the `affitor_click_id` cookie, which the app's Affitor layer or
/// middleware sets when the visitor arrives through a partner link (`/?aff=partner`). Its
/// script posts the click id as `affitorClickId` with the email and password; without
/// JavaScript the form posts as a form body, and the cookie goes with it.
pub const SIGNUP_PAGE: &str = include_str!("signup.html");

/// The cookie the page's consent banner writes: `all` once the visitor allows the partner's
/// cookie, `necessary` while they have chosen only the cookies the site needs.
pub const CONSENT_COOKIE: &str = "cookie_consent";

/// The examples' consent predicate: a visitor is tracked unless they chose only the necessary
/// cookies (`cookie_consent=necessary`), as a site outside the ePrivacy rules may do. A site
/// under them asks for a yes instead: `visit.cookie("cookie_consent") == Some("all")`.
///
/// A partner link's visit it refuses is held ([`HeldClick`]), and recorded once the banner's
/// "Allow" sends it back.
pub fn consented(visit: &Visit<'_>) -> bool {
    visit.cookie(CONSENT_COOKIE) != Some("necessary")
}

/// The signup page, with the held click of a visit the consent predicate refused, for its
/// banner to send back once the visitor allows it: `GET /`'s body.
pub fn signup_page(held: Option<&HeldClick>) -> Cow<'static, str> {
    match held {
        // The token is URL-safe base64 and a dot: nothing in it needs escaping in HTML.
        Some(held) => Cow::Owned(SIGNUP_PAGE.replacen(
            HELD_CLICK_SLOT,
            &format!(r#"<meta name="affitor-held-click" content="{held}">"#),
            1,
        )),
        None => Cow::Borrowed(SIGNUP_PAGE),
    }
}

/// Where [`signup_page`] writes the held click.
const HELD_CLICK_SLOT: &str = r#"<meta name="affitor-held-click" content="">"#;

/// The body of `POST /api/signup`, as JSON or as a form.
///
/// The click id travels in the same body as `affitorClickId`, but the handler does not read it:
/// the Affitor layer or middleware already found it.
#[derive(Clone, Deserialize)]
pub struct SignupForm {
    /// The new user's email.
    pub email: String,
    /// The new user's password.
    pub password: String,
}

impl fmt::Debug for SignupForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignupForm").finish_non_exhaustive()
    }
}

/// The answer of `POST /api/signup`.
#[derive(Clone, Debug, Serialize)]
pub struct SignupResponse {
    /// The new user's id, which is the Affitor `customer_key`.
    #[serde(rename = "userId")]
    pub user_id: String,
}

/// Why a signup was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignupError {
    /// The email has no `@`, or is too long.
    InvalidEmail,
    /// The password is shorter than 8 characters.
    WeakPassword,
    /// A user with this email exists.
    EmailTaken,
}

impl SignupError {
    /// The HTTP status to answer with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidEmail | Self::WeakPassword => 400,
            Self::EmailTaken => 409,
        }
    }

    /// The JSON body to answer with.
    pub fn body(self) -> Value {
        json!({ "error": self.to_string() })
    }
}

impl fmt::Display for SignupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidEmail => "enter a valid email address",
            Self::WeakPassword => "choose a password of at least 8 characters",
            Self::EmailTaken => "an account with this email exists: sign in instead",
        })
    }
}

impl std::error::Error for SignupError {}
