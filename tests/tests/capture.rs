//! Partner links captured on the server, over the four example apps: a visit to `/?aff=CODE`
//! is recorded as a click through the stand-in API, and the page sets the tracker's cookies;
//! what is not a click, or not recorded, leaves the page as it was.
//!
//! Each row of the `scenarios!` table runs against every app, each on a real port against its
//! own stand-in; a failure names the app.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_scenarios::{Kind, Page, Running, apps};
use reqwest::StatusCode;
use serde_json::json;

macro_rules! scenarios {
    ($($scenario:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                for app in apps(Kind::Signup) {
                    let running = app.start().await;
                    scenario::$scenario(&running).await;
                }
            }
        )*
    };
}

scenarios! {
    a_partner_link_sets_the_click_id_cookie;
    the_captured_click_id_reaches_the_lead;
    a_repeat_visit_from_the_same_partner_is_not_a_new_click;
    a_new_partner_sends_the_earlier_click_id;
    bots_and_link_previews_are_not_clicks;
    a_head_request_is_not_a_click;
    a_prefetch_is_not_a_click;
    an_invalid_partner_code_is_ignored;
    the_page_does_not_wait_for_a_slow_api;
    the_page_is_served_while_the_api_is_down;
    an_inactive_or_unknown_link_sets_no_cookie;
    consent_given_after_landing_records_the_held_click;
}

mod scenario {
    use super::*;

    /// Asserts the signup page was served as the app makes it, without the capture's headers.
    fn assert_plain_page(app: &Running, page: &Page) {
        let name = app.app.name;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert!(
            page.text.contains("affitorClickId"),
            "{name}: {}",
            page.text
        );
        assert!(page.set_cookies().is_empty(), "{name}: {:?}", page.headers);
        assert!(
            page.headers.get("cache-control").is_none(),
            "{name}: {:?}",
            page.headers
        );
    }

    /// Asserts the page of a partner link that was not recorded: served as the app makes it,
    /// with no cookie, and kept out of shared caches (`Cache-Control: private`, `Vary: cookie`),
    /// so that a CDN never serves this cookieless copy to the link's next visitor.
    fn assert_private_page(app: &Running, page: &Page) {
        let name = app.app.name;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert!(page.set_cookies().is_empty(), "{name}: {:?}", page.headers);
        let header = |name: &str| page.headers.get(name).and_then(|value| value.to_str().ok());
        assert_eq!(
            header("cache-control"),
            Some("private"),
            "{name}: {:?}",
            page.headers
        );
        assert_eq!(header("vary"), Some("cookie"), "{name}: {:?}", page.headers);
    }

    /// Visits `/?aff=partner` and returns the page and the click id the API recorded.
    async fn land(app: &Running) -> (Page, String) {
        let page = app.open("GET", "/?aff=partner", &[]).await;
        let clicks = app.mock.clicks();
        assert_eq!(clicks.len(), 1, "{}: {clicks:?}", app.app.name);
        let click_id = clicks[0]
            .click_id
            .clone()
            .expect("a recorded click has an id");
        (page, click_id.into_string())
    }

    pub(super) async fn a_partner_link_sets_the_click_id_cookie(app: &Running) {
        let name = app.app.name;
        let (page, click_id) = land(app).await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert!(
            page.text.contains("affitorClickId"),
            "{name}: the signup page"
        );
        assert_eq!(
            page.cookie("affitor_click_id"),
            Some(click_id.as_str()),
            "{name}"
        );
        assert_eq!(
            page.cookie("customer_code"),
            Some(click_id.as_str()),
            "{name}"
        );
        assert_eq!(
            page.cookie("affitor_click_ids"),
            Some(click_id.as_str()),
            "{name}"
        );
        let landing = format!("{}/?aff=partner", app.url);
        assert_eq!(
            page.cookie("affitor_aff_url"),
            Some(landing.as_str()),
            "{name}"
        );
        for cookie in page.set_cookies() {
            assert!(
                cookie.contains("Path=/") && cookie.contains("SameSite=Lax"),
                "{name}: {cookie}"
            );
            assert!(
                !cookie.contains("HttpOnly"),
                "{name}: the page's script reads it: {cookie}"
            );
        }
        assert_eq!(page.headers["cache-control"], "private, no-store", "{name}");

        // The click carried the visitor's facts, not the server's.
        let body = &app.mock.requests_to(Endpoint::Click)[0].body;
        assert_eq!(body["affiliate_url"], landing.as_str(), "{name}");
        assert_eq!(body["page_url"], landing.as_str(), "{name}");
        assert_eq!(body["user_agent"], affitor_scenarios::BROWSER, "{name}");
    }

    pub(super) async fn the_captured_click_id_reaches_the_lead(app: &Running) {
        let (page, click_id) = land(app).await;
        // The browser sends the cookies back with the signup.
        let cookies = page.cookie_header();
        let user_id = app
            .signup("ada@example.com", &json!({}), &[("cookie", &cookies)])
            .await;
        let leads = app.leads_received(1).await;
        assert_eq!(
            leads[0]["customer_key"],
            user_id.as_str(),
            "{}",
            app.app.name
        );
        assert_eq!(leads[0]["click_id"], click_id.as_str(), "{}", app.app.name);
    }

