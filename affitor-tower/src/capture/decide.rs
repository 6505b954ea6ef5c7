//! The decision: is this request a partner link to record, and with which facts?

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use aho_corasick::AhoCorasick;

use super::cookies::{MAX_CLICK_IDS, cookie_safe_len};
use super::visit::{PartnerClick, Visit};
use super::{CaptureClicks, ProxyHeaders};
use crate::ClickId;
use crate::parse;

/// What [`CaptureClicks::decide`] made of a request.
///
/// ```
/// use affitor_tower::capture::{Decision, Skip, Visit};
/// use affitor_tower::capture::CaptureClicks;
///
/// let headers = http::HeaderMap::new();
/// let decision = CaptureClicks::new().decide(&Visit::new("GET", "/pricing", None, &headers));
/// assert!(matches!(decision, Decision::Skip(Skip::NoPartnerLink)));
/// ```
#[derive(Debug)]
pub enum Decision {
    /// A partner link to record.
    Capture(PartnerClick),
    /// Nothing to record, and why.
    Skip(Skip),
}

/// Why a request is not recorded as a click.
///
/// Adapters log it at `debug`, except [`Skip::NoPartnerLink`], the answer for almost every
/// request.
///
/// ```
/// use affitor_tower::capture::Skip;
///
/// assert_eq!(
///     Skip::SamePartner.to_string(),
///     "the visitor already has a click id from this partner",
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// The query has no `aff` parameter.
    NoPartnerLink,
    /// The `aff` value is not 1 to 64 of `A-Z a-z 0-9 _ -`.
    InvalidPartnerCode,
    /// The method is not `GET` (a `HEAD` is never a click).
    NotGet,
    /// A prefetch or prerender (`Sec-Purpose`, `Purpose` or `X-Moz: prefetch`): the visitor
    /// has not opened the page.
    Prefetch,
    /// `Sec-Fetch-Mode` says the browser is not navigating to a page (an image, a script, a
    /// `fetch` call).
    NotNavigation,
    /// A link-preview bot, a crawler, or a client that sends no `User-Agent`.
    Bot,
    /// The visitor already has a click id, and `affitor_aff_url` names the same partner.
    SamePartner,
    /// The consent predicate said no.
    NoConsent,
    /// The host the visitor asked for is missing or malformed, so the landing URL cannot be
    /// rebuilt.
    NoHost,
    /// The visitor's address sent more clicks than its [`ClickLimit`](super::ClickLimit)
    /// allows: a flood of visits is not a flood of click calls.
    RateLimited,
    /// The same address visited the same partner's link moments ago: the same click.
    Repeated,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoPartnerLink => "the query has no `aff` parameter",
            Self::InvalidPartnerCode => {
                "the `aff` value is not 1 to 64 of A-Z a-z 0-9 _ - (the link is malformed)"
            }
            Self::NotGet => "only a GET is a click (never a HEAD)",
            Self::Prefetch => "a prefetch is not a visit",
            Self::NotNavigation => "Sec-Fetch-Mode says this is not a page navigation",
            Self::Bot => "the user agent is a bot, a link preview, or missing",
            Self::SamePartner => "the visitor already has a click id from this partner",
            Self::NoConsent => "the consent predicate said no",
            Self::NoHost => "the Host header is missing or malformed",
            Self::RateLimited => "this address sent more clicks than the click limit allows",
            Self::Repeated => "this address visited this partner's link moments ago",
        })
    }
}

/// The longest partner code accepted, in bytes.
const MAX_CODE_LEN: usize = 64;

