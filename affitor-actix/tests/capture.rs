//! `Affitor::capture_clicks` against the local stand-in API over real HTTP on 127.0.0.1: the
//! same rules as the Tower layer's, through actix-web's types.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use affitor::client::Endpoint;
use affitor_actix::{Affitor, AffitorClickId, CaptureClicks, Client};
use affitor_mock::{Fault, MockServer};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

fn client(mock: &MockServer) -> Client {
    mock.client()
}

fn visit(target: &str) -> TestRequest {
    TestRequest::get()
        .uri(target)
        .insert_header(("host", "shop.example"))
        .insert_header(("user-agent", BROWSER))
}

fn set_cookies(response: &actix_web::dev::ServiceResponse) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The cache controls a CDN obeys over `Cache-Control` (RFC 9213 and its forerunners).
const CDN_CACHE_CONTROLS: [&str; 3] = [
    "cdn-cache-control",
    "cloudflare-cdn-cache-control",
    "surrogate-control",
];

macro_rules! app {
    ($mock:expr, $capture:expr) => {
        test::init_service(
            App::new()
                .wrap(
                    Affitor::new()
                        .client(client(&$mock))
                        .capture_clicks($capture),
                )
                .route(
                    "/",
                    web::get().to(|click_id: Option<AffitorClickId>| async move {
                        let seen = click_id
                            .map_or("none".to_owned(), |AffitorClickId(id)| id.into_string());
                        HttpResponse::Ok().body(seen)
                    }),
                )
                .route(
                    "/own",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .insert_header((header::SET_COOKIE, "affitor_click_id=mine; Path=/"))
                            .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
                            .finish()
                    }),
                )
                .route(
                    "/cdn",
                    web::get().to(|| async {
                        let mut response = HttpResponse::Ok();
                        response.insert_header((header::CACHE_CONTROL, "public, max-age=60"));
                        for name in CDN_CACHE_CONTROLS {
                            response.insert_header((name, "max-age=600"));
                        }
                        response.finish()
                    }),
                )
                .route(
                    "/private-field",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .insert_header((
                                header::CACHE_CONTROL,
                                "private=\"set-cookie\", max-age=60",
                            ))
                            .finish()
                    }),
                )
                .route(
                    "/cached",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .insert_header((header::SET_COOKIE, "session=s1; HttpOnly"))
                            .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
                            .finish()
                    }),
                ),
        )
        .await
    };
}

#[actix_web::test]
async fn a_partner_link_is_recorded_and_the_cookies_set() {
    let mock = MockServer::start().await.unwrap();
    let app = app!(mock, CaptureClicks::new());
    let response = test::call_service(&app, visit("/?aff=partner").to_request()).await;
    let click_id = mock.clicks()[0].click_id.clone().unwrap();
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 4, "{cookies:?}");
    assert!(
        cookies[0].starts_with(&format!("affitor_click_id={click_id}; ")),
        "{cookies:?}"
    );
    assert_eq!(
        response.headers().get(header::CACHE_CONTROL).unwrap(),
        "private, no-store"
    );
    // The handler saw the request as without capture: no click id yet.
    assert_eq!(test::read_body(response).await, "none");
    let body = &mock.requests_to(Endpoint::Click)[0].body;
    assert_eq!(body["affiliate_url"], "http://shop.example/?aff=partner");
    assert_eq!(body["user_agent"], BROWSER);
    mock.shutdown().await;
}

#[actix_web::test]
async fn the_handlers_headers_are_kept_or_left_alone() {
    let mock = MockServer::start().await.unwrap();
    let app = app!(mock, CaptureClicks::new());
    let response = test::call_service(&app, visit("/cached?aff=partner").to_request()).await;
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 5, "{cookies:?}");
    assert!(
        cookies.contains(&"session=s1; HttpOnly".to_owned()),
        "{cookies:?}"
    );
    assert_eq!(
        response.headers().get(header::CACHE_CONTROL).unwrap(),
        "private, max-age=60"
    );

    // A response that sets the click id itself keeps its cookie, private to the browser.
    let response = test::call_service(&app, visit("/own?aff=partner").to_request()).await;
    assert_eq!(set_cookies(&response), ["affitor_click_id=mine; Path=/"]);
    assert_eq!(
        response.headers().get(header::CACHE_CONTROL).unwrap(),
        "private, max-age=60"
    );
    mock.shutdown().await;
}

