//! Background delivery against the stand-in API and its faults: what is queued is delivered
//! once, a full queue drops exactly the overflow, events of one transaction or customer keep
//! their order (`shutdown.rs` has how delivery ends).
//!
//! Counts are exact wherever the outcome is determined; the retry count is only bounded below
//! where it depends on how long the API stays down. No assertion bounds a duration from above.

use crate::support::*;
use std::time::{Duration, Instant};

use affitor::client::Endpoint;
use affitor::{
    Client,
    client::{DeliveryStats, RetryPolicy, SaleOutcome},
};
use affitor_mock::{Fault, MockServer, RefundStatus};
use test_support::Logs;

#[tokio::test]
async fn three_500s_then_every_queued_sale_is_recorded_once() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::status(500).on(Endpoint::Sale).times(3));
    let client = patient_client(&mock);

    let sales = ids("in_500", 5);
    queue_sales(&client, &click_id, sales.clone());
    let stats = settled(&client, 5).await;

    assert_eq!(
        (
            stats.queued,
            stats.delivered,
            stats.retried,
            stats.failed,
            stats.dropped
        ),
        (5, 5, 3, 0, 0)
    );
    let recorded = recorded_sales(&mock);
    assert_eq!(recorded.len(), 5, "{recorded:?}");
    assert_eq!(as_set(&recorded), as_set(&sales));
    // Three answered 500, then each sale once more.
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 8);
}

#[tokio::test]
async fn nothing_queued_is_lost_while_the_api_refuses_connections_for_2s() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    // Retries every 10 to 50 ms for up to 20 s: they outlast the 2 s outage.
    let client = patient_client(&mock);
    // A pooled connection that the outage will break.
    let warm_up = client.sale("in_warm", 100).click_id(click_id.clone());
    assert!(warm_up.send().await.unwrap().is_recorded());

    mock.refuse_connections_for(Duration::from_secs(2)).await;
    let sales = ids("in_down", 20);
    queue_sales(&client, &click_id, sales.clone());
    let stats = settled(&client, 20).await;

    assert_eq!(
        (stats.queued, stats.delivered, stats.failed, stats.dropped),
        (20, 20, 0, 0)
    );
    // Every event that started during the outage was retried at least once; how often depends
    // on the backoff's jitter.
    assert!(stats.retried >= 1, "{stats:?}");
    let recorded = recorded_sales(&mock);
    assert_eq!(recorded.len(), 21, "{recorded:?}");
    let mut expected = as_set(&sales);
    expected.insert("in_warm".to_owned());
    assert_eq!(as_set(&recorded), expected);
}

/// The scenario: the API answers after 5 s. This is the one slow test of the file; the
/// ordering it checks does not depend on the delay's length.
#[tokio::test]
async fn send_in_background_returns_before_a_5s_slow_api_answers() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::delay(Duration::from_secs(5)).on(Endpoint::Lead));
    // An attempt waits out the slow answer.
    let client = mock
        .client_builder()
        .timeout(Duration::from_secs(10))
        .retry(patient_retries())
        .build()
        .unwrap();

    client
        .lead("user_slow")
        .click_id(click_id)
        .send_in_background();

    // Returned at once: on this single-threaded runtime the worker has not even run yet.
    assert!(mock.requests_to(Endpoint::Lead).is_empty());
    let stats = client.delivery_stats();
    assert_eq!((stats.queued, stats.pending, stats.delivered), (1, 1, 0));

    // The API records the lead, and holds its answer for 5 s.
    until("the lead to be recorded", || mock.leads().len() == 1).await;
    assert_eq!(client.delivery_stats().delivered, 0);

    let stats = settled(&client, 1).await;
    assert_eq!(
        (stats.delivered, stats.retried, stats.failed, stats.dropped),
        (1, 0, 0, 0)
    );
    let leads = mock.leads();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].customer_key.as_deref(), Some("user_slow"));
}

