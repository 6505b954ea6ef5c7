//! The click limit on partner links: floods of visits from one address, on one partner, of
//! invented codes; a repeat visit; and the cookies a real server over TLS sets.

use super::*;

/// The client's address, as a test server puts it among the extensions.
fn peer(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<std::net::SocketAddr>()
        .map(std::net::SocketAddr::ip)
}

fn from(address: [u8; 4], mut request: Request<Body>) -> Request<Body> {
    let address = std::net::SocketAddr::from((address, 40_000));
    request.extensions_mut().insert(address);
    request
}

/// A flood of cookieless visits to partner links from one address is a bounded number of
/// click calls, counted; another visitor is still recorded; and without the bound, every
/// visit is a click.
#[tokio::test]
async fn a_flood_of_visits_is_a_bounded_number_of_clicks() {
    use affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    for n in 0..30 {
        mock.link(&format!("partner{n}"));
    }
    let capture = CaptureClicks::new().client_address_from(peer).click_limit(
        ClickLimit::default()
            .burst(10)
            .refill(Duration::from_secs(3600)),
    );
    let app = app(&mock, capture.clone());

    // The same link, 50 times: one click, the rest repeats of it.
    for _ in 0..50 {
        let (response, _) = call(
            &app,
            from([198, 51, 100, 7], visit("GET", "/?aff=partner", &[])),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
    // 30 partners' links: the burst of 10 (the first visit above was one), then nothing.
    for n in 0..30 {
        let target = format!("/?aff=partner{n}");
        let (response, text) =
            call(&app, from([198, 51, 100, 7], visit("GET", &target, &[]))).await;
        if n >= 9 {
            assert_served_private(&response, &text, "<h1>Welcome</h1>");
        }
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 10);
    let stats = capture.stats();
    assert_eq!(
        (stats.recorded, stats.repeated, stats.rate_limited),
        (10, 49, 21),
        "{stats:?}"
    );
    // Another visitor is recorded.
    let (response, _) = call(
        &app,
        from([203, 0, 113, 9], visit("GET", "/?aff=partner", &[])),
    )
    .await;
    assert_eq!(set_cookies(response.headers()).len(), 4);
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 11);

    // Without the bound, each visit is a click.
    let unbounded = app_with(&mock, CaptureClicks::new().click_limit(ClickLimit::none()));
    for _ in 0..20 {
        call(
            &unbounded,
            from([198, 51, 100, 7], visit("GET", "/?aff=partner", &[])),
        )
        .await;
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 31);
    mock.shutdown().await;
}

fn app_with(mock: &MockServer, capture: CaptureClicks) -> Router {
    app(mock, capture.client_address_from(peer))
}

/// An app that serves TLS itself gets `Secure` cookies, as actix-web's middleware gives them:
/// from an `https` request URI (HTTP/2's `:scheme`, an absolute URI), or from
/// `CaptureClicks::secure(true)` when the server hands the layer origin-form URIs.
#[tokio::test]
async fn the_cookies_are_secure_when_the_app_serves_tls() {
    let mock = MockServer::start().await.unwrap();
    let secure = |response: &Response| {
        let cookies = set_cookies(response.headers());
        assert_eq!(cookies.len(), 4, "{cookies:?}");
        cookies.iter().all(|cookie| cookie.contains("; Secure"))
    };
    let app_of = |capture: CaptureClicks| app(&mock, capture);

    // The scheme of the request's URI.
    let absolute = visit("GET", "https://shop.example/?aff=partner", &[]);
    let (response, _) = call(&app_of(CaptureClicks::new()), absolute).await;
    assert!(secure(&response));
    // Origin-form, as most servers give it: plain unless configured.
    let (response, _) = call(
        &app_of(CaptureClicks::new()),
        visit("GET", "/?aff=partner", &[]),
    )
    .await;
    assert!(!secure(&response));
    let configured = CaptureClicks::new().secure(true);
    let (response, _) = call(&app_of(configured), visit("GET", "/?aff=partner", &[])).await;
    assert!(secure(&response));
    mock.shutdown().await;
}

/// The client's address, as `axum::serve` with `into_make_service_with_connect_info` puts it
/// among the extensions.
fn connect_info(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// Serves `app` on 127.0.0.1 with each connection's peer address.
async fn serve(app: Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, service).await.unwrap();
    });
    (address, server)
}