pub(super) fn decide(options: &CaptureClicks, visit: &Visit<'_>) -> Decision {
    // Almost every request stops here, after a look at the query string.
    let Some(code) = visit.query().and_then(|query| first_aff(query.as_bytes())) else {
        return Decision::Skip(Skip::NoPartnerLink);
    };
    let Some(code) = partner_code(&code) else {
        return Decision::Skip(Skip::InvalidPartnerCode);
    };
    if visit.method() != "GET" {
        return Decision::Skip(Skip::NotGet);
    }
    if is_prefetch(visit) {
        return Decision::Skip(Skip::Prefetch);
    }
    if visit
        .header("sec-fetch-mode")
        .is_some_and(|mode| !mode.eq_ignore_ascii_case("navigate"))
    {
        return Decision::Skip(Skip::NotNavigation);
    }
    let user_agent = visit.header("user-agent").filter(|agent| !agent.is_empty());
    if user_agent.is_none_or(|agent| options.bots.is_bot(agent)) {
        return Decision::Skip(Skip::Bot);
    }
    let existing_click_id = visit
        .cookie("affitor_click_id")
        .and_then(|id| id.parse::<ClickId>().ok())
        .or_else(|| {
            visit
                .cookie("customer_code")
                .and_then(|id| id.parse::<ClickId>().ok())
        });
    if existing_click_id.is_some() && cookie_partner(visit).as_deref() == Some(code) {
        return Decision::Skip(Skip::SamePartner);
    }
    if let Some(consent) = &options.consent
        && !consent(visit)
    {
        return Decision::Skip(Skip::NoConsent);
    }
    let (https, host) = origin(options.proxy_headers, visit);
    let Some(host) = host.filter(|host| is_host(host)) else {
        return Decision::Skip(Skip::NoHost);
    };
    let address = match options.proxy_headers {
        ProxyHeaders::Ignore => visit.address(),
        trusted => proxy_client_address(trusted, visit).or(visit.address()),
    };
    if let Some(skip) = options
        .limiter
        .admit(&options.limit, address, code, Instant::now())
    {
        return Decision::Skip(skip);
    }
    let scheme = if https { "https" } else { "http" };
    Decision::Capture(PartnerClick {
        code: code.to_owned(),
        landing_url: landing_url(scheme, host, visit, code),
        referrer: visit
            .header("referer")
            .filter(|referrer| !referrer.is_empty())
            .map(str::to_owned),
        user_agent: user_agent.map(str::to_owned),
        language: visit.header("accept-language").and_then(first_language),
        existing_click_id,
        earlier_click_ids: visit
            .cookie("affitor_click_ids")
            .map(earlier_click_ids)
            .unwrap_or_default(),
        secure: options.secure.unwrap_or(https),
        domain: options.cookie_domain.clone(),
    })
}

/// The longest landing URL kept, as the `affitor_aff_url` cookie carries it (escaped): it is
/// sent to the API and stored in that cookie, which a crafted link must not make a `Set-Cookie`
/// larger than browsers keep (4 KiB) or than a proxy's header buffer takes.
const MAX_LANDING_URL: usize = 2048;

/// The URL the visitor landed on; past [`MAX_LANDING_URL`] once escaped for the cookie, the
/// shortest one that still names the partner: the path with `?aff=CODE` alone, else the site's
/// root with it. Measured before it is built: an attacker's long URL is never copied.
fn landing_url(scheme: &str, host: &str, visit: &Visit<'_>, code: &str) -> String {
    let path = visit.path();
    // `://`, `?` and `=` are carried as they are; a code is `A-Z a-z 0-9 _ -`.
    let origin = scheme.len() + "://".len() + cookie_safe_len(host);
    let full = origin
        + cookie_safe_len(path)
        + visit.query().map_or(0, |query| 1 + cookie_safe_len(query));
    if full <= MAX_LANDING_URL {
        return match visit.query() {
            Some(query) => format!("{scheme}://{host}{path}?{query}"),
            None => format!("{scheme}://{host}{path}"),
        };
    }
    if origin + cookie_safe_len(path) + "?aff=".len() + code.len() <= MAX_LANDING_URL {
        return format!("{scheme}://{host}{path}?aff={code}");
    }
    format!("{scheme}://{host}/?aff={code}")
}

