//! A lead: a signup tied to the click that brought the visitor (`POST /api/v1/track/lead`).

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::answer::{Answer, TestData};
use super::endpoint::Endpoint;
use super::error::Error;
use super::lenient;
use super::request::{Redacted, check_key, missing_customer, non_empty, with_test_mode};
use super::transport::{Call, json_body};
use super::{Client, Outcome};
use crate::ClickId;

/// A lead: a signup tied to the click that brought the visitor. Made by [`Client::lead`].
///
/// ```
/// # async fn signup(client: affitor::Client, click_id: Option<affitor::ClickId>) -> Result<(), affitor::Error> {
/// use affitor::client::LeadOutcome;
///
/// let outcome = client
///     .lead("user_123")
///     .click_id(click_id)
///     .email("ada@example.com")
///     .send()
///     .await?;
/// assert!(matches!(outcome, LeadOutcome::Tracked | LeadOutcome::Provisional | LeadOutcome::Test { .. }));
/// # Ok(())
/// # }
/// ```
#[must_use = "a lead does nothing until you call `send`"]
#[derive(Debug)]
pub struct LeadRequest {
    pub(super) client: Client,
    payload: LeadPayload,
    event_name: Option<String>,
    test_mode: bool,
}

impl LeadRequest {
    pub(super) fn new(client: Client, customer_key: String) -> Self {
        Self {
            client,
            payload: LeadPayload {
                customer_key: non_empty(customer_key),
                ..LeadPayload::default()
            },
            event_name: None,
            test_mode: false,
        }
    }

    /// The click id from the visitor's `affitor_click_id` cookie. `None` leaves it unset.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let click_id: affitor::ClickId = "cust_42_1714000000000".parse()?;
    /// client.lead("user_123").click_id(click_id).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn click_id(mut self, click_id: impl Into<Option<ClickId>>) -> Self {
        self.payload.click_id = click_id.into();
        self
    }

    /// The user's email. The API hashes it before storing it; the client never logs it.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.lead("user_123").email("ada@example.com").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.payload.email = non_empty(email);
        self
    }

    /// The browser session id.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.lead("user_123").session_id("sess_abc_1714000000000").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.payload.session_id = non_empty(session_id);
        self
    }

    /// The page the signup happened on.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.lead("user_123").page_url("https://shop.example/signup").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn page_url(mut self, page_url: impl Into<String>) -> Self {
        self.payload.page_url = non_empty(page_url);
        self
    }

    /// Earlier click ids of the visitor (the tracker's `affitor_click_ids` cookie), oldest
    /// first.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let earlier = ["cust_1_1".parse()?, "cust_1_2".parse()?];
    /// client.lead("user_123").click_ids(earlier).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn click_ids(mut self, click_ids: impl IntoIterator<Item = ClickId>) -> Self {
        self.payload.click_ids = click_ids.into_iter().collect();
        self
    }

    /// A label for the event, sent as `additional_data.event_name`.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.lead("user_123").event_name("signup").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn event_name(mut self, event_name: impl Into<String>) -> Self {
        self.event_name = non_empty(event_name);
        self
    }

    /// Extra data stored with the lead (`additional_data`), as the Node SDK's
    /// `trackLead({ additionalData })`. [`event_name`](Self::event_name) and
    /// [`test_mode`](Self::test_mode) are added to it, over a field of the same name; a
    /// `test_mode` of its own is left out of a live call: whether a lead is a test is the
    /// client's or the call's decision, never the data's (a visitor's form field must not make
    /// their lead one).
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut data = serde_json::Map::new();
    /// data.insert("plan".into(), "pro".into());
    /// data.insert("utm_source".into(), "newsletter".into());
    /// client.lead("user_123").additional_data(data).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn additional_data(mut self, additional_data: Map<String, Value>) -> Self {
        self.payload.additional_data = Some(additional_data);
        self
    }

    /// Sends this lead as a test event (`additional_data.test_mode`), as the client's
    /// [`test_mode`](crate::client::ClientBuilder::test_mode) does for every call: Affitor
    /// records it apart (`is_test`) and it never touches attribution. For trying a signup flow
    /// against the live API.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::LeadOutcome;
    ///
    /// let outcome = client.lead("user_123").test_mode(true).send().await?;
    /// assert!(matches!(outcome, LeadOutcome::Test { .. }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn test_mode(mut self, test_mode: bool) -> Self {
        self.test_mode = test_mode;
        self
    }

    /// Sends the lead, with retries, and says what the API did with it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingCustomer`](crate::client::ErrorKind::MissingCustomer) before any I/O when there is neither a customer key nor a
    /// click id, [`ErrorKind::InvalidKey`](crate::client::ErrorKind::InvalidKey) when the
    /// customer key holds a NUL character or is longer than 1,024 bytes; otherwise the API's
    /// refusal or the transport failure (see [`Error`]).
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::LeadOutcome;
    ///
    /// match client.lead("user_123").email("ada@example.com").send().await? {
    ///     LeadOutcome::Tracked => println!("lead tracked"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<LeadOutcome, Error> {
        let (client, payload) = self.into_payload()?;
        let answer = client.transport().call(&payload).await;
        client.sent(payload, &answer, Outcome::Lead);
        answer
    }

    /// Validates the lead and returns the client and the payload to send.
    pub(super) fn into_payload(self) -> Result<(Client, LeadPayload), Error> {
        let Self {
            client,
            mut payload,
            event_name,
            test_mode,
        } = self;
        if payload.customer_key.is_none() && payload.click_id.is_none() {
            return Err(missing_customer(Endpoint::Lead));
        }
        let customer_key = payload.customer_key.as_deref();
        check_key(Endpoint::Lead, "customer key", customer_key)?;
        let mut data = payload.additional_data.take().unwrap_or_default();
        if let Some(event_name) = event_name {
            data.insert("event_name".to_owned(), Value::String(event_name));
        }
        let test_mode = test_mode || client.test_mode();
        payload.additional_data = with_test_mode(test_mode, Some(data));
        Ok((client, payload))
    }
}

