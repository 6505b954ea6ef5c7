//! What the tests of affitor-rs's crates share: a test run alone in a process of its own
//! ([`alone!`]), what it logged ([`Logs`]), the test Postgres server ([`postgres`]), and, with
//! the `proxy` feature, a TCP proxy that goes silent then resets its connections
//! (`proxy::Proxy`).
//!
//! A test that asserts on what `tracing` wrote needs both. `tracing` decides once per call site
//! whether anyone wants its events, and caches the answer. Until a process has a second
//! dispatcher, tracing-core registers a call site without taking the dispatchers' lock, so in a
//! test binary whose tests start in parallel a call site first reached on another thread can be
//! cached as "never" just after a test installed its subscriber with `set_default`: that test
//! then misses the event (CI saw it: "not queued: it is invalid" absent from a capture). In a
//! process where the test is the only one, nothing reaches a call site before its subscriber is
//! in place.
//!
//! ```no_run
//! #[test]
//! fn refusals_are_logged_without_the_value() {
//!     if !test_support::alone!() {
//!         return; // this process ran the test in a child of its own, which passed
//!     }
//!     let (logs, _guard) = test_support::Logs::capture("debug");
//!     tracing::warn!("refused");
//!     assert!(logs.text().contains("refused"));
//! }
//! ```

use std::io;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub mod postgres;
#[cfg(feature = "proxy")]
pub mod proxy;

/// The variable that tells a child process which test it runs alone.
const ALONE: &str = "AFFITOR_TEST_ALONE";

/// Whether the calling test should go on here: `true` in a process where it runs alone; in any
/// other, it runs the test again in a child process of this test binary, alone, panics with the
/// child's output unless it passed, and gives `false`.
///
/// Call it first thing in the test: `if !test_support::alone!() { return; }`.
#[macro_export]
macro_rules! alone {
    () => {
        $crate::alone({
            fn here() {}
            ::std::any::type_name_of_val(&here)
        })
    };
}

/// [`alone!`]'s work, given the path of a function defined in the test's body.
#[doc(hidden)]
pub fn alone(here: &str) -> bool {
    let test = test_name(here);
    if std::env::var(ALONE).is_ok_and(|alone| alone == test) {
        return true;
    }
    let binary = std::env::current_exe().expect("the test binary's own path");
    let output = Command::new(binary)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, test)
        .output()
        .expect("the test binary runs again as a child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "`{test}`, run alone in a child process, did not pass ({}):\n{stdout}\n{stderr}",
        output.status
    );
    false
}

/// The name libtest knows a test by, from the path of a function in its body: the crate's name
/// and the closures of an async body left off
/// (`client::delivery::logged::{{closure}}::here` → `delivery::logged`).
fn test_name(here: &str) -> &str {
    let mut path = here.strip_suffix("::here").unwrap_or(here);
    while let Some(outer) = path.strip_suffix("::{{closure}}") {
        path = outer;
    }
    path.split_once("::").map_or(path, |(_crate, test)| test)
}

/// What a `tracing` subscriber wrote, kept in memory: give it to `with_writer`, or let
/// [`Logs::capture`] build the subscriber.
#[derive(Clone, Debug, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Captures what `tracing` writes on this thread, as `directives` filter it (`"debug"`,
    /// `"affitor::client=trace"`), without colours, until the guard drops. Run the test
    /// [`alone!`] for the capture to be complete.
    pub fn capture(directives: &str) -> (Self, DefaultGuard) {
        let logs = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(directives))
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.bytes().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Logs {
    type Writer = Self;

    fn make_writer(&self) -> Self {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_is_named_as_libtest_names_it() {
        assert_eq!(
            test_name("client::delivery::logged::{{closure}}::here"),
            "delivery::logged"
        );
        assert_eq!(
            test_name("affitor_tower::adapter::pending::tests::logged::here"),
            "adapter::pending::tests::logged"
        );
    }

    #[test]
    fn this_test_runs_in_a_child_and_passes_there() {
        if !alone!() {
            assert!(std::env::var(ALONE).is_err(), "the parent is not the child");
            return;
        }
        assert_eq!(
            std::env::var(ALONE).as_deref(),
            Ok("tests::this_test_runs_in_a_child_and_passes_there")
        );
    }

    #[test]
    fn a_capture_keeps_what_this_thread_logs_at_its_level() {
        if !alone!() {
            return;
        }
        let (logs, guard) = Logs::capture("info");
        tracing::info!(code = "partner", "kept");
        tracing::debug!("below the level");
        drop(guard);
        tracing::warn!("after the guard");
        let text = logs.text();
        assert!(text.contains("kept code=\"partner\""), "{text}");
        assert!(!text.contains("below the level"), "{text}");
        assert!(!text.contains("after the guard"), "{text}");
    }
}