/// A browser's `GET` of `target` over a connection of its own, without cookies: the
/// `Set-Cookie` values and the `Cache-Control` of the answer.
async fn browse(server: std::net::SocketAddr, target: &str) -> (Vec<String>, Option<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {BROWSER}\r\n\
         Sec-Fetch-Mode: navigate\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, _) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let values = |wanted: &str| {
        head.lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.trim().to_owned())
            .collect::<Vec<_>>()
    };
    (values("set-cookie"), values("cache-control").pop())
}

/// A visitor who opens a partner link, then opens it again in a second browser moments later
/// (the same address, no cookies yet), gets the same click id in both, from a real axum
/// server: one click call. The same when the second visit arrives while the first's call still
/// runs.
#[tokio::test]
async fn a_repeat_visit_gets_the_click_it_repeats_on_a_real_server() {
    let mock = MockServer::start().await.unwrap();
    mock.link("other");
    let capture = CaptureClicks::new().client_address_from(connect_info);
    let (server, serving) = serve(app(&mock, capture.clone())).await;

    let (first, first_cache) = browse(server, "/?aff=partner").await;
    let (second, second_cache) = browse(server, "/?aff=partner").await;
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
    let recorded = mock.clicks()[0].click_id.clone().unwrap().into_string();
    assert_eq!(first.len(), 4, "{first:?}");
    assert_eq!(second.len(), 4, "{second:?}");
    for cookies in [&first, &second] {
        assert_eq!(
            cookie_value(cookies, "affitor_click_id"),
            Some(recorded.as_str())
        );
    }
    // The companions too: the same cookies as the first visit's (their expiry counted from
    // each visit), and kept out of shared caches.
    let undated = |cookies: &[String]| {
        cookies
            .iter()
            .map(|cookie| {
                let attributes = cookie.split("; ");
                let kept = attributes.filter(|attribute| !attribute.starts_with("Expires="));
                kept.collect::<Vec<_>>().join("; ")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(undated(&first), undated(&second));
    assert_eq!(first_cache.as_deref(), Some("private, no-store"));
    assert_eq!(second_cache, first_cache);

    // The second browser while the first visit's call still runs: it waits for that answer.
    mock.inject(Fault::delay(Duration::from_millis(150)).on(Endpoint::Click));
    let (one, two) = tokio::join!(browse(server, "/?aff=other"), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        browse(server, "/?aff=other").await
    });
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 2);
    let recorded = mock.clicks()[1].click_id.clone().unwrap().into_string();
    for (cookies, _) in [&one, &two] {
        assert_eq!(
            cookie_value(cookies, "affitor_click_id"),
            Some(recorded.as_str()),
            "{cookies:?}"
        );
    }
    let stats = capture.stats();
    assert_eq!((stats.recorded, stats.repeated), (2, 2), "{stats:?}");
    serving.abort();
    mock.shutdown().await;
}

/// A visitor who goes away (closes the connection) before the API answers their click does not
/// leave "no click id" behind for the repeat window: the call goes on, and the next visit from
/// the same address, another browser, gets the click id it recorded, on a real server.
#[tokio::test]
async fn a_visit_dropped_before_its_click_answered_leaves_the_click_to_its_repeats() {
    use tokio::io::AsyncWriteExt;

    let mock = MockServer::start().await.unwrap();
    let capture = CaptureClicks::new().client_address_from(connect_info);
    let (server, serving) = serve(app(&mock, capture.clone())).await;
    mock.inject(
        Fault::delay(Duration::from_millis(300))
            .on(Endpoint::Click)
            .times(1),
    );
    let mut gone = tokio::net::TcpStream::connect(server).await.unwrap();
    let request = format!(
        "GET /?aff=partner HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {BROWSER}\r\n\
         Sec-Fetch-Mode: navigate\r\nConnection: close\r\n\r\n"
    );
    gone.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(gone);

    let (cookies, _) = browse(server, "/?aff=partner").await;
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
    let recorded = mock.clicks()[0].click_id.clone().unwrap().into_string();
    assert_eq!(
        cookie_value(&cookies, "affitor_click_id"),
        Some(recorded.as_str()),
        "{cookies:?}"
    );
    serving.abort();
    mock.shutdown().await;
}

/// A flood on one partner's link from ever new addresses spends that partner's bound: a visitor
/// of another partner still gets a click id, and the visits held back are counted.
#[tokio::test]
async fn a_flood_on_one_partner_leaves_clicks_for_the_others() {
    use affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    mock.link("flooded");
    let capture = CaptureClicks::new().client_address_from(peer).click_limit(
        ClickLimit::default()
            .per_partner(20, Duration::from_secs(3600))
            .total(50, Duration::from_secs(3600)),
    );
    let app = app(&mock, capture.clone());
    for n in 0..200u8 {
        let request = from([198, 51, n, 1], visit("GET", "/?aff=flooded", &[]));
        let (response, _) = call(&app, request).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 20);
    let (response, _) = call(
        &app,
        from([203, 0, 113, 9], visit("GET", "/?aff=partner", &[])),
    )
    .await;
    assert_eq!(set_cookies(response.headers()).len(), 4);
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 21);
    let stats = capture.stats();
    assert_eq!(
        (stats.recorded, stats.rate_limited, stats.partner_limited),
        (21, 180, 180),
        "{stats:?}"
    );
    mock.shutdown().await;
}

