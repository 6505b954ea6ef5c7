//! The relay's sends run on a thread of their own, which ends with the relay; the relay's store
//! work stays on the server's runtime. Every thread of the outbox ends at `shutdown`.
//!
//! One binary of its own: it reads the process's threads, and sets the global subscriber.

#![cfg(all(target_os = "linux", feature = "sqlite"))]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affitor_mock::MockServer;
use affitor_outbox::Outbox;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The threads each span was opened on, by the span's name.
#[derive(Clone, Default)]
struct SpanThreads(Arc<Mutex<Vec<(String, String)>>>);

impl SpanThreads {
    fn of(&self, span: &str) -> BTreeSet<String> {
        let opened = self.0.lock().unwrap();
        opened
            .iter()
            .filter(|(name, _)| name == span)
            .map(|(_, thread)| thread.clone())
            .collect()
    }
}

impl<S: tracing::Subscriber> Layer<S> for SpanThreads {
    fn on_new_span(&self, attributes: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        self.0
            .lock()
            .unwrap()
            .push((attributes.metadata().name().to_owned(), thread));
    }
}

/// The outbox's writer's thread, `affitor-outbox-writer`, as Linux keeps its name.
const WRITER: &str = "affitor-outbox-";

/// The checkpointer's thread, `affitor-checkpoint`, as Linux keeps its name.
const CHECKPOINTER: &str = "affitor-checkpo";

/// How many of this process's threads are named `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .count()
}

/// The threads named `name` left once those ending have had up to 5 s to leave: a thread that
/// has done its last work still shows in `/proc` until the kernel has ended it.
async fn left_after_exit(name: &str) -> usize {
    let mut left = threads_named(name);
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = threads_named(name);
    }
    left
}

#[test]
fn the_relay_sends_on_a_thread_of_its_own_and_every_thread_ends_at_shutdown() {
    let threads = SpanThreads::default();
    let subscriber = tracing_subscriber::registry()
        .with(threads.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("affitor-outbox-sends-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("outbox.db").to_string_lossy().into_owned();
    runtime.block_on(async {
        let mock = MockServer::start().await.unwrap();
        let client = mock.client();
        assert_eq!(threads_named("affitor-relay"), 0);
        let outbox = Outbox::builder(client.clone()).open(&path).await.unwrap();
        let client = client.with_backend(outbox.clone());

        for user in ["user_1", "user_2", "user_3"] {
            client
                .lead(user)
                .click_id(mock.click("partner"))
                .send_in_background();
        }
        let delivered = mock
            .wait_until(Duration::from_secs(10), |_| outbox.stats().delivered == 3)
            .await;
        assert!(delivered, "{:?}", outbox.stats());

        // One send thread; and the writer's and the checkpointer's (Linux keeps 15 bytes of a
        // thread's name).
        assert_eq!(threads_named("affitor-relay"), 1);
        assert_eq!(threads_named(WRITER), 1);
        assert_eq!(threads_named(CHECKPOINTER), 1);
        // The HTTP exchanges ran there; each row's span, which settles it in the store, on the
        // server's runtime.
        assert_eq!(
            threads.of("affitor.http"),
            BTreeSet::from(["affitor-relay".to_owned()])
        );
        assert_eq!(
            threads.of("affitor.outbox.deliver"),
            BTreeSet::from(["server".to_owned()])
        );

        // The thread stops with the relay.
        outbox.shutdown(Duration::from_secs(5)).await;
        assert_eq!(
            left_after_exit("affitor-relay").await,
            0,
            "the send thread outlived its relay"
        );
        // The outbox is still there, and its writer's threads have ended with `shutdown`.
        assert_eq!(
            left_after_exit(WRITER).await,
            0,
            "the writer outlived shutdown"
        );
        assert_eq!(
            left_after_exit(CHECKPOINTER).await,
            0,
            "the checkpointer outlived shutdown"
        );
        // What it wrote can still be read, and what comes later is still stored.
        assert_eq!(outbox.waiting().await.unwrap(), 0);
        outbox.enqueue(client.lead("user_4")).await;
        assert_eq!(outbox.stats().fell_back, 0);
        assert_eq!(outbox.waiting().await.unwrap(), 1);
        assert_eq!(threads_named(WRITER), 0, "no writer started again");
        drop(outbox);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
