//! The decision's rules, one test per rule.

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
        other => panic!("expected a skip, got {other:?}"),
    }
}

fn capture(decision: Decision) -> PartnerClick {
    match decision {
        Decision::Capture(click) => click,
        other => panic!("expected a capture, got {other:?}"),
    }
}

fn held(decision: Decision) -> HeldClick {
    match decision {
        Decision::Hold(held) => held,
        other => panic!("expected a held click, got {other:?}"),
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
    // An empty first `aff`: the tracker's fallback, the first `aff=` with a value.
    assert_eq!(aff("aff=&aff=partner"), Some(b"partner".to_vec()));
    assert_eq!(
        aff("aff&x=1&aff=partner&aff=other"),
        Some(b"partner".to_vec())
    );
    assert_eq!(aff("aff=&a%66f=escaped"), Some(Vec::new()));
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
        "Pinterest/0.2 (+http://www.pinterest.com/bot.html)",
        "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
    ] {
        let map = headers(&[("host", "shop.example"), ("user-agent", agent)]);
        assert_eq!(skip(get("/?aff=partner", &map)), Skip::Bot, "{agent}");
    }
    let map = headers(&[("host", "shop.example")]);
    assert_eq!(skip(get("/?aff=partner", &map)), Skip::Bot, "no user agent");
}

