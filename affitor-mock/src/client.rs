//! A client of the stand-in, at a test's pace, and waiting for what it receives: what every
//! test of this project, and of yours, builds on.

use std::time::Duration;

use super::{MockServer, poll_until};
use affitor::Client;
use affitor::client::{ClientBuilder, RetryPolicy};

/// The retries of a test: the default policy's rules (what is retried, and in which order),
/// milliseconds apart instead of seconds. Four attempts, 5 ms doubling to 20 ms, a
/// `Retry-After` capped at 50 ms, 5 s in all; a refund waits 100 ms for its sale.
///
/// ```
/// use std::time::Duration;
/// use affitor_mock::quick_retries;
///
/// let patient = quick_retries().max_attempts(100).deadline(Duration::from_secs(20));
/// ```
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(4)
        .base_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(20))
        .retry_after_cap(Duration::from_millis(50))
        .deadline(Duration::from_secs(5))
        .refund_not_found_window(Duration::from_millis(100))
}

impl MockServer {
    /// A builder of a client of this stand-in: its URL and key, a 2 s timeout per attempt,
    /// and [`quick_retries`]. Change what your test needs, then build.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use affitor_mock::{MockServer, quick_retries};
    ///
    /// let mock = MockServer::start().await?;
    /// let client = mock.client_builder().retry(quick_retries().max_attempts(1)).build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .base_url(self.url())
            .api_key(self.api_key())
            .timeout(Duration::from_secs(2))
            .retry(quick_retries())
    }

    /// A client of this stand-in: [`client_builder`](Self::client_builder), built.
    ///
    /// # Panics
    ///
    /// When the HTTP client cannot be made (the system's TLS roots cannot be read): the
    /// stand-in's URL and key are always valid.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = affitor_mock::MockServer::start().await?;
    /// let click_id = mock.click("partner");
    /// mock.client().lead("user_1").click_id(click_id).send().await?;
    /// assert_eq!(mock.leads().len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .unwrap_or_else(|error| panic!("a client of the stand-in: {error}"))
    }

    /// Waits until `done` holds of the stand-in, looking every 10 ms, for at most `limit`:
    /// whether it did. What `send_in_background` sends arrives a moment after the call; wait
    /// for it with this rather than with a sleep.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    ///
    /// let mock = affitor_mock::MockServer::start().await?;
    /// let click_id = mock.click("partner");
    /// mock.client().lead("user_1").click_id(click_id).send_in_background();
    /// assert!(mock.wait_until(Duration::from_secs(5), |mock| mock.leads().len() == 1).await);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_until(&self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        poll_until(limit, async || done(self).then_some(()))
            .await
            .is_some()
    }
}
