//! A validated event held as a value: what a durable outbox writes to its store and sends later.

use std::fmt;
use std::sync::atomic::AtomicU64;

use super::Client;
use super::click::{ClickOutcome, ClickPayload, ClickRequest};
use super::endpoint::Endpoint;
use super::error::{Error, ErrorKind};
use super::lead::{LeadOutcome, LeadPayload, LeadRequest};
use super::refund::{RefundOutcome, RefundPayload, RefundRequest};
use super::request::check_key;
use super::sale::{SaleOutcome, SalePayload, SaleRequest};
use super::transport::Transport;

/// A validated tracking event (a lead, a sale, a refund or a click) held as a value, to be
/// sent later: what a durable outbox, such as the `affitor-outbox` crate, writes to its store.
///
/// Build one from a request with [`IntoEvent::into_event`], store its endpoint's
/// [`name`](Endpoint::name) and its [`to_json`](Self::to_json) body, read it back with
/// [`Event::from_json`], and send it with [`Client::send_event`]. The JSON is exactly the body
/// the API receives; the stored form holds no API key.
///
/// ```
/// use affitor::client::{Endpoint, Event, IntoEvent};
///
/// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
/// let event = client.sale("in_1001", 4900).customer_key("user_123").into_event()?;
/// let (endpoint, json) = (event.endpoint(), event.to_json());
/// assert_eq!(endpoint, Endpoint::Sale);
/// assert_eq!(event.transaction_id(), Some("in_1001"));
///
/// let read_back = Event::from_json(endpoint, &json)?;
/// assert_eq!(read_back, event);
/// # Ok(())
/// # }
/// # run(affitor::Client::builder().api_key("aff_key").build().unwrap()).unwrap();
/// ```
#[derive(Clone, PartialEq)]
pub struct Event {
    payload: Payload,
}

/// An event's validated body, for one tracking endpoint.
#[derive(Clone, Debug, PartialEq)]
enum Payload {
    Click(ClickPayload),
    Lead(LeadPayload),
    Sale(SalePayload),
    Refund(RefundPayload),
}

/// What the API did with an event: the outcome of its endpoint, as [`Client::send_event`]
/// answers it.
///
/// ```
/// use affitor::client::{Outcome, SaleOutcome};
///
/// let outcome = Outcome::Sale(SaleOutcome::AlreadyRecorded);
/// assert!(matches!(outcome, Outcome::Sale(sale) if sale.is_recorded()));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// A click's ([`ClickRequest::send`](crate::ClickRequest::send)).
    Click(ClickOutcome),
    /// A lead's ([`LeadRequest::send`](crate::LeadRequest::send)).
    Lead(LeadOutcome),
    /// A sale's ([`SaleRequest::send`](crate::SaleRequest::send)).
    Sale(SaleOutcome),
    /// A refund's ([`RefundRequest::send`](crate::RefundRequest::send)).
    Refund(RefundOutcome),
}

impl Event {
    /// Where the event goes: [`Endpoint::Click`], [`Endpoint::Lead`], [`Endpoint::Sale`] or
    /// [`Endpoint::Refund`].
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::{Endpoint, IntoEvent};
    ///
    /// assert_eq!(client.refund("in_1001").into_event()?.endpoint(), Endpoint::Refund);
    /// # Ok(())
    /// # }
    /// ```
    pub fn endpoint(&self) -> Endpoint {
        match self.payload {
            Payload::Click(_) => Endpoint::Click,
            Payload::Lead(_) => Endpoint::Lead,
            Payload::Sale(_) => Endpoint::Sale,
            Payload::Refund(_) => Endpoint::Refund,
        }
    }