    pub(super) async fn a_repeat_visit_from_the_same_partner_is_not_a_new_click(app: &Running) {
        let (page, _) = land(app).await;
        let cookies = page.cookie_header();
        let again = app
            .open("GET", "/?aff=partner", &[("cookie", &cookies)])
            .await;
        assert_private_page(app, &again);
        assert_eq!(
            app.mock.requests_to(Endpoint::Click).len(),
            1,
            "{}",
            app.app.name
        );
    }

    pub(super) async fn a_new_partner_sends_the_earlier_click_id(app: &Running) {
        let name = app.app.name;
        app.mock.link("newpartner");
        let (page, first) = land(app).await;
        let cookies = page.cookie_header();
        let page = app
            .open("GET", "/?aff=newpartner", &[("cookie", &cookies)])
            .await;
        let clicks = app.mock.clicks();
        assert_eq!(clicks.len(), 2, "{name}: {clicks:?}");
        assert_eq!(
            clicks[1].partner_code.as_deref(),
            Some("newpartner"),
            "{name}"
        );
        assert_eq!(
            clicks[1].existing_click_id.as_deref(),
            Some(first.as_str()),
            "{name}"
        );
        let second = clicks[1].click_id.clone().expect("an id").into_string();
        assert_eq!(
            page.cookie("affitor_click_id"),
            Some(second.as_str()),
            "{name}"
        );
        let ids = page
            .cookie("affitor_click_ids")
            .expect("the click ids cookie");
        if first != second {
            assert_eq!(ids, format!("{first}%7C{second}"), "{name}");
        }
        let landing = format!("{}/?aff=newpartner", app.url);
        assert_eq!(
            page.cookie("affitor_aff_url"),
            Some(landing.as_str()),
            "{name}"
        );
    }

    pub(super) async fn bots_and_link_previews_are_not_clicks(app: &Running) {
        for agent in [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "WhatsApp/2.23.20.0",
        ] {
            let page = app
                .open("GET", "/?aff=partner", &[("user-agent", agent)])
                .await;
            assert_private_page(app, &page);
        }
        assert!(
            app.mock.requests_to(Endpoint::Click).is_empty(),
            "{}",
            app.app.name
        );
    }

    pub(super) async fn a_head_request_is_not_a_click(app: &Running) {
        let page = app.open("HEAD", "/?aff=partner", &[]).await;
        assert!(page.set_cookies().is_empty(), "{}", app.app.name);
        assert!(
            app.mock.requests_to(Endpoint::Click).is_empty(),
            "{}",
            app.app.name
        );
    }

    pub(super) async fn a_prefetch_is_not_a_click(app: &Running) {
        for header in [("sec-purpose", "prefetch"), ("purpose", "prefetch")] {
            let page = app.open("GET", "/?aff=partner", &[header]).await;
            assert_private_page(app, &page);
        }
        assert!(
            app.mock.requests_to(Endpoint::Click).is_empty(),
            "{}",
            app.app.name
        );
    }

    pub(super) async fn an_invalid_partner_code_is_ignored(app: &Running) {
        for path in ["/?aff=", "/?aff=%3Cscript%3E", "/?aff=a%20b"] {
            let page = app.open("GET", path, &[]).await;
            assert_plain_page(app, &page);
        }
        assert!(
            app.mock.requests_to(Endpoint::Click).is_empty(),
            "{}",
            app.app.name
        );
    }

    pub(super) async fn the_page_does_not_wait_for_a_slow_api(app: &Running) {
        // The stand-in records the click at once but answers a minute later.
        app.mock
            .inject(Fault::delay(Duration::from_secs(60)).on(Endpoint::Click));
        // A guard against a hang, not a measure of speed.
        let page = tokio::time::timeout(
            Duration::from_secs(30),
            app.open("GET", "/?aff=partner", &[]),
        )
        .await
        .unwrap_or_else(|_| panic!("{}: the page waited for the API", app.app.name));
        assert_private_page(app, &page);
    }

    pub(super) async fn the_page_is_served_while_the_api_is_down(app: &Running) {
        for fault in [
            Fault::status(500),
            Fault::status(503),
            Fault::drop_connection(),
        ] {
            app.mock.clear_faults();
            app.mock.inject(fault.on(Endpoint::Click).always());
            let page = app.open("GET", "/?aff=partner", &[]).await;
            assert_private_page(app, &page);
        }
    }

    pub(super) async fn an_inactive_or_unknown_link_sets_no_cookie(app: &Running) {
        app.mock.inactive_link("sleeping");
        for path in ["/?aff=sleeping", "/?aff=unknown"] {
            let page = app.open("GET", path, &[]).await;
            assert_private_page(app, &page);
        }
        // Both reached the API, which recorded neither: each with the visit's call and the
        // probe of the code alone that confirms its refusal.
        let calls: Vec<String> = (app.mock.requests_to(Endpoint::Click).iter())
            .map(|call| call.body.to_string())
            .collect();
        let codes = ["aff=sleeping", "aff=unknown"];
        let each_sent = codes
            .iter()
            .all(|code| calls.iter().any(|c| c.contains(code)));
        let only_them = calls
            .iter()
            .all(|c| codes.iter().any(|code| c.contains(code)));
        assert!(each_sent && only_them, "{}: {calls:?}", app.app.name);
        assert!(app.mock.clicks().is_empty(), "{}", app.app.name);
    }