#[tokio::test]
async fn a_full_queue_drops_exactly_the_overflow_and_stays_bounded() {
    const CAPACITY: usize = 4;
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    // A slow API keeps the first events in flight while more arrive (long enough that the
    // checks below never race its answers).
    mock.inject(Fault::delay(Duration::from_secs(2)).always());
    let client = mock
        .client_builder()
        .timeout(Duration::from_secs(10))
        .retry(patient_retries())
        .queue_capacity(CAPACITY)
        .build()
        .unwrap();
    let clone = client.clone();

    // CAPACITY + 3 events, from two clones that share the queue. Nothing runs in between on
    // this single-threaded runtime, so exactly CAPACITY are accepted.
    let sales = ids("in_full", CAPACITY + 3);
    for (n, id) in sales.iter().enumerate() {
        let sender = if n % 2 == 0 { &client } else { &clone };
        sender
            .sale(id.clone(), 100)
            .click_id(click_id.clone())
            .send_in_background();
        assert!(client.delivery_stats().pending <= CAPACITY as u64);
    }
    let stats = clone.delivery_stats();
    assert_eq!(
        (stats.queued, stats.dropped, stats.pending),
        (CAPACITY as u64, 3, CAPACITY as u64)
    );

    // All four are now at the slow API, still held: two more are dropped too.
    until("the queued sales to reach the API", || {
        mock.requests_to(Endpoint::Sale).len() == CAPACITY
    })
    .await;
    queue_sales(&client, &click_id, ids("in_late", 2));
    let stats = client.delivery_stats();
    assert_eq!(
        (stats.queued, stats.dropped, stats.pending),
        (CAPACITY as u64, 5, CAPACITY as u64)
    );

    let stats = settled(&client, CAPACITY as u64 + 5).await;
    assert_eq!(
        (
            stats.queued,
            stats.delivered,
            stats.dropped,
            stats.failed,
            stats.retried
        ),
        (4, 4, 5, 0, 0)
    );
    assert_eq!(as_set(&recorded_sales(&mock)), as_set(&sales[..CAPACITY]));
}

#[tokio::test]
async fn a_429_retry_after_1_is_waited_out() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::rate_limited(Duration::from_secs(1)).on(Endpoint::Sale));
    // The backoff alone would wait at most 50 ms.
    let client = mock
        .client_builder()
        .retry(patient_retries().retry_after_cap(Duration::from_secs(5)))
        .build()
        .unwrap();

    let queued_at = Instant::now();
    queue_sales(&client, &click_id, ["in_429".to_owned()]);
    let stats = settled(&client, 1).await;
    let waited = queued_at.elapsed();

    assert_eq!(
        (stats.delivered, stats.retried, stats.failed, stats.dropped),
        (1, 1, 0, 0)
    );
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 2);
    assert_eq!(recorded_sales(&mock), ["in_429"]);
    // The second attempt came at least Retry-After after the first, which came after queueing.
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
}

/// A rate limit that asks for more than the policy's cap ends a caller's call at once; a
/// queued event has no caller to decide, so it waits the API out and is delivered.
#[tokio::test]
async fn a_429_asking_past_the_cap_is_waited_out_in_the_background() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::rate_limited(Duration::from_secs(2)).on(Endpoint::Sale));
    let client = mock
        .client_builder()
        .retry(patient_retries().retry_after_cap(Duration::from_millis(500)))
        .build()
        .unwrap();

    queue_sales(&client, &click_id, ["in_429_long".to_owned()]);
    let stats = settled(&client, 1).await;

    assert_eq!((stats.delivered, stats.failed, stats.dropped), (1, 0, 0));
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 2);
    assert_eq!(recorded_sales(&mock), ["in_429_long"]);
}

/// A rate limit that asks for no wait (`Retry-After: 0`, or a date past) is one the retries
/// honoured already: out of attempts, the queued event fails, as for any other answer, rather
/// than being sent again at once, round after round, without end.
#[tokio::test]
async fn a_429_asking_no_wait_fails_once_the_attempts_are_spent() {
    let mock = MockServer::start().await.unwrap();
    mock.inject(
        Fault::rate_limited(Duration::ZERO)
            .on(Endpoint::Lead)
            .always(),
    );
    let client = mock.client();
    client
        .lead("user_limited")
        .click_id(mock.click("partner"))
        .send_in_background();
    let stats = client.flush(Duration::from_secs(10)).await;

    assert_eq!((stats.pending, stats.failed), (0, 1), "{stats:?}");
    let attempts = mock.requests_to(Endpoint::Lead).len();
    assert!(attempts <= 5, "{attempts} requests for one lead");
}