    /// The transaction id of a sale or a refund: the sale's idempotency key, and what orders a
    /// refund after its sale. `None` for a lead or a click.
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::IntoEvent;
    ///
    /// assert_eq!(client.refund("in_1001").into_event()?.transaction_id(), Some("in_1001"));
    /// assert_eq!(client.lead("user_123").into_event()?.transaction_id(), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transaction_id(&self) -> Option<&str> {
        match &self.payload {
            Payload::Sale(sale) => Some(&sale.transaction_id),
            Payload::Refund(refund) => Some(&refund.transaction_id),
            Payload::Click(_) | Payload::Lead(_) => None,
        }
    }

    /// The other transaction id a refund's sale may be recorded under
    /// ([`RefundRequest::or_transaction_id`](crate::client::RefundRequest::or_transaction_id)),
    /// tried when Affitor knows no sale under the first. It is not part of
    /// [`to_json`](Self::to_json): a store keeps it beside the body, and gives it back with
    /// [`or_transaction_id`](Self::or_transaction_id).
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::IntoEvent;
    ///
    /// let refund = client.refund("in_1001").or_transaction_id("pi_3Q").into_event()?;
    /// assert_eq!(refund.other_transaction_id(), Some("pi_3Q"));
    /// assert_eq!(refund.to_json(), r#"{"transaction_id":"in_1001"}"#);
    /// # Ok(())
    /// # }
    /// ```
    pub fn other_transaction_id(&self) -> Option<&str> {
        match &self.payload {
            Payload::Refund(refund) => refund.other_transaction_id.as_deref(),
            Payload::Click(_) | Payload::Lead(_) | Payload::Sale(_) => None,
        }
    }

    /// This refund with `transaction_id` as the other id its sale may be recorded under (see
    /// [`other_transaction_id`](Self::other_transaction_id)); any other event, or an id that is
    /// empty or the refund's own, unchanged. What a store calls when it reads a refund back.
    ///
    /// ```
    /// use affitor::client::{Endpoint, Event};
    ///
    /// let stored = Event::from_json(Endpoint::Refund, r#"{"transaction_id":"in_1001"}"#)?;
    /// let refund = stored.or_transaction_id("pi_3Q");
    /// assert_eq!(refund.other_transaction_id(), Some("pi_3Q"));
    /// # Ok::<(), affitor::Error>(())
    /// ```
    #[must_use]
    pub fn or_transaction_id(mut self, transaction_id: &str) -> Self {
        if let Payload::Refund(refund) = &mut self.payload {
            if !transaction_id.trim().is_empty() && transaction_id != refund.transaction_id {
                refund.other_transaction_id = Some(transaction_id.to_owned());
            }
        }
        self
    }

    /// The customer key of a lead or a sale, when it has one: events of one customer are sent
    /// in order, a sale after the customer's lead. `None` for a refund or a click.
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::IntoEvent;
    ///
    /// assert_eq!(client.lead("user_123").into_event()?.customer_key(), Some("user_123"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn customer_key(&self) -> Option<&str> {
        match &self.payload {
            Payload::Lead(lead) => lead.customer_key.as_deref(),
            Payload::Sale(sale) => sale.customer_key.as_deref(),
            Payload::Click(_) | Payload::Refund(_) => None,
        }
    }

    /// A sale's amount, or a refund's when it names one, in the currency's minor unit, and the
    /// sale's currency when it names one.
    ///
    /// ```
    /// use affitor::client::IntoEvent;
    ///
    /// let client = affitor::Client::builder().api_key("aff_key").build()?;
    /// let sale = client.sale("in_1001", 4900).customer_key("user_123").into_event()?;
    /// assert_eq!(sale.amount(), Some((4900, None)));
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn amount(&self) -> Option<(u64, Option<&super::Currency>)> {
        match &self.payload {
            Payload::Sale(sale) => Some((sale.amount_cents, sale.currency.as_ref())),
            Payload::Refund(refund) => refund.refund_amount_cents.map(|cents| (cents, None)),
            Payload::Click(_) | Payload::Lead(_) => None,
        }
    }

    /// The click id of a lead, a sale or a click event, when it names one.
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use affitor::client::IntoEvent;
    ///
    /// let click_id: affitor::ClickId = "cust_1".parse()?;
    /// let lead = client.lead("user_123").click_id(click_id).into_event()?;
    /// assert_eq!(lead.click_id().map(|id| id.as_str()), Some("cust_1"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn click_id(&self) -> Option<&crate::ClickId> {
        match &self.payload {
            Payload::Lead(lead) => lead.click_id.as_ref(),
            Payload::Sale(sale) => sale.click_id.as_ref(),
            Payload::Click(_) | Payload::Refund(_) => None,
        }
    }

    /// A click's [`Consent`](super::Consent), when [`ClickRequest::consent`] set it: kept for a
    /// backend's record, not part of [`to_json`](Self::to_json). `None` for any other event.
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::{Consent, IntoEvent};
    ///
    /// let click = client.click("https://shop.example/?aff=abc").consent(Consent::Given);
    /// assert_eq!(click.into_event()?.consent(), Some(Consent::Given));
    /// # Ok(())
    /// # }
    /// ```
    pub fn consent(&self) -> Option<super::Consent> {
        match &self.payload {
            Payload::Click(click) => click.consent,
            Payload::Lead(_) | Payload::Sale(_) | Payload::Refund(_) => None,
        }
    }

    /// This lead without its click ids, to be sent again for its customer key alone: what to
    /// do when the API refused the click id ([`Error::is_click_id_refused`]) of a lead that
    /// has a customer key. `None` for a lead without a customer key (nothing would be left to
    /// name the customer) and for any other event.
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use affitor::client::IntoEvent;
    ///
    /// let click_id: affitor::ClickId = "cust_1".parse()?;
    /// let lead = client.lead("user_123").click_id(click_id.clone()).into_event()?;
    /// let again = lead.without_click_id().expect("the lead has a customer key");
    /// assert_eq!((again.click_id(), again.customer_key()), (None, Some("user_123")));
    ///
    /// // Without a customer key, nothing would name the customer.
    /// assert!(client.lead("").click_id(click_id).into_event()?.without_click_id().is_none());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn without_click_id(&self) -> Option<Self> {
        let Payload::Lead(lead) = &self.payload else {
            return None;
        };
        lead.customer_key.as_ref()?;
        Some(Self {
            payload: Payload::Lead(LeadPayload {
                click_id: None,
                click_ids: Vec::new(),
                ..lead.clone()
            }),
        })
    }

    /// The JSON body the API receives for this event: the stored form, with
    /// [`endpoint`](Self::endpoint).
    ///
    /// ```
    /// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// use affitor::client::IntoEvent;
    ///
    /// let event = client.refund("in_1001").into_event()?;
    /// assert_eq!(event.to_json(), r#"{"transaction_id":"in_1001"}"#);
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_json(&self) -> String {
        let json = match &self.payload {
            Payload::Click(click) => serde_json::to_string(click),
            Payload::Lead(lead) => serde_json::to_string(lead),
            Payload::Sale(sale) => serde_json::to_string(sale),
            Payload::Refund(refund) => serde_json::to_string(refund),
        };
        // The payloads are plain structs of strings, numbers and JSON values: serializing them
        // to a string cannot fail.
        json.unwrap_or_default()
    }

    /// Reads back an event stored as its endpoint and its [`to_json`](Self::to_json) body.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidEvent`] when `endpoint` is not one an event goes to (the readiness
    /// read or the test event), or `json` is not that endpoint's body: a corrupt or foreign
    /// row, which sending would not mend.
    ///
    /// ```
    /// use affitor::client::{Endpoint, ErrorKind, Event};
    ///
    /// let lead = Event::from_json(Endpoint::Lead, r#"{"customer_key":"user_123"}"#)?;
    /// assert_eq!(lead.customer_key(), Some("user_123"));
    ///
    /// let corrupt = Event::from_json(Endpoint::Sale, r#"{"amount_cents":"lots"}"#);
    /// assert_eq!(corrupt.unwrap_err().kind(), ErrorKind::InvalidEvent);
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn from_json(endpoint: Endpoint, json: &str) -> Result<Self, Error> {
        fn read<P: serde::de::DeserializeOwned>(
            endpoint: Endpoint,
            json: &str,
        ) -> Result<P, Error> {
            serde_json::from_str(json).map_err(|error| {
                Error::new(ErrorKind::InvalidEvent)
                    .with_endpoint(endpoint)
                    .with_detail(format!("its body is not the JSON of the endpoint: {error}"))
            })
        }
        let payload = match endpoint {
            Endpoint::Click => Payload::Click(read::<ClickPayload>(endpoint, json)?),
            Endpoint::Lead => Payload::Lead(read::<LeadPayload>(endpoint, json)?),
            Endpoint::Sale => Payload::Sale(read::<SalePayload>(endpoint, json)?),
            Endpoint::Refund => Payload::Refund(read::<RefundPayload>(endpoint, json)?),
            Endpoint::TestEvent | Endpoint::Readiness => {
                return Err(Error::new(ErrorKind::InvalidEvent)
                    .with_endpoint(endpoint)
                    .with_detail("no event is stored for this endpoint"));
            }
        };
        Ok(Self { payload })
    }

    /// Sends the event through `transport`, as its request's `send` does, adding its retries
    /// to `retries` when given.
    pub(super) async fn send(
        &self,
        transport: &Transport,
        retries: Option<&AtomicU64>,
    ) -> Result<Outcome, Error> {
        match &self.payload {
            Payload::Click(click) => transport
                .call_counting(click, retries)
                .await
                .result
                .map(Outcome::Click),
            Payload::Lead(lead) => transport
                .call_counting(lead, retries)
                .await
                .result
                .map(Outcome::Lead),
            Payload::Sale(sale) => transport
                .call_counting(sale, retries)
                .await
                .result
                .map(Outcome::Sale),
            Payload::Refund(refund) => refund.send(transport, retries).await.map(Outcome::Refund),
        }
    }
}