/// The body of `POST /api/v1/track/lead`. Unset fields are omitted, never `null`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct LeadPayload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) customer_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) click_id: Option<ClickId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) page_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) click_ids: Vec<ClickId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) additional_data: Option<Map<String, Value>>,
}

impl fmt::Debug for LeadPayload {
    // The customer key and the email are personal data: shown only as present or not. Every
    // field is named here, so that a new one cannot be left out without a compile error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            customer_key,
            click_id,
            email,
            session_id,
            page_url,
            click_ids,
            additional_data,
        } = self;
        f.debug_struct("LeadPayload")
            .field("customer_key", &customer_key.as_ref().map(|_| Redacted))
            .field("click_id", click_id)
            .field("email", &email.as_ref().map(|_| Redacted))
            .field("session_id", session_id)
            .field("page_url", page_url)
            .field("click_ids", &click_ids.len())
            .field("additional_data", additional_data)
            .finish()
    }
}

/// What the API did with a lead.
///
/// ```
/// use affitor::client::LeadOutcome;
/// assert_ne!(LeadOutcome::Tracked, LeadOutcome::Provisional);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeadOutcome {
    /// The lead is recorded and tied to the customer.
    Tracked,
    /// The lead is recorded as provisional: the program requires a server-side lead to settle
    /// attribution. (The client always sends the key, so this is rare.)
    Provisional,
    /// A test-mode event was stored.
    #[non_exhaustive]
    Test {
        /// The id of the test event, when given.
        event_id: Option<u64>,
    },
}

/// What the client reads of the API's answer to a lead.
#[derive(Debug, Deserialize)]
struct LeadAnswer {
    #[serde(default, deserialize_with = "lenient::flag")]
    success: Option<bool>,
    #[serde(default, deserialize_with = "lenient::flag")]
    provisional: Option<bool>,
    #[serde(default, deserialize_with = "lenient::object")]
    data: Option<TestData>,
}

