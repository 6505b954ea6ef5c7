//! The tracker's cookies, as `Set-Cookie` values, and what a response needs to carry them.

use std::fmt;

use cookie::time::{Duration, OffsetDateTime};
use cookie::{Cookie, SameSite};

use super::{Headers, PartnerClick};
use crate::ClickId;

/// The most ids kept in `affitor_click_ids`, as the browser tracker does.
pub(crate) const MAX_CLICK_IDS: usize = 20;

/// The cookie the click id is stored in: a response that sets it itself is left alone.
const CLICK_ID_COOKIE: &str = "affitor_click_id";

/// The cache controls a CDN obeys over `Cache-Control` (RFC 9213's `CDN-Cache-Control`,
/// Cloudflare's own, and `Surrogate-Control`): left on a partner link's response, they would
/// let the CDN store it whatever its `Cache-Control` says.
const TARGETED_CACHE_CONTROLS: [&str; 3] = [
    "cdn-cache-control",
    "cloudflare-cdn-cache-control",
    "surrogate-control",
];

/// The `Set-Cookie` values that store a recorded click the way Affitor's browser tracker does:
/// `affitor_click_id` and its legacy copy `customer_code`, `affitor_click_ids` (every click id
/// of the visitor, oldest first, at most 20) and `affitor_aff_url` (the landing URL, which tells
/// a partner change).
///
/// Each has `Path=/`, `SameSite=Lax`, `Expires` and `Max-Age` from the click's cookie window,
/// `Secure` when the visitor came over HTTPS, the configured `Domain`, and no `HttpOnly`: the
/// page's own script reads the click id, as with the tracker. Made by
/// [`PartnerClick::cookies`].
///
/// ```
/// # use affitor_tower::ClickId;
/// # use affitor_tower::capture::CaptureClicks;
/// # use affitor_tower::adapter::{Decision, Visit};
/// let mut headers = http::HeaderMap::new();
/// headers.insert("host", "shop.example".parse()?);
/// headers.insert("user-agent", "Mozilla/5.0".parse()?);
/// let visit = Visit::new("GET", "/", Some("aff=partner"), &headers);
/// let Decision::Capture(click) = CaptureClicks::new().decide(&visit) else { unreachable!() };
///
/// let click_id: ClickId = "cust_42_1714000000000".parse()?;
/// let cookies = click.cookies(&click_id, 60);
/// let first = cookies.set_cookie_values().next().unwrap();
/// assert!(first.starts_with("affitor_click_id=cust_42_1714000000000; SameSite=Lax; Path=/;"));
/// assert!(first.contains("Max-Age=5184000"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClickCookies {
    values: Vec<String>,
}

impl PartnerClick {
    /// The cookies that store `click_id`, the click id the API answered, for `window_days`
    /// days (the answer's `cookie_window_days`).
    ///
    /// The click id is a [`ClickId`], so it is safe in a header; the landing URL has the bytes
    /// a cookie cannot carry (`"`, `,`, `;`, `\`, spaces, controls, non-ASCII) percent-encoded.
    ///
    /// See [`ClickCookies`] for an example.
    pub fn cookies(&self, click_id: &ClickId, window_days: u32) -> ClickCookies {
        self.cookies_at(click_id, window_days, OffsetDateTime::now_utc())
    }

    pub(crate) fn cookies_at(
        &self,
        click_id: &ClickId,
        window_days: u32,
        now: OffsetDateTime,
    ) -> ClickCookies {
        let mut ids = self.earlier_click_ids.clone();
        if !ids.contains(click_id) {
            ids.push(click_id.clone());
        }
        let excess = ids.len().saturating_sub(MAX_CLICK_IDS);
        let ids = ids[excess..]
            .iter()
            .map(ClickId::as_str)
            .collect::<Vec<_>>()
            .join("|");

        let max_age = Duration::days(i64::from(window_days));
        let expires = now.checked_add(max_age).unwrap_or(now);
        let cookie = |name: &'static str, value: String| {
            let mut builder = Cookie::build((name, value))
                .path("/")
                .same_site(SameSite::Lax)
                .secure(self.secure)
                .max_age(max_age)
                .expires(expires);
            if let Some(domain) = &self.domain {
                builder = builder.domain(domain.to_string());
            }
            builder.build().to_string()
        };
        ClickCookies {
            values: vec![
                cookie(CLICK_ID_COOKIE, click_id.as_str().to_owned()),
                cookie("customer_code", click_id.as_str().to_owned()),
                cookie("affitor_click_ids", encode_uri_component(&ids)),
                cookie("affitor_aff_url", cookie_safe(&self.landing_url)),
            ],
        }
    }
}

