//! A partner link's visit held until the visitor consents: what the page keeps, and sends back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A visit to a partner link, held until the visitor consents: the signed token the page keeps
/// and sends back, in the [`HEADER`](Self::HEADER) of a request of its own, once the visitor
/// has consented.
///
/// When [`CaptureClicks::hold_until_consent`](crate::capture::CaptureClicks::hold_until_consent) is set
/// and the consent predicate refuses a partner link's visit, the layer (or the actix-web
/// middleware) puts a `HeldClick` in the request's extensions: the handler that renders the
/// page writes it into the page (it is URL-safe: `A-Z a-z 0-9 - _ .`). Nothing is recorded and
/// no cookie is set. The response is kept out of shared caches.
///
/// A held click expires [`LIFETIME`](Self::LIFETIME) after the landing, and is recorded once
/// per process: a second request with the same token to the same process is refused. The tokens
/// spent are remembered in that process's memory only, by the `CaptureClicks` and its clones
/// (build it once, outside a per-worker closure), until they expire, at most 100,000 of them
/// (past that, the oldest are forgotten first): another server of a fleet, a restart, or more
/// than 100,000 recorded within 30 minutes lets a token be recorded once more, as the same
/// visitor opening the partner's link twice would be. It is refused too when the consent
/// predicate still says no for the request that carries it (the token stays usable), when that
/// request comes from another site (`Sec-Fetch-Site`), or when its signature is not the key's.
///
/// ```
/// use affitor_tower::adapter::HeldClick;
/// use axum::{Extension, response::Html};
///
/// // The page's handler: the token, when the visit was held, in a meta tag the page's script reads.
/// async fn page(held: Option<Extension<HeldClick>>) -> Html<String> {
///     let token = held.as_ref().map_or("", |Extension(held)| held.as_str());
///     Html(format!(r#"<meta name="affitor-held-click" content="{token}">"#))
/// }
/// // Once the visitor consents, the page's script:
/// // fetch("/api/consent", { method: "POST", headers: { "Affitor-Held-Click": token } })
/// assert_eq!(HeldClick::HEADER, "affitor-held-click");
/// # let _ = page;
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HeldClick {
    token: Arc<str>,
}

impl HeldClick {
    /// The request header that carries a held click back: `Affitor-Held-Click`. A custom header
    /// keeps other sites from sending it: a browser asks the server first (CORS), and sends it
    /// only where the server allows.
    ///
    /// See [`HeldClick`] for an example.
    pub const HEADER: &'static str = "affitor-held-click";

    /// How long after the landing a held click may be recorded: 30 minutes.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert_eq!(affitor_tower::adapter::HeldClick::LIFETIME, Duration::from_secs(30 * 60));
    /// ```
    pub const LIFETIME: Duration = Duration::from_secs(30 * 60);

    /// A held click of `token` (signed by `capture/hold.rs`).
    pub(crate) fn new(token: String) -> Self {
        Self {
            token: token.into(),
        }
    }

    /// The token: what the page keeps and sends back in [`HEADER`](Self::HEADER).
    ///
    /// See [`HeldClick`] for an example.
    pub fn as_str(&self) -> &str {
        &self.token
    }
}

impl fmt::Display for HeldClick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.token)
    }
}

impl fmt::Debug for HeldClick {
    /// The token's length only: it names the visitor's landing page and referrer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeldClick({} bytes)", self.token.len())
    }
}