impl fmt::Debug for Event {
    // The payloads' own Debug: customer keys and emails shown only as present or not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Event").field(&self.payload).finish()
    }
}

macro_rules! event_from {
    ($($variant:ident($payload:ty)),*) => {$(
        impl From<$payload> for Event {
            fn from(payload: $payload) -> Self {
                Self { payload: Payload::$variant(payload) }
            }
        }
    )*};
}
event_from!(
    Click(ClickPayload),
    Lead(LeadPayload),
    Sale(SalePayload),
    Refund(RefundPayload)
);

mod sealed {
    pub trait Sealed {}
}

/// A request that becomes an [`Event`] once validated: [`LeadRequest`], [`SaleRequest`],
/// [`RefundRequest`], [`ClickRequest`], and an `Event` itself.
///
/// This is what a durable outbox takes, so that a handler hands it the request it would have
/// sent.
///
/// ```
/// use affitor::client::IntoEvent;
///
/// # fn run(client: affitor::Client) -> Result<(), affitor::Error> {
/// let event = client.lead("user_123").email("ada@example.com").into_event()?;
/// # Ok(())
/// # }
/// ```
pub trait IntoEvent: sealed::Sealed {
    /// Validates the request, as `send` does, and returns the event.
    ///
    /// # Errors
    ///
    /// The validation errors of the request's `send`, such as
    /// [`ErrorKind::MissingCustomer`] or [`ErrorKind::InvalidAmount`], before any I/O.
    fn into_event(self) -> Result<Event, Error>;
}