impl ClickCookies {
    /// The `Set-Cookie` header values, one per cookie.
    ///
    /// See [`ClickCookies`] for an example.
    pub fn set_cookie_values(&self) -> impl ExactSizeIterator<Item = &str> {
        self.values.iter().map(String::as_str)
    }

    /// What to add to `response`, whose headers are given: the `Set-Cookie` values, and the
    /// `Cache-Control` that replaces the response's, so that no shared cache hands this
    /// visitor's click id to another; and the CDN's own cache controls to remove
    /// ([`headers_to_remove`](ResponseCookies::headers_to_remove)).
    ///
    /// `None` when the response already sets `affitor_click_id`: the handler's word wins. The
    /// response's own `Set-Cookie` headers are kept; the adapter appends these.
    ///
    /// ```
    /// # use affitor_tower::capture::CaptureClicks;
    /// # use affitor_tower::adapter::{Decision, Visit};
    /// # let mut headers = http::HeaderMap::new();
    /// # headers.insert("host", "shop.example".parse()?);
    /// # headers.insert("user-agent", "Mozilla/5.0".parse()?);
    /// # let visit = Visit::new("GET", "/", Some("aff=partner"), &headers);
    /// # let Decision::Capture(click) = CaptureClicks::new().decide(&visit) else { unreachable!() };
    /// let cookies = click.cookies(&"cust_1".parse()?, 60);
    ///
    /// let mut response = http::HeaderMap::new();
    /// response.insert("cache-control", "public, max-age=300".parse()?);
    /// let update = cookies.for_response(&response).expect("the response sets no click id");
    /// assert_eq!(update.cache_control(), "private, max-age=300");
    /// assert_eq!(update.set_cookie_values().count(), 4);
    /// for name in update.headers_to_remove() {
    ///     response.remove(*name);
    /// }
    ///
    /// response.insert("set-cookie", "affitor_click_id=chosen_by_handler; Path=/".parse()?);
    /// assert!(cookies.for_response(&response).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_response(&self, response: &dyn Headers) -> Option<ResponseCookies<'_>> {
        let mut sets_click_id = false;
        response.for_each_value("set-cookie", &mut |value| {
            sets_click_id |= sets_cookie(value, CLICK_ID_COOKIE);
        });
        if sets_click_id {
            return None;
        }
        let mut directives = Vec::new();
        response.for_each_value("cache-control", &mut |value| directives.push(value));
        Some(ResponseCookies {
            cookies: self,
            cache_control: private_cache_control(&directives),
        })
    }
}

impl fmt::Debug for ClickCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: the values are a visitor's click id and landing URL.
        let names: Vec<&str> = self
            .values
            .iter()
            .filter_map(|value| value.split('=').next())
            .collect();
        f.debug_struct("ClickCookies")
            .field("names", &names)
            .finish()
    }
}

/// The headers to add to a response that sets the tracker's cookies: see
/// [`ClickCookies::for_response`].
#[derive(Debug)]
pub struct ResponseCookies<'c> {
    cookies: &'c ClickCookies,
    cache_control: String,
}

impl ResponseCookies<'_> {
    /// The `Set-Cookie` values to append.
    ///
    /// See [`ClickCookies::for_response`] for an example.
    pub fn set_cookie_values(&self) -> impl ExactSizeIterator<Item = &str> {
        self.cookies.set_cookie_values()
    }

    /// The `Cache-Control` value that replaces the response's: `private, no-store` when it had
    /// none, else its own directives with `private` in place of `public`.
    ///
    /// See [`ClickCookies::for_response`] for an example.
    pub fn cache_control(&self) -> &str {
        &self.cache_control
    }

    /// The headers to remove from the response, if it has them: the cache controls a CDN obeys
    /// over `Cache-Control` (`CDN-Cache-Control`, `Cloudflare-CDN-Cache-Control`,
    /// `Surrogate-Control`), lower-case.
    ///
    /// See [`ClickCookies::for_response`] for an example.
    pub fn headers_to_remove(&self) -> &'static [&'static str] {
        &TARGETED_CACHE_CONTROLS
    }
}

