//! Partner links captured on the server: a visit to `?aff=CODE` recorded as a click, and the
//! browser tracker's cookies set by the response, with no JavaScript.
//!
//! Affitor's browser script records the click and writes the click id into a cookie. Where it
//! cannot run (an ad blocker, no script on the page), the partner is lost; where it does,
//! Safari deletes the cookies it wrote after 7 days without a visit, while commission windows
//! run 60 to 90 days. A cookie set by the site's own server lasts its whole window.
//!
//! [`CaptureClicks`] holds the options ([`ClickLimit`], [`ProxyHeaders`], the consent predicate,
//! the bots) and makes the decision; [`CaptureStats`] counts what it did. The Tower layer
//! (`AffitorLayer::capture_clicks`) and the actix-web middleware drive it, and share every rule;
//! the steps they take, which an adapter for another framework takes too, are in
//! [`adapter`](crate::adapter).
//!
#![cfg_attr(feature = "layer", doc = "```")]
#![cfg_attr(not(feature = "layer"), doc = "```ignore")]
//! use affitor_tower::capture::CaptureClicks;
//! use affitor_tower::{AffitorLayer, Client};
//! use axum::{Router, response::Html, routing::get};
//!
//! fn app(affitor: Client) -> Router {
//!     Router::new()
//!         .route("/", get(|| async { Html("<h1>Welcome</h1>") }))
//!         .layer(AffitorLayer::new().client(affitor).capture_clicks(CaptureClicks::new()))
//! }
//!
//! fn main() -> Result<(), affitor_tower::Error> {
//!     let affitor = Client::builder().api_key("aff_your_program_key").build()?;
//!     let _app = app(affitor); // serve it with the connection's address: see below
//!     Ok(())
//! }
//! ```
//!
//! With actix-web: `Affitor::new().client(affitor).capture_clicks(CaptureClicks::new())`, built
//! once in `main`, outside `HttpServer::new`, and cloned into each worker's `App`: actix builds one
//! app per worker, and clones of the options share one click limit, where options built in the
//! closure would give each worker limits of its own (a 16-core host, 16 times the bound).
//!
//! # What is recorded, and what the response gets
//!
//! - A `GET` of a page whose query has `aff` (the first one, as the tracker reads it: 1 to 64 of
//!   `A-Z a-z 0-9 _ -`, else ignored) is recorded with the visitor's facts: the landing URL, the
//!   referrer, the user agent and the language. Never a `HEAD`, a prefetch, or a link-preview or
//!   crawler user agent ([`CaptureClicks::BUILT_IN_BOTS`], extended with
//!   [`bot_user_agent`](CaptureClicks::bot_user_agent)). The same partner again is no new click;
//!   another partner's link sends the earlier click id as `existing_click_id`.
//! - The click call runs beside your handler. Recorded before the
//!   [deadline](CaptureClicks::deadline) (400 ms by default): the response gets the tracker's
//!   four cookies (`affitor_click_id`, `customer_code`, `affitor_click_ids`, `affitor_aff_url`;
//!   `Path=/`, `SameSite=Lax`, the program's cookie window, `Secure` on HTTPS (from the
//!   request's URI, trusted proxy headers, or [`secure(true)`](CaptureClicks::secure) when the
//!   app serves TLS itself), not `HttpOnly`) and `Cache-Control: private`. Late, failed, an
//!   unknown or inactive link, a bot, a prefetch: no cookie, a `debug` line says why, and the
//!   page is kept out of shared caches (`Cache-Control: private` and `Vary: Cookie` when a CDN
//!   could store it), so that no visitor is served another's cookieless copy. Either way, the
//!   cache controls a CDN obeys over `Cache-Control` (`CDN-Cache-Control`,
//!   `Cloudflare-CDN-Cache-Control`, `Surrogate-Control`) are removed. Your handler's own
//!   `Set-Cookie` headers are kept, and a response that sets `affitor_click_id` itself keeps
//!   its cookie.
//! - The `affitor_click_ids` cookie is read from its last 8 KiB, and a landing URL past 2 KiB
//!   once escaped for its cookie is cut to its path and `?aff=`.
//!
//! # A flood of visits is not a flood of click calls
//!
//! The [`ClickLimit`] (on by default): each client address (an IPv6 client: its /64) gets a
//! bucket of 10 clicks, one more every 6 s; each partner code a bucket of 250, one more every
//! 8 ms, so a flood on one partner's link leaves clicks for the others; and all clicks share a
//! bucket of 1,000, 500 more a second, however many addresses they come from. Half of that total
//! is kept for the codes whose click Affitor recorded in the last day, so that a flood of
//! invented codes from many addresses cannot starve the real partners' visitors; a code Affitor
//! refused (an unknown or inactive link) makes no click call for 10 minutes. The same address
//! and partner within 30 s is the same click: a visitor who opens the link again in a second
//! browser gets the same `affitor_click_id`, with no second call. [`CaptureClicks::stats`]
//! counts the repeats and what each bound held back (`repeated`, `rate_limited`,
//! `partner_limited`, `total_limited`, `refused_partner`) for your `/metrics`; where the page
//! runs the browser tracker, it still records a click the server held back.
//!
//! The address is the connection's peer: with axum, serve with
//! `into_make_service_with_connect_info::<SocketAddr>()` and give
//! `CaptureClicks::new().client_address_from(affitor_axum::connect_info)`; actix-web's
//! middleware reads it itself; behind a proxy, the last address of the trusted proxy header's
//! last line (the one your proxy added).
//!
//! Behind a proxy, say which headers it sets ([`trust_proxy_headers`](CaptureClicks::trust_proxy_headers));
//! if the site also runs the tracker script, give its cookie domain
//! ([`cookie_domain`](CaptureClicks::cookie_domain)), or the browser keeps two of each cookie;
//! under the ePrivacy rules, record only with [consent](CaptureClicks::consent), as the example
//! of [`CaptureClicks`] does.
//!
//! # Consent given after landing
//!
//! A visitor who opens a partner's link before accepting cookies would be lost to the partner:
//! the consent predicate refuses the visit, and by the time they accept, the `?aff=` is gone
//! from the address bar. [`hold_until_consent`](CaptureClicks::hold_until_consent) keeps it: the
//! refused visit records nothing and sets no cookie, but the request gets a
//! [`HeldClick`](crate::adapter::HeldClick), a token signed with your key that carries the
//! landing URL, the referrer and the time. The page keeps it; once the visitor accepts, the
//! page's script sends it back in an `Affitor-Held-Click` header, and that response records the
//! click with the original landing URL and referrer, and sets the cookies. A held click is
//! recorded once per process (the tokens spent are kept in its memory: see
//! [`HeldClick`](crate::adapter::HeldClick)), expires after 30 minutes, and is refused while the
//! predicate still says no, from another site (`Sec-Fetch-Site`), or under another key: give
//! every server the same secret.
//!
#![cfg_attr(feature = "layer", doc = "```")]
#![cfg_attr(not(feature = "layer"), doc = "```ignore")]
//! use affitor_tower::AffitorLayer;
//! use affitor_tower::adapter::HeldClick;
//! use affitor_tower::capture::{CaptureClicks, HeldClickKey, WeakSecret};
//! use axum::{Extension, Router, response::Html, routing::{get, post}};
//!
//! // The landing page writes the held click, if any, where its consent banner finds it.
//! async fn page(held: Option<Extension<HeldClick>>) -> Html<String> {
//!     let held = held.map(|Extension(held)| held.to_string()).unwrap_or_default();
//!     Html(format!(r#"<meta name="affitor-held-click" content="{held}"> ..."#))
//! }
//!
//! fn app(secret: &str) -> Result<Router, WeakSecret> {
//!     let capture = CaptureClicks::new()
//!         .consent(|visit| visit.cookie("cookie_consent") == Some("all"))
//!         .hold_until_consent(HeldClickKey::from_secret(secret)?); // 32 bytes or more
//!     Ok(Router::new()
//!         .route("/", get(page))
//!         // Where the banner's script sends it: any route will do.
//!         .route("/api/consent", post(|| async { axum::http::StatusCode::NO_CONTENT }))
//!         .layer(AffitorLayer::new().capture_clicks(capture))) // and `.client(affitor)`
//! }
//!
//! fn main() {
//!     let _app = app("a secret of 32 bytes or more, kept in your secret store");
//! }
//! ```
//!
//! # Which partner's click it was, weeks later
//!
//! The click call is the client's own send, so the client's backend hears of it with the API's
//! answer ([`Backend::sent`](affitor::client::Backend::sent)). Give the layer a client whose
//! backend is an `affitor_outbox::Outbox` with its journal on, and each click captured is kept
//! with the click id the API issued, the partner's code and the visitor's consent then (not
//! asked, given, or given after landing: [`Consent`](affitor::client::Consent)), beside the
//! lead and the sale that later carry that id; the probe that confirms a partner code's
//! refusal is no visitor's click, and is not kept. It is written off the request's path, and
//! the page never waits for it
//! (the code is `affitor-outbox`'s, its guide's "Why was this sale credited, or not?"):
//!
//! ```ignore
//! let outbox = affitor_outbox::Outbox::builder(direct.clone())
//!     .journal(affitor_outbox::journal::DEFAULT_RETENTION)
//!     .open("affitor-outbox.db")
//!     .await?;
//! let affitor = direct.with_backend(outbox); // the layer's client, and the handlers'
//! let layer = AffitorLayer::new().client(affitor).capture_clicks(CaptureClicks::new());
//! ```
//!
//! A question about a click id is then answered from a terminal: `affitor explain --click
//! cust_42_1714000000000` prints when the click was captured, for which partner and with what
//! consent, the lead and the sale that carried it (and where the layer found the id in their
//! requests: the cookie, a header, a body field), and whether the partner was credited.
//!
//! ```js
//! // The banner's "Accept", in the page: the consent cookie first, then the held click.
//! document.cookie = "cookie_consent=all; path=/; max-age=31536000; SameSite=Lax";
//! const held = document.querySelector("meta[name=affitor-held-click]").content;
//! if (held) await fetch("/api/consent", { method: "POST", headers: { "Affitor-Held-Click": held } });
//! ```
//!
//! The signup examples of the repository do this (their page's banner, `POST /api/consent`),
//! with a predicate that tracks visitors unless they chose only the necessary cookies. With
//! actix-web, the handler reads `Option<web::ReqData<HeldClick>>`.