/// A CDN that obeys `CDN-Cache-Control` (or Cloudflare's, or `Surrogate-Control`) over
/// `Cache-Control` would store a partner link's response, cookies or none: they are removed
/// from it. A field-qualified `private="set-cookie"` lets a shared cache store the rest: the
/// response is made private.
#[actix_web::test]
async fn a_cdns_own_cache_controls_are_removed_from_a_partner_links_response() {
    let mock = MockServer::start().await.unwrap();
    let app = app!(mock, CaptureClicks::new());
    let prefetch = ("sec-purpose", "prefetch");
    let cdn_controls = |response: &actix_web::dev::ServiceResponse| {
        CDN_CACHE_CONTROLS
            .iter()
            .filter(|name| response.headers().contains_key(**name))
            .count()
    };
    let cache_control = |response: &actix_web::dev::ServiceResponse| {
        let value = response.headers().get(header::CACHE_CONTROL).unwrap();
        value.to_str().unwrap().to_owned()
    };

    // Recorded: the cookies, and no CDN may store them.
    let response = test::call_service(&app, visit("/cdn?aff=partner").to_request()).await;
    assert_eq!(set_cookies(&response).len(), 4);
    assert_eq!(cache_control(&response), "private, max-age=60");
    assert_eq!(cdn_controls(&response), 0);
    // Not recorded: the cookieless copy, which no CDN may store either.
    let request = visit("/cdn?aff=partner").insert_header(prefetch);
    let response = test::call_service(&app, request.to_request()).await;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(cache_control(&response), "private, max-age=60");
    assert_eq!(cdn_controls(&response), 0);
    // No partner link: the handler's headers, untouched.
    let response = test::call_service(&app, visit("/cdn").to_request()).await;
    assert_eq!(cdn_controls(&response), 3);

    let request = visit("/private-field?aff=partner").insert_header(prefetch);
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(cache_control(&response), "private, max-age=60");
    assert_eq!(response.headers().get(header::VARY).unwrap(), "cookie");
    mock.shutdown().await;
}

/// A held click sent back in a request whose body is still coming (the middleware reads it for
/// the click id lookup): its click call runs from the request's arrival, while the body is
/// read, as the Tower layer's does; not after the read, which may outlast the deadline.
#[actix_web::test]
async fn a_held_clicks_call_runs_while_the_body_is_read() {
    use actix_web::dev::{Payload, Service as _};
    use actix_web::error::PayloadError;
    use affitor_actix::{HeldClick, HeldClickKey};

    let mock = MockServer::start().await.unwrap();
    let capture = CaptureClicks::new()
        .consent(|visit| visit.cookie("consent") == Some("yes"))
        .hold_until_consent(HeldClickKey::random());
    let app = test::init_service(
        App::new()
            .wrap(Affitor::new().client(client(&mock)).capture_clicks(capture))
            .route(
                "/",
                web::get().to(|held: Option<web::ReqData<HeldClick>>| async move {
                    HttpResponse::Ok().body(held.map(|held| held.to_string()).unwrap_or_default())
                }),
            )
            .route(
                "/api/consent",
                web::post().to(|| async { HttpResponse::NoContent().finish() }),
            ),
    )
    .await;
    // The landing, before consent: held.
    let response = test::call_service(&app, visit("/?aff=partner").to_request()).await;
    let token = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(!token.is_empty(), "the visit is held");

    // Consent given: the token comes back, with a JSON body that never ends.
    let never_ends = futures_util::stream::pending::<Result<web::Bytes, PayloadError>>();
    let (request, _) = TestRequest::post()
        .uri("/api/consent")
        .insert_header(("host", "shop.example"))
        .insert_header(("user-agent", BROWSER))
        .insert_header(("cookie", "consent=yes"))
        .insert_header(("content-type", "application/json"))
        .insert_header((HeldClick::HEADER, token))
        .to_request()
        .replace_payload(Payload::from(
            Box::pin(never_ends) as actix_http::BoxedPayloadStream
        ));
    let answer = app.call(request);
    let click_call = affitor_mock::poll_until(Duration::from_secs(2), async || {
        (!mock.requests_to(Endpoint::Click).is_empty()).then_some(())
    });
    tokio::select! {
        _ = answer => panic!("a body that never ends cannot be answered within its timeout"),
        called = click_call => assert!(called.is_some(), "the click call runs during the read"),
    }
    mock.shutdown().await;
}

