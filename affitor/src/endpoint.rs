//! The endpoints of the Affitor API.

use std::fmt;

/// One endpoint of the Affitor API: what the client calls and the stand-in API serves.
///
/// ```
/// use affitor::client::Endpoint;
///
/// assert_eq!(Endpoint::Sale.path(), "/api/v1/track/sale");
/// assert_eq!(Endpoint::Readiness.to_string(), "GET /api/v1/programs/me/readiness");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /api/v1/track/click`: a visitor arrived through a partner link. Sent without the
    /// API key: the `aff` code in the URL is its credential.
    Click,
    /// `POST /api/v1/track/lead`: a signup.
    Lead,
    /// `POST /api/v1/track/sale`: a payment.
    Sale,
    /// `POST /api/v1/track/refund`: a refund or a chargeback.
    Refund,
    /// `POST /api/v1/cli/test-event`: the synthetic verification chain.
    TestEvent,
    /// `GET /api/v1/programs/me/readiness`: the program's readiness verdict.
    Readiness,
}

impl Endpoint {
    /// Every endpoint, in the order of the API reference and of the variants.
    pub(crate) const ALL: [Self; 6] = [
        Self::Click,
        Self::Lead,
        Self::Sale,
        Self::Refund,
        Self::TestEvent,
        Self::Readiness,
    ];

    /// The endpoint's path below the API's base URL.
    ///
    /// ```
    /// use affitor::client::Endpoint;
    /// assert_eq!(Endpoint::Click.path(), "/api/v1/track/click");
    /// ```
    pub const fn path(self) -> &'static str {
        match self {
            Self::Click => "/api/v1/track/click",
            Self::Lead => "/api/v1/track/lead",
            Self::Sale => "/api/v1/track/sale",
            Self::Refund => "/api/v1/track/refund",
            Self::TestEvent => "/api/v1/cli/test-event",
            Self::Readiness => "/api/v1/programs/me/readiness",
        }
    }

    /// The endpoint's HTTP method.
    ///
    /// ```
    /// use affitor::client::Endpoint;
    ///
    /// assert_eq!(Endpoint::Readiness.method(), http::Method::GET);
    /// assert_eq!(Endpoint::Sale.method(), http::Method::POST);
    /// ```
    pub fn method(self) -> http::Method {
        match self {
            Self::Readiness => http::Method::GET,
            _ => http::Method::POST,
        }
    }

    /// The endpoint's short name, used in logs and spans, and to store an
    /// [`Event`](crate::client::Event)'s endpoint: `click`, `lead`, `sale`, `refund`, `test_event`,
    /// `readiness`.
    ///
    /// ```
    /// use affitor::client::Endpoint;
    ///
    /// assert_eq!(Endpoint::Sale.name(), "sale");
    /// assert_eq!(Endpoint::from_name("sale"), Some(Endpoint::Sale));
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Self::Click => "click",
            Self::Lead => "lead",
            Self::Sale => "sale",
            Self::Refund => "refund",
            Self::TestEvent => "test_event",
            Self::Readiness => "readiness",
        }
    }
}

impl Endpoint {
    /// The endpoint of a short [`name`](Self::name); `None` for any other text.
    ///
    /// ```
    /// use affitor::client::Endpoint;
    ///
    /// assert_eq!(Endpoint::from_name("refund"), Some(Endpoint::Refund));
    /// assert_eq!(Endpoint::from_name("Refund"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|endpoint| endpoint.name() == name)
    }

    /// The endpoint served at [`path`](Self::path) (no query); `None` for any other path.
    ///
    /// ```
    /// use affitor::client::Endpoint;
    ///
    /// assert_eq!(Endpoint::from_path("/api/v1/track/sale"), Some(Endpoint::Sale));
    /// assert_eq!(Endpoint::from_path("/api/v1/track/sale/"), None);
    /// ```
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|endpoint| endpoint.path() == path)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method(), self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_method_and_path() {
        assert_eq!(Endpoint::Sale.to_string(), "POST /api/v1/track/sale");
        assert_eq!(
            Endpoint::Readiness.to_string(),
            "GET /api/v1/programs/me/readiness"
        );
    }
}