    /// The held click the page carries, from its `affitor-held-click` meta tag.
    fn held_click(app: &Running, page: &Page) -> String {
        let start = r#"<meta name="affitor-held-click" content=""#;
        let token = page
            .text
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(token, _)| token.to_owned())
            .unwrap_or_default();
        assert!(
            !token.is_empty(),
            "{}: no held click in the page",
            app.app.name
        );
        token
    }

    /// A visitor who chose only the necessary cookies lands on a partner link: nothing is
    /// recorded and no cookie set, but the page holds the visit. Once they allow the partner's
    /// cookie, the page sends it back: one click, with the landing's URL and referrer, and the
    /// cookies. Sent again, without consent, or forged, it records nothing.
    pub(super) async fn consent_given_after_landing_records_the_held_click(app: &Running) {
        let name = app.app.name;
        let referrer = "https://blog.example/best-tools";
        let page = app
            .open(
                "GET",
                "/pricing?aff=partner&utm_source=blog",
                &[
                    ("cookie", "cookie_consent=necessary"),
                    ("referer", referrer),
                ],
            )
            .await;
        // `/pricing` is no route: the 404 page holds the visit all the same.
        assert!(page.set_cookies().is_empty(), "{name}: {:?}", page.headers);
        assert_eq!(page.headers["cache-control"], "private", "{name}");
        assert!(app.mock.clicks().is_empty(), "{name}: nothing recorded");
        let page = app
            .open(
                "GET",
                "/?aff=partner&utm_source=blog",
                &[
                    ("cookie", "cookie_consent=necessary"),
                    ("referer", referrer),
                ],
            )
            .await;
        assert_private_page(app, &page);
        let held = held_click(app, &page);
        assert!(app.mock.clicks().is_empty(), "{name}: nothing recorded");

        // Still no consent: refused, and the held click stays usable.
        let refused = app
            .open(
                "POST",
                "/api/consent",
                &[
                    ("cookie", "cookie_consent=necessary"),
                    ("affitor-held-click", &held),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::NO_CONTENT, "{name}");
        assert!(refused.set_cookies().is_empty(), "{name}");

        // Consent: the click of the landing, and the cookies.
        let consented = [
            ("cookie", "cookie_consent=all"),
            ("sec-fetch-site", "same-origin"),
            ("affitor-held-click", held.as_str()),
        ];
        let answer = app.open("POST", "/api/consent", &consented).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{name}");
        let clicks = app.mock.clicks();
        assert_eq!(clicks.len(), 1, "{name}: {clicks:?}");
        let landing = format!("{}/?aff=partner&utm_source=blog", app.url);
        assert_eq!(clicks[0].partner_code.as_deref(), Some("partner"), "{name}");
        assert_eq!(
            clicks[0].affiliate_url.as_deref(),
            Some(landing.as_str()),
            "{name}"
        );
        assert_eq!(clicks[0].referrer_url.as_deref(), Some(referrer), "{name}");
        let click_id = clicks[0]
            .click_id
            .clone()
            .expect("a recorded click has an id");
        assert_eq!(
            answer.cookie("affitor_click_id"),
            Some(click_id.as_str()),
            "{name}: {:?}",
            answer.headers
        );
        assert_eq!(
            answer.cookie("affitor_aff_url"),
            Some(landing.as_str()),
            "{name}"
        );

        // Once: sent again, it records nothing.
        let again = app.open("POST", "/api/consent", &consented).await;
        assert!(
            again.set_cookies().is_empty(),
            "{name}: {:?}",
            again.headers
        );
        // From another site, or forged: nothing.
        let page = app
            .open(
                "GET",
                "/?aff=partner",
                &[("cookie", "cookie_consent=necessary")],
            )
            .await;
        let second = held_click(app, &page);
        let cross_site = app
            .open(
                "POST",
                "/api/consent",
                &[
                    ("cookie", "cookie_consent=all"),
                    ("sec-fetch-site", "cross-site"),
                    ("affitor-held-click", &second),
                ],
            )
            .await;
        assert!(cross_site.set_cookies().is_empty(), "{name}");
        let forged = match second.as_bytes()[0] {
            b'A' => format!("B{}", &second[1..]),
            _ => format!("A{}", &second[1..]),
        };
        let forged = app
            .open(
                "POST",
                "/api/consent",
                &[
                    ("cookie", "cookie_consent=all"),
                    ("affitor-held-click", &forged),
                ],
            )
            .await;
        assert!(forged.set_cookies().is_empty(), "{name}");
        assert_eq!(app.mock.clicks().len(), 1, "{name}: one click in all");
    }
}