#[actix_web::test]
async fn what_is_not_a_click_sets_no_cookie_and_is_kept_private() {
    let mock = MockServer::start().await.unwrap();
    mock.inactive_link("sleeping");
    let app = app!(
        mock,
        CaptureClicks::new().deadline(Duration::from_millis(200))
    );
    // No partner link: the page is untouched.
    for request in [visit("/"), visit("/?aff=bad%20code")] {
        let response = test::call_service(&app, request.to_request()).await;
        assert!(set_cookies(&response).is_empty());
        assert!(response.headers().get(header::CACHE_CONTROL).is_none());
        assert!(response.headers().get(header::VARY).is_none());
    }
    // A partner link not recorded: no cookie, and kept out of shared caches, so that a CDN
    // never serves this cookieless copy to the link's next visitor.
    let private = |response: &actix_web::dev::ServiceResponse| {
        assert!(set_cookies(response).is_empty());
        assert_eq!(
            response.headers().get(header::CACHE_CONTROL).unwrap(),
            "private"
        );
        assert_eq!(response.headers().get(header::VARY).unwrap(), "cookie");
    };
    let requests = [
        visit("/?aff=partner").method(actix_web::http::Method::HEAD),
        visit("/?aff=partner").insert_header(("sec-purpose", "prefetch")),
        visit("/?aff=partner").insert_header(("user-agent", "Twitterbot/1.0")),
        visit("/?aff=unknown"),
        visit("/?aff=sleeping"),
    ];
    for request in requests {
        let response = test::call_service(&app, request.to_request()).await;
        private(&response);
    }
    // Only the unknown and the inactive link reached the API: each with the visit's call and
    // the probe of the code alone that confirms its refusal.
    let calls: Vec<String> = mock
        .requests_to(Endpoint::Click)
        .iter()
        .map(|call| call.body.to_string())
        .collect();
    for code in ["aff=unknown", "aff=sleeping"] {
        assert!(calls.iter().any(|call| call.contains(code)), "{calls:?}");
    }
    assert!(
        calls
            .iter()
            .all(|call| call.contains("aff=unknown") || call.contains("aff=sleeping")),
        "{calls:?}"
    );

    // Each fault on every call: a click call still running from the visit before (its own
    // task, until its deadline) must not use a one-time fault up.
    for fault in [
        Fault::status(503).always(),
        Fault::delay(Duration::from_secs(60)).always(),
    ] {
        mock.clear_faults();
        mock.inject(fault.on(Endpoint::Click));
        let response = test::call_service(&app, visit("/?aff=partner").to_request()).await;
        private(&response);
        assert_eq!(test::read_body(response).await, "none");
    }
    mock.shutdown().await;
}

/// A flood of visits to partner links from one peer address is a bounded number of click
/// calls; another peer is still recorded.
#[actix_web::test]
async fn a_flood_of_visits_is_a_bounded_number_of_clicks() {
    use affitor_actix::affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    for n in 0..30 {
        mock.link(&format!("partner{n}"));
    }
    let limit = ClickLimit::default()
        .burst(10)
        .refill(Duration::from_secs(3600));
    let app = app!(mock, CaptureClicks::new().click_limit(limit));
    let flooder = "198.51.100.7:40000".parse().unwrap();
    for n in 0..30 {
        let request = visit(&format!("/?aff=partner{n}")).peer_addr(flooder);
        let response = test::call_service(&app, request.to_request()).await;
        assert!(response.status().is_success());
    }
    // The same link again and again: one click.
    for _ in 0..10 {
        let request = visit("/?aff=partner0").peer_addr(flooder);
        test::call_service(&app, request.to_request()).await;
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 10);
    let other = "203.0.113.9:40000".parse().unwrap();
    let response =
        test::call_service(&app, visit("/?aff=partner0").peer_addr(other).to_request()).await;
    assert_eq!(set_cookies(&response).len(), 4);
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 11);
    mock.shutdown().await;
}

