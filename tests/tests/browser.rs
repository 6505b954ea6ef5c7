//! A real browser: headless Chromium, driven over WebDriver (chromedriver), opens `/?aff=partner`
//! on each signup example, finds the click id the server set on the page, signs up through the
//! form, and the lead that reaches the stand-in API carries that click id. Then a visitor who
//! chose only the necessary cookies follows a partner's link from a blog: nothing is recorded
//! until they allow the partner's cookie in the page's banner, and then the click is, with the
//! blog as its referrer.
//!
//! It needs the Debian packages `chromium` and `chromium-driver` (or the `CHROMIUM` and
//! `CHROMEDRIVER` variables naming the two programs). Without them it fails and says so: it
//! never passes in silence.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use affitor_mock::poll_until;
use affitor_scenarios::{APPS, ExampleApp, Kind, Running};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// What to install when the browser is missing.
const INSTALL: &str = "the browser test needs headless Chromium and its WebDriver: run every \
                       test with `bash .ci/test` (it installs them), or install the Debian \
                       packages `chromium` and `chromium-driver` \
                       (`apt-get install -y chromium chromium-driver`), or set CHROMIUM and \
                       CHROMEDRIVER to the two programs";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_lands_on_a_partner_link_and_signs_up_with_the_click_id() {
    let chromium = program(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let chromedriver = program("CHROMEDRIVER", &["chromedriver"]);
    let driver = ChromeDriver::start(&chromedriver).await;
    let profile = Profile::new();
    let browser = driver.session(&chromium, profile.path()).await;

    let signup_apps: Vec<ExampleApp> = APPS
        .into_iter()
        .filter(|app| app.kind == Kind::Signup)
        .collect();
    for app in signup_apps {
        let running = app.start().await;
        land_and_sign_up(&browser, &running).await;
        // Cookies are kept per host, not per port: the next visit starts with none.
        browser.delete_all_cookies().await.expect("cookies deleted");
        consent_after_landing(&browser, &running).await;
        browser.delete_all_cookies().await.expect("cookies deleted");
    }
    browser.close().await.expect("the session ends");
}

async fn land_and_sign_up(browser: &Client, app: &Running) {
    let name = app.app.name;
    browser
        .goto(&format!("{}/?aff=partner", app.url))
        .await
        .unwrap_or_else(|error| panic!("{name}: the page opens: {error}"));

    // The server recorded the click, and the page shows the click id it set.
    let clicks = app.mock.clicks();
    assert_eq!(clicks.len(), 1, "{name}: {clicks:?}");
    let click_id = clicks[0]
        .click_id
        .clone()
        .expect("a recorded click has an id");
    let shown = text(browser, "#click-id").await;
    assert_eq!(
        shown,
        click_id.as_str(),
        "{name}: the page shows the click id"
    );

    // The visitor signs up through the form.
    let email = format!("ada+{name}@example.com");
    fill(browser, "input[name=email]", &email).await;
    fill(browser, "input[name=password]", "correct horse battery").await;
    element(browser, "button[type=submit]")
        .await
        .click()
        .await
        .expect("the form is submitted");
    let result = wait_for_text(browser, "#result", "Welcome").await;
    assert!(result.contains("user_"), "{name}: {result}");

    // The lead that reached the API carries the click id the server set.
    let leads = app.leads_received(1).await;
    assert_eq!(
        leads[0]["click_id"],
        click_id.as_str(),
        "{name}: {}",
        leads[0]
    );
    assert_eq!(leads[0]["email"], email.as_str(), "{name}: {}", leads[0]);
}

/// A visitor who chose only the necessary cookies (`cookie_consent=necessary`) follows a
/// partner's link from a blog: no click and no cookie, but a banner; they allow the partner's
/// cookie, and the page sends the held click back: one click, whose referrer is the blog.
async fn consent_after_landing(browser: &Client, app: &Running) {
    let name = app.app.name;
    let clicks_before = app.mock.clicks().len();
    // The visitor's earlier choice, in the site's own cookie.
    browser
        .goto(&format!("{}/", app.url))
        .await
        .unwrap_or_else(|error| panic!("{name}: the page opens: {error}"));
    browser
        .execute(
            r#"document.cookie = "cookie_consent=necessary; path=/; SameSite=Lax"; return null;"#,
            vec![],
        )
        .await
        .expect("the consent cookie is set");

    // A partner's blog, on another origin, links to the app. Another partner than the first
    // visit's: the same address opening the same partner's link moments later would be that
    // visit's repeat.
    app.mock.link("blogger");
    let landing = format!("{}/?aff=blogger", app.url);
    let blog = Blog::start(&landing).await;
    browser
        .goto(&blog.url)
        .await
        .unwrap_or_else(|error| panic!("{name}: the blog opens: {error}"));
    element(browser, "#partner-link")
        .await
        .click()
        .await
        .expect("the partner's link is followed");
    wait_for_text(browser, "#consent", "Allow the partner").await;
    assert_eq!(text(browser, "#click-id").await, "none", "{name}");
    assert_eq!(
        app.mock.clicks().len(),
        clicks_before,
        "{name}: nothing recorded without consent"
    );
    let cookies = browser
        .execute("return document.cookie;", vec![])
        .await
        .expect("the page's cookies");
    assert!(
        !cookies
            .as_str()
            .unwrap_or_default()
            .contains("affitor_click_id"),
        "{name}: no tracking cookie without consent: {cookies}"
    );

    // The visitor allows the partner's cookie: the held click is recorded, once.
    element(browser, "#allow")
        .await
        .click()
        .await
        .expect("the banner's Allow is clicked");
    let shown = wait_for_text(browser, "#click-id", "_").await;
    let clicks = app.mock.clicks();
    assert_eq!(clicks.len(), clicks_before + 1, "{name}: {clicks:?}");
    let click = &clicks[clicks_before];
    assert_eq!(
        click.click_id.as_ref().map(|id| id.as_str()),
        Some(shown.as_str()),
        "{name}: the page shows the click recorded"
    );
    assert_eq!(
        click.affiliate_url.as_deref(),
        Some(landing.as_str()),
        "{name}"
    );
    let blog_origin = format!("{}/", blog.url.trim_end_matches("/blog"));
    assert_eq!(
        click.referrer_url.as_deref(),
        Some(blog_origin.as_str()),
        "{name}: the referrer of the landing, not of the consent"
    );
}

/// A partner's blog on a port of its own: `/blog`, a page with a link to the partner link.
struct Blog {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Blog {
    async fn start(link: &str) -> Self {
        let page = format!(
            r#"<!doctype html><title>Best tools</title><a id="partner-link" href="{link}">Try it</a>"#
        );
        let app = axum::Router::new().route(
            "/blog",
            axum::routing::get(move || async move { axum::response::Html(page) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let port = listener.local_addr().expect("its address").port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        // `localhost`, not 127.0.0.1: another site than the app's.
        Self {
            url: format!("http://localhost:{port}/blog"),
            server,
        }
    }
}

impl Drop for Blog {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The program named by the variable `variable`, else the first of `names` on the `PATH`.
fn program(variable: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(variable).filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("no {} found: {INSTALL}", names.join(" or ")))
}

/// A chromedriver on a port of 127.0.0.1, stopped when dropped.
struct ChromeDriver {
    process: Child,
    url: String,
}

impl ChromeDriver {
    async fn start(program: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("{} does not start ({error}): {INSTALL}", program.display())
            });
        let driver = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let status = format!("{}/status", driver.url);
        let answered = poll_until(Duration::from_secs(10), async || {
            let answer = http.get(&status).send().await;
            answer
                .is_ok_and(|answer| answer.status().is_success())
                .then_some(())
        })
        .await;
        assert!(
            answered.is_some(),
            "chromedriver never answered on {}",
            driver.url
        );
        driver
    }

    /// A new session of headless Chromium, with a fresh profile in `profile`.
    async fn session(&self, chromium: &Path, profile: &Path) -> Client {
        let options = json!({
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".to_owned(), Value::from("chrome"));
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|error| panic!("Chromium does not start ({error}): {INSTALL}"))
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The driver ends the browsers it started.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A fresh browser profile directory, removed when dropped.
struct Profile(PathBuf);

impl Profile {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "affitor-browser-test-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a profile directory");
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no element `{css}` on the page: {error}"))
}

async fn text(browser: &Client, css: &str) -> String {
    element(browser, css)
        .await
        .text()
        .await
        .unwrap_or_else(|error| panic!("the text of `{css}`: {error}"))
}

async fn fill(browser: &Client, css: &str, value: &str) {
    element(browser, css)
        .await
        .send_keys(value)
        .await
        .unwrap_or_else(|error| panic!("typing into `{css}`: {error}"));
}

/// Waits, 10 s at most, until the text of `css` contains `expected`, and returns it.
async fn wait_for_text(browser: &Client, css: &str, expected: &str) -> String {
    let mut last = String::new();
    let shown = poll_until(Duration::from_secs(10), async || {
        last = text(browser, css).await;
        last.contains(expected).then(|| last.clone())
    })
    .await;
    shown.unwrap_or_else(|| panic!("`{css}` never showed `{expected}`; it shows `{last}`"))
}
