//! A click reported from the server (`POST /api/v1/track/click`), for when the browser
//! tracker cannot run.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::answer::{Answer, TestData};
use super::endpoint::Endpoint;
use super::error::{Error, ErrorKind, clean_message};
use super::lenient;
use super::request::{non_empty, with_test_mode};
use super::transport::{Call, json_body};
use super::{Client, Outcome};
use crate::ClickId;

/// The cookie lifetime assumed when a click answer does not give one, in days.
const DEFAULT_COOKIE_WINDOW_DAYS: u32 = 60;

/// A click reported from the server, for when the browser tracker cannot run. Made by
/// [`Client::click`]. It is sent without the API key: the `aff` code is its credential.
///
/// ```
/// # async fn landed(client: affitor::Client) -> Result<(), affitor::Error> {
/// use affitor::client::ClickOutcome;
///
/// let outcome = client
///     .click("https://shop.example/pricing?aff=abc123")
///     .page_title("Pricing")
///     .referrer_url("https://news.example/")
///     .user_agent("Mozilla/5.0")
///     .send()
///     .await?;
/// if let ClickOutcome::Recorded { click_id, cookie_window_days, .. } = outcome {
///     println!("set affitor_click_id={click_id} for {cookie_window_days} days");
/// }
/// # Ok(())
/// # }
/// ```
#[must_use = "a click does nothing until you call `send`"]
#[derive(Debug)]
pub struct ClickRequest {
    pub(super) client: Client,
    payload: ClickPayload,
}

impl ClickRequest {
    pub(super) fn new(client: Client, affiliate_url: String) -> Self {
        Self {
            client,
            payload: ClickPayload {
                affiliate_url: non_empty(affiliate_url),
                ..ClickPayload::default()
            },
        }
    }

    /// The page the visitor landed on.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").page_url("https://shop.example/").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn page_url(mut self, page_url: impl Into<String>) -> Self {
        self.payload.page_url = non_empty(page_url);
        self
    }

    /// The title of that page.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").page_title("Pricing").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn page_title(mut self, page_title: impl Into<String>) -> Self {
        self.payload.page_title = non_empty(page_title);
        self
    }

    /// The page the visitor came from.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").referrer_url("https://news.example/").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn referrer_url(mut self, referrer_url: impl Into<String>) -> Self {
        self.payload.referrer_url = non_empty(referrer_url);
        self
    }

    /// The browser session id.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").session_id("sess_xyz_1234").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.payload.session_id = non_empty(session_id);
        self
    }

    /// The visitor's `User-Agent`. Without it the API records the client's own.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").user_agent("Mozilla/5.0").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.payload.user_agent = non_empty(user_agent);
        self
    }

    /// The screen size, such as `1920x1080`.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").screen_resolution("1920x1080").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn screen_resolution(mut self, screen_resolution: impl Into<String>) -> Self {
        self.payload.screen_resolution = non_empty(screen_resolution);
        self
    }

    /// The browser viewport size, such as `1440x900`.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").viewport_size("1440x900").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn viewport_size(mut self, viewport_size: impl Into<String>) -> Self {
        self.payload.viewport_size = non_empty(viewport_size);
        self
    }

    /// The browser language, such as `en-US`.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").language("en-US").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.payload.language = non_empty(language);
        self
    }

    /// The browser time zone, such as `America/New_York`.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.click("https://shop.example/?aff=abc").timezone("America/New_York").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn timezone(mut self, timezone: impl Into<String>) -> Self {
        self.payload.timezone = non_empty(timezone);
        self
    }

    /// The click id the visitor already has: the API reuses that customer (the new partner
    /// still wins). `None` leaves it unset.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let earlier: affitor::ClickId = "cust_42_1714000000000".parse()?;
    /// client.click("https://shop.example/?aff=new").existing_click_id(earlier).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn existing_click_id(mut self, click_id: impl Into<Option<ClickId>>) -> Self {
        self.payload.existing_click_id = click_id.into();
        self
    }

    /// Whether the visitor had consented to tracking when the click was captured: kept with
    /// the click's [`Event`](crate::client::Event) for a backend that records what was sent
    /// (an outbox's attribution journal), never sent to the API. `affitor-tower`'s capture
    /// layer sets it from its consent predicate.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use affitor::client::Consent;
    ///
    /// client.click("https://shop.example/?aff=abc").consent(Consent::Given).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn consent(mut self, consent: Consent) -> Self {
        self.payload.consent = Some(consent);
        self
    }

    /// Sends the click, with retries, and says what the API did with it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingAffiliateUrl`] before any I/O when the affiliate URL is empty
    /// (outside test mode); otherwise the API's refusal or the transport failure.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::ClickOutcome;
    ///
    /// let outcome = client.click("https://shop.example/?aff=abc123").send().await?;
    /// if let ClickOutcome::Inactive { message, .. } = outcome {
    ///     println!("link inactive: {message}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<ClickOutcome, Error> {
        let (client, payload) = self.into_payload()?;
        let answer = client.transport().call(&payload).await;
        client.sent(payload, &answer, Outcome::Click);
        answer
    }

    /// Validates the click and returns the client and the payload to send.
    pub(super) fn into_payload(self) -> Result<(Client, ClickPayload), Error> {
        let Self {
            client,
            mut payload,
        } = self;
        if payload.affiliate_url.is_none() && !client.test_mode() {
            return Err(Error::new(ErrorKind::MissingAffiliateUrl).with_endpoint(Endpoint::Click));
        }
        let mut additional_data = Map::new();
        // The one call without the key: in test mode, the program id links the test event.
        if let (true, Some(program_id)) = (client.test_mode(), &client.inner.program_id) {
            additional_data.insert("program_id".to_owned(), Value::from(program_id.as_str()));
        }
        payload.additional_data = with_test_mode(client.test_mode(), Some(additional_data));
        Ok((client, payload))
    }
}

