//! The outbox as a client's backend: the app flushes, reads the counters of and stops its
//! delivery on the client alone, and what the outbox cannot take never comes back to it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use affitor::client::{Backend, DeliveryReport, DeliveryStats, Event};
use affitor_outbox::Outbox;

use crate::support::{sale, sale_requests, sqlite_path, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// `client.flush` waits for the outbox's writes (the relay delivers them); `client.delivery_stats` and the report are the
/// outbox's; `client.shutdown` stops the relay and the in-memory queue, and may be called again.
#[tokio::test]
async fn the_client_flushes_counts_and_stops_through_the_outbox() {
    let (mock, direct) = stand_in().await;
    let click_id = mock.click("partner");
    let outbox = Outbox::builder(direct.clone())
        .poll_interval(Duration::from_millis(10))
        .open(&sqlite_path("seam"))
        .await
        .unwrap();
    let client = direct.with_backend(outbox.clone());

    client
        .lead("user_1")
        .click_id(click_id)
        .send_in_background();
    sale(&mock, &client, 1).send_in_background();
    client.refund("in_1").send_in_background();
    // A flush waits for the three to be stored; the relay delivers them.
    let flushed = client.flush(Duration::from_secs(20)).await;
    assert_eq!(flushed.queued, 3, "{flushed:?}");
    assert_eq!(outbox.stats().enqueued, 3, "stored before the flush ends");
    // Counted delivered at the API's answer, the rows then deleted together: both awaited.
    wait_until("the three delivered and deleted", A_WHILE, async || {
        outbox.stats().delivered == 3 && outbox.waiting().await.unwrap() == 0
    })
    .await;
    let stats = client.flush(Duration::from_secs(20)).await;

    assert_eq!(stats.pending, 0, "{stats:?}");
    assert_eq!((stats.queued, stats.delivered, stats.failed), (3, 3, 0));
    assert_eq!(outbox.waiting().await.unwrap(), 0);
    assert_eq!(mock.leads().len(), 1);
    assert_eq!(sale_requests(&mock), ["in_1"]);
    assert_eq!(client.delivery_stats(), stats);
    assert_eq!(outbox.stats().delivered, 3);

    let report = client.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.not_delivered(), 0, "{report:?}");
    assert_eq!(report.stats.delivered, 3);

    // The relay is stopped: a row written now stays in the store.
    outbox.enqueue(sale(&mock, &client, 2)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(outbox.waiting().await.unwrap(), 1);
    assert_eq!(sale_requests(&mock), ["in_1"]);
    // The in-memory queue is stopped too.
    sale(&mock, &direct, 3).send_in_background();
    assert_eq!(direct.delivery_stats().dropped, 1);

    // Again, then the outbox's own: harmless; the row is kept for the next start.
    let again = client.shutdown(Duration::from_secs(1)).await;
    assert_eq!((again.kept, again.not_delivered()), (1, 2), "{again:?}");
    let stats = outbox.shutdown(Duration::from_secs(1)).await;
    assert_eq!((stats.enqueued, stats.delivered), (4, 3));
}

/// A request's `enqueue().await` returns once its row is committed: nothing of it waits in
/// memory, or in a write of its own, when the handler answers. An invalid one is counted as
/// failed, and not written.
#[tokio::test]
async fn a_requests_enqueue_returns_once_its_row_is_stored() {
    let (mock, direct) = stand_in().await;
    let click_id = mock.click("partner");
    let outbox = Outbox::builder(direct.clone())
        .relay(false)
        .open(&sqlite_path("enqueue"))
        .await
        .unwrap();
    let client = direct.with_backend(outbox.clone());

    client.lead("user_1").click_id(click_id).enqueue().await;
    sale(&mock, &client, 1).enqueue().await;
    assert_eq!(
        outbox.waiting().await.unwrap(),
        2,
        "both rows are in the store"
    );
    let stats = outbox.stats();
    assert_eq!((stats.enqueued, stats.fell_back), (2, 0), "{stats:?}");
    assert_eq!(direct.delivery_stats().queued, 0, "nothing in memory");

    client
        .sale("in_2", 0)
        .customer_key("user_1")
        .enqueue()
        .await;
    assert_eq!(direct.delivery_stats().failed, 1, "a sale of 0 is invalid");
    assert_eq!(outbox.waiting().await.unwrap(), 2);
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// Without a relay, a flush ends at its deadline with the rows still waiting counted as
/// pending, and the shutdown reports them kept, not delivered.
#[tokio::test]
async fn rows_left_in_the_store_are_pending_then_kept() {
    let (mock, direct) = stand_in().await;
    let outbox = Outbox::builder(direct.clone())
        .relay(false)
        .open(&sqlite_path("kept"))
        .await
        .unwrap();
    let client = direct.with_backend(outbox.clone());

    sale(&mock, &client, 1).send_in_background();
    sale(&mock, &client, 2).send_in_background();
    let stats = client.flush(Duration::from_millis(300)).await;
    // Stored, none sent: the flush waited for the writes alone, and the rows wait in the store.
    assert_eq!((stats.queued, stats.pending, stats.delivered), (2, 0, 0));
    assert_eq!(outbox.waiting().await.unwrap(), 2);

    let report = client.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.kept, report.not_delivered()), (2, 2), "{report:?}");
    assert!(!report.is_complete());
    assert!(
        mock.requests().is_empty(),
        "nothing was sent: the relay is off"
    );
}

