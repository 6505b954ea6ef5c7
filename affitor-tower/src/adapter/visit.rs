//! A request as the capture sees it, and the click request built from the visitor's facts.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::pending::Memo;
use crate::parse;
use crate::{ClickId, ClickRequest, Client};
use affitor::client::Consent;

/// The headers of a request or a response, read by name: what an adapter hands the capture.
///
/// Implemented for `http::HeaderMap`; an adapter for another HTTP library (actix-web 4 has its
/// own header types) implements it on a thin wrapper of its header map.
///
/// ```
/// use affitor_tower::adapter::Headers;
///
/// let mut map = http::HeaderMap::new();
/// map.append("cookie", "a=1".parse()?);
/// map.append("cookie", "b=2".parse()?);
///
/// let mut values = Vec::new();
/// map.for_each_value("cookie", &mut |value| values.push(value));
/// assert_eq!(values, [&b"a=1"[..], b"b=2"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Headers {
    /// Calls `each` with every value of the header `name` (given in lower case), in order.
    fn for_each_value<'s>(&'s self, name: &str, each: &mut dyn FnMut(&'s [u8]));
}

impl Headers for http::HeaderMap {
    fn for_each_value<'s>(&'s self, name: &str, each: &mut dyn FnMut(&'s [u8])) {
        for value in self.get_all(name) {
            each(value.as_bytes());
        }
    }
}

/// A request, as the capture sees it: the method, the path, the query, whether the connection
/// is HTTPS, and the headers.
///
/// Adapters build one per request; a consent predicate (see
/// [`CaptureClicks::consent`](crate::capture::CaptureClicks::consent)) reads its headers and cookies.
///
/// ```
/// use affitor_tower::adapter::Visit;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("cookie", "theme=dark; consent=yes".parse()?);
/// headers.insert("host", "shop.example".parse()?);
///
/// let visit = Visit::new("GET", "/pricing", Some("aff=partner"), &headers).https(true);
/// assert_eq!(visit.cookie("consent"), Some("yes"));
/// assert_eq!(visit.header("host"), Some("shop.example"));
/// assert_eq!(visit.query(), Some("aff=partner"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Visit<'r> {
    method: &'r str,
    path: &'r str,
    query: Option<&'r str>,
    https: bool,
    authority: Option<&'r str>,
    client_address: Option<IpAddr>,
    headers: &'r dyn Headers,
}

impl<'r> Visit<'r> {
    /// A request with this method, path (such as `/pricing`), query string (without the `?`)
    /// and headers, received over plain HTTP.
    ///
    /// HTTP libraries keep the query apart already: with the `http` crate,
    /// `Visit::new(request.method().as_str(), uri.path(), uri.query(), request.headers())`.
    ///
    /// ```
    /// let headers = http::HeaderMap::new();
    /// let visit = affitor_tower::adapter::Visit::new("GET", "/", Some("aff=partner"), &headers);
    /// assert_eq!(visit.method(), "GET");
    /// ```
    pub fn new(
        method: &'r str,
        path: &'r str,
        query: Option<&'r str>,
        headers: &'r dyn Headers,
    ) -> Self {
        Self {
            method,
            path,
            query,
            https: false,
            authority: None,
            client_address: None,
            headers,
        }
    }

    /// Whether the request came over HTTPS to this server (its own TLS, not a proxy's: a
    /// proxy's word is taken only from the headers it is trusted for, see
    /// [`CaptureClicks::trust_proxy_headers`](crate::capture::CaptureClicks::trust_proxy_headers)).
    ///
    /// ```
    /// let headers = http::HeaderMap::new();
    /// let visit = affitor_tower::adapter::Visit::new("GET", "/", None, &headers).https(true);
    /// ```
    #[must_use]
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// The host the request was sent to when the request line carried it (HTTP/2's
    /// `:authority`, an absolute URI); the `Host` header is used first.
    ///
    /// ```
    /// let headers = http::HeaderMap::new();
    /// let visit = affitor_tower::adapter::Visit::new("GET", "/", None, &headers)
    ///     .authority(Some("shop.example"));
    /// ```
    #[must_use]
    pub fn authority(mut self, authority: Option<&'r str>) -> Self {
        self.authority = authority;
        self
    }