/// What a response to a partner link needs when it sets no click id: the visit was not
/// recorded (a bot, a prefetch, a visitor who already has this partner's click id, a click call
/// that was late or failed). Without it a shared cache (a CDN) could keep this cookieless copy
/// and serve it to the next visitor of the link, whose visit would then never reach the app.
///
/// [`cache_control`](Self::cache_control) is the `Cache-Control` that replaces the response's
/// when it could be stored by a shared cache (no `private` for the whole response, no
/// `no-store`), with `private` in place of `public`; [`vary_cookie`](Self::vary_cookie) says
/// whether to append `Vary: Cookie`; [`headers_to_remove`](Self::headers_to_remove) are the
/// cache controls a CDN obeys over `Cache-Control`, to remove whatever it says.
///
/// ```
/// use affitor_tower::adapter::KeepPrivate;
///
/// let mut response = http::HeaderMap::new();
/// response.insert("cache-control", "public, max-age=300".parse()?);
/// let keep = KeepPrivate::for_response(&response);
/// assert_eq!(keep.cache_control(), Some("private, max-age=300"));
/// assert!(keep.vary_cookie());
///
/// response.insert("cache-control", "no-store".parse()?);
/// response.insert("vary", "Accept-Encoding, Cookie".parse()?);
/// response.insert("cdn-cache-control", "max-age=600".parse()?);
/// let keep = KeepPrivate::for_response(&response);
/// assert_eq!((keep.cache_control(), keep.vary_cookie()), (None, false));
/// for name in keep.headers_to_remove() {
///     response.remove(*name);
/// }
/// assert!(response.get("cdn-cache-control").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeepPrivate {
    cache_control: Option<String>,
    vary_cookie: bool,
}

impl KeepPrivate {
    /// What a response with these headers needs.
    ///
    /// See [`KeepPrivate`] for an example.
    pub fn for_response(response: &dyn Headers) -> Self {
        let mut directives = Vec::new();
        response.for_each_value("cache-control", &mut |value| directives.push(value));
        // `private="set-cookie"` keeps only the fields it names from a shared cache, which
        // may store the rest: only an unqualified `private` keeps the response out.
        let stored_by_shared_caches = !directives
            .iter()
            .filter_map(|value| std::str::from_utf8(value).ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .any(|directive| {
                directive.eq_ignore_ascii_case("private")
                    || directive
                        .split('=')
                        .next()
                        .is_some_and(|name| name.trim().eq_ignore_ascii_case("no-store"))
            });
        let cache_control = stored_by_shared_caches.then(|| match directives.is_empty() {
            true => "private".to_owned(),
            false => private_cache_control(&directives),
        });
        let mut varies_on_cookie = false;
        response.for_each_value("vary", &mut |value| {
            varies_on_cookie |= std::str::from_utf8(value).is_ok_and(|value| {
                value
                    .split(',')
                    .map(str::trim)
                    .any(|field| field == "*" || field.eq_ignore_ascii_case("cookie"))
            });
        });
        Self {
            cache_control,
            vary_cookie: !varies_on_cookie,
        }
    }

    /// The `Cache-Control` that replaces the response's, if it needs one.
    ///
    /// See [`KeepPrivate`] for an example.
    pub fn cache_control(&self) -> Option<&str> {
        self.cache_control.as_deref()
    }

    /// Whether to append `Vary: Cookie`: the response does not vary on cookies yet.
    ///
    /// See [`KeepPrivate`] for an example.
    pub fn vary_cookie(&self) -> bool {
        self.vary_cookie
    }

    /// The headers to remove from the response, if it has them: the cache controls a CDN obeys
    /// over `Cache-Control` (`CDN-Cache-Control`, `Cloudflare-CDN-Cache-Control`,
    /// `Surrogate-Control`), lower-case. Removed even when `Cache-Control` is private already,
    /// which they override.
    ///
    /// See [`KeepPrivate`] for an example.
    pub fn headers_to_remove(&self) -> &'static [&'static str] {
        &TARGETED_CACHE_CONTROLS
    }
}

/// Whether a `Set-Cookie` value sets the cookie `name`.
fn sets_cookie(set_cookie: &[u8], name: &str) -> bool {
    std::str::from_utf8(set_cookie)
        .ok()
        .and_then(|value| Cookie::parse(value).ok())
        .is_some_and(|cookie| cookie.name() == name)
}

