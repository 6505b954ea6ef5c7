//! The decision: is this request a partner link to record, and with which facts?

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use super::hold::Hold;
use super::limit::Admission;
use super::{CaptureClicks, ProxyHeaders};
use crate::ClickId;
use crate::adapter::{
    Decision, HeldClick, MAX_CLICK_IDS, Memo, PartnerClick, Skip, Visit, cookie_safe_len,
};
use crate::parse;
use affitor::client::Consent;

/// The longest partner code accepted, in bytes.
const MAX_CODE_LEN: usize = 64;

pub(super) fn decide(options: &CaptureClicks, visit: &Visit<'_>) -> Decision {
    // Almost every request stops here, after a look at the query string.
    let Some(code) = visit.query().and_then(|query| first_aff(query.as_bytes())) else {
        return match (&options.hold, visit.header(HeldClick::HEADER)) {
            (Some(hold), Some(token)) => redeem(options, hold, visit, token),
            _ => Decision::Skip(Skip::NoPartnerLink),
        };
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
    let Some(user_agent) = browser_agent(options, visit) else {
        return Decision::Skip(Skip::Bot);
    };
    let existing_click_id = existing_click_id(visit);
    if existing_click_id.is_some() && cookie_partner(visit).as_deref() == Some(code) {
        return Decision::Skip(Skip::SamePartner);
    }
    let (https, host) = origin(options.proxy_headers, visit);
    let Some(host) = host.filter(|host| is_host(host)) else {
        return Decision::Skip(Skip::NoHost);
    };
    let scheme = if https { "https" } else { "http" };
    let referrer = visit
        .header("referer")
        .filter(|referrer| !referrer.is_empty());
    if options
        .consent
        .as_ref()
        .is_some_and(|consent| !consent(visit))
    {
        return match &options.hold {
            Some(hold) => Decision::Hold(
                hold.issue(
                    code,
                    &landing_url(scheme, host, visit, code),
                    referrer
                        .map(str::to_owned)
                        .and_then(referrer_to_send)
                        .as_deref(),
                    SystemTime::now(),
                ),
            ),
            None => Decision::Skip(Skip::NoConsent),
        };
    }
    let landed = Landed {
        code: code.to_owned(),
        landing_url: landing_url(scheme, host, visit, code),
        referrer: referrer.map(str::to_owned),
    };
    let browser = Browser {
        user_agent,
        existing_click_id,
        https,
        consent: if options.consent.is_some() {
            Consent::Given
        } else {
            Consent::NotAsked
        },
    };
    match admit(options, visit, &landed.code) {
        Ok(memo) => Decision::Capture(landed.click(options, visit, browser, memo)),
        Err(skip) => Decision::Skip(skip),
    }
}

/// What the request that records a click says of the visitor's browser.
struct Browser<'r> {
    user_agent: &'r str,
    existing_click_id: Option<ClickId>,
    /// Whether it reached the app over HTTPS (its cookies are then `Secure`).
    https: bool,
    /// What the consent predicate, if any, said of this visitor.
    consent: Consent,
}

/// Where a visitor landed through a partner link: now, or, for a held click, when they did.
struct Landed {
    code: String,
    landing_url: String,
    referrer: Option<String>,
}

impl Landed {
    /// The click to record for this landing, with the browser of `visit`, once the click
    /// limit admitted it (`memo`).
    fn click(
        self,
        options: &CaptureClicks,
        visit: &Visit<'_>,
        browser: Browser<'_>,
        memo: Option<Memo>,
    ) -> PartnerClick {
        PartnerClick {
            code: self.code,
            landing_url: self.landing_url,
            referrer: self.referrer.and_then(referrer_to_send),
            user_agent: Some(at_most(browser.user_agent, MAX_USER_AGENT).to_owned()),
            language: visit.header("accept-language").and_then(first_language),
            existing_click_id: browser.existing_click_id,
            earlier_click_ids: earlier_click_ids(visit),
            secure: options.secure.unwrap_or(browser.https),
            domain: options.cookie_domain.clone(),
            memo,
            consent: browser.consent,
        }
    }
}

