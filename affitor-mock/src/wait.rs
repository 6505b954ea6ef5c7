//! Waiting for what arrives a moment later: one polling loop for every test's waits.

use std::time::Duration;

/// Polls `check` every 10 ms until it gives a value, for at most `limit`: the value, or `None`
/// when the time ran out. Every wait of this project's tests is this loop; for what the
/// stand-in received, [`MockServer::wait_until`](crate::MockServer::wait_until) reads better at the call site.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use affitor_mock::poll_until;
///
/// let (send, received) = std::sync::mpsc::channel();
/// std::thread::spawn(move || send.send("the answer"));
/// let answer = poll_until(Duration::from_secs(5), async || received.try_recv().ok()).await;
/// assert_eq!(answer, Some("the answer"));
/// # }
/// ```
pub async fn poll_until<T>(
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let until = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
