//! How background delivery ends: the shutdown's flush and its report, and workers whose
//! runtimes stop (replaced on the next runtime, outlived by a flush).
//!
//! Counts are exact wherever the outcome is determined. No assertion bounds a duration from
//! above.

use crate::support::*;
use std::time::Duration;

use affitor::client::Endpoint;
use affitor::client::UndeliveredReason;
use affitor_mock::{Fault, MockServer, RefundStatus};

#[tokio::test]
async fn shutdown_delivers_1000_queued_events_then_refuses_new_ones() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    // Each request waits for its answer however loaded the machine: a timeout's retry would be a
    // second request of the sale (answered 409, so recorded once), and the count below exact.
    let client = mock
        .client_builder()
        .retry(patient_retries())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let sales = ids("in_flush", 1000);
    queue_sales(&client, &click_id, sales.clone());
    assert_eq!(client.delivery_stats().pending, 1000);
    let report = client.shutdown(Duration::from_secs(60)).await;

    assert!(report.is_complete(), "{:?}", report.undelivered);
    assert_eq!(report.delivered, 1000);
    let stats = report.stats;
    assert_eq!(
        (
            stats.queued,
            stats.delivered,
            stats.pending,
            stats.failed,
            stats.dropped
        ),
        (1000, 1000, 0, 0, 0)
    );
    let recorded = recorded_sales(&mock);
    assert_eq!(recorded.len(), 1000);
    assert_eq!(as_set(&recorded), as_set(&sales));
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1000);

    // Shut down: a new event is dropped, an inline call still works.
    queue_sales(&client, &click_id, ["in_after".to_owned()]);
    let stats = client.delivery_stats();
    assert_eq!((stats.queued, stats.dropped, stats.pending), (1000, 1, 0));
    let inline = client
        .sale("in_inline", 100)
        .click_id(click_id)
        .send()
        .await;
    assert!(inline.unwrap().is_recorded());
    assert_eq!(mock.sales().len(), 1001);
}

#[tokio::test]
async fn shutdown_with_the_api_down_reports_every_undelivered_event() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = mock
        .client_builder()
        .retry(patient_retries())
        .max_in_flight(16)
        .build()
        .unwrap();
    mock.shutdown().await; // The API is down: connections are refused.

    // More than the worker sends at once, so some never leave the queue.
    let sales = ids("in_lost", 100);
    queue_sales(&client, &click_id, sales.clone());
    until("the first retries", || client.delivery_stats().retried > 0).await;
    let report = client.shutdown(Duration::from_millis(200)).await;

    assert_eq!(report.delivered, 0);
    assert_eq!(report.undelivered.len(), 100);
    let stats = report.stats;
    assert_eq!(
        (
            stats.queued,
            stats.delivered,
            stats.failed,
            stats.dropped,
            stats.pending
        ),
        (100, 0, 0, 100, 0)
    );
    let reported: Vec<String> = report
        .undelivered
        .iter()
        .map(|event| {
            assert_eq!(event.endpoint, Endpoint::Sale);
            event.transaction_id.clone().unwrap()
        })
        .collect();
    assert_eq!(as_set(&reported), as_set(&sales));
    // Some were being sent (retrying), the rest never left the queue.
    let interrupted = report
        .undelivered
        .iter()
        .filter(|event| event.reason == UndeliveredReason::Interrupted)
        .count();
    let not_sent = report
        .undelivered
        .iter()
        .filter(|event| event.reason == UndeliveredReason::NotSent)
        .count();
    assert!(interrupted > 0 && not_sent > 0, "{interrupted} {not_sent}");
    assert_eq!(interrupted + not_sent, 100);
}

#[tokio::test]
async fn shutdown_reports_events_the_api_refused_during_the_flush() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    // A refund of an unknown sale is a 404, not retried here.
    let client = mock
        .client_builder()
        .retry(patient_retries().refund_not_found_window(Duration::ZERO))
        .build()
        .unwrap();

    queue_sales(&client, &click_id, ids("in_ok", 3));
    client.refund("in_unknown_1").send_in_background();
    client.refund("in_unknown_2").send_in_background();
    let report = client.shutdown(Duration::from_secs(30)).await;

    assert_eq!(report.delivered, 3);
    let mut refused: Vec<_> = report
        .undelivered
        .iter()
        .map(|event| {
            (
                event.endpoint,
                event.transaction_id.clone().unwrap(),
                event.reason,
            )
        })
        .collect();
    refused.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        refused,
        [
            (
                Endpoint::Refund,
                "in_unknown_1".to_owned(),
                UndeliveredReason::Failed
            ),
            (
                Endpoint::Refund,
                "in_unknown_2".to_owned(),
                UndeliveredReason::Failed
            ),
        ]
    );
    let stats = report.stats;
    assert_eq!(
        (
            stats.queued,
            stats.delivered,
            stats.failed,
            stats.dropped,
            stats.retried
        ),
        (5, 3, 2, 0, 0)
    );
}