#[tokio::test]
async fn a_refund_queued_after_its_sale_is_never_sent_before_it() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    // Were a refund sent before its sale, its 404 would fail it at once.
    let client = mock
        .client_builder()
        .retry(patient_retries().refund_not_found_window(Duration::ZERO))
        .build()
        .unwrap();
    // The first attempt of each sale is refused: without ordering, each refund would reach the
    // API before its sale's retry.
    mock.inject(Fault::status(503).on(Endpoint::Sale).times(4));

    for id in ids("in_pair", 4) {
        client
            .sale(id.clone(), 1000)
            .click_id(click_id.clone())
            .send_in_background();
        client.refund(id).send_in_background();
    }
    let stats = settled(&client, 8).await;

    assert_eq!(
        (stats.delivered, stats.failed, stats.dropped, stats.retried),
        (8, 0, 0, 4)
    );
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 4);
    assert!(
        refunds
            .iter()
            .all(|refund| refund.status == RefundStatus::Reversed)
    );
}

/// With the in-memory queue, a request's `enqueue().await` is `send_in_background()`: it
/// returns once the event is queued, and the worker delivers it.
#[tokio::test]
async fn enqueue_with_the_memory_queue_queues_and_delivers() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = patient_client(&mock);

    client.lead("user_1").click_id(click_id).enqueue().await;
    assert_eq!(client.delivery_stats().queued, 1);
    let stats = settled(&client, 1).await;
    assert_eq!((stats.delivered, stats.failed), (1, 0), "{stats:?}");
    assert_eq!(mock.leads().len(), 1);
}

#[tokio::test]
async fn invalid_events_fail_without_reaching_the_queue() {
    let mock = MockServer::start().await.unwrap();
    let client = patient_client(&mock);

    client
        .sale("in_zero", 0)
        .customer_key("u")
        .send_in_background();
    client.sale("", 100).customer_key("u").send_in_background();
    client.lead("").send_in_background();
    client.click("  ").send_in_background();
    client.refund(" ").send_in_background();

    let stats = client.delivery_stats();
    assert_eq!(
        (stats.queued, stats.failed, stats.dropped, stats.pending),
        (0, 5, 0, 0)
    );
    tokio::task::yield_now().await;
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn a_webhook_sale_fails_retryably_while_the_api_fails_then_is_recorded_once() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = mock
        .client_builder()
        .retry(patient_retries().max_attempts(3))
        .build()
        .unwrap();
    let sale = || client.sale("in_webhook", 4900).click_id(click_id.clone());

    // The API fails: the handler answers 503, the payment provider redelivers later.
    mock.inject(Fault::status(503).on(Endpoint::Sale).always());
    let error = sale().send().await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.status().map(|status| status.as_u16()), Some(503));
    assert!(mock.sales().is_empty());

    // The API is back: the redelivery records the sale, a later one finds it recorded.
    mock.clear_faults();
    let outcome = sale().send().await.unwrap();
    assert!(
        matches!(outcome, SaleOutcome::Recorded { .. }),
        "{outcome:?}"
    );
    let again = sale().send().await.unwrap();
    assert_eq!(again, SaleOutcome::AlreadyRecorded);
    assert_eq!(recorded_sales(&mock), ["in_webhook"]);
    // 3 attempts while failing, then one each.
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 5);
    // Inline calls are not background deliveries.
    assert_eq!(client.delivery_stats(), DeliveryStats::default());
}

#[tokio::test]
async fn a_webhook_sale_whose_answer_was_lost_is_recorded_once() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = mock
        .client_builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let sale = || {
        client
            .sale("in_lost_answer", 4900)
            .click_id(click_id.clone())
    };

    // The API records the sale but the answer never comes back.
    mock.inject(Fault::drop_response().on(Endpoint::Sale));
    let error = sale().send().await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(recorded_sales(&mock), ["in_lost_answer"]);

    // The redelivery is answered 409: recorded, and still only once.
    let outcome = sale().send().await.unwrap();
    assert_eq!(outcome, SaleOutcome::AlreadyRecorded);
    assert!(outcome.is_recorded());
    assert_eq!(recorded_sales(&mock), ["in_lost_answer"]);
}