/// A request that carries a [`HeldClick`] back, once the visitor has consented: the click of
/// the landing it holds, recorded with the landing's facts (its URL, its referrer) and this
/// request's browser (its user agent, language and cookies).
fn redeem(options: &CaptureClicks, hold: &Hold, visit: &Visit<'_>, token: &str) -> Decision {
    let now = SystemTime::now();
    let landing = match hold.open(token, now) {
        Ok(landing) => landing,
        Err(skip) => return Decision::Skip(skip),
    };
    // A fetch from the page is `same-origin`, or `same-site` from a sibling subdomain (a page
    // on `www.`, its consent endpoint on `api.`); a browser that sends no `Sec-Fetch-Site` is
    // trusted, as the custom header already made a cross-site request ask the server first.
    if visit.header("sec-fetch-site").is_some_and(|site| {
        !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("same-site")
    }) {
        return Decision::Skip(Skip::CrossSite);
    }
    let Some(user_agent) = browser_agent(options, visit) else {
        return Decision::Skip(Skip::Bot);
    };
    let existing_click_id = existing_click_id(visit);
    if existing_click_id.is_some() && cookie_partner(visit).as_deref() == Some(&landing.code) {
        return Decision::Skip(Skip::SamePartner);
    }
    // Asked again: the token is no consent; the request that carries it must have it.
    if options
        .consent
        .as_ref()
        .is_some_and(|consent| !consent(visit))
    {
        return Decision::Skip(Skip::NoConsent);
    }
    let memo = match admit(options, visit, &landing.code) {
        Ok(memo) => memo,
        Err(skip) => return Decision::Skip(skip),
    };
    if !hold.spend(&landing, now) {
        // Another request recorded it first: this click is never sent, and its repeats get
        // nothing from it.
        if let Some(Memo::First(memo)) = &memo {
            memo.abandon();
        }
        return Decision::Skip(Skip::HeldClickSpent);
    }
    let browser = Browser {
        user_agent,
        existing_click_id,
        https: origin(options.proxy_headers, visit).0,
        consent: if options.consent.is_some() {
            Consent::GivenAfterLanding
        } else {
            Consent::NotAsked
        },
    };
    let landed = Landed {
        code: landing.code,
        landing_url: landing.landing_url,
        referrer: landing.referrer,
    };
    Decision::Capture(landed.click(options, visit, browser, memo))
}

/// The visitor's user agent, unless it is missing or a bot's.
fn browser_agent<'r>(options: &CaptureClicks, visit: &Visit<'r>) -> Option<&'r str> {
    visit
        .header("user-agent")
        .filter(|agent| !agent.is_empty() && !options.bots.is_bot(agent))
}

/// The click id the visitor has: the first valid one of the tracker's cookie, as the lookup
/// finds it, or of its legacy name.
fn existing_click_id(visit: &Visit<'_>) -> Option<ClickId> {
    ["affitor_click_id", "customer_code"]
        .into_iter()
        .find_map(|name| visit.find_cookie(name, |id| ClickId::from_bytes(id).ok()))
}

/// The ids of the visitor's `affitor_click_ids` cookie.
fn earlier_click_ids(visit: &Visit<'_>) -> Vec<ClickId> {
    visit
        .cookie("affitor_click_ids")
        .map(earlier_click_ids_of)
        .unwrap_or_default()
}

/// The click limit's word on a click for `code` from the visit's address: its place in the
/// repeat memory, or why it is held back.
fn admit(options: &CaptureClicks, visit: &Visit<'_>, code: &str) -> Result<Option<Memo>, Skip> {
    let address = match options.proxy_headers {
        ProxyHeaders::Ignore => {
            let address = visit.address();
            let forwarded =
                || visit.header("x-forwarded-for").is_some() || visit.header("forwarded").is_some();
            if let Some(proxy) = address.filter(|address| is_private(*address) && forwarded()) {
                options.limiter.proxy_headers_ignored(proxy);
            }
            address
        }
        trusted => proxy_client_address(trusted, visit).or(visit.address()),
    };
    match options
        .limiter
        .admit(&options.limit, address, code, Instant::now())
    {
        Admission::Send(memo) => Ok(memo.map(Memo::First)),
        Admission::Repeat(memo) => Ok(Some(Memo::Repeat(memo))),
        Admission::Held(skip) => Err(skip),
    }
}