/// "N events not delivered" counts the events the API refused before the shutdown too, which
/// the flush's own list cannot name.
#[tokio::test]
async fn the_report_counts_what_was_refused_before_the_shutdown() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = mock
        .client_builder()
        .retry(patient_retries().refund_not_found_window(Duration::ZERO))
        .build()
        .unwrap();

    queue_sales(&client, &click_id, ids("in_ok", 2));
    client.refund("in_unknown_1").send_in_background();
    let before = client.flush(Duration::from_secs(30)).await;
    assert_eq!((before.delivered, before.failed), (2, 1));
    // Refused during the flush: listed, and counted in `failed`.
    client.refund("in_unknown_2").send_in_background();
    let report = client.shutdown(Duration::from_secs(30)).await;

    assert_eq!((report.delivered, report.failed, report.kept), (0, 1, 0));
    assert_eq!(report.undelivered.len(), 1);
    assert!(!report.is_complete());
    assert_eq!(report.not_delivered(), 2, "{report:?}");
    // A second shutdown is harmless, and says the same.
    let again = client.shutdown(Duration::from_secs(1)).await;
    assert_eq!(again.not_delivered(), 2, "{again:?}");
}

/// A runtime on the calling thread, as a request handler's or a test's.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A runtime with one thread of its own, to serve the stand-in or run a worker beside the test.
fn one_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A client shared by two runtimes in turn (a static client in tests, say): the worker dies
/// with the first runtime; the sale it was sending goes back to the queue (its transaction id
/// makes a repeat harmless), and the next runtime's worker sends it with what waited.
#[test]
fn a_worker_that_dies_with_its_runtime_is_replaced_on_the_next_one() {
    let api = one_thread();
    let mock = api.block_on(MockServer::start()).unwrap();
    let click_id = mock.click("partner");
    // The first sale is recorded, and its answer held back past the first runtime's end.
    mock.inject(Fault::delay(Duration::from_secs(30)).on(Endpoint::Sale));
    let client = patient_client(&mock);

    let first = current_thread();
    first.block_on(async {
        queue_sales(&client, &click_id, ["in_rt_1".to_owned()]);
        client.refund("in_rt_1").send_in_background(); // waits for its sale
        until("the sale to be recorded", || mock.sales().len() == 1).await;
    });
    drop(first);
    let stats = client.delivery_stats();
    assert_eq!(
        (stats.queued, stats.dropped, stats.pending, stats.delivered),
        (2, 0, 2, 0)
    );

    let second = current_thread();
    let stats = second.block_on(async {
        queue_sales(&client, &click_id, ["in_rt_2".to_owned()]);
        settled(&client, 3).await
    });
    assert_eq!(
        (stats.queued, stats.delivered, stats.dropped, stats.failed),
        (3, 3, 0, 0)
    );
    // in_rt_1 was sent twice and recorded once: the repeat was answered 409.
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 3);
    assert_eq!(recorded_sales(&mock), ["in_rt_1", "in_rt_2"]);
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].status, RefundStatus::Reversed);
    drop(second);
    drop(mock);
    drop(api);
}

/// The worker's runtime stops while a shutdown, awaited on another runtime, flushes the
/// queue: the sale it was sending is sent again from the flushing runtime, not reported lost.
#[test]
fn a_flush_outlives_the_runtime_of_its_worker() {
    let api = one_thread();
    let mock = api.block_on(MockServer::start()).unwrap();
    let click_id = mock.click("partner");
    // The sale is recorded, and its answer held back past the worker runtime's end.
    mock.inject(Fault::delay(Duration::from_secs(30)).on(Endpoint::Sale));
    let home = one_thread();
    let client = home.block_on(async {
        mock.client_builder()
            .retry(patient_retries())
            .build()
            .unwrap()
    });

    let flushing = current_thread();
    let report = flushing.block_on(async {
        queue_sales(&client, &click_id, ["in_flush_1".to_owned()]);
        until("the sale to be recorded", || mock.sales().len() == 1).await;
        let mut flush = std::pin::pin!(client.shutdown(Duration::from_secs(10)));
        // The flush starts (the first poll), then the worker's runtime stops.
        tokio::select! {
            biased;
            report = &mut flush => panic!("flushed while the sale's answer is held: {report:?}"),
            () = tokio::task::yield_now() => {}
        }
        home.shutdown_background();
        flush.await
    });
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered, 1);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 2);
    assert_eq!(recorded_sales(&mock), ["in_flush_1"]);
    let stats = report.stats;
    assert_eq!((stats.queued, stats.delivered, stats.dropped), (1, 1, 0));
    drop(flushing);
    drop(mock);
    drop(api);
}