#[tokio::test]
async fn a_background_sale_answered_409_counts_as_delivered() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = patient_client(&mock);
    let first = client.sale("in_dup", 100).click_id(click_id.clone()).send();
    assert!(first.await.unwrap().is_recorded());

    queue_sales(&client, &click_id, ["in_dup".to_owned()]);
    let stats = settled(&client, 1).await;

    assert_eq!((stats.delivered, stats.failed), (1, 0));
    assert_eq!(recorded_sales(&mock), ["in_dup"]);
}

#[tokio::test]
async fn every_drop_and_failure_is_logged_without_the_key_an_email_or_a_customer_key() {
    if !test_support::alone!() {
        return;
    }
    let (logs, _guard) = Logs::capture("debug");

    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    // Every lead is refused: not retried, given up.
    mock.inject(Fault::status(400).on(Endpoint::Lead).always());
    let client = mock
        .client_builder()
        .retry(patient_retries())
        .queue_capacity(1)
        .build()
        .unwrap();
    let lead = || {
        client
            .lead("user_s3cret_id")
            .click_id(click_id.clone())
            .email("ada@example.com")
    };

    lead().send_in_background(); // queued, then refused by the API
    lead().send_in_background(); // the queue is full
    lead().send_in_background(); // full again: logged again
    queue_sales(&client, &click_id, ["in_logged".to_owned()]); // full
    client
        .sale("in_zero", 0)
        .customer_key("user_s3cret_id")
        .send_in_background(); // invalid
    let stats = settled(&client, 5).await;
    assert_eq!(
        (stats.queued, stats.delivered, stats.failed, stats.dropped),
        (1, 0, 2, 3)
    );
    // Said by the worker just after it counts the failure.
    until("the give-up said", || {
        logs.text().contains("not delivered: given up")
    })
    .await;

    let logs = logs.text();
    assert_eq!(
        logs.matches("the delivery queue is full").count(),
        3,
        "{logs}"
    );
    assert!(logs.contains("transaction_id=\"in_logged\""), "{logs}");
    assert_eq!(logs.matches("not delivered: given up").count(), 1, "{logs}");
    assert_eq!(
        logs.matches("not queued: it is invalid").count(),
        1,
        "{logs}"
    );
    for secret in [mock.api_key(), "ada@example.com", "user_s3cret_id"] {
        assert!(!logs.contains(secret), "{secret} in {logs}");
    }
}

/// A client of `mock` with `max_in_flight` and `queue_capacity`, and the stand-in answering
/// every call after `delay`.
fn slow_api_client(
    mock: &MockServer,
    delay: Duration,
    max_in_flight: usize,
    capacity: usize,
) -> Client {
    mock.inject(Fault::delay(delay).always());
    mock.client_builder()
        .retry(quick_retries())
        .max_in_flight(max_in_flight)
        .queue_capacity(capacity)
        .build()
        .unwrap()
}

#[tokio::test]
async fn against_a_slow_api_many_events_are_in_flight_at_once() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = slow_api_client(&mock, Duration::from_millis(200), 2048, 16_384);

    queue_sales(&client, &click_id, ids("in_many", 500));
    let mut most_in_flight = 0;
    until("every sale delivered", || {
        let stats = client.delivery_stats();
        most_in_flight = most_in_flight.max(stats.in_flight);
        stats.delivered == 500
    })
    .await;
    // The old fixed limit was 64: far more were sent at once.
    assert!(most_in_flight > 64, "{most_in_flight}");
    let stats = client.delivery_stats();
    assert_eq!((stats.queue_full, stats.in_flight_limited), (0, 0));
    assert_eq!(recorded_sales(&mock).len(), 500);
}