/// A flood of invented partner codes, each visit from a new address (neither the address's
/// nor the partner's bound ever sees one twice), spends only the half of the total not kept
/// for the codes the API has recorded: the real partner's visitors keep getting their click
/// id. The API's refusals are learned: a refused code makes no second call.
#[tokio::test]
async fn a_flood_of_invented_codes_leaves_clicks_for_the_real_partners() {
    use affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    let capture = CaptureClicks::new()
        .client_address_from(peer)
        .click_limit(ClickLimit::default().total(41, Duration::from_secs(3600)));
    let app = app(&mock, capture.clone());
    // The real partner's first visitor: the API records the click; the code is known real.
    let (response, _) = call(
        &app,
        from([203, 0, 113, 1], visit("GET", "/?aff=partner", &[])),
    )
    .await;
    assert_eq!(set_cookies(response.headers()).len(), 4);

    // 200 invented codes from 200 addresses: of the 40 clicks left, they get the 20 not kept,
    // visits' calls and the probes (each code alone) that confirm their refusals, beside the
    // pages: the probes add no call to what the limit lets through.
    for n in 0..200u8 {
        let target = format!("/?aff=inv{n}");
        let (response, _) = call(&app, from([198, 51, n, 1], visit("GET", &target, &[]))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookies(response.headers()).is_empty());
    }
    // The last probe may still be on its way: the pages do not wait for it.
    let calls = affitor_mock::poll_until(Duration::from_secs(5), async || {
        let calls = mock.requests_to(Endpoint::Click).len();
        (calls >= 21).then_some(calls)
    })
    .await;
    assert_eq!(calls, Some(21));

    // The real partner's next 20 visitors, each from an address of their own: every one gets
    // a click id.
    for n in 0..20u8 {
        let (response, _) = call(
            &app,
            from([203, 0, 113, 10 + n], visit("GET", "/?aff=partner", &[])),
        )
        .await;
        assert_eq!(set_cookies(response.headers()).len(), 4, "visitor {n}");
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 41);

    // An invented code the API refused makes no second call, from any address.
    call(
        &app,
        from([198, 51, 250, 1], visit("GET", "/?aff=inv0", &[])),
    )
    .await;
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 41);
    // A visit's call carries the visitor's user agent; a probe, the code alone.
    let probes = mock
        .requests_to(Endpoint::Click)
        .iter()
        .filter(|request| request.body.get("user_agent").is_none())
        .count() as u64;
    assert!(probes > 0, "the refusals are confirmed");
    let stats = capture.stats();
    assert_eq!(
        (stats.recorded, stats.total_limited, stats.refused_partner),
        (41 - probes, 180 + probes, 1),
        "{stats:?}"
    );
    mock.shutdown().await;
}

/// Partner links through a proxy whose headers the options ignore (the default): each visit
/// comes from the proxy's private address with `X-Forwarded-For`. That is said once at `warn`,
/// naming the setting; a visit from a public address with the header says nothing.
#[tokio::test(flavor = "current_thread")]
async fn ignored_proxy_headers_from_a_private_address_are_said_once() {
    if !test_support::alone!() {
        return;
    }
    let (logs, _guard) = test_support::Logs::capture("warn");
    let mock = MockServer::start().await.unwrap();
    let app = app_with(&mock, CaptureClicks::new());
    let forwarded = [("x-forwarded-for", "203.0.113.9")];
    call(
        &app,
        from([192, 0, 2, 1], visit("GET", "/?aff=partner", &forwarded)),
    )
    .await;
    assert!(
        !logs.text().contains("trust_proxy_headers"),
        "a public address"
    );
    for partner in ["partner", "other"] {
        let target = format!("/?aff={partner}");
        call(&app, from([10, 0, 0, 2], visit("GET", &target, &forwarded))).await;
    }
    let said = logs.text().matches("trust_proxy_headers").count();
    assert_eq!(said, 1, "{}", logs.text());
    mock.shutdown().await;
}