/// The first `aff` parameter of a query string, percent-decoded with `+` as a space: what
/// `URLSearchParams.get("aff")` gives the browser tracker.
pub(super) fn first_aff(query: &[u8]) -> Option<Cow<'_, [u8]>> {
    // A name can only be `aff` if the query spells it, or escapes some of it.
    let may_name_aff = memchr::memchr2_iter(b'a', b'%', query)
        .any(|at| query[at] == b'%' || query[at..].starts_with(b"aff"));
    if !may_name_aff {
        return None;
    }
    query.split(|&byte| byte == b'&').find_map(|pair| {
        let (name, value) = match pair.iter().position(|&byte| byte == b'=') {
            Some(equals) => (&pair[..equals], &pair[equals + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (*parse::percent_decode(name) == *b"aff").then(|| parse::percent_decode(value))
    })
}

/// The code when it is 1 to 64 of `A-Z a-z 0-9 _ -`.
fn partner_code(code: &[u8]) -> Option<&str> {
    let valid = (1..=MAX_CODE_LEN).contains(&code.len())
        && code
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    // Every allowed byte is ASCII.
    valid.then(|| std::str::from_utf8(code).ok()).flatten()
}

/// The most of a cookie read: what browsers keep of one.
const MAX_COOKIE: usize = 4096;

/// The partner of the visitor's last click: the `aff` of the `affitor_aff_url` cookie.
fn cookie_partner(visit: &Visit<'_>) -> Option<String> {
    let url = visit.cookie("affitor_aff_url")?;
    // The tracker stores the URL as it is; this crate escapes what a cookie cannot carry. No
    // browser keeps a cookie over 4 KiB: read no more than that of a forged one.
    let url = url.as_bytes();
    let url = parse::percent_decode(&url[..url.len().min(MAX_COOKIE)]);
    let url = String::from_utf8_lossy(&url);
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    let code = first_aff(query.as_bytes())?;
    partner_code(&code).map(str::to_owned)
}

/// Whether the request is a prefetch or prerender, not a visit.
fn is_prefetch(visit: &Visit<'_>) -> bool {
    ["sec-purpose", "purpose", "x-moz", "x-purpose"]
        .into_iter()
        .filter_map(|name| visit.header(name))
        .any(|value| {
            value.split([';', ',', ' ']).any(|token| {
                token.eq_ignore_ascii_case("prefetch") || token.eq_ignore_ascii_case("preview")
            })
        })
}

/// Whether the visitor's scheme is HTTPS, and the host they asked for: from the proxy headers
/// the app trusts, else from the connection and the `Host` header.
fn origin<'r>(trusted: ProxyHeaders, visit: &Visit<'r>) -> (bool, Option<&'r str>) {
    let (proto, host) = match trusted {
        ProxyHeaders::Ignore => (None, None),
        ProxyHeaders::Forwarded => visit
            .header("forwarded")
            .map_or((None, None), forwarded_proto_host),
        ProxyHeaders::XForwarded => (
            visit.header("x-forwarded-proto").map(first_element),
            visit.header("x-forwarded-host").map(first_element),
        ),
    };
    let https = match proto {
        Some(proto) if proto.eq_ignore_ascii_case("https") => true,
        Some(proto) if proto.eq_ignore_ascii_case("http") => false,
        _ => visit.is_https(),
    };
    (https, host.or_else(|| visit.host()))
}

/// The visitor's address a trusted proxy header names: `for=` of `Forwarded`'s last element,
/// or `X-Forwarded-For`'s last element. The last is the one the proxy in front of the app
/// added; the elements before it came with the request, and a visitor can write any.
fn proxy_client_address(trusted: ProxyHeaders, visit: &Visit<'_>) -> Option<IpAddr> {
    let named = match trusted {
        ProxyHeaders::Ignore => return None,
        ProxyHeaders::Forwarded => {
            last_element(visit.header("forwarded")?)
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))?
                .1
        }
        ProxyHeaders::XForwarded => last_element(visit.header("x-forwarded-for")?),
    };
    let named = named.trim().trim_matches('"');
    // `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`, `2001:db8::1`.
    named
        .parse()
        .ok()
        .or_else(|| {
            named
                .parse::<std::net::SocketAddr>()
                .ok()
                .map(|addr| addr.ip())
        })
        .or_else(|| {
            named
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        })
}

/// The first element of a comma-separated list: the one the proxy nearest the visitor set.
fn first_element(list: &str) -> &str {
    list.split(',').next().unwrap_or_default().trim()
}

/// The last element of a comma-separated list: the one the proxy nearest the app set.
fn last_element(list: &str) -> &str {
    list.rsplit(',').next().unwrap_or_default().trim()
}

/// `proto` and `host` of the first element of a `Forwarded` header (RFC 7239).
fn forwarded_proto_host(header: &str) -> (Option<&str>, Option<&str>) {
    let (mut proto, mut host) = (None, None);
    for pair in first_element(header).split(';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match name.trim() {
            name if name.eq_ignore_ascii_case("proto") => proto = Some(value),
            name if name.eq_ignore_ascii_case("host") => host = Some(value),
            _ => {}
        }
    }
    (proto, host)
}

