//! Payment webhooks: Stripe, Polar, Paddle and Lemon Squeezy events, verified and tracked as
//! sales and refunds.
//!
//! **If your program is connected to Affitor's Stripe integration** (Affitor reads your Stripe
//! events itself), do not also send sales from a Stripe webhook: each sale would count twice.
//! This module is for programs that report their own sales.
//!
//! A [`Verifier`] of a [`Provider`] ([`Stripe`], [`Polar`], [`Paddle`], [`LemonSqueezy`])
//! verifies a delivery over its raw
//! body, before anything is parsed, and reads from the event only what the sale or refund
//! needs. [`ProviderEvent::track`] sends it, and the [`Tracked`] answer says what happened and
//! which status to give the provider, so that it redelivers only what a later attempt can still
//! record:
//!
//! ```
//! use affitor::Client;
//! use affitor::webhook::{Stripe, Verifier};
//!
//! # async fn handler(client: Client, headers: http::HeaderMap, body: bytes::Bytes) -> http::StatusCode {
//! # let stripe = Verifier::<Stripe>::new("whsec_test_signing").unwrap();
//! // let stripe = Verifier::<Stripe>::from_env()?; // STRIPE_WEBHOOK_SECRET, once at start-up
//! // In your handler, with the request's headers and its raw body:
//! let tracked = stripe.track(&client, &headers, &body).await;
//! tracked.status() // 200, 400 or 503: the answer to give Stripe
//! # }
//! ```
//!
//! `affitor-axum` and `affitor-actix` wrap this in one extractor, `WebhookEvent<P>`, so a
//! handler is one line, `event.track(&affitor).await`, with the verifier in the app's state
//! (axum: the router state, a field of it with `#[derive(FromRef)]`; actix-web:
//! `.app_data(web::Data::new(Verifier::<Stripe>::from_env()?))`); see their crate docs.
//! `affitor_mock::SignedWebhook` signs events for your tests ([below](#testing-your-handler)).
//!
//! A payment reaches Affitor only through a verified event like these, or from code that itself
//! confirmed the payment with the provider: a route that tracks a sale from an unsigned body
//! records one for whatever anyone posts to it.
//!
//! # The providers at a glance
//!
//! One [`Verifier<P>`](Verifier) (and one `WebhookEvent<P>`) serves every provider `P`:
//!
//! | | [`Stripe`] | [`Polar`] | [`Paddle`] (Billing) | [`LemonSqueezy`] |
//! |---|---|---|---|---|
//! | Secret from ([`Verifier::from_env`]) | `STRIPE_WEBHOOK_SECRET` | `POLAR_WEBHOOK_SECRET` | `PADDLE_WEBHOOK_SECRET` | `LEMONSQUEEZY_WEBHOOK_SECRET` |
//! | Secret's shape ([`Provider::secret_shape`]) | `whsec_...` | `polar_whs_...`, or Standard Webhooks `whsec_<base64>` | `pdl_ntfset_...` | 6 to 40 characters, chosen by you |
//! | Signature | `Stripe-Signature: t=…,v1=…` | Standard Webhooks `webhook-signature: v1,…` | `Paddle-Signature: ts=…;h1=…` | `X-Signature` (hex) |
//! | Replay window | 5 min (past) | 5 min (both ways) | 5 min (past) | none signed: a replay is a redelivery, recorded once |
//! | Sale | `checkout.session.completed`, `invoice.paid` | `order.paid` | `transaction.completed` | `order_created` |
//! | Refund | `charge.refunded`, `refund.created` | `order.refunded` | `adjustment.created`/`updated`, once `approved` | `order_refunded`, `subscription_payment_refunded` |
//! | Chargeback | `charge.dispute.created` (not an inquiry), `.closed` lost | | adjustment `chargeback` | |
//! | Click id and customer key in | `metadata` (and `subscription_data.metadata`) | `metadata` | `custom_data` | `checkout_data.custom` |
//! | Test purchases | `livemode: false` → test events | sandbox: its own secret | sandbox: its own secret | `test_mode` → test events |
//!
//! Several secrets in the variable, separated by commas or whitespace, are accepted together
//! during a rotation when each has the shape the provider issues; any other value is one
//! secret, whole (a Lemon Squeezy secret may hold spaces: give a rotation's two to
//! [`Builder::secret`]). A secret shorter than 6 characters is refused. Every event type not listed in the provider's section below is answered
//! 200 and logged at `debug`.
//!
//! **Checkout fields.** The webhook can only credit a partner if the checkout carried the click
//! id and your customer key to the provider: [`checkout_fields::<P>(customer_key, click_id,
//! program_id)`](checkout_fields) gives the fields of `P`'s checkout that do, as JSON to merge
//! into the request that creates the checkout.
//!
//! # The answer
//!
//! | What happened | [`Tracked`] | Status |
//! |---|---|---|
//! | The verifier's [`PaymentState`] stores events (an outbox): the sale or refund is written there, which delivers it | `Stored` | 200 |
//! | The same, and the store cannot write it | `Failed`, `NotStored` | 503 |
//! | The sale or refund is recorded, or was before (a redelivery, or its twin event), or the sale is not attributed | `Sale`, `Refund` | 200 |
//! | An event that asks nothing of Affitor: an unpaid session, amount 0, no customer key or click id, a test-mode refund, a won dispute, a dispute inquiry, a payment link kept for later, a Paddle refund not approved yet or a credit | `Ignored` | 200 |
//! | An event type this module does not handle (logged at `debug`) | `Ignored`, `EventType` | 200 |
//! | A refund of a sale Affitor does not know, while the event is younger than [`refund_grace`](Builder::refund_grace) (a day): the sale may still be on its way | `AwaitingSale` | 503 |
//! | The same, past the grace: an organic sale's refund, which a redelivery would not change (logged at `warn`, counted `attention`) | `Failed`, `SaleNotFound` | 200 |
//! | An amount in a currency the API does not take, and no [`CurrencyConverter`] with a rate for it: nothing is sent | `Failed`, `UnsupportedCurrency` | 500 |
//! | A sale recorded whose commission Affitor failed to create (a redelivery would be answered 409): logged at `error`, for Affitor support | `Failed`, `CommissionNotCreated` | 200 |
//! | A sale whose customer Affitor does not know (`Customer not found`, `No affiliate attribution found`: [`Error::is_organic_sale`](crate::Error::is_organic_sale)): an organic sale, which credits no one, logged at `info`. A sale that came before its customer's lead landed reads the same: send the lead at signup, as the examples do, before any checkout can start | `Failed`, `Rejected` | 200 |
//! | Affitor refused the call otherwise (a 4xx: a wrong base URL, a redirect, an amount it does not take) | `Failed`, `Rejected` | 500 |
//! | A sale or refund whose amount or currency cannot be read: an amount without its currency would be taken for USD, a partial refund without its amount would reverse the whole commission, an amount in a currency whose minor unit affitor does not know for the provider could pay a hundred times the sale (logged at `warn`, naming the currency) | `Unreadable` | 500 |
//! | Affitor could not be reached, failed, or refused the key: a later attempt can succeed | `Failed`, retryable | 503 |
//! | A missing, malformed, wrong or expired signature; a tampered body; a body that is not JSON or not an event | `Rejected` | 400 |
//! | A body over the limit (1 MiB unless set) | `Rejected` | 413 |
//!
//! # Payment state
//!
//! When the verifier's [`PaymentState`] stores events (`affitor_outbox::Outbox` does: see
//! [`Verifier::with_payment_state`]), [`ProviderEvent::track`] does not send the sale or refund: it writes it in the
//! backend's store and answers 200 once it is committed ([`Tracked::Stored`]), within
//! milliseconds, whatever the Affitor API's speed. The backend delivers it, in order (a refund
//! after its sale), with retries that outlast the provider's own, through restarts and from
//! any replica on the same database. A store that cannot write is answered 503. The links a
//! Stripe refund needs (below) are kept in that store too. Otherwise, the
//! sale or refund is sent inline, within the verifier's
//! [`track_deadline`](Builder::track_deadline) (8 s; 4 s for Paddle, which wants a 2xx within 5).
//!
//! Nothing is sent to Affitor for an `Ignored`, `Unreadable`, `Rejected` or `UnsupportedCurrency`
//! event. A provider redelivers on any status but 2xx (Stripe for up to three days, Polar for
//! about one), so 503 keeps a sale with the provider while Affitor is down, 500 keeps an event
//! until the app is mended or configured (a converter set, a base URL corrected: then resend it
//! from the provider's dashboard), and 200 stops the redeliveries that cannot help. Every event
//! this module handles ends in a call to Affitor, a 5xx, or an `Ignored` reason logged at `info`
//! (`warn` for a missing field or a won dispute), and is counted, with the feature `metrics`,
//! in `affitor_webhook_events_total{provider, result}`: `tracked`, `stored` (written in a
//! an outbox), `ignored`, `kept` (answered 5xx), `refused` (400 or 413), and `attention`
//! for what is acknowledged without its effect and needs a person (a commission not created, a
//! refund of a sale Affitor never recorded, a further refund of a sale, a won dispute, a
//! missing field). Alert on any `attention`, and on
//! `kept` that keeps rising (a refund before its sale is kept a while, as it should be).
//!
//! # Partial refunds
//!
//! A partial refund deducts its share of the sale's commission. Affitor reverses a sale's
//! commission once: a second refund of the same sale (a partial one, then the rest) is
//! answered `skipped`, and the rest of the commission stays paid. Whatever the API answers,
//! the verifier's [`PaymentState`] remembers each sale's refunds by their own identity
//! (Stripe's refund or dispute id, or the charge's refunded total; Paddle's adjustment id; the
//! order's refunded total for Polar and Lemon Squeezy). The same refund again, a redelivery or
//! its twin event (Stripe's `refund.created` and `charge.refunded`, a dispute's `created` and
//! lost `closed`, Paddle's two approved events of one adjustment), is no second refund; a
//! further refund of the sale (or a chargeback after a refund) is logged at `warn` with the
//! events' ids and counted `attention`, once: adjust that commission in the Affitor dashboard.
//!
//! # A subscription's life
//!
//! One rule for every provider: a first payment is a sale; a renewal a recurring sale
//! (`is_recurring`); a change of plan that is paid (an upgrade, a proration) a sale, unless
//! the verifier's [`track_upgrades`](Builder::track_upgrades) is off; a free trial's start and
//! a downgrade's credit pay nothing and send nothing. Every sale carries the provider's reason
//! ([`Sale::reason`]) in `additional_data.billing_reason`. A subscription that begins without
//! a payment (its first payment is $0: a free trial, a 100% coupon: [`Ignored::TrialStarted`];
//! a later $0 payment, a card's change or a downgrade paid by credit, starts none) is
//! remembered, in the verifier's [`PaymentState`] (its memory, unless given an outbox); its
//! first paid invoice, which every provider labels a renewal, is sent as its first sale
//! (`is_recurring: false`). An app whose verifier keeps its state in memory (no outbox) and
//! restarts during a trial sends that first payment as a renewal.
//!
//! | | Stripe | Paddle | Polar | Lemon Squeezy |
//! |---|---|---|---|---|
//! | first payment | sale (`subscription_create`, or the Checkout Session) | sale (`origin: web`) | sale (`subscription_create`, `purchase`) | sale (`order_created`), sent as a one-time payment |
//! | free trial starts | nothing sent; the trial remembered | the same | the same | nothing sent (a $0 order), nothing remembered |
//! | first payment after a trial | first sale (`subscription_cycle`, sent `is_recurring: false`) | first sale (`subscription_recurring`) | first sale (`subscription_cycle`) | recurring sale (`renewal`) |
//! | renewal | recurring sale | recurring sale | recurring sale | recurring sale |
//! | upgrade, proration | sale (`subscription_update`) | sale (`subscription_update`) | sale (`subscription_update`) | sale (`updated`) |
//! | downgrade credit | nothing: no payment | nothing: a `credit` adjustment | nothing: no payment | nothing: no payment |
//!
//! # Currencies
//!
//! Each provider's amounts are read as that provider counts the currency's minor units, from a
//! table of the currencies it is known to sell in (Stripe's ISK and UGX are two-decimal in its
//! API, ISO's have none). An amount in a currency not in the provider's table is refused, never
//! guessed: the event is answered 500 and the provider keeps it, and a warning names the
//! currency; update affitor (or report the currency), then resend the event.
//!
//! The Affitor API takes USD, EUR and VND. A sale or a partial refund in another currency is
//! converted before it is sent, with the verifier's
//! [`currency_converter`](Builder::currency_converter): amounts are in the currency's minor
//! units on both sides (JPY has none, KWD three), and the original amount and currency go in
//! the sale's `additional_data`. The payment state keeps the rate each converted sale was sent
//! at, before it is sent: its redelivery or twin event converts at it, and so do its refunds,
//! so that a full refund is the whole sale whatever the rate has done since. Without a
//! converter (or without a rate for that currency) the event is answered 500 and kept by the
//! provider until you set one and resend it.
//! [`ExchangeRates`] is a converter of fixed rates:
//!
//! ```
//! use affitor::client::Currency;
//! use affitor::webhook::{ExchangeRates, Stripe, Verifier};
//!
//! let rates = ExchangeRates::to(Currency::Usd).with_rate("GBP", 1.27).with_rate("JPY", 0.0067);
//! let stripe = Verifier::<Stripe>::builder().secret("whsec_0123456789abcdefABCDEF").currency_converter(rates).build()?;
//! # Ok::<(), affitor::webhook::WebhookError>(())
//! ```
//!
//! # Test mode
//!
//! A Stripe event with `livemode: false`, or a Lemon Squeezy event with `meta.test_mode: true`,
//! is a test purchase: its sale is sent as an Affitor test event (`additional_data.test_mode`),
//! which pays no partner, and its refunds and disputes are ignored (there is no commission to
//! reverse). Polar's sandbox and Paddle's sandbox say nothing of it in their events: they are
//! separate accounts, with their own secrets, so point their webhooks at an app whose client
//! uses a test API key, or leave them unset.
//!
//! # Stripe
//!
//! | Event | Tracked as | `transaction_id` |
//! |---|---|---|
//! | `checkout.session.completed` with `payment_status: paid`, `checkout.session.async_payment_succeeded` (mode `payment`) | sale | the payment intent (`pi_...`) |
//! | the same, mode `subscription` | sale, `sale_type` subscription | the first invoice (`in_...`) |
//! | `invoice.paid` or its twin `invoice.payment_succeeded`, with `billing_reason: subscription_cycle`, or `subscription_threshold` (metered usage billed mid-period) | recurring sale (once for both twins) | the invoice (`in_...`) |
//! | the same with `billing_reason: subscription_create` | sale, `sale_type` subscription | the invoice (`in_...`) |
//! | the same with `billing_reason: subscription_update` (an upgrade, a proration) | sale, unless [`track_upgrades`](Builder::track_upgrades) is off | the invoice (`in_...`) |
//! | `invoice_payment.paid` (API versions from 2025-03-31) | nothing sent: the invoice's payment intent is kept for its refunds | |
//! | `charge.refunded`, or its twin `refund.created` | refund of the amount `amount_refunded` grew by (from `previous_attributes`), partial when under `amount`; `refund.created`: its `amount` (reversed once for both twins) | the sale's key (below) |
//! | `charge.dispute.created`, `charge.dispute.closed` with `status: lost` (its twin) | refund of the disputed amount, reason `dispute: <reason>` | the sale's key (below) |
//! | `charge.dispute.closed` with `status: won` | nothing sent; logged at `warn`: a chargeback's commission reversed when it opened stays reversed (an escalated inquiry's was never reversed) | |
//! | `charge.dispute.created`, `.closed` of an inquiry (`status: warning_...`) | nothing sent; logged at `info`: no funds are withdrawn (one escalated to a chargeback and lost is reversed when it closes) | |
//!
//! A refund must carry its sale's `transaction_id`, or Affitor answers 404. A one-off sale is
//! keyed by its payment intent, which every charge, refund and dispute of it names. A
//! subscription payment is keyed by its invoice (its checkout session's sale names the same
//! invoice, so a subscription created through Checkout is recorded once, and one created
//! through the API, Billing or a Payment Link is tracked too). A refund finds the invoice:
//! - up to API version 2024-12-18, the charge names it;
//! - from 2025-03-31 ("Basil") on, a charge names only its payment intent, and the verifier
//!   finds the invoice that payment intent paid: the links the events it verified showed
//!   (`invoice_payment.paid`, and an invoice's `payments` or, before Basil, its
//!   `payment_intent`) are kept in the verifier's [`PaymentState`]: an outbox's is shared by
//!   every replica on its database (kept for 400 days); the default memory keeps the last
//!   100,000. So subscribe the endpoint to `invoice_payment.paid`, and verify with
//!   one `Stripe` shared by the app (it is cheap to clone). Without an outbox, after a
//!   restart or through another replica, the refund of a payment linked elsewhere is tried
//!   under the payment intent, answered 503 within the refund grace, then acknowledged
//!   (logged at `warn`, counted `attention`): look it up in the logs (`refund of a sale
//!   Affitor never recorded`, with its `transaction_id`) and reverse it in the dashboard.
//!
//! When a charge names both an invoice and a payment intent, and Affitor knows no sale under
//! the invoice, the payment intent is tried. An invoice for `subscription_update` (an upgrade
//! or a proration; on API versions before 2018-10-31, a subscription's first invoice too) is a
//! sale unless [`track_upgrades`](Builder::track_upgrades) is off; `manual` invoices are
//! ignored.
//!
//! The customer key is `metadata.affitor_customer_key`, else `client_reference_id`, else
//! `metadata.user_id`; the click id is `metadata.affitor_click_id`, else a `client_reference_id`
//! of the form `affitor_<click id>` (a Payment Link's or a pricing table's, which carry no
//! metadata: [`checkout_fields`] has the page script), never taken for a customer key. A renewal reads both from
//! the subscription's metadata: `parent.subscription_details.metadata` (Basil) or
//! `subscription_details.metadata` (before). So put them in `metadata` and in
//! `subscription_data.metadata` when you create the Checkout Session.
//!
//! # Polar
//!
//! `order.paid` is a sale keyed by the order id (`total_amount`; a `subscription_cycle` or
//! `subscription_meter_cycle` order is a recurring sale, any subscription order has
//! `sale_type` subscription), `order.refunded` a refund of that order (partial when
//! `refunded_amount + refunded_tax_amount < total_amount`, tax on both sides as the sale had
//! it; Polar's `refunded_amount` is the order's total refunded so far and its event names no
//! earlier value, so a second partial refund of one order is sent as that total: Affitor
//! reverses a sale's commission once, and answers a repeat refund `skipped`). The customer key
//! is `metadata.affitor_customer_key`, else `metadata.user_id`, else `customer.external_id`;
//! the click id `metadata.affitor_click_id`, else `metadata.reference_id` (a checkout link's
//! `?reference_id=`).
//!
//! # Paddle
//!
//! | Event | Tracked as | `transaction_id` |
//! |---|---|---|
//! | `transaction.completed` | sale (`details.totals.grand_total`, what was charged); `origin: subscription_recurring` a renewal; with a `subscription_id`, `sale_type` subscription | the transaction (`txn_...`) |
//! | `adjustment.created`, `adjustment.updated` with `action: refund` and `status: approved` | refund: `type: partial` of `totals.total`, full otherwise | the adjustment's `transaction_id` |
//! | the same with `action: chargeback` (approved when made) | refund, reason `chargeback: <reason>` | the same |
//! | an adjustment `pending_approval` or `rejected` | nothing sent: its approval, `adjustment.updated`, is the refund | |
//! | `action: chargeback_reverse` | nothing sent; logged at `warn`, as a Stripe dispute won | |
//! | `action: credit`, `chargeback_warning`, ... | nothing sent: no payment returned | |
//!
//! A refund is created `pending_approval` and approved later, so its `adjustment.updated` is
//! the one sent; when both events of one adjustment say `approved`, Affitor reverses the
//! commission once. The customer key is `custom_data.affitor_customer_key`, else
//! `custom_data.user_id`; the click id `custom_data.affitor_click_id`. Set `custom_data` on the
//! checkout (Paddle.js `customData`, or the transaction you create): Paddle copies a checkout's
//! `custom_data` to its subscription, and a subscription's to its renewals.
//!
//! # Lemon Squeezy
//!
//! | Event | Tracked as | `transaction_id` |
//! |---|---|---|
//! | `order_created` with `status: paid` | sale (`total`); the first payment of a subscription too, sent as a one-time payment (an order names no subscription) | `orders/<id>` |
//! | `subscription_payment_success` with `billing_reason: renewal` | recurring sale | `subscription-invoices/<id>` |
//! | the same with `billing_reason: updated` (a change of plan) | sale, unless [`track_upgrades`](Builder::track_upgrades) is off | `subscription-invoices/<id>` |
//! | the same with `billing_reason: initial` (its order is the sale) | nothing sent | |
//! | `order_refunded`, `subscription_payment_refunded` | refund of that order or invoice, partial when `refunded_amount < total` | the same |
//!
//! The customer key is `meta.custom_data.affitor_customer_key`, else `meta.custom_data.user_id`;
//! the click id `meta.custom_data.affitor_click_id`: pass them as the checkout's
//! `checkout_data.custom` (or `?checkout[custom][affitor_click_id]=...` on a checkout link).
//! Lemon Squeezy has no dispute events: reverse a chargeback's commission in the Affitor
//! dashboard. Its order names no subscription (only `subscription_created` links the two, in no
//! set order with `order_created`, and it is not read yet): a subscription's first order goes
//! as a one-time payment, and a trial, whose order is $0, is not remembered, so its first paid
//! invoice goes as a renewal.
//!
//! # Signatures
//!
//! - Stripe: the `Stripe-Signature` header, `t=<unix time>,v1=<hex>[,v1=<hex>...]`; each `v1` is
//!   the HMAC-SHA256 of `{t}.{body}` keyed by the secret's bytes (`whsec_...` whole). Other
//!   schemes (`v0`) are ignored. A timestamp older than the tolerance is refused; one in the
//!   future is accepted, as Stripe's own libraries do (a clock that is behind must not turn
//!   payments away, and a future timestamp cannot be forged without the secret).
//! - Polar, and any sender of [Standard Webhooks](https://www.standardwebhooks.com/):
//!   `webhook-id`, `webhook-timestamp` and `webhook-signature`, a space-separated list of
//!   `v1,<base64>`, each the HMAC-SHA256 of `{id}.{timestamp}.{body}`. A secret is keyed by
//!   its UTF-8 bytes, as Polar's SDK does whatever the prefix, and a secret `whsec_<base64>`
//!   also by its decoded bytes, as the Standard Webhooks convention has it. The timestamp must be within the tolerance both ways.
//! - Paddle: the `Paddle-Signature` header, `ts=<unix time>;h1=<hex>[;h1=<hex>...]`; each `h1`
//!   is the HMAC-SHA256 of `{ts}:{body}` keyed by the secret key's bytes. A timestamp older
//!   than the tolerance is refused (Paddle's SDKs allow 5 s, which refuses a delivery that
//!   waited in any queue); one in the future is accepted, as for Stripe.
//! - Lemon Squeezy: the `X-Signature` header, the hex HMAC-SHA256 of the body keyed by the
//!   signing secret's bytes. It signs no timestamp, so no replay window applies: a replayed
//!   delivery is a redelivery, recorded once under its transaction id. The verifier's payment
//!   state remembers the deliveries it stored (an outbox), and those that asked nothing but
//!   showed facts (a trial's start, a payment's link), for 30 days (Lemon Squeezy's by their
//!   signature, other providers' by their event id): a replay of one is acknowledged without
//!   effect ([`Ignored::Replayed`]). A sale or refund sent inline is sent again, and Affitor
//!   records it once. A delivery whose event the state gave up on (an outbox's dead letter) is
//!   forgotten with it ([`Fact::is_delivery`]), so that the provider's resend is stored again:
//!   a replay of such a body is stored and sent again too, and Affitor still records its sale
//!   once and reverses its refund once.
//!
//! Each takes several secrets, so that a rotated secret and its successor are accepted
//! together, and compares signatures in constant time. The tolerance is 5 minutes unless set.
//!
//! # Testing your handler
//!
//! `affitor_mock::SignedWebhook` (the crate `affitor-mock`, a dev-dependency) signs an event as
//! Stripe, Polar, Paddle or Lemon Squeezy does: send its `headers()` and `body()` to your
//! handler, then look at what the stand-in API received.
//!
//! ```
//! use affitor::webhook::{Stripe, Verifier};
//! use affitor_mock::{MockServer, SignedWebhook};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mock = MockServer::start().await?;
//!     let click_id = mock.click("partner");
//!     let client = mock.client();
//!     let event = serde_json::json!({ "id": "evt_1", "type": "checkout.session.completed", "data": { "object": {
//!         "mode": "payment", "payment_status": "paid", "payment_intent": "pi_1", "amount_total": 4900,
//!         "currency": "usd", "metadata": { "affitor_click_id": click_id.as_str() } } } });
//!
//!     let signed = SignedWebhook::stripe("whsec_test_signing", event.to_string());
//!     let stripe = Verifier::<Stripe>::new("whsec_test_signing")?; // your handler's verifier
//!     let status = stripe.track(&client, signed.headers(), signed.body()).await.status();
//!
//!     assert_eq!(status, 200);
//!     assert_eq!(mock.sales()[0].transaction_id, "pi_1");
//!     Ok(())
//! }
//! ```
//!
//! Real test events come from the [Stripe CLI](https://docs.stripe.com/stripe-cli): it forwards
//! your account's test-mode events and prints the secret it signs them with.
//!
//! ```sh
//! stripe listen --forward-to localhost:3000/webhooks/stripe   # prints "Your webhook signing secret is whsec_..."
//! stripe trigger checkout.session.completed \
//!   --add checkout_session:metadata.affitor_customer_key=user_123 \
//!   --add checkout_session:metadata.affitor_click_id=cust_demo_1
//! ```
//!
//! A triggered event without the metadata is acknowledged and not tracked: it came through no
//! partner. Test-mode events reach Affitor as test events, which pay no partner. For Polar,
//! create a webhook endpoint in the sandbox (`sandbox.polar.sh`) for `order.paid` and
//! `order.refunded`, pointed at a tunnel to your route, and set `POLAR_WEBHOOK_SECRET` to its
//! secret.

mod builder;
mod checkout;
mod currency;
mod error;
mod event;
mod lemon_squeezy;
mod links;
mod paddle;
mod payload;
pub(crate) mod polar;
mod refunds;
pub(crate) mod signature;
mod state;
mod stripe;
mod track;
mod verifier;
pub use builder::Builder;
pub use checkout::checkout_fields;
pub use currency::{CurrencyConverter, ExchangeRates};
pub use error::{WebhookError, WebhookErrorKind};
pub use event::{Action, Ignored, ProviderEvent, Refund, Sale};
pub use lemon_squeezy::LemonSqueezy;
pub use paddle::Paddle;
pub use polar::Polar;
pub use state::{Custody, Fact, PaymentState, StateFuture};
pub use stripe::Stripe;
pub use track::Tracked;
pub use verifier::{Provider, SecretShape, Verifier};