/// A backend that must never be handed an event.
struct Never;

impl Backend for Never {
    fn deliver(&self, _: Event) {
        panic!("an event the outbox could not take came back to the client's backend");
    }

    fn flush(&self, _: Duration) -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>> {
        Box::pin(async { DeliveryStats::default() })
    }

    fn shutdown(&self, _: Duration) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>> {
        Box::pin(async { DeliveryReport::default() })
    }

    fn stats(&self) -> DeliveryStats {
        DeliveryStats::default()
    }
}

/// Opened with a client holding another backend (its own, say), the outbox still falls back
/// to the in-memory queue, never to that backend.
#[test]
fn the_fallback_goes_to_the_in_memory_queue_whatever_backend_the_client_holds() {
    let home = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mock, direct, outbox) = home.block_on(async {
        let (mock, direct) = stand_in().await;
        let outbox = Outbox::builder(direct.with_backend(Never))
            .relay(false)
            .open(&sqlite_path("fallback"))
            .await
            .unwrap();
        (mock, direct, outbox)
    });
    // No runtime to write on any more, nor to run the queue's worker: the event falls back to
    // the in-memory queue, which counts it dropped.
    drop(home);
    let client = direct.with_backend(outbox.clone());
    sale(&mock, &client, 1).send_in_background();

    assert_eq!(outbox.stats().fell_back, 1);
    assert_eq!(direct.delivery_stats().dropped, 1);
}

/// A write `send_in_background` handed to the outbox's runtime, still queued there when that
/// runtime ends: the event does not go with the unpolled task, but is sent from memory at
/// `shutdown`.
#[test]
fn an_event_whose_write_never_ran_is_sent_from_memory_at_shutdown() {
    let other = tokio::runtime::Runtime::new().unwrap();
    let (mock, direct) = other.block_on(stand_in());
    // The outbox's runtime, never driven after the open: what is spawned there waits.
    let home = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outbox = home
        .block_on(
            Outbox::builder(direct.clone())
                .relay(false)
                .open(&sqlite_path("never-ran")),
        )
        .unwrap();
    let client = direct.with_backend(outbox.clone());
    other.block_on(async { sale(&mock, &client, 1).send_in_background() });
    drop(home);

    other.block_on(async {
        let report = client.shutdown(Duration::from_secs(5)).await;
        assert_eq!(sale_requests(&mock), ["in_1"], "{report:?}");
        assert_eq!(outbox.stats().fell_back, 1);
    });
}
