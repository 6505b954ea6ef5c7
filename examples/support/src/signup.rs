//! The signup's HTTP side: the page, the form it posts, and the answers.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The signup page served at `GET /`.
///
/// It shows the click id of the `affitor_click_id` cookie, which the app's Affitor layer or
/// middleware sets when the visitor arrives through a partner link (`/?aff=partner`). Its
/// script posts the click id as `affitorClickId` with the email and password; without
/// JavaScript the form posts as a form body, and the cookie goes with it.
pub const SIGNUP_PAGE: &str = include_str!("signup.html");

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
