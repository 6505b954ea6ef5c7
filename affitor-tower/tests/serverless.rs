//! A runtime frozen the moment the response leaves (AWS Lambda, Vercel): the lead a handler
//! queued reaches the stand-in API only when `FlushLayer` waited for it.

#![cfg(feature = "layer")]
#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::convert::Infallible;
use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::MockServer;
use affitor_tower::{Client, FlushLayer};
use http::{Request, Response};
use tower::{Service, ServiceBuilder, ServiceExt};

/// Serves one signup on a runtime of its own, as a function instance does, and freezes it for
/// good (drops it, its tasks with it) the moment the response is out. What the stand-in, on a
/// runtime of its own, received by then.
fn one_signup_then_freeze(mock: &MockServer, flush: bool) -> usize {
    let instance = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answered = instance.block_on(async {
        let client: Client = mock.client();
        let click_id = mock.click("partner");
        let flush = flush.then(|| FlushLayer::new(client.clone(), Duration::from_secs(10)));
        let handler = tower::service_fn(move |_: Request<()>| {
            let (client, click_id) = (client.clone(), click_id.clone());
            async move {
                client
                    .lead("user_1")
                    .click_id(click_id)
                    .send_in_background();
                Ok::<_, Infallible>(Response::new(()))
            }
        });
        let mut service = ServiceBuilder::new().option_layer(flush).service(handler);
        let service = service.ready().await.unwrap();
        service.call(Request::new(())).await.unwrap()
    });
    drop(answered);
    drop(instance); // frozen: nothing it held runs again
    std::thread::sleep(Duration::from_millis(300));
    mock.requests_to(Endpoint::Lead).len()
}

#[test]
fn a_lead_survives_a_runtime_frozen_after_the_response_only_with_the_flush() {
    let outside = tokio::runtime::Runtime::new().unwrap();
    let mock = outside.block_on(MockServer::start()).unwrap();
    assert_eq!(
        one_signup_then_freeze(&mock, false),
        0,
        "lost without the flush"
    );
    assert_eq!(
        one_signup_then_freeze(&mock, true),
        1,
        "delivered before the response left"
    );
}