/// A runtime that shuts down before it ever polls the worker drops it unrun: the next event
/// still gets a worker, and nothing waits forever.
#[test]
fn a_worker_dropped_before_it_ran_is_replaced() {
    let api = one_thread();
    let mock = api.block_on(MockServer::start()).unwrap();
    let click_id = mock.click("partner");
    let home = current_thread();
    let client = home.block_on(async {
        mock.client_builder()
            .retry(patient_retries())
            .build()
            .unwrap()
    });
    // Queued from outside any runtime: the worker is spawned on `home`, which is not running,
    // so it waits there unpolled, and is dropped with it.
    queue_sales(&client, &click_id, ["in_unrun_1".to_owned()]);
    drop(home);

    let next = current_thread();
    let report = next.block_on(async {
        queue_sales(&client, &click_id, ["in_unrun_2".to_owned()]);
        client.shutdown(Duration::from_secs(10)).await
    });
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered, 2);
    // Two transactions: sent side by side, in either order.
    assert_eq!(
        as_set(&recorded_sales(&mock)),
        as_set(&["in_unrun_1".to_owned(), "in_unrun_2".to_owned()])
    );
    drop(next);
    drop(mock);
    drop(api);
}

/// The worker runs on the runtime the client was built on, so an event queued from a
/// short-lived runtime (an actix-web worker's, say) is delivered after that runtime stops.
#[test]
fn the_worker_runs_on_the_runtime_the_client_was_built_on() {
    let home = one_thread();
    let mock = home.block_on(MockServer::start()).unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::delay(Duration::from_millis(300)).on(Endpoint::Sale));
    let client = home.block_on(async {
        mock.client_builder()
            .retry(patient_retries())
            .build()
            .unwrap()
    });

    let handler = current_thread();
    handler.block_on(async {
        queue_sales(&client, &click_id, ["in_home_1".to_owned()]);
        until("the sale to be sent", || mock.sales().len() == 1).await;
    });
    drop(handler); // stops while the sale's answer is still on its way

    let stats = home.block_on(settled(&client, 1));
    assert_eq!((stats.queued, stats.delivered, stats.dropped), (1, 1, 0));
    drop(mock);
    drop(home);
}

/// A client built on a runtime that has since stopped starts its worker on the current one.
#[test]
fn a_client_whose_runtime_stopped_delivers_on_the_current_one() {
    let api = one_thread();
    let mock = api.block_on(MockServer::start()).unwrap();
    let click_id = mock.click("partner");

    let first = current_thread();
    let client = first.block_on(async {
        mock.client_builder()
            .retry(patient_retries())
            .build()
            .unwrap()
    });
    drop(first);

    let second = current_thread();
    let stats = second.block_on(async {
        queue_sales(&client, &click_id, ["in_late_1".to_owned()]);
        settled(&client, 1).await
    });
    assert_eq!((stats.queued, stats.delivered, stats.dropped), (1, 1, 0));
    assert_eq!(recorded_sales(&mock), ["in_late_1"]);
    drop(second);
    drop(mock);
    drop(api);
}

/// A full queue whose worker died with its runtime (its sales put back) drains on the next
/// runtime when a request waits for room there: the wait starts a worker rather than sleeping
/// to its limit with nothing to free a slot.
#[test]
fn a_wait_for_room_in_a_full_queue_whose_worker_died_starts_one() {
    let api = one_thread();
    let mock = api.block_on(MockServer::start()).unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::delay(Duration::from_secs(30)).on(Endpoint::Sale));

    let first = current_thread();
    let client = first.block_on(async {
        let client = mock
            .client_builder()
            .retry(patient_retries())
            .queue_capacity(1)
            .max_in_flight(1)
            .build()
            .unwrap();
        queue_sales(&client, &click_id, ["in_held".to_owned()]);
        until("the sale to be sent", || {
            mock.requests_to(Endpoint::Sale).len() == 1
        })
        .await;
        client
    });
    drop(first); // the worker dies; its sale goes back to the full queue
    mock.clear_faults();

    let second = current_thread();
    let stats = second.block_on(async {
        client
            .sale("in_waiting", 4900)
            .click_id(click_id.clone())
            .enqueue()
            .await;
        settled(&client, 2).await
    });
    assert_eq!((stats.delivered, stats.dropped), (2, 0), "{stats:?}");
    drop(second);
    drop(mock);
    drop(api);
}
