//! The client bound to one request's click id.

use super::{Client, LeadRequest, RefundRequest, SaleRequest};
use crate::ClickId;

/// The client, bound to the click id of one request.
///
/// [`lead`](Self::lead) and [`sale`](Self::sale) fill in that click id, unless the caller sets
/// one, so a handler tracks a signup or a payment in one line. It is what the `AffitorClient`
/// extractors of `affitor-axum` and `affitor-actix` give a handler; build one yourself with
/// [`Client::bind`] in any other framework.
///
/// ```
/// use affitor::{ClickId, Client};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::builder().api_key("aff_example").build()?;
/// let click_id: Option<ClickId> = Some("cust_42_1714000000000".parse()?); // from the request
/// let affitor = client.bind(click_id);
///
/// let lead = affitor.lead("user_123").email("ada@example.com"); // carries the click id
/// # drop(lead);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct BoundClient {
    client: Client,
    click_id: Option<ClickId>,
}

impl BoundClient {
    pub(super) fn new(client: Client, click_id: Option<ClickId>) -> Self {
        Self { client, click_id }
    }

    /// A lead (a signup) of the customer `customer_key`, your stable user id, with the bound
    /// click id.
    ///
    /// ```
    /// # async fn handler(affitor: affitor::client::BoundClient) -> Result<(), affitor::Error> {
    /// affitor.lead("user_123").email("ada@example.com").send_in_background(); // never waits
    /// # Ok(())
    /// # }
    /// ```
    pub fn lead(&self, customer_key: impl Into<String>) -> LeadRequest {
        self.client
            .lead(customer_key)
            .click_id(self.click_id.clone())
    }

    /// A sale of `amount_cents` under the idempotency key `transaction_id` (your payment
    /// provider's invoice or charge id), with the bound click id.
    ///
    /// ```
    /// # async fn handler(affitor: affitor::client::BoundClient) -> Result<(), affitor::Error> {
    /// let outcome = affitor.sale("in_1Qx", 4_999).customer_key("user_123").send().await?;
    /// println!("{outcome:?}"); // recorded, already recorded, not attributed...
    /// # Ok(())
    /// # }
    /// ```
    pub fn sale(&self, transaction_id: impl Into<String>, amount_cents: u64) -> SaleRequest {
        self.client
            .sale(transaction_id, amount_cents)
            .click_id(self.click_id.clone())
    }

    /// A refund of the sale tracked under `transaction_id`. A refund carries no click id.
    ///
    /// ```
    /// # async fn handler(affitor: affitor::client::BoundClient) -> Result<(), affitor::Error> {
    /// affitor.refund("in_1Qx").reason("requested_by_customer").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn refund(&self, transaction_id: impl Into<String>) -> RefundRequest {
        self.client.refund(transaction_id)
    }

    /// The bound click id, if the request carried one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = affitor::Client::builder().api_key("aff_example").build()?;
    /// let affitor = client.bind(Some("cust_42".parse()?));
    /// assert_eq!(affitor.click_id().map(|id| id.as_str()), Some("cust_42"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn click_id(&self) -> Option<&ClickId> {
        self.click_id.as_ref()
    }

    /// The client itself, for the calls that are not about this request.
    ///
    /// ```
    /// # async fn handler(affitor: affitor::client::BoundClient) -> Result<(), affitor::Error> {
    /// let readiness = affitor.client().readiness().send().await?;
    /// println!("integration verified: {}", readiness.integration_verified);
    /// # Ok(())
    /// # }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl AsRef<Client> for BoundClient {
    fn as_ref(&self) -> &Client {
        &self.client
    }
}