mod bots;
mod decide;
mod hold;
mod limit;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use hold::{HeldClickKey, WeakSecret};
pub use limit::ClickLimit;

use bots::Bots;

use crate::Client;
use crate::adapter::{Decision, LearnsCodes, PartnerClick, PendingClick, Visit};

/// The options of the click capture: turn it on with `AffitorLayer::capture_clicks` or the
/// actix-web middleware's `capture_clicks`.
///
/// A request is recorded as a click when it is a `GET` whose query has an `aff` parameter (the
/// first one, as the browser tracker reads it) of 1 to 64 `A-Z a-z 0-9 _ -`, it is not a
/// prefetch (`Sec-Purpose`, `Purpose`), `Sec-Fetch-Mode`, if sent, is `navigate`, the user agent
/// is not a bot (see [`BUILT_IN_BOTS`](Self::BUILT_IN_BOTS)), the visitor does not already have
/// a click id from the same partner (the `affitor_aff_url` cookie), and the
/// [consent predicate](Self::consent), if any, says yes. When the visitor has a click id from
/// another partner, it is sent as `existing_click_id`.
///
/// The click call runs beside the handler. When the API records the click before the
/// [deadline](Self::deadline), the response gets the tracker's cookies (see
/// [`ClickCookies`](crate::adapter::ClickCookies)) and `Cache-Control: private`; otherwise no
/// cookie is set, the page is kept out of shared caches (see
/// [`KeepPrivate`](crate::adapter::KeepPrivate)), and a `debug` line says why. The
/// [click limit](Self::click_limit) bounds the calls; a visit from the same address to the same
/// partner's link moments later makes none, and gets the click id of the visit it repeats.
///
/// ```
/// use std::time::Duration;
///
/// use affitor_tower::capture::CaptureClicks;
/// use affitor_tower::capture::ProxyHeaders;
///
/// let capture = CaptureClicks::new()
///     .cookie_domain("shop.example") // as the tracker script, if the site also runs it
///     .trust_proxy_headers(ProxyHeaders::XForwarded) // behind a proxy that sets them
///     .deadline(Duration::from_millis(300))
///     .bot_user_agent("Acme-Uptime-Monitor")
///     .consent(|visit| visit.cookie("cookie_consent") == Some("all"));
/// # drop(capture);
/// ```
#[derive(Clone)]
pub struct CaptureClicks {
    cookie_domain: Option<Arc<str>>,
    secure: Option<bool>,
    proxy_headers: ProxyHeaders,
    deadline: Duration,
    /// The built-in bot patterns, then the app's.
    bots: Bots,
    consent: Option<Consent>,
    /// The key and the spent tokens of held clicks, shared by the clones of these options.
    hold: Option<Arc<hold::Hold>>,
    limit: ClickLimit,
    /// The limit's state, shared by the clones of these options.
    limiter: Arc<limit::Limiter>,
    /// Where the Tower layer finds the client's address among a request's extensions.
    address_from: Option<AddressFrom>,
}