    /// The address of the client that sent the request (the connection's peer): what the
    /// [`ClickLimit`](crate::capture::ClickLimit) counts clicks by. With trusted proxy headers, the
    /// address they name comes first.
    ///
    /// ```
    /// let headers = http::HeaderMap::new();
    /// let visit = affitor_tower::adapter::Visit::new("GET", "/", None, &headers)
    ///     .client_address(Some([192, 0, 2, 1].into()));
    /// ```
    #[must_use]
    pub fn client_address(mut self, address: Option<IpAddr>) -> Self {
        self.client_address = address;
        self
    }

    /// The client's address, as [`client_address`](Self::client_address) set it.
    pub(crate) fn address(&self) -> Option<IpAddr> {
        self.client_address
    }

    /// The request method.
    ///
    /// ```
    /// let headers = http::HeaderMap::new();
    /// assert_eq!(affitor_tower::adapter::Visit::new("HEAD", "/", None, &headers).method(), "HEAD");
    /// ```
    pub fn method(&self) -> &'r str {
        self.method
    }

    /// The path of the request, such as `/pricing`.
    ///
    /// ```
    /// let headers = http::HeaderMap::new();
    /// let visit = affitor_tower::adapter::Visit::new("GET", "/a", Some("b=c"), &headers);
    /// assert_eq!(visit.path(), "/a");
    /// ```
    pub fn path(&self) -> &'r str {
        self.path
    }

    /// The query string, without the `?`, if there is one.
    ///
    /// ```
    /// let headers = http::HeaderMap::new();
    /// assert_eq!(affitor_tower::adapter::Visit::new("GET", "/", None, &headers).query(), None);
    /// ```
    pub fn query(&self) -> Option<&'r str> {
        self.query
    }

    /// The first value of the header `name` (in lower case), if it is text.
    ///
    /// ```
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("sec-gpc", "1".parse()?);
    /// let visit = affitor_tower::adapter::Visit::new("GET", "/", None, &headers);
    /// assert_eq!(visit.header("sec-gpc"), Some("1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&'r str> {
        let mut first = None;
        self.headers.for_each_value(name, &mut |value| {
            first.get_or_insert(value);
        });
        first.and_then(|value| std::str::from_utf8(parse::header_value(value)).ok())
    }

    /// The last value of the header `name` (in lower case), if it is text: the line a proxy
    /// in front of the app appended, after any the visitor sent.
    pub(crate) fn last_header(&self, name: &str) -> Option<&'r str> {
        let mut last = None;
        self.headers
            .for_each_value(name, &mut |value| last = Some(value));
        last.and_then(|value| std::str::from_utf8(parse::header_value(value)).ok())
    }

    /// The value of the first cookie named `name`, over every `Cookie` header, if it is text.
    ///
    /// ```
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("cookie", "consent=yes".parse()?);
    /// let visit = affitor_tower::adapter::Visit::new("GET", "/", None, &headers);
    /// assert_eq!(visit.cookie("consent"), Some("yes"));
    /// assert_eq!(visit.cookie("missing"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&'r str> {
        self.find_cookie(name, Some)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// The first of the cookies named `name`, over every `Cookie` header, that `read` takes:
    /// of a cookie set twice (a `Domain` the tracker does not share), the one the lookup reads.
    pub(crate) fn find_cookie<T>(
        &self,
        name: &str,
        mut read: impl FnMut(&'r [u8]) -> Option<T>,
    ) -> Option<T> {
        let mut found = None;
        self.headers.for_each_value("cookie", &mut |header| {
            if found.is_none() {
                found = parse::cookies(header)
                    .filter(|(key, _)| *key == name.as_bytes())
                    .find_map(|(_, value)| read(value));
            }
        });
        found
    }

    /// The host the visitor asked for: the `Host` header, else the request line's authority.
    pub(crate) fn host(&self) -> Option<&'r str> {
        self.header("host").or(self.authority)
    }

    /// Whether the connection itself is HTTPS.
    pub(crate) fn is_https(&self) -> bool {
        self.https
    }
}

