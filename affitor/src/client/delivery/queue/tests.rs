use super::*;
use crate::{
    ClickId,
    client::{Client, IntoEvent},
};

fn client(capacity: usize) -> Client {
    Client::builder()
        .api_key("aff_test_key")
        .base_url("http://127.0.0.1:9")
        .queue_capacity(capacity)
        .build()
        .unwrap()
}

fn job(event: Event, seq: u64) -> Job {
    let keys = keys(&event);
    Job {
        event: Arc::new(event),
        keys,
        seq,
    }
}

fn sale(client: &Client, transaction_id: &str, customer_key: &str) -> Event {
    client
        .sale(transaction_id, 100)
        .customer_key(customer_key)
        .into_event()
        .unwrap()
}

fn refund(client: &Client, transaction_id: &str) -> Event {
    client.refund(transaction_id).into_event().unwrap()
}

fn lead(client: &Client, customer_key: &str) -> Event {
    client.lead(customer_key).into_event().unwrap()
}

fn transaction(job: &Job) -> Option<String> {
    Label::of(&job.event).transaction_id
}

#[test]
fn same_transaction_or_customer_waits_in_order() {
    let client = client(16);
    let mut state = State::default();
    let events = [
        sale(&client, "in_1", "u1"),
        refund(&client, "in_1"),
        sale(&client, "in_2", "u2"),
        lead(&client, "u3"),
        sale(&client, "in_3", "u3"),
        refund(&client, "in_2"),
    ];
    for (seq, event) in (0..).zip(events) {
        state.pending.push_back(job(event, seq));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut started = Vec::new();
    // Starts every event that may start, as the worker does, and says which task sends it.
    let start_ready = |state: &mut State, started: &mut Vec<(String, tokio::task::Id)>| {
        while let Some(job) = state.take_ready() {
            let task = runtime.spawn(async {}).id();
            started.push((transaction(&job).unwrap_or_else(|| "lead".to_owned()), task));
            state.start(task, job);
        }
    };
    let names = |started: &[(String, tokio::task::Id)]| -> Vec<String> {
        started.iter().map(|(name, _)| name.clone()).collect()
    };
    // in_1 starts; its refund waits; in_2 and the lead of u3 start; u3's sale waits for the
    // lead; in_2's refund waits for in_2.
    start_ready(&mut state, &mut started);
    assert_eq!(names(&started), ["in_1", "in_2", "lead"]);
    assert_eq!(state.pending.len(), 3);
    // The sale in_1 is settled: its refund may go.
    state.take_in_flight(started[0].1).unwrap();
    start_ready(&mut state, &mut started);
    assert_eq!(names(&started), ["in_1", "in_2", "lead", "in_1"]);
    // The lead is settled: u3's sale may go; in_2's refund still waits.
    state.take_in_flight(started[2].1).unwrap();
    start_ready(&mut state, &mut started);
    assert_eq!(names(&started), ["in_1", "in_2", "lead", "in_1", "in_3"]);
    assert_eq!(state.pending.len(), 1);
    // Every settled event freed its keys; the busy ones are those still being sent.
    assert_eq!(state.busy.values().sum::<u32>(), 5);
}

#[test]
fn clicks_never_wait() {
    let client = client(4);
    let click = client
        .click("https://shop.example/?aff=a")
        .into_event()
        .unwrap();
    assert_eq!(keys(&click), [None, None]);
    let lead = client
        .lead("")
        .click_id("c1".parse::<ClickId>().unwrap())
        .into_event()
        .unwrap();
    assert_eq!(keys(&lead), [None, None]);
}

#[test]
fn outside_a_runtime_events_are_dropped_and_invalid_ones_failed() {
    let client = client(4);
    client
        .sale("in_1", 100)
        .customer_key("u")
        .send_in_background();
    client
        .sale("in_2", 0)
        .customer_key("u")
        .send_in_background();
    client.lead("").send_in_background();
    let stats = client.clone().delivery_stats();
    assert_eq!(
        (stats.queued, stats.dropped, stats.failed, stats.pending),
        (0, 1, 2, 0)
    );
    assert!(format!("{:?}", client.inner.memory).contains("capacity: 4"));
}

#[test]
fn capacity_and_max_in_flight_are_at_least_one() {
    let client = Client::builder().api_key("aff_key").queue_capacity(0);
    let client = client.max_in_flight(0).build().unwrap();
    let delivery = &client.inner.memory;
    assert_eq!(delivery.shared.capacity, 1);
    assert_eq!(delivery.shared.max_in_flight, 1);
}