/// Whether `host` is a host name or address, with an optional port: what may go between
/// `://` and the path of a URL.
fn is_host(host: &str) -> bool {
    (1..=255).contains(&host.len())
        && host.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

/// The first language of an `Accept-Language` header, such as `en-US`.
fn first_language(header: &str) -> Option<String> {
    let language = first_element(header).split(';').next()?.trim();
    let valid = (1..=35).contains(&language.len())
        && language
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    valid.then(|| language.to_owned())
}

/// The most bytes of an `affitor_click_ids` cookie that are read: its last ones. The tracker
/// keeps [`MAX_CLICK_IDS`] ids of at most 128 bytes, which encode in under 8 KiB; what a longer
/// cookie holds before them would be dropped anyway.
const MAX_CLICK_IDS_READ: usize = 8 * 1024;

/// The valid ids of an `affitor_click_ids` cookie (`encodeURIComponent(ids.join("|"))`),
/// oldest first, without repeats, the newest [`MAX_CLICK_IDS`]: read from the cookie's end, at
/// most [`MAX_CLICK_IDS_READ`] bytes, in linear time whatever the cookie holds.
fn earlier_click_ids(cookie: &str) -> Vec<ClickId> {
    let cookie = cookie.as_bytes();
    let cut = cookie.len().saturating_sub(MAX_CLICK_IDS_READ);
    let decoded = parse::percent_decode(&cookie[cut..]);
    // A cut cookie starts inside an id (or its `%7C`): that piece is not one.
    let decoded = match (cut, decoded.iter().position(|&byte| byte == b'|')) {
        (0, _) => &decoded[..],
        (_, Some(separator)) => &decoded[separator + 1..],
        (_, None) => &[],
    };
    let mut newest_first: Vec<ClickId> = Vec::with_capacity(MAX_CLICK_IDS);
    for id in decoded.rsplit(|&byte| byte == b'|') {
        if newest_first.len() == MAX_CLICK_IDS {
            break;
        }
        // At most 20 held: this look is bounded.
        if let Ok(id) = ClickId::from_bytes(id)
            && !newest_first.contains(&id)
        {
            newest_first.push(id);
        }
    }
    newest_first.reverse();
    newest_first
}

/// The bot user agent patterns, matched in one pass over a user agent, ignoring ASCII case.
#[derive(Clone, Debug)]
pub(super) struct Bots {
    patterns: Vec<Box<str>>,
    matcher: AhoCorasick,
}

impl Bots {
    /// The built-in patterns.
    pub(super) fn built_in() -> Self {
        let patterns: Vec<Box<str>> = CaptureClicks::BUILT_IN_BOTS
            .iter()
            .map(|&pattern| Box::from(pattern))
            .collect();
        // A few dozen short patterns are far below the automaton's size limits.
        let matcher = Self::matcher(&patterns).expect("the built-in bot patterns build");
        Self { patterns, matcher }
    }

    /// Adds a pattern, unless it is empty.
    pub(super) fn add(&mut self, pattern: String) {
        if pattern.is_empty() {
            return;
        }
        self.patterns.push(pattern.into_boxed_str());
        match Self::matcher(&self.patterns) {
            Ok(matcher) => self.matcher = matcher,
            Err(error) => {
                self.patterns.pop();
                tracing::warn!(%error, "a bot pattern is left out: the automaton is too large");
            }
        }
    }

    fn matcher(patterns: &[Box<str>]) -> Result<AhoCorasick, aho_corasick::BuildError> {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(patterns.iter().map(|pattern| pattern.as_bytes()))
    }

    pub(super) fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether `user_agent` contains a pattern, ignoring ASCII case.
    pub(super) fn is_bot(&self, user_agent: &str) -> bool {
        self.matcher.is_match(user_agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 \
                           (KHTML, like Gecko) Version/17.5 Safari/605.1.15";

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("a valid header value"));
        }
        map
    }

    /// A browser's GET of `target` on `shop.example`, with these extra headers.
    fn browser(extra: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut pairs = vec![("host", "shop.example"), ("user-agent", BROWSER)];
        pairs.extend_from_slice(extra);
        headers(&pairs)
    }

    fn decide_with(
        options: &CaptureClicks,
        method: &str,
        target: &str,
        map: &http::HeaderMap,
    ) -> Decision {
        options.decide(&visit(method, target, map))
    }

    /// A visit of `target`, a path with an optional query.
    fn visit<'r>(method: &'r str, target: &'r str, map: &'r http::HeaderMap) -> Visit<'r> {
        match target.split_once('?') {
            Some((path, query)) => Visit::new(method, path, Some(query), map),
            None => Visit::new(method, target, None, map),
        }
    }

    fn skip(decision: Decision) -> Skip {
        match decision {
            Decision::Skip(skip) => skip,
            Decision::Capture(click) => panic!("expected a skip, got {click:?}"),
        }
    }

    fn capture(decision: Decision) -> PartnerClick {
        match decision {
            Decision::Capture(click) => click,
            Decision::Skip(skip) => panic!("expected a capture, skipped: {skip}"),
        }
    }

    fn get(target: &str, map: &http::HeaderMap) -> Decision {
        decide_with(&CaptureClicks::new(), "GET", target, map)
    }

    #[test]
    fn first_aff_reads_like_url_search_params() {
        let aff = |query: &str| first_aff(query.as_bytes()).map(|code| code.into_owned());
        assert_eq!(aff("aff=abc"), Some(b"abc".to_vec()));
        assert_eq!(aff("x=1&aff=first&aff=second"), Some(b"first".to_vec()));
        assert_eq!(aff("a%66f=escaped"), Some(b"escaped".to_vec()));
        assert_eq!(aff("aff=a%2Db"), Some(b"a-b".to_vec()));
        assert_eq!(aff("aff=a+b"), Some(b"a b".to_vec()));
        assert_eq!(aff("aff"), Some(Vec::new()));
        assert_eq!(aff("affx=1&xaff=2"), None);
        assert_eq!(aff(""), None);
    }

    #[test]
    fn a_request_without_aff_is_not_a_click() {
        let map = browser(&[]);
        assert_eq!(skip(get("/", &map)), Skip::NoPartnerLink);
        assert_eq!(skip(get("/pricing?plan=pro", &map)), Skip::NoPartnerLink);
        assert_eq!(skip(get("/?affiliate=x#aff=y", &map)), Skip::NoPartnerLink);
    }

    #[test]
    fn an_invalid_aff_is_ignored() {
        let map = browser(&[]);
        let long = format!("/?aff={}", "a".repeat(MAX_CODE_LEN + 1));
        for target in [
            "/?aff=",
            "/?aff=a%20b",
            "/?aff=caf%C3%A9",
            "/?aff=a.b",
            "/?aff=a;b",
            &long,
        ] {
            assert_eq!(
                skip(get(target, &map)),
                Skip::InvalidPartnerCode,
                "{target}"
            );
        }
        let longest = format!("/?aff={}", "a".repeat(MAX_CODE_LEN));
        assert_eq!(
            capture(get(&longest, &map)).partner_code().len(),
            MAX_CODE_LEN
        );
        assert_eq!(
            capture(get("/?aff=Part_ner-9", &map)).partner_code(),
            "Part_ner-9"
        );
    }

    #[test]
    fn only_a_get_is_a_click() {
        let map = browser(&[]);
        for method in ["HEAD", "POST", "OPTIONS", "get"] {
            let decision = decide_with(&CaptureClicks::new(), method, "/?aff=partner", &map);
            assert_eq!(skip(decision), Skip::NotGet, "{method}");
        }
    }

    #[test]
    fn prefetches_are_not_clicks() {
        for (name, value) in [
            ("sec-purpose", "prefetch"),
            ("sec-purpose", "prefetch;prerender"),
            ("purpose", "prefetch"),
            ("x-moz", "prefetch"),
            ("x-purpose", "preview"),
        ] {
            let map = browser(&[(name, value)]);
            assert_eq!(
                skip(get("/?aff=partner", &map)),
                Skip::Prefetch,
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn only_a_navigation_is_a_click() {
        let map = browser(&[("sec-fetch-mode", "no-cors")]);
        assert_eq!(skip(get("/?aff=partner", &map)), Skip::NotNavigation);
        let map = browser(&[("sec-fetch-mode", "navigate")]);
        capture(get("/?aff=partner", &map));
    }

    #[test]
    fn bots_and_link_previews_are_not_clicks() {
        for agent in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "WhatsApp/2.23.20.0",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)",
        ] {
            let map = headers(&[("host", "shop.example"), ("user-agent", agent)]);
            assert_eq!(skip(get("/?aff=partner", &map)), Skip::Bot, "{agent}");
        }
        let map = headers(&[("host", "shop.example")]);
        assert_eq!(skip(get("/?aff=partner", &map)), Skip::Bot, "no user agent");
    }

    #[test]
    fn bot_patterns_can_be_added() {
        let options = CaptureClicks::new().bot_user_agent("Acme-Uptime");
        let map = headers(&[("host", "shop.example"), ("user-agent", "acme-uptime/3.1")]);
        assert_eq!(
            skip(decide_with(&options, "GET", "/?aff=partner", &map)),
            Skip::Bot
        );
        let map = browser(&[]);
        capture(decide_with(&options, "GET", "/?aff=partner", &map));
    }

    #[test]
    fn the_same_partner_again_is_not_a_new_click() {
        let cookie = "affitor_click_id=cust_1_1; affitor_aff_url=http://shop.example/?aff=partner";
        let map = browser(&[("cookie", cookie)]);
        assert_eq!(skip(get("/other?aff=partner", &map)), Skip::SamePartner);
        // The legacy cookie counts as a click id too.
        let cookie = "customer_code=cust_1_1; affitor_aff_url=http://shop.example/?aff=partner";
        let map = browser(&[("cookie", cookie)]);
        assert_eq!(skip(get("/?aff=partner", &map)), Skip::SamePartner);
        // A URL this crate escaped reads the same.
        let cookie = "affitor_click_id=c1; affitor_aff_url=http://shop.example/?x=%3B&aff=partner";
        let map = browser(&[("cookie", cookie)]);
        assert_eq!(skip(get("/?aff=partner", &map)), Skip::SamePartner);
    }

    #[test]
    fn a_partner_change_sends_the_old_click_id() {
        let cookie = "affitor_click_id=cust_1_1; affitor_aff_url=http://shop.example/?aff=old";
        let map = browser(&[("cookie", cookie)]);
        let click = capture(get("/?aff=partner", &map));
        assert_eq!(
            click.existing_click_id(),
            Some(&"cust_1_1".parse().unwrap())
        );

        // A click id without the landing URL: the partner is unknown, so it is a change.
        let map = browser(&[("cookie", "affitor_click_id=cust_1_1")]);
        let click = capture(get("/?aff=partner", &map));
        assert_eq!(
            click.existing_click_id().map(ClickId::as_str),
            Some("cust_1_1")
        );

        // The landing URL without a click id: a first click.
        let cookie = "affitor_aff_url=http://shop.example/?aff=partner";
        let map = browser(&[("cookie", cookie)]);
        assert_eq!(
            capture(get("/?aff=partner", &map)).existing_click_id(),
            None
        );

        // An invalid click id cookie is no click id.
        let cookie = "affitor_click_id=bad\"id; affitor_aff_url=http://shop.example/?aff=partner";
        let map = browser(&[("cookie", cookie)]);
        assert_eq!(
            capture(get("/?aff=partner", &map)).existing_click_id(),
            None
        );
    }

    #[test]
    fn consent_is_asked_last() {
        let options = CaptureClicks::new().consent(|visit| visit.cookie("consent") == Some("yes"));
        let map = browser(&[("cookie", "consent=no")]);
        assert_eq!(
            skip(decide_with(&options, "GET", "/?aff=partner", &map)),
            Skip::NoConsent
        );
        let map = browser(&[]);
        assert_eq!(
            skip(decide_with(&options, "GET", "/?aff=partner", &map)),
            Skip::NoConsent
        );
        let map = browser(&[("cookie", "consent=yes")]);
        capture(decide_with(&options, "GET", "/?aff=partner", &map));
        // Never asked for a request that is not a click anyway.
        let options = CaptureClicks::new().consent(|_| panic!("asked for a request without aff"));
        assert_eq!(
            skip(decide_with(&options, "GET", "/", &map)),
            Skip::NoPartnerLink
        );
    }

    #[test]
    fn the_click_carries_the_visitors_facts() {
        let map = browser(&[
            ("referer", "https://news.example/story?id=1"),
            ("accept-language", "de-CH, de;q=0.9, en;q=0.8"),
        ]);
        let click = capture(get("/pricing?plan=pro&aff=partner", &map));
        assert_eq!(click.partner_code(), "partner");
        assert_eq!(
            click.landing_url(),
            "http://shop.example/pricing?plan=pro&aff=partner"
        );
        assert_eq!(click.referrer(), Some("https://news.example/story?id=1"));
        assert_eq!(click.user_agent(), Some(BROWSER));
        assert_eq!(click.language(), Some("de-CH"));
        assert!(!click.secure());

        let map = browser(&[("accept-language", "*")]);
        assert_eq!(capture(get("/?aff=partner", &map)).language(), None);
    }

    #[test]
    fn the_host_comes_from_the_host_header_else_the_authority() {
        let map = headers(&[("user-agent", BROWSER)]);
        assert_eq!(skip(get("/?aff=partner", &map)), Skip::NoHost);
        let visit =
            Visit::new("GET", "/", Some("aff=partner"), &map).authority(Some("shop.example:8443"));
        let click = capture(CaptureClicks::new().decide(&visit));
        assert_eq!(click.landing_url(), "http://shop.example:8443/?aff=partner");

        let map = headers(&[("user-agent", BROWSER), ("host", "evil.example/x?")]);
        assert_eq!(skip(get("/?aff=partner", &map)), Skip::NoHost);
        let map = headers(&[("user-agent", BROWSER), ("host", "[::1]:3000")]);
        assert_eq!(
            capture(get("/?aff=p", &map)).landing_url(),
            "http://[::1]:3000/?aff=p"
        );
    }

    /// A visitor writes what it likes at the front of `X-Forwarded-For` (the usual proxies
    /// append to it): a new address on each visit was a new bucket each time. The address is
    /// the one the proxy added, last.
    #[test]
    fn the_proxy_header_address_is_the_one_the_proxy_added() {
        let capture = CaptureClicks::new()
            .trust_proxy_headers(ProxyHeaders::XForwarded)
            .click_limit(
                super::super::ClickLimit::default()
                    .burst(2)
                    .repeat_window(std::time::Duration::ZERO),
            );
        let decide = |spoofed: u32| {
            let forged = std::net::Ipv4Addr::from(spoofed);
            let map = browser(&[("x-forwarded-for", &format!("{forged}, 203.0.113.7"))]);
            let visit = Visit::new("GET", "/", Some("aff=partner"), &map)
                .client_address(Some([10, 0, 0, 1].into()));
            capture.decide(&visit)
        };
        assert!(matches!(decide(1), Decision::Capture(_)));
        assert!(matches!(decide(2), Decision::Capture(_)));
        assert_eq!(skip(decide(3)), Skip::RateLimited);

        let capture = CaptureClicks::new()
            .trust_proxy_headers(ProxyHeaders::Forwarded)
            .click_limit(
                super::super::ClickLimit::default()
                    .burst(1)
                    .repeat_window(std::time::Duration::ZERO),
            );
        let decide = |spoofed: &str| {
            let header = format!("for={spoofed};proto=https, for=\"[2001:db8::7]:4711\"");
            let map = browser(&[("forwarded", &header)]);
            capture.decide(&Visit::new("GET", "/", Some("aff=partner"), &map))
        };
        assert!(matches!(decide("192.0.2.1"), Decision::Capture(_)));
        assert_eq!(skip(decide("192.0.2.2")), Skip::RateLimited);
    }

    #[test]
    fn the_scheme_is_the_connections_unless_a_trusted_proxy_says() {
        let map = browser(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "www.shop.example"),
            (
                "forwarded",
                "for=192.0.2.60;proto=https;host=fwd.shop.example, for=10.0.0.1;proto=http",
            ),
        ]);
        // Not trusted: the headers are ignored.
        let click = capture(get("/?aff=partner", &map));
        assert_eq!(click.landing_url(), "http://shop.example/?aff=partner");
        assert!(!click.secure());
        let visit = Visit::new("GET", "/", Some("aff=partner"), &map).https(true);
        let click = capture(CaptureClicks::new().decide(&visit));
        assert_eq!(click.landing_url(), "https://shop.example/?aff=partner");
        assert!(click.secure());

        let options = CaptureClicks::new().trust_proxy_headers(ProxyHeaders::XForwarded);
        let click = capture(decide_with(&options, "GET", "/?aff=partner", &map));
        assert_eq!(click.landing_url(), "https://www.shop.example/?aff=partner");
        assert!(click.secure());

        let options = CaptureClicks::new().trust_proxy_headers(ProxyHeaders::Forwarded);
        let click = capture(decide_with(&options, "GET", "/?aff=partner", &map));
        assert_eq!(click.landing_url(), "https://fwd.shop.example/?aff=partner");

        // A trusted proxy saying plain HTTP wins over the connection.
        let map = browser(&[("x-forwarded-proto", "http")]);
        let options = CaptureClicks::new().trust_proxy_headers(ProxyHeaders::XForwarded);
        let visit = Visit::new("GET", "/", Some("aff=partner"), &map).https(true);
        assert!(!capture(options.decide(&visit)).secure());
        // A trusted header that is missing or garbled leaves the connection's scheme.
        let map = browser(&[("x-forwarded-proto", "gopher")]);
        let visit = Visit::new("GET", "/", Some("aff=partner"), &map).https(true);
        assert!(capture(options.decide(&visit)).secure());
    }

    #[test]
    #[should_panic(expected = "is not a domain name")]
    fn a_cookie_domain_that_could_break_the_header_is_refused() {
        let _ = CaptureClicks::new().cookie_domain("shop.example; Path=/admin");
    }

    #[test]
    fn a_cookie_domain_loses_its_leading_dot() {
        let map = browser(&[]);
        let options = CaptureClicks::new().cookie_domain(".shop.example");
        let click = capture(decide_with(&options, "GET", "/?aff=partner", &map));
        assert_eq!(click.domain.as_deref(), Some("shop.example"));
    }

    #[test]
    fn secure_can_be_forced() {
        let map = browser(&[]);
        let options = CaptureClicks::new().secure(true);
        assert!(capture(decide_with(&options, "GET", "/?aff=partner", &map)).secure());
        let options = CaptureClicks::new().secure(false);
        let visit = Visit::new("GET", "/", Some("aff=partner"), &map).https(true);
        assert!(!capture(options.decide(&visit)).secure());
    }

    #[test]
    fn earlier_click_ids_are_read_as_the_tracker_writes_them() {
        let ids = |cookie: &str| {
            earlier_click_ids(cookie)
                .into_iter()
                .map(ClickId::into_string)
                .collect::<Vec<_>>()
        };
        // A repeated id counts where it was seen last, as the newest of the two.
        assert_eq!(ids("a%7Cb%7Ca%7Cc%3A1"), ["b", "a", "c:1"]);
        assert_eq!(ids("a|bad%20id||b"), ["a", "b"]);
        let many: Vec<String> = (0..25).map(|n| format!("id{n}")).collect();
        let kept = ids(&many.join("%7C"));
        assert_eq!(kept.len(), MAX_CLICK_IDS);
        assert_eq!(kept.first().map(String::as_str), Some("id5"));
    }

    #[test]
    fn an_oversized_click_ids_cookie_is_read_from_its_end_and_no_further() {
        let ids = |cookie: &str| {
            earlier_click_ids(cookie)
                .into_iter()
                .map(ClickId::into_string)
                .collect::<Vec<_>>()
        };
        // 390 KiB of one id repeated (each a duplicate of the last), then two more: the read
        // stops at the cookie's last 8 KiB, and the duplicates cost one comparison each.
        let flood = format!("{}%7Cid1%7Cid2", "dup%7C".repeat(390 * 1024 / 6));
        assert_eq!(ids(&flood), ["dup", "id1", "id2"]);
        // An id before the last 8 KiB is not read at all.
        let far = format!("early%7C{}%7Clate", "x".repeat(MAX_CLICK_IDS_READ));
        assert_eq!(ids(&far), ["late"]);
        // 6,000 distinct ids: the newest 20.
        let many: Vec<String> = (0..6_000).map(|n| format!("cust_{n}")).collect();
        let kept = ids(&many.join("%7C"));
        assert_eq!(kept.len(), MAX_CLICK_IDS);
        assert_eq!(kept.last().map(String::as_str), Some("cust_5999"));
    }

    #[test]
    fn a_crafted_link_cannot_make_a_long_landing_url() {
        let map = browser(&[]);
        let long_query = format!("aff=partner&pad={}", "x".repeat(20_000));
        let visit = Visit::new("GET", "/pricing", Some(&long_query), &map);
        let click = capture(CaptureClicks::new().decide(&visit));
        assert_eq!(
            click.landing_url(),
            "http://shop.example/pricing?aff=partner"
        );
        let long_path = format!("/{}", "p".repeat(20_000));
        let visit = Visit::new("GET", &long_path, Some("aff=partner"), &map);
        let click = capture(CaptureClicks::new().decide(&visit));
        assert_eq!(click.landing_url(), "http://shop.example/?aff=partner");
        let cookies = click.cookies(&"cust_1".parse().unwrap(), 60);
        assert!(
            cookies
                .set_cookie_values()
                .all(|value| value.len() < 3 * 1024)
        );
    }

    /// A URL of 2,000 characters the cookie must escape (`,` and `;` three bytes each) made a
    /// 6 KB `Set-Cookie`, past what browsers keep: the limit is on the escaped URL.
    #[test]
    fn the_landing_url_is_measured_as_its_cookie_carries_it() {
        let map = browser(&[]);
        let commas = format!("aff=partner&x={}", ",".repeat(1_900));
        let visit = Visit::new("GET", "/pricing", Some(&commas), &map);
        let click = capture(CaptureClicks::new().decide(&visit));
        assert_eq!(
            click.landing_url(),
            "http://shop.example/pricing?aff=partner"
        );
        let cookies = click.cookies(&"cust_1".parse().unwrap(), 60);
        assert!(
            cookies
                .set_cookie_values()
                .all(|value| value.len() < 3 * 1024),
            "{:?}",
            cookies
                .set_cookie_values()
                .map(str::len)
                .collect::<Vec<_>>()
        );
        // Under the limit once escaped, the URL is kept whole.
        let some = format!("aff=partner&x={}", ",".repeat(600));
        let visit = Visit::new("GET", "/pricing", Some(&some), &map);
        let click = capture(CaptureClicks::new().decide(&visit));
        assert_eq!(
            click.landing_url(),
            format!("http://shop.example/pricing?{some}")
        );
    }
}