/// Reads the answer to a lead.
pub(super) fn decode(answer: &Answer, key: &str) -> Result<LeadOutcome, Error> {
    let wire: LeadAnswer = answer.read(Endpoint::Lead)?;
    if let Some(event_id) = TestData::event(wire.data.as_ref()) {
        return Ok(LeadOutcome::Test { event_id });
    }
    if wire.success == Some(false) {
        return Err(answer.refusal(Endpoint::Lead, key));
    }
    if wire.provisional == Some(true) {
        return Ok(LeadOutcome::Provisional);
    }
    Ok(LeadOutcome::Tracked)
}

impl Call for LeadPayload {
    const ENDPOINT: Endpoint = Endpoint::Lead;
    type Outcome = LeadOutcome;

    fn body(&self) -> Result<Option<Bytes>, serde_json::Error> {
        json_body(self)
    }

    fn decode(&self, answer: &Answer, key: &str) -> Result<LeadOutcome, Error> {
        decode(answer, key)
    }

    fn label(outcome: &LeadOutcome) -> &'static str {
        match outcome {
            LeadOutcome::Tracked => "tracked",
            LeadOutcome::Provisional => "provisional",
            LeadOutcome::Test { .. } => "test",
        }
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::client::ErrorKind;
    use crate::client::request::tests::{body, client, test_client};

    const KEY: &str = "aff_test_key";