/// The body of `POST /api/v1/track/click`. Unset fields are omitted, never `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct ClickPayload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) affiliate_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) page_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) page_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) referrer_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) screen_resolution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) viewport_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) existing_click_id: Option<ClickId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) additional_data: Option<Map<String, Value>>,
    /// Kept for the backend's record, never sent.
    #[serde(skip)]
    pub(super) consent: Option<Consent>,
}

/// Whether a visitor had consented to tracking when their click was captured: what
/// [`ClickRequest::consent`] keeps with a click, and an outbox's attribution journal shows.
///
/// ```
/// use affitor::client::Consent;
///
/// assert_eq!(Consent::GivenAfterLanding.as_str(), "given after landing");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Consent {
    /// No consent was asked: the app captures every partner link (no consent predicate).
    NotAsked,
    /// The visitor had consented when they landed.
    Given,
    /// The visitor consented after landing: the click was held until then, and recorded with
    /// the landing's facts.
    GivenAfterLanding,
}

impl Consent {
    /// Its name in words: `not asked`, `given` or `given after landing`.
    ///
    /// ```
    /// assert_eq!(affitor::client::Consent::NotAsked.as_str(), "not asked");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAsked => "not asked",
            Self::Given => "given",
            Self::GivenAfterLanding => "given after landing",
        }
    }
}

/// What the API did with a click.
///
/// ```
/// use affitor::client::ClickOutcome;
///
/// fn cookie_days(outcome: &ClickOutcome) -> Option<u32> {
///     match outcome {
///         ClickOutcome::Recorded { cookie_window_days, .. } => Some(*cookie_window_days),
///         _ => None,
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClickOutcome {
    /// The click is recorded: store `click_id` in the `affitor_click_id` cookie for
    /// `cookie_window_days` days.
    #[non_exhaustive]
    Recorded {
        /// The click id to store.
        click_id: ClickId,
        /// The partner's code, when given.
        partner_code: Option<String>,
        /// The cookie lifetime in days (60 when the answer does not say).
        cookie_window_days: u32,
    },
    /// Nothing was recorded (`success: false`): the API's answer for a referral link that
    /// exists but is inactive, whose `message` then says so.
    #[non_exhaustive]
    Inactive {
        /// The API's message, such as `"Referral link is inactive"`; when the answer gave none,
        /// a sentence saying so (it is not taken to mean an inactive link).
        message: String,
    },
    /// A test-mode event was stored.
    #[non_exhaustive]
    Test {
        /// The id of the test event, when given.
        event_id: Option<u64>,
    },
}

/// What the client reads of the API's answer to a click.
#[derive(Debug, Deserialize)]
struct ClickAnswer {
    #[serde(default, deserialize_with = "lenient::flag")]
    success: Option<bool>,
    #[serde(default, deserialize_with = "lenient::text")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::any_text")]
    click_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    partner_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::small")]
    cookie_window_days: Option<u32>,
    #[serde(default, deserialize_with = "lenient::object")]
    data: Option<TestData>,
}

/// Reads the answer to a click.
pub(super) fn decode(answer: &Answer, key: &str) -> Result<ClickOutcome, Error> {
    let wire: ClickAnswer = answer.read(Endpoint::Click)?;
    if let Some(event_id) = TestData::event(wire.data.as_ref()) {
        return Ok(ClickOutcome::Test { event_id });
    }
    if wire.success == Some(false) {
        return Ok(ClickOutcome::Inactive {
            message: wire.message.map_or_else(
                || "`success: false`, with no message".to_owned(),
                |message| clean_message(&message, key),
            ),
        });
    }
    let Some(click_id) = wire.click_id else {
        return Err(Error::decode(Endpoint::Click, "the answer has no click_id"));
    };
    let click_id = click_id.parse::<ClickId>().map_err(|reason| {
        Error::decode(
            Endpoint::Click,
            format!("the returned click_id is invalid ({reason})"),
        )
    })?;
    Ok(ClickOutcome::Recorded {
        click_id,
        partner_code: wire.partner_code.map(|code| clean_message(&code, key)),
        cookie_window_days: wire
            .cookie_window_days
            .filter(|days| *days > 0)
            .unwrap_or(DEFAULT_COOKIE_WINDOW_DAYS),
    })
}