#[test]
fn an_apps_in_app_browser_is_a_person() {
    for agent in [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
         (KHTML, like Gecko) Mobile/15E148 [Pinterest/iOS]",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
         Version/4.0 Chrome/120.0.0.0 Mobile Safari/537.36 [Pinterest/Android]",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
         (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/450.0.0.0]",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
         (KHTML, like Gecko) Mobile/15E148 Instagram 300.0.0.0",
    ] {
        let map = headers(&[("host", "shop.example"), ("user-agent", agent)]);
        capture(get("/?aff=partner", &map));
    }
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
    // Of a cookie set twice, the valid one, as the lookup reads it.
    let cookie = "affitor_click_id=bad!; affitor_click_id=cust_1_1; \
                  affitor_aff_url=http://shop.example/?aff=partner";
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
    let click = capture(decide_with(&options, "GET", "/?aff=partner", &map));
    assert_eq!(click.consent, Consent::Given);
    let unasked = capture(decide_with(
        &CaptureClicks::new(),
        "GET",
        "/?aff=partner",
        &map,
    ));
    assert_eq!(unasked.consent, Consent::NotAsked);
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

/// A proxy that appends a header line of its own (HAProxy's `option forwardfor`) leaves the
/// visitor's line first: the address is the last line's last element, the one the proxy wrote.
/// A visitor naming another's address in a line of its own neither gets a bucket of its own nor
/// repeats that visitor's click (whose click id a repeat is answered with).
#[test]
fn the_proxy_header_address_is_the_last_lines_last_element() {
    let victim = "203.0.113.7";
    for trusted in [ProxyHeaders::XForwarded, ProxyHeaders::Forwarded] {
        let options = CaptureClicks::new()
            .trust_proxy_headers(trusted)
            .click_limit(super::super::ClickLimit::default().burst(1));
        let (name, line): (_, fn(&str) -> String) = match trusted {
            ProxyHeaders::XForwarded => ("x-forwarded-for", |address| address.to_owned()),
            _ => ("forwarded", |address| format!("for={address};proto=https")),
        };
        // The victim's own visit, through the app's proxy.
        let map = browser(&[(name, &line(victim))]);
        let click = capture(options.decide(&Visit::new("GET", "/", Some("aff=partner"), &map)));
        assert!(matches!(click.memo, Some(Memo::First(_))), "{trusted:?}");
        // The attacker's, claiming the victim's address in a line before the proxy's.
        let map = browser(&[(name, &line(victim)), (name, &line("198.51.100.9"))]);
        let visit = Visit::new("GET", "/", Some("aff=partner"), &map);
        let click = capture(options.decide(&visit));
        assert!(
            matches!(click.memo, Some(Memo::First(_))),
            "{trusted:?}: the attacker's visit is no repeat of the victim's"
        );
        // Each forged first line is the same bucket: the proxy's address's.
        let map = browser(&[(name, "192.0.2.1"), (name, &line("198.51.100.9"))]);
        let visit = Visit::new("GET", "/", Some("aff=other"), &map);
        assert_eq!(
            skip(options.decide(&visit)),
            Skip::RateLimited,
            "{trusted:?}"
        );
    }
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
        earlier_click_ids_of(cookie)
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
        earlier_click_ids_of(cookie)
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

/// A visitor's long `Referer` or `User-Agent` is bounded before the click call, so that the
/// click's body stays within what an API gateway takes.
#[test]
fn the_visitors_long_headers_are_bounded_before_the_call() {
    let page = format!("https://news.example/{}", "p".repeat(900));
    let with_query = format!("{page}?q={}#top", "x".repeat(10 * 1024));
    let long_agent = format!("{BROWSER} {}", "Extension/1.0 ".repeat(700));
    let map = headers(&[
        ("host", "shop.example"),
        ("user-agent", &long_agent),
        ("referer", &with_query),
    ]);
    let click = capture(get("/?aff=partner", &map));
    // The page the visitor came from, without what was typed into it.
    assert_eq!(click.referrer(), Some(page.as_str()));
    let agent = click.user_agent().unwrap();
    assert_eq!(agent.len(), MAX_USER_AGENT);
    assert!(long_agent.starts_with(agent));

    // A page longer than the bound: its origin alone; an origin longer still: no referrer.
    let long_page = format!("https://news.example/{}", "p".repeat(10 * 1024));
    let map = browser(&[("referer", &long_page)]);
    let click = capture(get("/?aff=partner", &map));
    assert_eq!(click.referrer(), Some("https://news.example/"));
    let long_host = format!("https://{}.example/", "h".repeat(10 * 1024));
    let map = browser(&[("referer", &long_host)]);
    assert_eq!(capture(get("/?aff=partner", &map)).referrer(), None);

    // What fits is sent whole.
    let fits = format!("https://news.example/?q={}", "x".repeat(900));
    let map = browser(&[("referer", &fits)]);
    assert_eq!(
        capture(get("/?aff=partner", &map)).referrer(),
        Some(fits.as_str())
    );
    // A click held until consent keeps the page too, bounded before it is held.
    let options = holding();
    let map = browser(&[("referer", &with_query)]);
    let held = held(decide_with(&options, "GET", "/?aff=partner", &map));
    let consented = browser(&[
        ("cookie", "cookie_consent=all"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    let click = capture(decide_with(&options, "POST", "/api/consent", &consented));
    assert_eq!(click.referrer(), Some(page.as_str()));
    // A cut falls on a character boundary.
    assert_eq!(at_most("aé", 2), "a");
    assert_eq!(at_most("aé", 3), "aé");
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

/// Capture whose consent predicate reads `cookie_consent=all`, holding refused visits.
fn holding() -> CaptureClicks {
    CaptureClicks::new()
        .consent(|visit| visit.cookie("cookie_consent") == Some("all"))
        .hold_until_consent(super::super::HeldClickKey::random())
}

#[test]
fn a_visit_without_consent_is_held_with_its_landing() {
    let options = holding();
    let landing = browser(&[("referer", "https://blog.example/post")]);
    let held = held(decide_with(
        &options,
        "GET",
        "/pricing?aff=partner",
        &landing,
    ));

    // The page sends it back once the visitor consents: the click of the landing.
    let consented = browser(&[
        ("cookie", "cookie_consent=all"),
        ("sec-fetch-site", "same-origin"),
        ("accept-language", "fr-FR,fr;q=0.9"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    let click = capture(decide_with(&options, "POST", "/api/consent", &consented));
    assert_eq!(click.partner_code(), "partner");
    assert_eq!(
        click.landing_url(),
        "http://shop.example/pricing?aff=partner"
    );
    assert_eq!(click.referrer(), Some("https://blog.example/post"));
    assert_eq!(click.language(), Some("fr-FR"));
    assert_eq!(click.consent, Consent::GivenAfterLanding);

    // Once.
    assert_eq!(
        skip(decide_with(&options, "POST", "/api/consent", &consented)),
        Skip::HeldClickSpent
    );
}

#[test]
fn a_held_click_comes_back_from_a_sibling_subdomain() {
    let options = holding();
    let held = held(decide_with(&options, "GET", "/?aff=partner", &browser(&[])));
    // The page on `shop.example`, its consent endpoint on `api.shop.example`: the same site.
    let consented = headers(&[
        ("host", "api.shop.example"),
        ("user-agent", BROWSER),
        ("cookie", "cookie_consent=all"),
        ("sec-fetch-site", "same-site"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    let click = capture(decide_with(&options, "POST", "/consent", &consented));
    assert_eq!(click.partner_code(), "partner");
}

#[test]
fn a_held_click_needs_consent_when_it_comes_back() {
    let options = holding();
    let held = held(decide_with(&options, "GET", "/?aff=partner", &browser(&[])));
    let refused = browser(&[
        ("cookie", "cookie_consent=necessary"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    assert_eq!(
        skip(decide_with(&options, "POST", "/api/consent", &refused)),
        Skip::NoConsent
    );
    // Still usable once the visitor consents.
    let consented = browser(&[
        ("cookie", "cookie_consent=all"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    capture(decide_with(&options, "POST", "/api/consent", &consented));
}

#[test]
fn a_held_click_is_refused_from_another_site_from_a_bot_or_forged() {
    let options = holding();
    let held = held(decide_with(&options, "GET", "/?aff=partner", &browser(&[])));
    let cross_site = browser(&[
        ("cookie", "cookie_consent=all"),
        ("sec-fetch-site", "cross-site"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    assert_eq!(
        skip(decide_with(&options, "POST", "/", &cross_site)),
        Skip::CrossSite
    );
    // Typed in the address bar, or opened from a bookmark: not the page's fetch.
    let typed = browser(&[
        ("cookie", "cookie_consent=all"),
        ("sec-fetch-site", "none"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    assert_eq!(
        skip(decide_with(&options, "POST", "/", &typed)),
        Skip::CrossSite
    );
    let bot = headers(&[
        ("host", "shop.example"),
        ("cookie", "cookie_consent=all"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    assert_eq!(skip(decide_with(&options, "POST", "/", &bot)), Skip::Bot);
    let forged = browser(&[
        ("cookie", "cookie_consent=all"),
        (HeldClick::HEADER, "eyJ2IjoxfQ.c2lnbmF0dXJl"),
    ]);
    assert_eq!(
        skip(decide_with(&options, "POST", "/", &forged)),
        Skip::HeldClickInvalid
    );
    // Another app's key.
    let other = holding();
    let consented = browser(&[
        ("cookie", "cookie_consent=all"),
        (HeldClick::HEADER, held.as_str()),
    ]);
    assert_eq!(
        skip(decide_with(&other, "POST", "/", &consented)),
        Skip::HeldClickInvalid
    );
}

#[test]
fn without_a_hold_nothing_is_held_and_the_header_is_no_partner_link() {
    let options =
        CaptureClicks::new().consent(|visit| visit.cookie("cookie_consent") == Some("all"));
    assert_eq!(
        skip(decide_with(&options, "GET", "/?aff=partner", &browser(&[]))),
        Skip::NoConsent
    );
    let token = browser(&[
        ("cookie", "cookie_consent=all"),
        (HeldClick::HEADER, "anything"),
    ]);
    assert_eq!(
        skip(decide_with(&options, "POST", "/", &token)),
        Skip::NoPartnerLink
    );
    // A visit with consent is captured at once, as before.
    let consented = browser(&[("cookie", "cookie_consent=all")]);
    capture(decide_with(&holding(), "GET", "/?aff=partner", &consented));
}

/// A link whose first `aff` is empty (a template that adds `aff=` to a URL holding an empty
/// one) is the partner's, as the browser tracker reads it.
#[test]
fn an_empty_first_aff_falls_back_as_the_tracker_does() {
    let map = browser(&[]);
    for target in ["/?aff=&aff=partner", "/?aff&aff=partner"] {
        match get(target, &map) {
            Decision::Capture(click) => assert_eq!(click.partner_code(), "partner"),
            other => panic!("{target}: {other:?}"),
        }
    }
}
