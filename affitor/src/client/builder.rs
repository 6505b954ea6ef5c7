//! [`ClientBuilder`]: the client's configuration, checked once when it is built, and the
//! [`ApiKey`](super::api_key::ApiKey) that never shows in `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use reqwest::Url;

use super::api_key::ApiKey;
use super::delivery::{DEFAULT_CAPACITY, DEFAULT_MAX_IN_FLIGHT, Delivery};
use super::endpoint::Endpoint;
use super::error::{Error, ErrorKind};
use super::retry::RetryPolicy;
use super::transport::{Transport, own_http_client};
use super::{Backend, Client, Inner};

/// The API used when no base URL is given.
pub(super) const DEFAULT_BASE_URL: &str = "https://api.affitor.com";
/// The default per-attempt timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a [`Client`]. Made by [`Client::builder`].
///
/// ```
/// use std::time::Duration;
/// use affitor::{Client, client::RetryPolicy};
///
/// let client = Client::builder()
///     .api_key("aff_live_key")
///     .base_url("http://127.0.0.1:4000/") // plain http is fine on loopback
///     .timeout(Duration::from_secs(3))
///     .retry(RetryPolicy::default().max_attempts(3))
///     .user_agent("my-shop/1.0")
///     .build()?;
/// assert_eq!(client.base_url(), "http://127.0.0.1:4000");
/// # Ok::<(), affitor::Error>(())
/// ```
#[must_use = "a builder does nothing until you call `build`"]
#[derive(Default)]
pub struct ClientBuilder {
    api_key: Option<ApiKey>,
    base_url: Option<String>,
    allow_insecure_http: bool,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    user_agent: Option<String>,
    test_mode: bool,
    program_id: Option<String>,
    http_client: Option<reqwest::Client>,
    queue_capacity: Option<usize>,
    max_in_flight: Option<usize>,
}