/// Reads the client's address from a request's extensions (the Tower layer's hook).
pub(crate) type AddressFrom = fn(&http::Extensions) -> Option<std::net::IpAddr>;

/// The consent predicate.
type Consent = Arc<dyn Fn(&Visit<'_>) -> bool + Send + Sync>;

/// Which proxy headers tell the visitor's scheme and host (see
/// [`CaptureClicks::trust_proxy_headers`]).
///
/// ```
/// use affitor_tower::capture::{ProxyHeaders, CaptureClicks};
///
/// assert_eq!(ProxyHeaders::default(), ProxyHeaders::Ignore);
/// let capture = CaptureClicks::new().trust_proxy_headers(ProxyHeaders::Forwarded);
/// # drop(capture);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyHeaders {
    /// None: the scheme is the connection's, the host the `Host` header's. Right when the app
    /// faces the visitors itself, or its proxy passes `Host` on and sets none of these.
    #[default]
    Ignore,
    /// `Forwarded` (RFC 7239): `proto=` and `host=` of its first element (of its first line:
    /// the proxy nearest the visitor); the client's address, for the [click limit](ClickLimit),
    /// from `for=` of the last element of its last line (the one your proxy added, in its
    /// line or a line of its own: what comes before it, the visitor can write).
    Forwarded,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host`: their first elements; the client's address
    /// from the last element of `X-Forwarded-For`'s last line (the one your proxy added, in its
    /// line or a line of its own, as HAProxy's `option forwardfor` does). Behind a chain of
    /// proxies that is the address of the one before it: set the client's address with
    /// [`client_address_from`](CaptureClicks::client_address_from) instead.
    XForwarded,
}

impl CaptureClicks {
    /// How long the page may wait for the click call, counted from the request's arrival: 400
    /// ms.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert_eq!(affitor_tower::capture::CaptureClicks::DEFAULT_DEADLINE, Duration::from_millis(400));
    /// ```
    pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(400);

    /// The user agents that are never a click, matched as substrings ignoring ASCII case:
    /// search engine crawlers, AI crawlers, SEO tools, and the link-preview bots of social
    /// networks and chat apps (they fetch a link when it is shared, before anyone clicks it).
    /// Add your own with [`bot_user_agent`](Self::bot_user_agent). A request without a
    /// `User-Agent` is never a click either.
    ///
    /// ```
    /// assert!(affitor_tower::capture::CaptureClicks::BUILT_IN_BOTS.contains(&"slackbot"));
    /// ```
    pub const BUILT_IN_BOTS: &'static [&'static str] = &[
        // Search engines.
        "googlebot",
        "google-inspectiontool",
        "adsbot-google",
        "mediapartners-google",
        "bingbot",
        "bingpreview",
        "slurp",
        "duckduckbot",
        "baiduspider",
        "yandex",
        "sogou",
        "applebot",
        "petalbot",
        // AI crawlers and SEO tools.
        "gptbot",
        "chatgpt-user",
        "oai-searchbot",
        "claudebot",
        "claude-user",
        "perplexitybot",
        "bytespider",
        "ccbot",
        "ahrefsbot",
        "semrushbot",
        "mj12bot",
        "dotbot",
        // Link previews.
        "facebookexternalhit",
        "facebot",
        "meta-externalagent",
        "twitterbot",
        "linkedinbot",
        "slackbot",
        "slack-imgproxy",
        "discordbot",
        "telegrambot",
        "whatsapp",
        "skypeuripreview",
        // Its crawlers (`Pinterestbot`, `Pinterest/0.2`), never its in-app browser
        // (`[Pinterest/iOS]`), whose visitors are people.
        "pinterestbot",
        "pinterest/0.",
        "redditbot",
        "embedly",
        "iframely",
        "vkshare",
        "quora link preview",
        "mastodon",
        "bitlybot",
        "tumblr",
        "outbrain",
        // Generic.
        "crawler",
        "spider",
    ];

    /// Capture with the defaults: host-only cookies, `Secure` on HTTPS, no proxy headers
    /// trusted, a 400 ms deadline, the built-in bot list, no consent predicate.
    ///
    /// ```
    /// let capture = affitor_tower::capture::CaptureClicks::new();
    /// # drop(capture);
    /// ```
    pub fn new() -> Self {
        Self {
            cookie_domain: None,
            secure: None,
            proxy_headers: ProxyHeaders::Ignore,
            deadline: Self::DEFAULT_DEADLINE,
            bots: Bots::built_in(),
            consent: None,
            hold: None,
            limit: ClickLimit::default(),
            limiter: Arc::default(),
            address_from: None,
        }
    }

    /// Sets the cookies' `Domain`, such as `shop.example` to share them with `www.shop.example`
    /// and `app.shop.example`. Default: none, so the cookies belong to the exact host.
    ///
    /// If the site also runs Affitor's browser tracker, give the domain it uses (the root
    /// domain, or its `cookieDomain`): otherwise the browser keeps two cookies of each name.
    ///
    /// # Panics
    ///
    /// If `domain` is not a domain name (letters, digits, `-` and `.`; a leading `.` is
    /// dropped): it goes into every `Set-Cookie` header as it is.
    ///
    /// ```
    /// let capture = affitor_tower::capture::CaptureClicks::new().cookie_domain("shop.example");
    /// # drop(capture);
    /// ```
    #[must_use]
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        let name = domain.trim().trim_start_matches('.');
        let valid = (1..=253).contains(&name.len())
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.');
        assert!(
            valid,
            "cookie_domain `{}` is not a domain name such as `shop.example`",
            domain.escape_debug()
        );
        self.cookie_domain = Some(Arc::from(name));
        self
    }

    /// Sets whether the cookies are `Secure` (sent over HTTPS only), whatever the scheme.
    /// Default: when the visitor's scheme is HTTPS (the connection's, or a trusted proxy's,
    /// see [`trust_proxy_headers`](Self::trust_proxy_headers)).
    ///
    /// The Tower layer knows the connection's scheme only from the request's URI: HTTP/2 gives
    /// it (`:scheme`), but HTTP/1.1 requests come with a path alone, so an axum app that serves
    /// TLS itself over HTTP/1.1 (axum-server, a rustls acceptor) sets `secure(true)`. Behind a
    /// proxy that terminates TLS, trust its headers instead. actix-web's middleware reads the
    /// scheme from the connection.
    ///
    /// ```
    /// let capture = affitor_tower::capture::CaptureClicks::new().secure(true);
    /// # drop(capture);
    /// ```
    #[must_use]
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    /// Sets which proxy headers tell the visitor's scheme and host. Default:
    /// [`ProxyHeaders::Ignore`].
    ///
    /// Trust only the headers your proxy sets (replacing any the visitor sent): a visitor can
    /// send any header.
    ///
    /// ```
    /// use affitor_tower::capture::{ProxyHeaders, CaptureClicks};
    ///
    /// let capture = CaptureClicks::new().trust_proxy_headers(ProxyHeaders::XForwarded);
    /// # drop(capture);
    /// ```
    #[must_use]
    pub fn trust_proxy_headers(mut self, headers: ProxyHeaders) -> Self {
        self.proxy_headers = headers;
        self
    }

    /// Sets the bound on the click calls (default [`ClickLimit::default`]: per client address,
    /// per partner code and in total, and a repeat of the same address and partner within 30 s
    /// is the same click, answered with its click id);
    /// [`ClickLimit::none`] removes it.
    ///
    /// The adapters give the connection's peer address ([`Visit::client_address`]); with
    /// [trusted proxy headers](Self::trust_proxy_headers), the address they name. With axum,
    /// serve the app with `into_make_service_with_connect_info::<SocketAddr>()` so that the
    /// layer sees the peer address; otherwise the visits share one bucket of unknown address.
    ///
    /// ```
    /// use affitor_tower::capture::{CaptureClicks, ClickLimit};
    ///
    /// let capture = CaptureClicks::new().click_limit(ClickLimit::default().burst(5));
    /// # drop(capture);
    /// ```
    #[must_use]
    pub fn click_limit(mut self, limit: ClickLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Where the Tower layer finds the client's address among a request's extensions: the
    /// server puts it there (axum's `ConnectInfo`, with `affitor_axum::connect_info`). The
    /// actix-web middleware reads the peer address itself.
    ///
    /// ```
    /// use std::net::{IpAddr, SocketAddr};
    ///
    /// fn peer(extensions: &http::Extensions) -> Option<IpAddr> {
    ///     extensions.get::<SocketAddr>().map(SocketAddr::ip)
    /// }
    /// let capture = affitor_tower::capture::CaptureClicks::new().client_address_from(peer);
    /// # drop(capture);
    /// ```
    #[must_use]
    pub fn client_address_from(
        mut self,
        address_from: fn(&http::Extensions) -> Option<std::net::IpAddr>,
    ) -> Self {
        self.address_from = Some(address_from);
        self
    }

    /// The client's address among `extensions`, as [`client_address_from`] reads it.
    ///
    /// [`client_address_from`]: Self::client_address_from
    #[cfg(feature = "layer")]
    pub(crate) fn address_in(&self, extensions: &http::Extensions) -> Option<std::net::IpAddr> {
        self.address_from
            .and_then(|address_from| address_from(extensions))
    }

    /// What capture did with the partner links it saw, since these options were built (their
    /// clones share the counts).
    ///
    /// ```
    /// let capture = affitor_tower::capture::CaptureClicks::new();
    /// assert_eq!(capture.stats().rate_limited, 0);
    /// ```
    pub fn stats(&self) -> CaptureStats {
        let counts = &self.limiter.counts;
        let load =
            |count: &std::sync::atomic::AtomicU64| count.load(std::sync::atomic::Ordering::Relaxed);
        CaptureStats {
            recorded: load(&counts.recorded),
            rate_limited: load(&counts.rate_limited),
            partner_limited: load(&counts.partner_limited),
            total_limited: load(&counts.total_limited),
            repeated: load(&counts.repeated),
            refused_partner: load(&counts.refused_partner),
        }
    }

    /// Sets how long the page may wait for the click call, counted from the request's
    /// arrival. Default: [400 ms](Self::DEFAULT_DEADLINE).
    ///
    /// The handler runs meanwhile, so a page that takes longer than the call waits for
    /// nothing. A late call is abandoned: the page is served without the cookies, and kept out
    /// of shared caches (`Cache-Control: private`, `Vary: Cookie`), as is every response to a
    /// partner link that was not recorded (see [`KeepPrivate`](crate::adapter::KeepPrivate)).
    ///
    /// A call abandoned after it reached the API may still be recorded there, with no cookie
    /// to carry its click id: an orphan click, which no lead or sale will name. It cannot be
    /// avoided without making the page wait for the API; the visit is not lost (the browser
    /// tracker, where the page runs it, records it), and Affitor counts the orphan as a click
    /// of the partner's link, not as a conversion. A longer deadline trades the page's time
    /// for fewer orphans. A deadline too far for the clock to hold (`Duration::MAX`) is taken
    /// as a year: the page then waits for the call itself, which the client's own timeouts
    /// bound.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let capture = affitor_tower::capture::CaptureClicks::new().deadline(Duration::from_millis(250));
    /// # drop(capture);
    /// ```
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Adds a user agent that is never a click, matched as a substring ignoring ASCII case,
    /// to the [built-in ones](Self::BUILT_IN_BOTS).
    ///
    /// ```
    /// let capture = affitor_tower::capture::CaptureClicks::new()
    ///     .bot_user_agent("Acme-Uptime-Monitor")
    ///     .bot_user_agent("InternalLinkChecker");
    /// # drop(capture);
    /// ```
    #[must_use]
    pub fn bot_user_agent(mut self, pattern: impl Into<String>) -> Self {
        self.bots.add(pattern.into());
        self
    }

    /// Sets a consent predicate: a click is recorded, and cookies set, only when it says yes.
    ///
    /// Sites under the ePrivacy rules may set an attribution cookie only with the visitor's
    /// consent. Default: no predicate, capture as the browser tracker does. It is asked last,
    /// only for a request that would be recorded.
    ///
    /// ```
    /// let capture = affitor_tower::capture::CaptureClicks::new().consent(|visit| {
    ///     visit.cookie("cookie_consent") == Some("all") && visit.header("sec-gpc") != Some("1")
    /// });
    /// # drop(capture);
    /// ```
    #[must_use]
    pub fn consent<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&Visit<'_>) -> bool + Send + Sync + 'static,
    {
        self.consent = Some(Arc::new(predicate));
        self
    }

    /// Holds a partner link's visit the [consent predicate](Self::consent) refuses, rather than
    /// losing it: nothing is recorded and no cookie is set, but the request gets a
    /// [`HeldClick`](crate::adapter::HeldClick), a token signed with `key` that carries the landing's facts (the landing
    /// URL, the referrer, the time). The page keeps it; once the visitor consents, the page
    /// sends it back in the [`Affitor-Held-Click`](crate::adapter::HeldClick::HEADER) header of a request of
    /// its own (a `fetch` to any route of the app), and that request's response records the
    /// click, with the landing's URL and referrer, and sets the cookies.
    ///
    /// The `?aff=` is gone from the address bar by then, and the visitor may have gone to
    /// another page: without this, a visitor who consents after landing is lost to the partner.
    /// A held click is refused when the predicate still says no for the request that carries
    /// it (set the consent cookie in the page before sending it), when it is older than
    /// [`HeldClick::LIFETIME`](crate::adapter::HeldClick::LIFETIME) (30 minutes), when it was recorded already, or when it comes
    /// from another site. The click limit bounds held clicks as it bounds the others.
    ///
    /// Each process remembers the held clicks it recorded, in memory, and refuses them a second
    /// time until they expire (the clones of these options share what they remember; options
    /// built apart do not). One sent to two servers of a fleet, or again after a restart, could
    /// be recorded by each, as the same visitor opening the partner's link twice would; so
    /// could one of the oldest past 100,000 recorded within 30 minutes, which are forgotten
    /// first.
    ///
    /// ```
    /// use affitor_tower::capture::{CaptureClicks, HeldClickKey};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let secret_store = std::collections::HashMap::from([("held-click", "4f1c8a0e2b9d7c6a5e3f1b0d9c8a7e6f")]);
    /// let key = HeldClickKey::from_secret(secret_store["held-click"])?; // the same on every server
    /// let capture = CaptureClicks::new()
    ///     .consent(|visit| visit.cookie("cookie_consent") == Some("all"))
    ///     .hold_until_consent(key);
    /// assert!(capture.holds_clicks());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn hold_until_consent(mut self, key: HeldClickKey) -> Self {
        self.hold = Some(Arc::new(hold::Hold::new(key)));
        self
    }

    /// Whether [`hold_until_consent`](Self::hold_until_consent) is set: then a request without
    /// a query may carry a held click, and an adapter must give it to
    /// [`decide`](Self::decide) too (any other request without a query is no partner link).
    ///
    /// See [`hold_until_consent`](Self::hold_until_consent) for an example.
    pub fn holds_clicks(&self) -> bool {
        self.hold.is_some()
    }

    /// The first step, when a request arrives: is it a partner link to record, and with which
    /// facts? A request without `aff` costs a look at its query string.
    ///
    /// ```
    /// use affitor_tower::capture::CaptureClicks;
    /// use affitor_tower::adapter::{Decision, Skip, Visit};
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("host", "shop.example".parse()?);
    /// headers.insert("user-agent", "Mozilla/5.0".parse()?);
    ///
    /// let capture = CaptureClicks::new();
    /// let decide = |method, query| capture.decide(&Visit::new(method, "/", Some(query), &headers));
    /// assert!(matches!(decide("GET", "aff=partner"), Decision::Capture(_)));
    /// assert!(matches!(decide("HEAD", "aff=partner"), Decision::Skip(Skip::NotGet)));
    /// assert!(matches!(decide("GET", "aff=a%20b"), Decision::Skip(Skip::InvalidPartnerCode)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decide(&self, visit: &Visit<'_>) -> Decision {
        decide::decide(self, visit)
    }

    /// The second step: starts the click call with `client`, bounded by the deadline, which
    /// counts from now. Poll the future beside the handler; it gives the cookies to set, or
    /// `None` (see [`PendingClick`]). For a visit that repeats a click moments later (see
    /// [`ClickLimit::repeat_window`]), no call: the future waits for that click's answer, by the
    /// same deadline, and gives the cookies of its click id.
    ///
    /// It needs a Tokio runtime (for the client and the deadline's timer) when polled.
    ///
    /// See [`adapter`](crate::adapter) for the steps together.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use affitor_tower::adapter::{Decision, Visit};
    /// use affitor_tower::capture::CaptureClicks;
    ///
    /// let mock = affitor_mock::MockServer::start().await?; // the stand-in API
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("host", "shop.example".parse()?);
    /// headers.insert("user-agent", "Mozilla/5.0".parse()?);
    /// let capture = CaptureClicks::new();
    /// let visit = Visit::new("GET", "/pricing", Some("aff=partner"), &headers);
    /// if let Decision::Capture(click) = capture.decide(&visit) {
    ///     let cookies = capture.record(click, &mock.client()).await;
    ///     let cookies = cookies.expect("the stand-in recorded the click");
    ///     let first = cookies.set_cookie_values().next().unwrap_or_default();
    ///     assert!(first.starts_with("affitor_click_id="), "{first}");
    /// }
    /// assert_eq!(mock.clicks().len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn record(&self, click: PartnerClick, client: &Client) -> PendingClick {
        // The limit learns from the answer which codes are real.
        let learner = self.limit.is_enabled().then(|| {
            Arc::new(limit::Learner {
                limiter: Arc::clone(&self.limiter),
                limit: self.limit,
            }) as Arc<dyn LearnsCodes>
        });
        PendingClick::new(click, client, self.deadline, learner)
    }
}

