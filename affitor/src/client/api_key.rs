//! The API key, which never shows in `Debug` output.

use std::fmt;

/// The API key. Its `Debug` shows only the documented prefix.
#[derive(Clone)]
pub(crate) struct ApiKey(Box<str>);

impl ApiKey {
    pub(super) fn new(key: String) -> Self {
        Self(key.trim().into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = ["affk_", "aff_"]
            .into_iter()
            .find(|prefix| self.0.starts_with(prefix))
            .unwrap_or("");
        write!(f, "ApiKey({prefix}…redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_only_the_documented_prefix() {
        assert_eq!(
            format!("{:?}", ApiKey::new(" aff_s3cret ".into())),
            "ApiKey(aff_…redacted)"
        );
        assert_eq!(
            format!("{:?}", ApiKey::new("affk_mgmt".into())),
            "ApiKey(affk_…redacted)"
        );
        assert_eq!(
            format!("{:?}", ApiKey::new("other".into())),
            "ApiKey(…redacted)"
        );
        assert_eq!(ApiKey::new(" aff_s3cret ".into()).expose(), "aff_s3cret");
    }
}