/// Whether `address` is this machine's or a private network's, where a proxy runs.
fn is_private(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
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

/// The partner code of a query string as the browser tracker reads it, percent-decoded with
/// `+` as a space: the first `aff` parameter (`URLSearchParams.get("aff")`), or, when that is
/// empty, the first `aff=` with a value (the tracker's fallback, `[?&]aff=([^&]+)`).
pub(super) fn first_aff(query: &[u8]) -> Option<Cow<'_, [u8]>> {
    // A name can only be `aff` if the query spells it, or escapes some of it.
    let may_name_aff = memchr::memchr2_iter(b'a', b'%', query)
        .any(|at| query[at] == b'%' || query[at..].starts_with(b"aff"));
    if !may_name_aff {
        return None;
    }
    let pairs = || {
        query.split(|&byte| byte == b'&').map(|pair| {
            match pair.iter().position(|&byte| byte == b'=') {
                Some(equals) => (&pair[..equals], Some(&pair[equals + 1..])),
                None => (pair, None),
            }
        })
    };
    let first = pairs().find_map(|(name, value)| {
        (*parse::percent_decode(name) == *b"aff")
            .then(|| parse::percent_decode(value.unwrap_or_default()))
    })?;
    if !first.is_empty() {
        return Some(first);
    }
    pairs()
        .find_map(|(name, value)| value.filter(|value| name == b"aff" && !value.is_empty()))
        .map(parse::percent_decode)
        .or(Some(first))
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
/// or `X-Forwarded-For`'s last element, both of the header's last line. The last is the one the
/// proxy in front of the app added; the elements and lines before it came with the request, and
/// a visitor can write any.
fn proxy_client_address(trusted: ProxyHeaders, visit: &Visit<'_>) -> Option<IpAddr> {
    let named = match trusted {
        ProxyHeaders::Ignore => return None,
        // A proxy may append a line of its own (HAProxy's `option forwardfor`): the first
        // line is then the visitor's.
        ProxyHeaders::Forwarded => {
            last_element(visit.last_header("forwarded")?)
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))?
                .1
        }
        ProxyHeaders::XForwarded => last_element(visit.last_header("x-forwarded-for")?),
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

/// The longest `Referer` sent with a click, in bytes.
///
/// What the visitor sends is sent to the API, so each field is bounded before the call, to
/// keep a click's body within what an API gateway takes (commonly 8 KiB, sometimes less): the
/// landing URL, sent twice, at most 2 KiB ([`MAX_LANDING_URL`]), the referrer 1 KiB, the user
/// agent 512 bytes, the language 35, the earlier click id 128. Even with each escaped for
/// JSON, a click's body stays under 8 KiB; an ordinary one is under 1 KiB.
const MAX_REFERRER: usize = 1024;

/// The longest `User-Agent` sent with a click, in bytes (a browser's is 100 to 300): a longer
/// one is cut, at a character boundary.
const MAX_USER_AGENT: usize = 512;

/// The referrer as sent with a click: whole up to [`MAX_REFERRER`]; past it, without its query
/// and fragment (the page the visitor came from, not what was typed into it); past it still,
/// its origin alone (`https://host/`); `None` when even that is longer.
fn referrer_to_send(referrer: String) -> Option<String> {
    if referrer.len() <= MAX_REFERRER {
        return Some(referrer);
    }
    let page = referrer.split(['?', '#']).next().unwrap_or_default();
    if page.len() <= MAX_REFERRER {
        return Some(page.to_owned());
    }
    let after_scheme = referrer.find("://")? + "://".len();
    let origin = after_scheme + referrer[after_scheme..].find('/')? + 1;
    (origin <= MAX_REFERRER).then(|| referrer[..origin].to_owned())
}

/// `text`, cut to at most `max` bytes at a character boundary.
fn at_most(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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
fn earlier_click_ids_of(cookie: &str) -> Vec<ClickId> {
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
        match ClickId::from_bytes(id) {
            Ok(id) if !newest_first.contains(&id) => newest_first.push(id),
            _ => {}
        }
    }
    newest_first.reverse();
    newest_first
}

#[cfg(test)]
mod tests;