/// What capture did with the partner links it saw: read with [`CaptureClicks::stats`], and put
/// on an app's metrics (each field only grows).
///
/// ```
/// let stats = affitor_tower::capture::CaptureClicks::new().stats();
/// assert_eq!(stats.recorded + stats.rate_limited + stats.repeated, 0);
/// // Of the visits held back, those the partner's bound and the total held back.
/// assert!(stats.partner_limited + stats.total_limited <= stats.rate_limited);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureStats {
    /// Visits for which a click call was started.
    pub recorded: u64,
    /// Visits held back by the [click limit](ClickLimit), by any of its bounds: their
    /// address's, their partner's, or the total. No click call; the page is served, kept out
    /// of shared caches.
    pub rate_limited: u64,
    /// Of [`rate_limited`](Self::rate_limited), the visits held back by their partner's bound
    /// ([`ClickLimit::per_partner`]): their address had clicks left. A flood on one partner's
    /// link shows here.
    pub partner_limited: u64,
    /// Of [`rate_limited`](Self::rate_limited), the visits held back by the total
    /// ([`ClickLimit::total`]): their address and partner had clicks left (a code the API has
    /// not recorded a click for may not spend the half kept for the real ones). A flood on many
    /// partners' links shows here.
    pub total_limited: u64,
    /// Visits that repeated a click from the same address to the same partner moments before
    /// (within [`ClickLimit::repeat_window`]): no click call; answered with that click's id
    /// when it got one.
    pub repeated: u64,
    /// Visits to a partner code the API refused moments ago (an unknown or inactive link): no
    /// click call. A flood of invented codes that repeats them shows here.
    pub refused_partner: u64,
}

impl Default for CaptureClicks {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CaptureClicks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureClicks")
            .field("cookie_domain", &self.cookie_domain)
            .field("secure", &self.secure)
            .field("proxy_headers", &self.proxy_headers)
            .field("deadline", &self.deadline)
            .field("bots", &self.bots.len())
            .field("consent", &self.consent.as_ref().map(|_| "a predicate"))
            .field("hold", &self.hold)
            .field("limit", &self.limit)
            .field("stats", &self.stats())
            .finish()
    }
}