impl Call for ClickPayload {
    const ENDPOINT: Endpoint = Endpoint::Click;
    type Outcome = ClickOutcome;

    fn body(&self) -> Result<Option<Bytes>, serde_json::Error> {
        json_body(self)
    }

    fn decode(&self, answer: &Answer, key: &str) -> Result<ClickOutcome, Error> {
        decode(answer, key)
    }

    fn label(outcome: &ClickOutcome) -> &'static str {
        match outcome {
            ClickOutcome::Recorded { .. } => "recorded",
            ClickOutcome::Inactive { .. } => "inactive",
            ClickOutcome::Test { .. } => "test",
        }
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::client::request::tests::{body, client, test_client};

    const KEY: &str = "aff_test_key";

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_owned()),
            after_uncertain_attempt: false,
        }
    }

    const TEST_MODE: &str = r#"{"success":true,"message":"Test sale event tracked successfully","data":{"eventId":77,"programId":42,"test_mode":true}}"#;

    #[test]
    fn bodies() {
        let (_, click) = client()
            .click("https://shop.example/?aff=abc")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&click),
            json!({"affiliate_url": "https://shop.example/?aff=abc"})
        );
        let (_, click) = client()
            .click("https://shop.example/?aff=abc")
            .page_url("https://shop.example/?aff=abc")
            .page_title("Home")
            .referrer_url("https://ref.example/")
            .session_id("sess_1")
            .user_agent("UA/1")
            .screen_resolution("1920x1080")
            .viewport_size("1440x900")
            .language("en-US")
            .timezone("Europe/Paris")
            .existing_click_id("c0".parse::<ClickId>().unwrap())
            .consent(Consent::Given) // kept for the journal, never sent
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&click),
            json!({
                "affiliate_url": "https://shop.example/?aff=abc",
                "page_url": "https://shop.example/?aff=abc", "page_title": "Home",
                "referrer_url": "https://ref.example/", "session_id": "sess_1",
                "user_agent": "UA/1", "screen_resolution": "1920x1080",
                "viewport_size": "1440x900", "language": "en-US", "timezone": "Europe/Paris",
                "existing_click_id": "c0"
            })
        );
    }

    #[test]
    fn test_mode_needs_no_affiliate_url() {
        let (_, click) = test_client().click("").into_payload().unwrap();
        assert_eq!(
            body(&click),
            json!({"additional_data": {"test_mode": true}})
        );
        assert_eq!(
            client().click(" ").into_payload().unwrap_err().kind(),
            ErrorKind::MissingAffiliateUrl
        );
    }

    #[test]
    fn click_outcomes() {
        assert_eq!(
            decode(
                &answer(
                    200,
                    r#"{"success":true,"click_id":"cust_42_1714000000000","partner_code":"abc123","cookie_window_days":90}"#
                ),
                KEY
            )
            .unwrap(),
            ClickOutcome::Recorded {
                click_id: "cust_42_1714000000000".parse().unwrap(),
                partner_code: Some("abc123".into()),
                cookie_window_days: 90
            }
        );
        assert_eq!(
            decode(&answer(200, r#"{"success":true,"click_id":"c1"}"#), KEY).unwrap(),
            ClickOutcome::Recorded {
                click_id: "c1".parse().unwrap(),
                partner_code: None,
                cookie_window_days: 60
            }
        );
        assert_eq!(
            decode(
                &answer(
                    200,
                    r#"{"success":false,"message":"Referral link is inactive"}"#
                ),
                KEY
            )
            .unwrap(),
            ClickOutcome::Inactive {
                message: "Referral link is inactive".into()
            }
        );
        // Without a message, it says nothing of the link.
        assert_eq!(
            decode(&answer(200, r#"{"success":false}"#), KEY).unwrap(),
            ClickOutcome::Inactive {
                message: "`success: false`, with no message".into()
            }
        );
        let mut test_click = TEST_MODE.replace("sale", "click");
        test_click.push(' ');
        assert_eq!(
            decode(&answer(200, &test_click), KEY).unwrap(),
            ClickOutcome::Test { event_id: Some(77) }
        );
        let missing = decode(&answer(200, r#"{"success":true}"#), KEY).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Decode);
        let invalid = decode(&answer(200, r#"{"click_id":"a b"}"#), KEY).unwrap_err();
        assert_eq!(invalid.kind(), ErrorKind::Decode);
        assert!(
            invalid.to_string().contains("click_id is invalid"),
            "{invalid}"
        );
    }
}