    fn answer(body: &str) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: Bytes::from(body.to_owned()),
            after_uncertain_attempt: false,
        }
    }

    fn click_id(value: &str) -> ClickId {
        value.parse().unwrap()
    }

    #[test]
    fn bodies_omit_unset_and_empty_fields() {
        let (_, lead) = client().lead("user_1").into_payload().unwrap();
        assert_eq!(body(&lead), json!({"customer_key": "user_1"}));
        let (_, lead) = client()
            .lead("user_1")
            .click_id(None)
            .email("")
            .session_id("  ")
            .event_name("")
            .into_payload()
            .unwrap();
        assert_eq!(body(&lead), json!({"customer_key": "user_1"}));
    }

    #[test]
    fn full_body() {
        let (_, lead) = client()
            .lead("user_1")
            .click_id(click_id("c1"))
            .email("a@example.com")
            .session_id("sess_1")
            .page_url("https://shop.example/signup")
            .click_ids([click_id("c0"), click_id("c1")])
            .event_name("signup")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&lead),
            json!({
                "customer_key": "user_1", "click_id": "c1", "email": "a@example.com",
                "session_id": "sess_1", "page_url": "https://shop.example/signup",
                "click_ids": ["c0", "c1"], "additional_data": {"event_name": "signup"}
            })
        );
    }

    #[test]
    fn test_mode_is_added_to_additional_data() {
        let (_, lead) = test_client()
            .lead("user_1")
            .event_name("signup")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&lead)["additional_data"],
            json!({"event_name": "signup", "test_mode": true})
        );
    }

    #[test]
    fn additional_data_is_kept_and_completed() {
        let mut data = Map::new();
        data.insert("plan".to_owned(), json!("pro"));
        data.insert("event_name".to_owned(), json!("overridden"));
        let (_, lead) = client()
            .lead("user_1")
            .additional_data(data.clone())
            .event_name("signup")
            .test_mode(true)
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&lead)["additional_data"],
            json!({"plan": "pro", "event_name": "signup", "test_mode": true})
        );
        // Without an event name, the caller's own `event_name` stays; outside test mode, no flag.
        let (_, lead) = client()
            .lead("user_1")
            .additional_data(data)
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&lead)["additional_data"],
            json!({"plan": "pro", "event_name": "overridden"})
        );
        // An empty map sends nothing; a per-call test mode alone sends the flag.
        let (_, lead) = client()
            .lead("user_1")
            .additional_data(Map::new())
            .into_payload()
            .unwrap();
        assert_eq!(body(&lead), json!({"customer_key": "user_1"}));
        let (_, lead) = client()
            .lead("user_1")
            .test_mode(true)
            .into_payload()
            .unwrap();
        assert_eq!(body(&lead)["additional_data"], json!({"test_mode": true}));
        // A per-call `false` does not turn the client's test mode off.
        let (_, lead) = test_client()
            .lead("user_1")
            .test_mode(false)
            .into_payload()
            .unwrap();
        assert_eq!(body(&lead)["additional_data"], json!({"test_mode": true}));
    }

    /// An app that forwards a signup form's fields as `additional_data` must not let a visitor
    /// mark their own lead as a test (which credits no partner): the data's `test_mode` is left
    /// out of a live call, whatever its value; the client's or the call's test mode sets it.
    #[test]
    fn the_datas_own_test_mode_never_makes_a_live_call_a_test() {
        for forged in [json!(true), json!("true"), json!(1), json!(false)] {
            let mut form = Map::new();
            form.insert("utm_source".to_owned(), json!("newsletter"));
            form.insert("test_mode".to_owned(), forged.clone());
            let (_, lead) = client()
                .lead("user_1")
                .additional_data(form.clone())
                .into_payload()
                .unwrap();
            assert_eq!(
                body(&lead)["additional_data"],
                json!({"utm_source": "newsletter"}),
                "{forged}"
            );
            let (_, sale) = client()
                .sale("in_1", 4900)
                .customer_key("user_1")
                .additional_data(form.clone())
                .into_payload()
                .unwrap();
            assert_eq!(
                body(&sale)["additional_data"],
                json!({"utm_source": "newsletter"}),
                "{forged}"
            );
            let (_, test) = test_client()
                .lead("user_1")
                .additional_data(form)
                .into_payload()
                .unwrap();
            assert_eq!(
                body(&test)["additional_data"]["test_mode"],
                json!(true),
                "{forged}"
            );
        }
    }

    #[test]
    fn a_lead_needs_a_customer_key_or_a_click_id() {
        let error = client().lead("").into_payload().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::MissingCustomer);
        assert!(
            error
                .to_string()
                .starts_with("a lead needs a customer key or a click id")
        );
        assert!(
            client()
                .lead("")
                .click_id(click_id("c1"))
                .into_payload()
                .is_ok()
        );
    }

    #[test]
    fn debug_hides_personal_data() {
        let (_, lead) = client()
            .lead("user_secret_id")
            .email("ada@example.com")
            .into_payload()
            .unwrap();
        let debug = format!("{lead:?}");
        assert!(!debug.contains("ada@example.com"), "{debug}");
        assert!(!debug.contains("user_secret_id"), "{debug}");
        let builder = format!("{:?}", client().lead("u").email("ada@example.com"));
        assert!(!builder.contains("ada@"), "{builder}");
        assert!(!builder.contains("aff_test_key"), "{builder}");
    }

    #[test]
    fn outcomes() {
        assert_eq!(
            decode(
                &answer(r#"{"success":true,"message":"Lead tracked successfully"}"#),
                KEY
            )
            .unwrap(),
            LeadOutcome::Tracked
        );
        assert_eq!(
            decode(
                &answer(
                    r#"{"success":true,"provisional":true,"message":"Lead recorded as provisional. This program requires server-side (Bearer) lead tracking to settle attribution."}"#
                ),
                KEY
            )
            .unwrap(),
            LeadOutcome::Provisional
        );
        assert_eq!(
            decode(
                &answer(
                    r#"{"success":true,"message":"Test lead event tracked successfully","data":{"eventId":77,"programId":42,"test_mode":true}}"#
                ),
                KEY
            )
            .unwrap(),
            LeadOutcome::Test { event_id: Some(77) }
        );
        assert_eq!(
            decode(&answer(r#"{"data":{"test_mode":true}}"#), KEY).unwrap(),
            LeadOutcome::Test { event_id: None }
        );
        assert_eq!(decode(&answer("{}"), KEY).unwrap(), LeadOutcome::Tracked);
        let refused = decode(&answer(r#"{"success":false,"error":"nope"}"#), KEY).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Rejected);
    }
}