impl fmt::Debug for Visit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The query may carry a visitor's data: the path alone says which page it is.
        f.debug_struct("Visit")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

/// A partner link to record: the visitor's facts, gathered from the request by
/// [`CaptureClicks::decide`](crate::capture::CaptureClicks::decide).
///
/// [`request`](Self::request) builds the click call; [`cookies`](Self::cookies) the cookies
/// to set once the API has answered with a click id.
///
/// ```
/// use affitor_tower::adapter::{Decision, Visit};
/// use affitor_tower::capture::CaptureClicks;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("host", "shop.example".parse()?);
/// headers.insert("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".parse()?);
/// headers.insert("accept-language", "fr-FR,fr;q=0.9".parse()?);
///
/// let visit = Visit::new("GET", "/pricing", Some("aff=partner"), &headers);
/// let Decision::Capture(click) = CaptureClicks::new().decide(&visit) else { unreachable!() };
/// assert_eq!(click.partner_code(), "partner");
/// assert_eq!(click.landing_url(), "http://shop.example/pricing?aff=partner");
/// assert_eq!(click.language(), Some("fr-FR"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PartnerClick {
    pub(crate) code: String,
    pub(crate) landing_url: String,
    pub(crate) referrer: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) language: Option<String>,
    pub(crate) existing_click_id: Option<ClickId>,
    /// The ids of `affitor_click_ids`, valid ones only, oldest first.
    pub(crate) earlier_click_ids: Vec<ClickId>,
    pub(crate) secure: bool,
    pub(crate) domain: Option<Arc<str>>,
    /// Its place in the click limit's repeat memory: `None` when it has none (an unknown
    /// address, no click limit).
    pub(crate) memo: Option<Memo>,
    /// The visitor's consent when it was captured: kept with the click's event, never sent.
    pub(crate) consent: Consent,
}

impl PartnerClick {
    /// The partner's code: the `aff` parameter of the link.
    ///
    /// See [`PartnerClick`] for an example.
    pub fn partner_code(&self) -> &str {
        &self.code
    }

    /// The URL the visitor landed on, rebuilt from the request: sent as `affiliate_url` and
    /// `page_url`, and stored in the `affitor_aff_url` cookie.
    ///
    /// See [`PartnerClick`] for an example.
    pub fn landing_url(&self) -> &str {
        &self.landing_url
    }