#[tokio::test]
async fn max_in_flight_bounds_the_sends_and_counts_the_events_that_waited() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = slow_api_client(&mock, Duration::from_millis(50), 1, 100);

    queue_sales(&client, &click_id, ids("in_first", 1));
    until("the first sale in flight", || {
        client.delivery_stats().in_flight == 1
    })
    .await;
    queue_sales(&client, &click_id, ids("in_then", 4));
    let mut most_in_flight = 0;
    until("every sale delivered", || {
        let stats = client.delivery_stats();
        most_in_flight = most_in_flight.max(stats.in_flight);
        stats.delivered == 5
    })
    .await;
    assert_eq!(most_in_flight, 1);
    let stats = client.delivery_stats();
    assert_eq!((stats.in_flight_limited, stats.queue_full), (4, 0));
}

#[tokio::test]
async fn a_full_queue_is_counted_as_what_limited_delivery() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = slow_api_client(&mock, Duration::from_millis(300), 1, 2);

    queue_sales(&client, &click_id, ids("in_full", 5));
    let stats = settled(&client, 5).await;
    assert_eq!(
        (stats.delivered, stats.dropped, stats.queue_full),
        (2, 3, 3)
    );
}

/// A request's `enqueue().await` on a full queue waits for room rather than dropping its
/// event: five sales through a queue of two, one in flight at a time, are all delivered.
#[tokio::test]
async fn enqueue_waits_for_room_in_a_full_queue_rather_than_dropping_its_event() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = slow_api_client(&mock, Duration::from_millis(200), 1, 2);

    queue_sales(&client, &click_id, ids("in_first", 2));
    let waiting = ids("in_waiting", 3).into_iter().map(|id| {
        let client = client.clone();
        let click_id = click_id.clone();
        tokio::spawn(async move { client.sale(id, 4900).click_id(click_id).enqueue().await })
    });
    for enqueue in waiting.collect::<Vec<_>>() {
        enqueue.await.unwrap();
    }
    let stats = settled(&client, 5).await;
    assert_eq!(
        (stats.delivered, stats.dropped, stats.queue_full),
        (5, 0, 0),
        "{stats:?}"
    );
    assert_eq!(recorded_sales(&mock).len(), 5);
}

/// The requests waiting for room are let in first: `send_in_background` calls that keep
/// coming do not take the room a settled event leaves before the waiting request gets it. The
/// sale sent right after the first is the waiting request's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_room_goes_before_later_events() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = slow_api_client(&mock, Duration::from_millis(300), 1, 1);
    queue_sales(&client, &click_id, ids("in_first", 1));

    let waiting = {
        let (client, click_id) = (client.clone(), click_id.clone());
        tokio::spawn(async move {
            client
                .sale("in_waiting", 4900)
                .click_id(click_id)
                .enqueue()
                .await;
        })
    };
    // Its wait begun (the first sale takes 300 ms), a thread of its own queues without
    // pause: it meets every slot the moment it frees.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let flooding = {
        let (client, click_id) = (client.clone(), click_id.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut n = 0;
            while started.elapsed() < Duration::from_millis(1_000) {
                queue_sales(&client, &click_id, [format!("in_flood_{n}")]);
                n += 1;
            }
        })
    };
    waiting.await.unwrap();
    flooding.join().unwrap();
    until("two sales recorded", || recorded_sales(&mock).len() >= 2).await;
    let recorded = recorded_sales(&mock);
    assert_eq!(recorded[..2], ["in_first_0", "in_waiting"], "{recorded:?}");
}

/// The wait for room is bounded: 2 s, or less when the caller cuts it short; either way the
/// event is then dropped and counted as a full queue's refusal, never lost silently.
#[tokio::test]
async fn an_enqueue_without_room_in_time_is_dropped_and_counted() {
    use affitor::client::IntoEvent;

    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = slow_api_client(&mock, Duration::from_secs(10), 1, 1);
    queue_sales(&client, &click_id, ids("in_first", 1));

    let started = Instant::now();
    client
        .sale("in_2s", 4900)
        .click_id(click_id.clone())
        .enqueue()
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(1_900),
        "{:?}",
        started.elapsed()
    );
    let stats = client.delivery_stats();
    assert_eq!((stats.dropped, stats.queue_full), (1, 1), "{stats:?}");

    let event = client
        .sale("in_cut", 4900)
        .click_id(click_id)
        .into_event()
        .unwrap();
    let room = client.enqueue_event(event);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), room)
            .await
            .is_err()
    );
    let stats = client.delivery_stats();
    assert_eq!((stats.dropped, stats.queue_full), (2, 2), "{stats:?}");
}