/// The `Cache-Control` of a response that sets a visitor's cookies, from the directives the
/// handler set (all `Cache-Control` values, in order).
///
/// No directive: `private, no-store`. Otherwise the handler's directives are kept, except
/// `public` and `s-maxage` (for shared caches only) and a field-qualified `private="..."`;
/// `private` is put first.
fn private_cache_control(values: &[&[u8]]) -> String {
    let directives: Vec<&str> = values
        .iter()
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .collect();
    if directives.is_empty() {
        return "private, no-store".to_owned();
    }
    let mut merged = vec!["private"];
    for directive in directives {
        let name = directive.split('=').next().unwrap_or_default().trim();
        let for_shared_caches = ["public", "private", "s-maxage"]
            .iter()
            .any(|shared| name.eq_ignore_ascii_case(shared));
        if !for_shared_caches && !merged.contains(&directive) {
            merged.push(directive);
        }
    }
    merged.join(", ")
}

/// JavaScript's `encodeURIComponent`: every byte but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` escaped.
fn encode_uri_component(text: &str) -> String {
    escape(text, |byte| {
        byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
    })
}

/// `text` with every byte that is not a cookie-octet (RFC 6265) percent-encoded: a URL as the
/// tracker stores it, made safe for a `Set-Cookie` header.
fn cookie_safe(text: &str) -> String {
    escape(text, is_cookie_safe)
}

/// The length of `text` once [`cookie_safe`]: what it weighs in the `affitor_aff_url` cookie.
pub(crate) fn cookie_safe_len(text: &str) -> usize {
    text.bytes()
        .map(|byte| if is_cookie_safe(byte) { 1 } else { 3 })
        .sum()
}

