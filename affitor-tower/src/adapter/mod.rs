//! What an adapter to another HTTP library drives: the click id lookup in its two steps, and
//! capture's decision, the visit it is made on, the click in flight and the cookies it sets.
//!
//! axum and actix-web users never need this module: `AffitorLayer` and the actix middleware
//! drive it for them, and share every rule through it. What a user configures and reads is
//! elsewhere: [`ClickIdSearch`](crate::lookup::ClickIdSearch) and
//! [`ClickIdLookup`](crate::lookup::ClickIdLookup) in [`lookup`](crate::lookup), and
//! `CaptureClicks`, its click limit and its consent predicate in `capture`.
//!
//! # The click id lookup
//!
//! An adapter runs the lookup in two steps over a request, and inserts the
//! [`ClickIdLookup`](crate::lookup::ClickIdLookup) it ends with into the request:
//!
//! 1. [`lookup_headers`] looks in the headers and cookies, asking the adapter for each
//!    [`WantedHeader`]. It ends the lookup ([`HeaderLookup::Done`]) or asks for the body
//!    ([`HeaderLookup::ReadBody`]).
//! 2. The adapter reads the body up to [`BodyLookup::limit`] bytes, keeping what it read to
//!    hand on to the handler byte for byte, and ends the lookup with [`BodyLookup::finish`] (or
//!    [`finish_without_body`](BodyLookup::finish_without_body) when the body was longer or
//!    failed).
//!
//! A [`ClickId`](crate::ClickId) extension set by an earlier middleware wins: an adapter that
//! finds one skips both steps and reports it as found in
//! [`ClickIdSource::Extension`](crate::lookup::ClickIdSource::Extension).
//!
//! ```
//! use affitor_tower::adapter::{self, HeaderLookup};
//! use affitor_tower::lookup::{ClickIdLookup, ClickIdSearch};
//!
//! // A request, as some HTTP library holds it.
//! let headers = [("content-type", "application/json")];
//! let body = br#"{"affitorClickId":"abc123"}"#;
//!
//! let step = adapter::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
//!     let values = headers.iter().filter(|(name, _)| *name == header.name());
//!     values.map(|(_, value)| value.as_bytes()).collect::<Vec<_>>()
//! });
//! let lookup: ClickIdLookup = match step {
//!     HeaderLookup::Done(lookup) => lookup,
//!     HeaderLookup::ReadBody(read) if body.len() <= read.limit() => read.finish(body),
//!     HeaderLookup::ReadBody(read) => read.finish_without_body(),
//! };
//! assert_eq!(lookup.click_id().unwrap(), "abc123");
//! ```
//!
//! # Partner links captured on the server
//!
//! With the `capture` feature, an adapter runs capture in three steps over a request:
//!
//! 1. `CaptureClicks::decide` looks at the request's [`Visit`] (its method, target and
//!    [`Headers`]): a [`Decision::Capture`] carries the [`PartnerClick`] to record, a
//!    [`Decision::Skip`] says why not ([`Skip`]), and a [`Decision::Hold`] gives the
//!    [`HeldClick`] to put in the request's extensions, for the page, when the visitor has not
//!    consented yet (`CaptureClicks::hold_until_consent`).
//! 2. `CaptureClicks::record` starts the click call: a [`PendingClick`], polled beside the
//!    handler, that ends with the [`ClickCookies`] by the deadline, or with nothing.
//! 3. On the handler's response, the adapter sets the [`ResponseCookies`] the cookies make for
//!    it; when no cookies came of a partner link, [`KeepPrivate`] keeps a shared cache from
//!    storing the cookieless copy. Either way it removes their `headers_to_remove`, the cache
//!    controls a CDN obeys over `Cache-Control`.
//!
//! ```
//! # #[cfg(feature = "capture")]
//! # async fn serve(client: affitor_tower::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use affitor_tower::adapter::{Decision, Visit};
//! use affitor_tower::capture::CaptureClicks;
//!
//! let capture = CaptureClicks::new();
//! let mut request = http::HeaderMap::new();
//! request.insert("host", "shop.example".parse()?);
//! request.insert("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".parse()?);
//!
//! // 1. When the request arrives: a partner link to record?
//! let visit = Visit::new("GET", "/pricing", Some("aff=partner"), &request);
//! let pending = match capture.decide(&visit) {
//!     Decision::Capture(click) => Some(capture.record(click, &client)), // 2. the call starts
//!     Decision::Hold(_) | Decision::Skip(_) => None,
//! };
//!
//! // 3. The handler runs meanwhile (an adapter polls both futures); by the deadline, the
//! // cookies, if the click was recorded.
//! let cookies = match pending {
//!     Some(pending) => pending.await,
//!     None => None,
//! };
//! let mut response = http::HeaderMap::new(); // the handler's response headers
//! if let Some(update) = cookies.as_ref().and_then(|cookies| cookies.for_response(&response)) {
//!     for value in update.set_cookie_values() {
//!         response.append("set-cookie", value.parse()?);
//!     }
//!     response.insert("cache-control", update.cache_control().parse()?);
//!     for name in update.headers_to_remove() {
//!         response.remove(*name);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "capture")]
mod cookies;
#[cfg(feature = "capture")]
mod decision;
#[cfg(feature = "capture")]
mod held;
mod lookup;
#[cfg(feature = "capture")]
mod pending;
#[cfg(feature = "capture")]
mod visit;

#[cfg(feature = "capture")]
pub use cookies::{ClickCookies, KeepPrivate, ResponseCookies};
#[cfg(feature = "capture")]
pub(crate) use cookies::{MAX_CLICK_IDS, cookie_safe_len};
#[cfg(feature = "capture")]
pub use decision::{Decision, Skip};
#[cfg(feature = "capture")]
pub use held::HeldClick;
pub use lookup::{
    BodyKind, BodyLookup, BodyWaitStarted, HeaderLookup, WantedHeader, header_names, lookup_headers,
};
#[cfg(feature = "capture")]
pub use pending::PendingClick;
#[cfg(feature = "capture")]
pub(crate) use pending::{ClickMemo, LearnsCodes, Memo, Verdict};
#[cfg(feature = "capture")]
pub use visit::{Headers, PartnerClick, Visit};
