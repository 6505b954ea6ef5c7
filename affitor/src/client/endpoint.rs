//! What the client needs to know of each endpoint, beyond its path.

pub(crate) use crate::endpoint::Endpoint;

impl Endpoint {
    /// Whether the call sends `Authorization: Bearer <key>`. A click never does: the `aff`
    /// code in the URL is its credential.
    pub(crate) const fn sends_key(self) -> bool {
        !matches!(self, Self::Click)
    }

    /// The position of the endpoint in [`Endpoint::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Whether the call is a `GET` (readiness) rather than a `POST` with a JSON body.
    pub(crate) const fn is_get(self) -> bool {
        matches!(self, Self::Readiness)
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
            assert_eq!(endpoint.is_get(), endpoint.method() == http::Method::GET);
        }
    }
}