/// The bytes a cookie value carries as they are (RFC 6265 `cookie-octet`).
fn is_cookie_safe(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn escape(text: &str, keep: impl Fn(u8) -> bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if keep(byte) {
            escaped.push(char::from(byte));
        } else {
            escaped.push('%');
            escaped.push(char::from(HEX[usize::from(byte >> 4)]));
            escaped.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// 2026-11-22 09:00:00 UTC.
    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1795338000).unwrap()
    }

    fn landing() -> PartnerClick {
        PartnerClick {
            code: "partner".to_owned(),
            landing_url: "http://shop.example/?aff=partner".to_owned(),
            referrer: None,
            user_agent: Some("Mozilla/5.0".to_owned()),
            language: None,
            existing_click_id: None,
            earlier_click_ids: Vec::new(),
            secure: false,
            domain: None,
            memo: None,
            consent: affitor::client::Consent::NotAsked,
        }
    }

    fn id(value: &str) -> ClickId {
        value.parse().unwrap()
    }

    fn values(cookies: &ClickCookies) -> Vec<&str> {
        cookies.set_cookie_values().collect()
    }

    #[test]
    fn the_four_cookies_of_the_tracker() {
        let cookies = landing().cookies_at(&id("cust_7_1"), 60, now());
        let attributes =
            "SameSite=Lax; Path=/; Max-Age=5184000; Expires=Thu, 21 Jan 2027 09:00:00 GMT";
        assert_eq!(
            values(&cookies),
            [
                format!("affitor_click_id=cust_7_1; {attributes}"),
                format!("customer_code=cust_7_1; {attributes}"),
                format!("affitor_click_ids=cust_7_1; {attributes}"),
                format!("affitor_aff_url=http://shop.example/?aff=partner; {attributes}"),
            ]
        );
        // Each parses back as what it says; none is HttpOnly, since the page's script reads it.
        for value in values(&cookies) {
            let cookie = Cookie::parse(value).unwrap();
            assert_eq!(cookie.http_only(), None);
            assert_eq!(cookie.same_site(), Some(SameSite::Lax));
            assert_eq!(cookie.path(), Some("/"));
        }
    }

    #[test]
    fn the_window_sets_expires_and_max_age() {
        let cookies = landing().cookies_at(&id("c"), 90, now());
        let cookie = Cookie::parse(values(&cookies)[0].to_owned()).unwrap();
        assert_eq!(cookie.max_age(), Some(Duration::days(90)));
        assert_eq!(
            cookie.expires_datetime(),
            OffsetDateTime::from_unix_timestamp(1803114000).ok()
        );
    }

    #[test]
    fn secure_and_domain_as_configured() {
        let click = PartnerClick {
            secure: true,
            domain: Some(Arc::from("shop.example")),
            ..landing()
        };
        for value in values(&click.cookies_at(&id("c"), 60, now())) {
            let cookie = Cookie::parse(value).unwrap();
            assert_eq!(cookie.secure(), Some(true), "{value}");
            assert_eq!(cookie.domain(), Some("shop.example"), "{value}");
        }
        let value = values(&landing().cookies_at(&id("c"), 60, now()))[0].to_owned();
        assert!(
            !value.contains("Secure") && !value.contains("Domain"),
            "{value}"
        );
    }

    #[test]
    fn click_ids_are_appended_oldest_first_without_repeats() {
        let click = PartnerClick {
            earlier_click_ids: vec![id("a"), id("b:1")],
            ..landing()
        };
        let ids = |cookies: &ClickCookies| {
            let value = values(cookies)[2].to_owned();
            Cookie::parse(value).unwrap().value().to_owned()
        };
        assert_eq!(ids(&click.cookies_at(&id("c"), 60, now())), "a%7Cb%3A1%7Cc");
        assert_eq!(ids(&click.cookies_at(&id("a"), 60, now())), "a%7Cb%3A1");
        let full = PartnerClick {
            earlier_click_ids: (0..MAX_CLICK_IDS).map(|n| id(&format!("id{n}"))).collect(),
            ..landing()
        };
        let kept = ids(&full.cookies_at(&id("new"), 60, now()));
        assert!(
            kept.starts_with("id1%7C") && kept.ends_with("%7Cnew"),
            "{kept}"
        );
        assert_eq!(kept.split("%7C").count(), MAX_CLICK_IDS);
    }

    #[test]
    fn the_landing_url_is_made_safe_for_a_cookie() {
        let click = PartnerClick {
            landing_url: "http://shop.example/?q=a;b,c\"d\\e%20f&aff=partner".to_owned(),
            ..landing()
        };
        let value = values(&click.cookies_at(&id("c"), 60, now()))[3].to_owned();
        let cookie = Cookie::parse(value).unwrap();
        assert_eq!(
            cookie.value(),
            "http://shop.example/?q=a%3Bb%2Cc%22d%5Ce%20f&aff=partner"
        );
    }

    #[test]
    fn a_response_that_sets_the_click_id_is_left_alone() {
        let cookies = landing().cookies_at(&id("c"), 60, now());
        let mut response = http::HeaderMap::new();
        response.append("set-cookie", "session=abc; HttpOnly".parse().unwrap());
        let update = cookies.for_response(&response).unwrap();
        assert_eq!(update.set_cookie_values().count(), 4);
        response.append(
            "set-cookie",
            "affitor_click_id=own; Path=/".parse().unwrap(),
        );
        assert!(cookies.for_response(&response).is_none());
        // A cookie whose name merely starts the same is another cookie.
        let mut response = http::HeaderMap::new();
        response.append("set-cookie", "affitor_click_id_v2=x".parse().unwrap());
        assert!(cookies.for_response(&response).is_some());
    }

    #[test]
    fn cache_control_is_made_private() {
        let merge = |values: &[&str]| {
            let values: Vec<&[u8]> = values.iter().map(|value| value.as_bytes()).collect();
            private_cache_control(&values)
        };
        assert_eq!(merge(&[]), "private, no-store");
        assert_eq!(merge(&["", " "]), "private, no-store");
        assert_eq!(merge(&["public, max-age=600"]), "private, max-age=600");
        assert_eq!(merge(&["max-age=60, s-maxage=600"]), "private, max-age=60");
        assert_eq!(merge(&["private"]), "private");
        assert_eq!(merge(&["no-cache", "PUBLIC"]), "private, no-cache");
        assert_eq!(
            merge(&["private=\"set-cookie\", max-age=5"]),
            "private, max-age=5"
        );
        assert_eq!(merge(&["no-store, no-store"]), "private, no-store");
    }

    /// `private="set-cookie"` keeps the rest of the response in shared caches: it is made
    /// private; an unqualified `private` or `no-store` already is.
    #[test]
    fn only_an_unqualified_private_keeps_a_response_private() {
        let keep = |value: &str| {
            let mut response = http::HeaderMap::new();
            response.insert("cache-control", value.parse().unwrap());
            KeepPrivate::for_response(&response)
                .cache_control()
                .map(str::to_owned)
        };
        assert_eq!(
            keep("private=\"set-cookie\", max-age=60").as_deref(),
            Some("private, max-age=60")
        );
        assert_eq!(keep("PRIVATE=set-cookie").as_deref(), Some("private"));
        assert_eq!(keep("max-age=60, Private"), None);
        assert_eq!(keep("no-store"), None);
    }

    #[test]
    fn debug_shows_names_not_values() {
        let cookies = landing().cookies_at(&id("secret_click"), 60, now());
        let debug = format!("{cookies:?}");
        assert!(
            debug.contains("affitor_click_id") && !debug.contains("secret_click"),
            "{debug}"
        );
    }
}