macro_rules! into_event {
    ($($request:ty),*) => {$(
        impl sealed::Sealed for $request {}

        impl IntoEvent for $request {
            fn into_event(self) -> Result<Event, Error> {
                self.into_payload().map(|(_, payload)| Event::from(payload))
            }
        }
    )*};
}
into_event!(LeadRequest, SaleRequest, RefundRequest, ClickRequest);

impl sealed::Sealed for Event {}

impl IntoEvent for Event {
    /// An event read back (`Event::from_json`) or renamed (`or_transaction_id`) was checked
    /// by no request: its keys are, as a request's are.
    fn into_event(self) -> Result<Event, Error> {
        let endpoint = self.endpoint();
        check_key(endpoint, "customer key", self.customer_key())?;
        check_key(endpoint, "transaction id", self.transaction_id())?;
        check_key(
            endpoint,
            "other transaction id",
            self.other_transaction_id(),
        )?;
        Ok(self)
    }
}

impl Client {
    /// Sends an event now, with its endpoint's retry policy, as the request's `send` does:
    /// what an outbox relay calls for each stored event. `Ok` of what the API did with it
    /// ([`Outcome`]), a sale answered 409 (already recorded) and a refund answered `skipped`
    /// included.
    ///
    /// # Errors
    ///
    /// The API's refusal or the transport failure, as the request's `send` returns it;
    /// [`Error::is_retryable`] says whether a later attempt may succeed.
    ///
    /// ```
    /// # async fn relay(client: affitor::Client, stored: &str) -> Result<(), affitor::Error> {
    /// use affitor::client::{Endpoint, Event};
    ///
    /// let event = Event::from_json(Endpoint::Sale, stored)?;
    /// client.send_event(&event).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_event(&self, event: &Event) -> Result<Outcome, Error> {
        let answer = event.send(self.transport(), None).await;
        self.backend.sent(event, answer.as_ref());
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ClickId,
        client::{Currency, SaleType},
    };

    fn client() -> Client {
        Client::builder().api_key("aff_test_key").build().unwrap()
    }

    #[test]
    fn every_event_reads_back_as_it_was_stored() {
        let client = client();
        let click_id: ClickId = "c_1".parse().unwrap();
        let events = [
            client
                .click("https://shop.example/?aff=partner")
                .page_title("Shop")
                .into_event(),
            client
                .lead("user_1")
                .email("ada@example.com")
                .click_id(click_id.clone())
                .click_ids([click_id.clone()])
                .into_event(),
            client
                .sale("in_1", 4900)
                .customer_key("user_1")
                .currency(Currency::Eur)
                .sale_type(SaleType::Subscription)
                .into_event(),
            client.refund("in_1").amount_cents(100).into_event(),
        ];
        for event in events {
            let event = event.unwrap();
            let json = event.to_json();
            assert_eq!(
                Event::from_json(event.endpoint(), &json).unwrap(),
                event,
                "{json}"
            );
        }
    }

    /// An event read back is checked as a request is when it is handed on: a key no store
    /// can index is refused.
    #[test]
    fn an_event_read_back_is_checked_when_handed_on() {
        let lead = Event::from_json(Endpoint::Lead, r#"{"customer_key":"user\u0000_1"}"#);
        let error = lead.unwrap().into_event().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidKey);
        let sale = client().sale("in_1", 100).customer_key("user_1");
        assert!(sale.into_event().unwrap().into_event().is_ok());
    }

    #[test]
    fn debug_hides_personal_data() {
        let event = client()
            .lead("user_1")
            .email("ada@example.com")
            .into_event()
            .unwrap();
        let debug = format!("{event:?}");
        assert!(
            !debug.contains("ada@example.com") && !debug.contains("user_1"),
            "{debug}"
        );
    }

    #[test]
    fn an_invalid_request_is_no_event() {
        let error = client()
            .sale("in_1", 0)
            .customer_key("u")
            .into_event()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidAmount);
    }

    #[test]
    fn readiness_stores_no_event() {
        let error = Event::from_json(Endpoint::Readiness, "{}").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidEvent);
    }
}