/// actix builds one app per worker. A middleware built once, outside `HttpServer::new`, and
/// cloned into each worker's app keeps one click limit for the whole app: over 4 workers, the
/// same bounds as the Tower layer's (10 calls for 30 new codes from one address, none for a
/// repeat), where a middleware per worker would allow 10 per worker.
#[actix_web::test]
async fn four_workers_share_one_click_limit() {
    use actix_web::HttpServer;
    use affitor_actix::affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    for n in 0..30 {
        mock.link(&format!("partner{n}"));
    }
    let limit = ClickLimit::default()
        .burst(10)
        .refill(Duration::from_secs(3600));
    let affitor = Affitor::new()
        .client(client(&mock))
        .capture_clicks(CaptureClicks::new().click_limit(limit));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new().wrap(affitor.clone()).route(
            "/",
            web::get().to(|| async { HttpResponse::Ok().body("welcome") }),
        )
    })
    .workers(4)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    // Each visit on a connection of its own, so that the workers take turns.
    for n in 0..30 {
        assert!(
            get(address, &format!("/?aff=partner{n}"))
                .await
                .starts_with("HTTP/1.1 200")
        );
    }
    for _ in 0..10 {
        get(address, "/?aff=partner0").await;
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 10);

    handle.stop(true).await;
    mock.shutdown().await;
}

/// A `GET` of `target` on a connection of its own, as a browser sends it: the raw response.
async fn get(address: std::net::SocketAddr, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {BROWSER}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// A visitor who opens a partner link, then again in a second browser moments later (the same
/// peer address, no cookies yet), gets the same click id in both: one click call.
#[actix_web::test]
async fn a_repeat_visit_gets_the_click_it_repeats() {
    let mock = MockServer::start().await.unwrap();
    let capture = CaptureClicks::new();
    let app = app!(mock, capture.clone());
    let browser = "198.51.100.7:40000".parse().unwrap();
    let second_browser = "198.51.100.7:40001".parse().unwrap();
    let mut answers = Vec::new();
    for peer in [browser, second_browser] {
        let request = visit("/?aff=partner").peer_addr(peer);
        let response = test::call_service(&app, request.to_request()).await;
        assert!(response.status().is_success());
        let cache = response.headers().get(header::CACHE_CONTROL).cloned();
        answers.push((set_cookies(&response), cache));
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
    let recorded = mock.clicks()[0].click_id.clone().unwrap().into_string();
    for (cookies, cache) in &answers {
        assert_eq!(cookies.len(), 4, "{cookies:?}");
        let expected = format!("affitor_click_id={recorded};");
        assert!(cookies[0].starts_with(&expected), "{cookies:?}");
        assert_eq!(cache.as_ref().unwrap(), "private, no-store");
    }
    let names = |cookies: &[String]| {
        let names = cookies.iter().filter_map(|cookie| cookie.split('=').next());
        names.map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(names(&answers[0].0), names(&answers[1].0));
    let stats = capture.stats();
    assert_eq!((stats.recorded, stats.repeated), (1, 1), "{stats:?}");
    mock.shutdown().await;
}

/// A flood on one partner's link from ever new peer addresses spends that partner's bound: a
/// visitor of another partner still gets a click id.
#[actix_web::test]
async fn a_flood_on_one_partner_leaves_clicks_for_the_others() {
    use affitor_actix::affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    mock.link("flooded");
    let limit = ClickLimit::default()
        .per_partner(20, Duration::from_secs(3600))
        .total(50, Duration::from_secs(3600));
    let capture = CaptureClicks::new().click_limit(limit);
    let app = app!(mock, capture.clone());
    for n in 0..200u8 {
        let peer = std::net::SocketAddr::from(([198, 51, n, 1], 40_000));
        let request = visit("/?aff=flooded").peer_addr(peer);
        assert!(
            test::call_service(&app, request.to_request())
                .await
                .status()
                .is_success()
        );
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 20);
    let other = "203.0.113.9:40000".parse().unwrap();
    let response =
        test::call_service(&app, visit("/?aff=partner").peer_addr(other).to_request()).await;
    assert_eq!(set_cookies(&response).len(), 4);
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 21);
    assert_eq!(capture.stats().partner_limited, 180);
    mock.shutdown().await;
}