    /// The page the visitor came from (`Referer`), as the click call sends it: whole up to
    /// 1 KiB; a longer one without its query and fragment, else as its origin alone.
    ///
    /// ```
    /// # use affitor_tower::capture::CaptureClicks;
    /// # use affitor_tower::adapter::{Decision, Visit};
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("host", "shop.example".parse()?);
    /// headers.insert("user-agent", "Mozilla/5.0".parse()?);
    /// headers.insert("referer", "https://news.example/".parse()?);
    /// let visit = Visit::new("GET", "/", Some("aff=partner"), &headers);
    /// let Decision::Capture(click) = CaptureClicks::new().decide(&visit) else { unreachable!() };
    /// assert_eq!(click.referrer(), Some("https://news.example/"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn referrer(&self) -> Option<&str> {
        self.referrer.as_deref()
    }

    /// The visitor's `User-Agent`, cut to 512 bytes (at a character boundary) for the click
    /// call.
    ///
    /// ```
    /// # use affitor_tower::capture::CaptureClicks;
    /// # use affitor_tower::adapter::{Decision, Visit};
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("host", "shop.example".parse()?);
    /// headers.insert("user-agent", "Mozilla/5.0".parse()?);
    /// let visit = Visit::new("GET", "/", Some("aff=partner"), &headers);
    /// let Decision::Capture(click) = CaptureClicks::new().decide(&visit) else { unreachable!() };
    /// assert_eq!(click.user_agent(), Some("Mozilla/5.0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The visitor's preferred language: the first of `Accept-Language`.
    ///
    /// See [`PartnerClick`] for an example.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// The click id the visitor already had from another partner: sent as
    /// `existing_click_id`, so the API keeps one customer (the new partner still wins).
    ///
    /// ```
    /// # use affitor_tower::capture::CaptureClicks;
    /// # use affitor_tower::adapter::{Decision, Visit};
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("host", "shop.example".parse()?);
    /// headers.insert("user-agent", "Mozilla/5.0".parse()?);
    /// headers.insert(
    ///     "cookie",
    ///     "affitor_click_id=cust_1_1; affitor_aff_url=https://shop.example/?aff=old".parse()?,
    /// );
    /// let visit = Visit::new("GET", "/", Some("aff=partner"), &headers);
    /// let Decision::Capture(click) = CaptureClicks::new().decide(&visit) else { unreachable!() };
    /// assert_eq!(click.existing_click_id().map(|id| id.as_str()), Some("cust_1_1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn existing_click_id(&self) -> Option<&ClickId> {
        self.existing_click_id.as_ref()
    }

    /// Whether the cookies get `Secure`: the visitor's scheme is HTTPS, unless set by
    /// [`CaptureClicks::secure`](crate::capture::CaptureClicks::secure).
    ///
    /// See [`PartnerClick::cookies`] for an example.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The click call, from the visitor's facts: `affiliate_url` and `page_url` (the landing
    /// URL), `referrer_url`, `user_agent`, `language`, and `existing_click_id` when the
    /// partner changed. Each was bounded when the click was decided (the landing URL to 2 KiB,
    /// the referrer to 1 KiB, the user agent to 512 bytes, the language to 35), so that the
    /// body stays under the 8 KiB an API gateway commonly takes, whatever the visitor sent.
    ///
    /// ```
    /// # use affitor_tower::capture::CaptureClicks;
    /// # use affitor_tower::adapter::{Decision, Visit};
    /// # async fn run(client: affitor_tower::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("host", "shop.example".parse()?);
    /// headers.insert("user-agent", "Mozilla/5.0".parse()?);
    /// let visit = Visit::new("GET", "/", Some("aff=partner"), &headers);
    /// if let Decision::Capture(click) = CaptureClicks::new().decide(&visit) {
    ///     let outcome = click.request(&client).send().await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn request(&self, client: &Client) -> ClickRequest {
        let mut request = client
            .click(self.landing_url.as_str())
            .page_url(self.landing_url.as_str())
            .existing_click_id(self.existing_click_id.clone())
            .consent(self.consent);
        if let Some(referrer) = &self.referrer {
            request = request.referrer_url(referrer.as_str());
        }
        if let Some(user_agent) = &self.user_agent {
            request = request.user_agent(user_agent.as_str());
        }
        if let Some(language) = &self.language {
            request = request.language(language.as_str());
        }
        request
    }
}

impl PartnerClick {
    /// The URL a probe of the partner code sends: the landing URL's origin and `?aff=` alone,
    /// none of the visitor's path and query.
    pub(crate) fn probe_url(&self) -> String {
        let url = self.landing_url.as_str();
        let after_scheme = url.find("://").map_or(0, |at| at + 3);
        let origin_end = url[after_scheme..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |at| after_scheme + at);
        format!("{}/?aff={}", &url[..origin_end], self.code)
    }
}

impl fmt::Debug for PartnerClick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The landing URL's query and the referrer may carry a visitor's data: left out.
        f.debug_struct("PartnerClick")
            .field("partner_code", &self.code)
            .field("existing_click_id", &self.existing_click_id)
            .field("secure", &self.secure)
            .field("domain", &self.domain)
            .field("repeat", &matches!(self.memo, Some(Memo::Repeat(_))))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::adapter::{Decision, Visit};
    use crate::capture::CaptureClicks;

    #[test]
    fn a_probe_url_is_the_origin_and_the_code_alone() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "shop.example:8443".parse().unwrap());
        headers.insert("user-agent", "Mozilla/5.0".parse().unwrap());
        let visit = Visit::new(
            "GET",
            "/pricing/pro",
            Some("utm=x&aff=partner&q=1"),
            &headers,
        );
        let Decision::Capture(click) = CaptureClicks::new().decide(&visit) else {
            panic!("a click")
        };
        assert_eq!(click.probe_url(), "http://shop.example:8443/?aff=partner");
    }
}
