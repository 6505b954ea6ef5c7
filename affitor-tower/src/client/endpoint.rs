//! The endpoints of the Affitor API that the client calls.

use std::fmt;

/// One endpoint of the Affitor API.
///
/// Crate-internal: it names the call in spans and errors, chooses the retry rules and says
/// whether the call carries the Bearer key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    /// `POST /api/v1/track/click`, without authentication.
    Click,
    /// `POST /api/v1/track/lead`.
    Lead,
    /// `POST /api/v1/track/sale`.
    Sale,
    /// `POST /api/v1/track/refund`.
    Refund,
    /// `POST /api/v1/cli/test-event` with `{"type":"chain"}`.
    TestEvent,
    /// `GET /api/v1/programs/me/readiness`.
    Readiness,
}

impl Endpoint {
    /// Every endpoint, in a fixed order (the index of [`Endpoint::index`]).
    pub(crate) const ALL: [Self; 6] = [
        Self::Click,
        Self::Lead,
        Self::Sale,
        Self::Refund,
        Self::TestEvent,
        Self::Readiness,
    ];

    /// The path below the base URL.
    pub(crate) const fn path(self) -> &'static str {
        match self {
            Self::Click => "/api/v1/track/click",
            Self::Lead => "/api/v1/track/lead",
            Self::Sale => "/api/v1/track/sale",
            Self::Refund => "/api/v1/track/refund",
            Self::TestEvent => "/api/v1/cli/test-event",
            Self::Readiness => "/api/v1/programs/me/readiness",
        }
    }

    /// A short name for spans and messages.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Click => "click",
            Self::Lead => "lead",
            Self::Sale => "sale",
            Self::Refund => "refund",
            Self::TestEvent => "test-event",
            Self::Readiness => "readiness",
        }
    }

    /// Whether the call sends `Authorization: Bearer <key>`. A click never does: the `aff`
    /// code in the URL is its credential.
    pub(crate) const fn sends_key(self) -> bool {
        !matches!(self, Self::Click)
    }

    /// Whether the call is a `GET` (readiness) rather than a `POST` with a JSON body.
    pub(crate) const fn is_get(self) -> bool {
        matches!(self, Self::Readiness)
    }

    /// The position of the endpoint in [`Endpoint::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            Self::Click => 0,
            Self::Lead => 1,
            Self::Sale => 2,
            Self::Refund => 3,
            Self::TestEvent => 4,
            Self::Readiness => 5,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = if self.is_get() { "GET" } else { "POST" };
        write!(f, "{method} {}", self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_all() {
        for (index, endpoint) in Endpoint::ALL.iter().enumerate() {
            assert_eq!(endpoint.index(), index);
        }
    }

    #[test]
    fn only_click_goes_without_the_key() {
        for endpoint in Endpoint::ALL {
            assert_eq!(endpoint.sends_key(), endpoint != Endpoint::Click);
        }
        assert_eq!(Endpoint::Sale.to_string(), "POST /api/v1/track/sale");
        assert_eq!(
            Endpoint::Readiness.to_string(),
            "GET /api/v1/programs/me/readiness"
        );
    }
}