impl ClientBuilder {
    /// A builder configured from the environment, as [`Client::from_env`] reads it: the key
    /// from `AFFITOR_API_KEY`, the base URL from `AFFITOR_API_URL` (or its alias
    /// `AFFITOR_API_BASE`; `https://api.affitor.com` when neither is set), and
    /// [`allow_insecure_http`](Self::allow_insecure_http) when `AFFITOR_ALLOW_INSECURE_HTTP` is
    /// `1`, `true`, `yes` or `on`. A variable that is unset or blank sets nothing. Set the rest
    /// before [`build`](Self::build):
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use affitor::client::ClientBuilder;
    ///
    /// let client = ClientBuilder::from_env()
    ///     .user_agent("my-shop/1.0")
    ///     .timeout(Duration::from_secs(3))
    ///     .build()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn from_env() -> Self {
        Self::from_variables(|name| std::env::var(name).ok())
    }

    /// A builder configured by the variables [`from_env`](Self::from_env) reads, each taken
    /// from `lookup` rather than the process's environment: a `.env` file or a secrets
    /// manager read by the app, a test's own values (without `std::env::set_var`, which races
    /// every other thread).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use affitor::client::ClientBuilder;
    ///
    /// let variables = HashMap::from([
    ///     ("AFFITOR_API_KEY", "aff_test_key"),
    ///     ("AFFITOR_API_URL", "http://127.0.0.1:4000"),
    /// ]);
    /// let client = ClientBuilder::from_variables(|name| variables.get(name).map(|v| v.to_string()))
    ///     .build()?;
    /// assert_eq!(client.base_url(), "http://127.0.0.1:4000");
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn from_variables(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let present = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut builder = Self::default();
        if let Some(key) = present("AFFITOR_API_KEY") {
            builder = builder.api_key(key);
        }
        if let Some(url) = present("AFFITOR_API_URL").or_else(|| present("AFFITOR_API_BASE")) {
            builder = builder.base_url(url);
        }
        if present(INSECURE_HTTP_VARIABLE).is_some_and(|value| is_yes(&value)) {
            builder = builder.allow_insecure_http(true);
        }
        builder
    }

    /// The program API key (`aff_...`, from Program Settings). Surrounding whitespace is
    /// ignored.
    ///
    /// ```
    /// // A key read from a secret file keeps its trailing newline; it is dropped.
    /// let client = affitor::Client::builder().api_key("aff_live_key\n").build()?;
    /// assert!(format!("{client:?}").contains("ApiKey(aff_…redacted)"));
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(api_key.into()));
        self
    }

    /// The API base URL. Default `https://api.affitor.com`; a trailing `/` is ignored. Plain
    /// `http://` is refused unless the host is loopback (`127.0.0.0/8`, `::1`, `localhost`) or
    /// [`allow_insecure_http`](ClientBuilder::allow_insecure_http) is set. A loopback host is
    /// reached directly, never through a proxy the environment names (`HTTP_PROXY`), which
    /// would read the key over plain `http://`.
    ///
    /// ```
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .base_url("https://api.example.com/")
    ///     .build()?;
    /// assert_eq!(client.base_url(), "https://api.example.com");
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Allows a plain `http://` base URL to a host that is not loopback. The key then travels
    /// unencrypted: only for a trusted network.
    ///
    /// ```
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .base_url("http://affitor-proxy.internal:8080")
    ///     .allow_insecure_http(true)
    ///     .build()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The timeout of each attempt, answer included. Default 10 s. The whole call is bounded by
    /// [`RetryPolicy::deadline`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .timeout(Duration::from_secs(3))
    ///     .build()?;
    /// assert!(format!("{client:?}").contains("timeout: 3s"));
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The retry policy. Default [`RetryPolicy::default`].
    ///
    /// ```
    /// use affitor::client::RetryPolicy;
    ///
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .retry(RetryPolicy::default().max_attempts(2))
    ///     .build()?;
    /// assert!(format!("{client:?}").contains("max_attempts: 2"));
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The `User-Agent` of the client's requests. Default `affitor-rs/<version>`.
    ///
    /// ```
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .user_agent("my-shop/1.0")
    ///     .build()?;
    /// assert!(format!("{client:?}").contains("my-shop/1.0"));
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Test mode: clicks, leads and sales carry `additional_data.test_mode: true`, so the API
    /// stores isolated test events that never touch attribution, commissions or metrics. Set
    /// [`program_id`](ClientBuilder::program_id) too if you send test clicks.
    ///
    /// ```
    /// let client = affitor::Client::builder().api_key("aff_key").test_mode(true).build()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn test_mode(mut self, test_mode: bool) -> Self {
        self.test_mode = test_mode;
        self
    }

    /// The program's id, sent as `additional_data.program_id` with test-mode clicks.
    ///
    /// A click carries no API key (the `aff` code is its credential), so a test-mode click,
    /// which has no real `aff` code, needs the id for the API to link its test event to your
    /// program. Leads and sales need nothing: the key names the program. Unused outside
    /// [`test_mode`](ClientBuilder::test_mode). The id is in the dashboard, and in
    /// `.affitor/config.json` after `affitor init`.
    ///
    /// ```
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .test_mode(true)
    ///     .program_id("42")
    ///     .build()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn program_id(mut self, program_id: impl Into<String>) -> Self {
        let program_id = program_id.into();
        self.program_id = (!program_id.trim().is_empty()).then(|| program_id.trim().to_owned());
        self
    }

    /// Your own `reqwest::Client`, to share its connection pool or set proxies and TLS. The
    /// client sets the headers it needs on each request. Give it a `connect_timeout` below the
    /// [`timeout`](Self::timeout), as the client's own has: a connect that never completes is
    /// then retried as a request that never left, not one that may have been processed.
    ///
    /// ```
    /// let shared = reqwest::Client::new();
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .http_client(shared.clone())
    ///     .build()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn http_client(mut self, http_client: reqwest::Client) -> Self {
        self.http_client = Some(http_client);
        self
    }

    /// How many events [`send_in_background`](crate::SaleRequest::send_in_background) holds
    /// at most, waiting or being sent (at least 1). Default 16,384. When it is full, a new
    /// event (an `enqueue`'s once it has waited 2 s for room) is dropped, counted in [`DeliveryStats::dropped`](crate::client::DeliveryStats) and
    /// [`DeliveryStats::queue_full`](crate::client::DeliveryStats::queue_full), and logged
    /// (at `debug` each, at `warn` at most once every 10 s with how many).
    ///
    /// This bounds the queue's memory: a waiting lead with an email and a click id holds about
    /// 530 bytes, a sale with a few fields about 540 (measured by the test
    /// `affitor/tests/queue_memory.rs`), so a full default queue holds about 9 MB,
    /// whatever the API does; an event being sent also holds its task and its connection's
    /// buffers until the API answers.
    ///
    /// ```
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .queue_capacity(10_000)
    ///     .build()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn queue_capacity(mut self, queue_capacity: usize) -> Self {
        self.queue_capacity = Some(queue_capacity);
        self
    }

    /// How many queued events the background worker sends at once (at least 1). Default
    /// 4,096: against an API that answers in 200 ms that is about 20,000 events a second. Each
    /// holds an HTTP connection to the API while it waits (a file descriptor: keep the
    /// process's limit, `ulimit -n`, above it). Lower it to spare the API or the descriptors;
    /// [`DeliveryStats::in_flight_limited`](crate::client::DeliveryStats::in_flight_limited) counts the
    /// events that had to wait for a free slot.
    ///
    /// ```
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_key")
    ///     .max_in_flight(256)
    ///     .build()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = Some(max_in_flight);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingApiKey`], [`ErrorKind::InvalidApiKey`], [`ErrorKind::InvalidBaseUrl`],
    /// or [`ErrorKind::HttpClient`] when the user agent is not a valid header value or the
    /// HTTP client cannot be built. An `https` base URL in a build of `affitor` without its
    /// `rustls` or `native-tls` feature, and no client of your own
    /// ([`http_client`](Self::http_client)), is warned about here: every call would fail.
    ///
    /// ```
    /// use affitor::{Client, client::ErrorKind};
    ///
    /// let error = Client::builder()
    ///     .api_key("aff_key")
    ///     .base_url("http://api.example.com")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::InvalidBaseUrl);
    /// ```
    pub fn build(self) -> Result<Client, Error> {
        let api_key = self
            .api_key
            .filter(|key| !key.expose().is_empty())
            .ok_or_else(|| Error::new(ErrorKind::MissingApiKey))?;
        let mut bearer = HeaderValue::try_from(format!("Bearer {}", api_key.expose()))
            .ok()
            .filter(|_| api_key.expose().bytes().all(|byte| byte.is_ascii_graphic()))
            .ok_or_else(|| {
                Error::new(ErrorKind::InvalidApiKey)
                    .with_detail("holds characters that cannot be sent in an HTTP header")
            })?;
        bearer.set_sensitive(true);
        if api_key.expose().starts_with("affk_") {
            tracing::warn!(
                "the Affitor API key is a management key (affk_); tracking calls need the \
                 program key (aff_) and will be refused with 401"
            );
        }

        let BaseUrl {
            url: base_url,
            local,
        } = parse_base_url(
            self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL),
            self.allow_insecure_http,
        )?;
        if base_url.starts_with("https:")
            && self.http_client.is_none()
            && !cfg!(any(feature = "rustls", feature = "native-tls"))
        {
            // Warned, not refused: a client built for what needs no call (tests, a CLI's
            // offline commands) still builds.
            tracing::warn!(
                "`affitor` is built without TLS: every call to {base_url} will fail — enable its \
                 feature `rustls` (a default one) or `native-tls`, or give a client with TLS to \
                 `ClientBuilder::http_client`"
            );
        }
        let url = |path: &str| {
            Url::parse(&format!("{base_url}{path}")).map_err(|error| {
                Error::new(ErrorKind::InvalidBaseUrl)
                    .with_detail(format!("it does not make a valid endpoint URL ({error})"))
            })
        };
        let urls = [
            url(Endpoint::ALL[0].path())?,
            url(Endpoint::ALL[1].path())?,
            url(Endpoint::ALL[2].path())?,
            url(Endpoint::ALL[3].path())?,
            url(Endpoint::ALL[4].path())?,
            url(Endpoint::ALL[5].path())?,
        ];
        let readiness_recheck_url = url(&format!(
            "{}?force_recheck=true",
            Endpoint::Readiness.path()
        ))?;

        let user_agent = match self.user_agent {
            Some(user_agent) => HeaderValue::try_from(user_agent).map_err(|error| {
                Error::new(ErrorKind::HttpClient)
                    .with_detail("the user agent is not a valid header value")
                    .with_source(error)
            })?,
            None => HeaderValue::from_static(concat!("affitor-rs/", env!("CARGO_PKG_VERSION"))),
        };

        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        // An API on this machine is never reached through the environment's proxy, which
        // would see the key in clear text over plain http.
        let http = match self.http_client {
            Some(http) => http,
            None => own_http_client(timeout, local)?,
        };

        let transport = Arc::new(Transport {
            http,
            urls,
            readiness_recheck_url,
            api_key,
            bearer,
            user_agent,
            timeout,
            retry: self.retry,
        });
        let memory = Arc::new(Delivery::new(
            self.queue_capacity.unwrap_or(DEFAULT_CAPACITY),
            self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            Arc::clone(&transport),
        ));
        Ok(Client {
            backend: Arc::clone(&memory) as Arc<dyn Backend>,
            inner: Arc::new(Inner {
                transport,
                base_url,
                test_mode: self.test_mode,
                program_id: self.program_id,
                memory,
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .field("test_mode", &self.test_mode)
            .field("program_id", &self.program_id)
            .field("http_client", &self.http_client.as_ref().map(|_| "custom"))
            .field("queue_capacity", &self.queue_capacity)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// The variable that allows plain `http://` to a host that is not loopback.
const INSECURE_HTTP_VARIABLE: &str = "AFFITOR_ALLOW_INSECURE_HTTP";

/// Whether a variable's `value` says yes: `1`, `true`, `yes` or `on`, in any case.
fn is_yes(value: &str) -> bool {
    ["1", "true", "yes", "on"]
        .iter()
        .any(|yes| value.trim().eq_ignore_ascii_case(yes))
}

/// A checked base URL.
#[derive(Debug)]
struct BaseUrl {
    /// The URL without trailing `/`.
    url: String,
    /// Whether its host is this machine.
    local: bool,
}

/// Checks a base URL.
fn parse_base_url(input: &str, allow_insecure_http: bool) -> Result<BaseUrl, Error> {
    let invalid = |detail: String| Error::new(ErrorKind::InvalidBaseUrl).with_detail(detail);
    let trimmed = input.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|error| {
        invalid(format!(
            "it does not parse as a URL ({error}) — expected something like {DEFAULT_BASE_URL}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme `{}` is not supported — use https://",
            url.scheme().chars().take(16).collect::<String>()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "it carries credentials — remove the `user:password@` part; the API key goes in \
             AFFITOR_API_KEY"
                .to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "it has a query or a fragment — give only the scheme, the host, the port and an \
             optional path prefix"
                .to_owned(),
        ));
    }
    let Some(host) = url.host_str().filter(|host| !host.is_empty()) else {
        return Err(invalid("it has no host".to_owned()));
    };
    let local = is_loopback(host);
    if url.scheme() == "http" && !local && !allow_insecure_http {
        return Err(invalid(format!(
            "plain http:// to `{host}` would send the API key unencrypted — use https://, or, \
             on a network you trust, set {INSECURE_HTTP_VARIABLE}=1 (in code, \
             `allow_insecure_http(true)`)"
        )));
    }
    Ok(BaseUrl {
        url: url.as_str().trim_end_matches('/').to_owned(),
        local,
    })
}

/// Whether a URL's `host` is this machine: `localhost`, or a loopback address.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "aff_live_5up3r_s3cret";

    #[test]
    fn base_url_defaults_and_trailing_slash() {
        let client = Client::builder().api_key(KEY).build().unwrap();
        assert_eq!(client.base_url(), "https://api.affitor.com");
        assert_eq!(
            client.inner.transport.urls[Endpoint::Sale.index()].as_str(),
            "https://api.affitor.com/api/v1/track/sale"
        );
        let client = Client::builder()
            .api_key(KEY)
            .base_url("https://proxy.example/affitor//")
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "https://proxy.example/affitor");
        assert_eq!(
            client.inner.transport.readiness_recheck_url.as_str(),
            "https://proxy.example/affitor/api/v1/programs/me/readiness?force_recheck=true"
        );
    }

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://[::1]:3000/",
            "http://localhost:3000",
            "http://LOCALHOST",
        ] {
            assert!(parse_base_url(ok, false).is_ok(), "{ok}");
        }
        for refused in ["http://api.affitor.com", "http://10.0.0.1", "http://[::2]"] {
            let error = parse_base_url(refused, false).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidBaseUrl);
            assert!(error.to_string().contains("allow_insecure_http"), "{error}");
            assert!(parse_base_url(refused, true).is_ok(), "{refused}");
        }
    }

    #[test]
    fn bad_base_urls() {
        for bad in [
            "",
            "api.affitor.com",
            "ftp://api.affitor.com",
            "https://user:pw@api.affitor.com",
            "https://api.affitor.com/?x=1",
            "https://api.affitor.com/#top",
            "file:///etc/passwd",
        ] {
            let error = parse_base_url(bad, false).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidBaseUrl, "{bad}");
            assert!(!error.to_string().contains("pw@"), "{error}");
        }
    }

    #[test]
    fn key_checks() {
        assert_eq!(
            Client::builder().build().unwrap_err().kind(),
            ErrorKind::MissingApiKey
        );
        assert_eq!(
            Client::builder().api_key("  ").build().unwrap_err().kind(),
            ErrorKind::MissingApiKey
        );
        let error = Client::builder().api_key("aff_a b").build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidApiKey);
        assert!(!error.to_string().contains("aff_a b"));
        let error = Client::builder().api_key("aff_\nx").build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidApiKey);
        // Whitespace around the key (a trailing newline in a secret file) is dropped.
        let client = Client::builder().api_key(" aff_k\n").build().unwrap();
        assert_eq!(client.inner.transport.api_key.expose(), "aff_k");
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let builder = Client::builder().api_key(KEY);
        let debug = format!("{builder:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("ApiKey(aff_…redacted)"), "{debug}");
        let client = builder.build().unwrap();
        let debug = format!("{client:?} {:#?}", client.inner.transport.bearer);
        assert!(!debug.contains("s3cret"), "{debug}");
        let request = format!("{:?}", client.sale("in_1", 1).customer_key("u"));
        assert!(!request.contains("s3cret"), "{request}");
    }

    #[test]
    fn user_agent() {
        let client = Client::builder().api_key(KEY).build().unwrap();
        assert_eq!(
            client.inner.transport.user_agent,
            concat!("affitor-rs/", env!("CARGO_PKG_VERSION"))
        );
        let error = Client::builder()
            .api_key(KEY)
            .user_agent("bad\nagent")
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::HttpClient);
        assert!(error.to_string().contains("user agent"), "{error}");
    }

    #[test]
    fn from_env_reads_the_documented_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let client = ClientBuilder::from_variables(env(&[
            ("AFFITOR_API_KEY", "aff_env"),
            ("AFFITOR_API_URL", "http://127.0.0.1:9/"),
            ("AFFITOR_API_BASE", "https://ignored.example"),
        ]))
        .build()
        .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9");
        assert_eq!(client.inner.transport.api_key.expose(), "aff_env");
        let client = ClientBuilder::from_variables(env(&[
            ("AFFITOR_API_KEY", "aff_env"),
            ("AFFITOR_API_URL", ""),
            ("AFFITOR_API_BASE", "https://alias.example"),
        ]))
        .build()
        .unwrap();
        assert_eq!(client.base_url(), "https://alias.example");
        let client = ClientBuilder::from_variables(env(&[("AFFITOR_API_KEY", "aff_env")]))
            .build()
            .unwrap();
        assert_eq!(client.base_url(), DEFAULT_BASE_URL);
        let error = ClientBuilder::from_variables(env(&[])).build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::MissingApiKey);
        assert!(error.to_string().contains("AFFITOR_API_KEY"));

        // Plain http:// to another machine: refused, naming the variable that allows it.
        const REMOTE: &[(&str, &str)] = &[
            ("AFFITOR_API_KEY", "aff_env"),
            ("AFFITOR_API_URL", "http://mock:4010"),
        ];
        let error = ClientBuilder::from_variables(env(REMOTE))
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidBaseUrl);
        assert!(
            error.to_string().contains("AFFITOR_ALLOW_INSECURE_HTTP=1"),
            "{error}"
        );
        for (yes, allowed) in [("1", true), ("On", true), ("0", false), ("no", false)] {
            let lookup = |name: &str| match name {
                "AFFITOR_ALLOW_INSECURE_HTTP" => Some(yes.to_owned()),
                name => env(REMOTE)(name),
            };
            let built = ClientBuilder::from_variables(lookup).build();
            assert_eq!(built.is_ok(), allowed, "{yes}");
        }
    }

    #[test]
    fn a_builder_from_the_environment_takes_the_other_settings() {
        let env = |name: &str| (name == "AFFITOR_API_KEY").then(|| "aff_env".to_owned());
        let client = ClientBuilder::from_variables(env)
            .user_agent("my-shop/1.0")
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        let transport = &client.inner.transport;
        assert_eq!(transport.api_key.expose(), "aff_env");
        assert_eq!(transport.user_agent, "my-shop/1.0");
        assert_eq!(transport.timeout, Duration::from_secs(3));
        // A setter after the environment wins over it.
        let client = ClientBuilder::from_variables(env)
            .api_key("aff_code")
            .build()
            .unwrap();
        assert_eq!(client.inner.transport.api_key.expose(), "aff_code");
    }
}
