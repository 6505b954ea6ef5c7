//! `Backend::sent`: what a backend hears of the events the client sends inline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affitor::Client;
use affitor::client::{
    Backend, ClickOutcome, DeliveryReport, DeliveryStats, Endpoint, Event, IntoEvent, Outcome,
};
use affitor_mock::MockServer;

/// A backend that keeps what it hears: each event's endpoint and whether it was answered.
#[derive(Default)]
struct Heard(Mutex<Vec<(Endpoint, Result<Outcome, String>)>>);

impl Backend for Heard {
    fn deliver(&self, _: Event) {}

    fn flush(&self, _: Duration) -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>> {
        Box::pin(async { DeliveryStats::default() })
    }

    fn shutdown(&self, _: Duration) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>> {
        Box::pin(async { DeliveryReport::default() })
    }

    fn stats(&self) -> DeliveryStats {
        DeliveryStats::default()
    }

    fn sent(&self, event: &Event, answer: Result<&Outcome, &affitor::Error>) {
        let answer = answer.cloned().map_err(ToString::to_string);
        self.0.lock().unwrap().push((event.endpoint(), answer));
    }
}

fn heard(mock: &MockServer) -> (Client, Arc<Heard>) {
    let heard = Arc::new(Heard::default());
    (mock.client().with_backend(Arc::clone(&heard)), heard)
}

#[tokio::test]
async fn every_inline_send_is_heard_with_its_answer() {
    let mock = MockServer::start().await.unwrap();
    let (client, heard) = heard(&mock);
    let click = client
        .click("https://shop.example/?aff=partner")
        .send()
        .await
        .unwrap();
    let ClickOutcome::Recorded { click_id, .. } = click.clone() else {
        panic!("{click:?}");
    };
    client
        .lead("user_1")
        .click_id(click_id)
        .send()
        .await
        .unwrap();
    client
        .sale("in_1", 4900)
        .customer_key("user_1")
        .send()
        .await
        .unwrap();
    client.refund("in_1").send().await.unwrap();
    let stored = client
        .sale("in_2", 100)
        .customer_key("user_1")
        .into_event()
        .unwrap();
    client.send_event(&stored).await.unwrap();

    let heard = heard.0.lock().unwrap();
    let endpoints: Vec<_> = heard.iter().map(|(endpoint, _)| *endpoint).collect();
    use Endpoint::*;
    assert_eq!(endpoints, [Click, Lead, Sale, Refund, Sale]);
    assert!(matches!(&heard[0].1, Ok(Outcome::Click(outcome)) if outcome == &click));
    assert!(
        matches!(&heard[2].1, Ok(Outcome::Sale(sale)) if sale.is_recorded()),
        "{heard:?}"
    );
}

#[tokio::test]
async fn a_refusal_is_heard_and_an_invalid_request_is_not() {
    let mock = MockServer::start().await.unwrap();
    let (client, heard) = heard(&mock);
    let unknown: affitor::ClickId = "cust_unknown_1".parse().unwrap();
    let refused = client
        .lead("user_1")
        .click_id(unknown)
        .send()
        .await
        .unwrap_err();
    client
        .sale("in_1", 0)
        .customer_key("user_1")
        .send()
        .await
        .unwrap_err();

    let heard = heard.0.lock().unwrap();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0], (Endpoint::Lead, Err(refused.to_string())));
}