/// A shutdown refuses what waits for room at once, as shut down, rather than at the wait's end
/// as a full queue.
#[tokio::test]
async fn a_shutdown_refuses_an_enqueue_waiting_for_room() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = slow_api_client(&mock, Duration::from_secs(10), 1, 1);
    queue_sales(&client, &click_id, ids("in_first", 1));

    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .sale("in_waiting", 4900)
                .click_id(click_id)
                .enqueue()
                .await
        })
    };
    // Its wait begun (were it refused after the shutdown began, it would be as shut down too).
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A deadline past the wait's own 2 s: only the shutdown's start can refuse it as shut down.
    let report = client.shutdown(Duration::from_secs(3)).await;
    waiting.await.unwrap();
    let stats = client.delivery_stats();
    assert_eq!(
        (stats.dropped, stats.queue_full),
        (2, 0),
        "{stats:?} {report:?}"
    );
}

/// The `warn` lines of `logs` that contain `words`.
fn lines_with<'a>(logs: &'a str, words: &str) -> Vec<&'a str> {
    logs.lines().filter(|line| line.contains(words)).collect()
}

/// An overload: a thousand events for a queue of four, a hundred refusals, a hundred events
/// after the shutdown. Each loss is counted, and named at `debug`; at `warn`, each kind of
/// loss is one line per 10 s at most, which says how many (a line per event made 248,687 lines
/// in an 8-second overload). The shutdown says what it lost in one line.
#[tokio::test]
async fn an_overload_writes_one_line_per_interval_for_each_kind_of_loss() {
    if !test_support::alone!() {
        return;
    }
    let (logs, _guard) = Logs::capture("info");
    let started = Instant::now();
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::status(400).on(Endpoint::Lead).always());
    mock.inject(
        Fault::delay(Duration::from_millis(100))
            .on(Endpoint::Sale)
            .always(),
    );
    let client = mock
        .client_builder()
        .retry(quick_retries())
        .queue_capacity(4)
        .build()
        .unwrap();

    // Nothing is sent before this task yields: four are queued, the rest dropped.
    queue_sales(&client, &click_id, ids("in_overload", 1_000));
    assert_eq!(client.delivery_stats().dropped, 996);
    settled(&client, 1_000).await;
    for n in 0..100 {
        client
            .lead(format!("user_{n}"))
            .click_id(click_id.clone())
            .send_in_background();
        // Room in the queue for each: every lead reaches the API, which refuses it.
        settled(&client, 1_001 + n).await;
    }
    let report = client.shutdown(Duration::from_secs(5)).await;
    queue_sales(&client, &click_id, ids("in_late", 100));
    let stats = client.delivery_stats();
    assert_eq!(
        (stats.delivered, stats.failed, stats.dropped),
        (4, 100, 1_096)
    );

    // At most one line per 10 s begun, the first as the first loss happens.
    let intervals = started.elapsed().as_secs() / 10 + 1;
    let logs = logs.text();
    for (words, count) in [
        (
            "the delivery queue being full",
            "dropped=1 dropped_total=1 ",
        ),
        (
            "refused by the API or out of retries",
            "failed=1 failed_total=1 ",
        ),
        (
            "sent after the client was shut down",
            "dropped=1 dropped_total=997",
        ),
    ] {
        let lines = lines_with(&logs, words);
        assert!(
            (1..=intervals).contains(&(lines.len() as u64)),
            "{words}: {} lines in {intervals} intervals\n{logs}",
            lines.len()
        );
        assert!(lines[0].contains(count), "{}", lines[0]);
    }
    // The per-event lines are at `debug`, left out here.
    assert!(!logs.contains("the delivery queue is full"), "{logs}");
    assert!(!logs.contains("not delivered: given up"), "{logs}");
    assert!(report.is_complete(), "{report:?}");
    let flushed = lines_with(&logs, "Affitor delivery queue flushed");
    assert_eq!(flushed.len(), 1, "{logs}");
    assert!(
        flushed[0].contains("dropped_total=996 failed_total=100"),
        "{}",
        flushed[0]
    );
}
