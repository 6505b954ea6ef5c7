//! The closed-loop clients: each signs up, waits for the answer, and signs up again, until
//! told to stop; every signup is recorded with when it started, how long it waited, and the
//! user id of a 2xx answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::{BoxError, CLIENT_TIMEOUT};

/// One signup.
#[derive(Clone, Debug)]
pub(crate) struct Signup {
    /// When it was sent, from the run's start.
    pub(crate) sent: Duration,
    /// How long it waited for its answer (or its error).
    pub(crate) wait: Duration,
    /// The new user's id when the answer was a 2xx with one; `None` for a failure.
    pub(crate) user_id: Option<String>,
}

/// The clients running.
pub(crate) struct Clients {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<Vec<Signup>>>,
}

impl Clients {
    /// Starts `count` clients signing up at `url` with `click_id`; call it inside their runtime.
    pub(crate) fn start(
        count: usize,
        url: &str,
        click_id: &str,
        start: Instant,
    ) -> Result<Self, BoxError> {
        let http = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build()?;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..count)
            .map(|client| {
                let (http, stop) = (http.clone(), Arc::clone(&stop));
                let (url, click_id) = (format!("{url}/api/signup"), click_id.to_owned());
                tokio::spawn(async move {
                    let mut signups = Vec::new();
                    while !stop.load(Ordering::Acquire) {
                        let body = serde_json::json!({
                            "email": format!("{}-{client}@faults.test", signups.len()),
                            "password": "correct horse",
                            "affitorClickId": click_id,
                        });
                        signups.push(sign_up(&http, &url, &body, start).await);
                    }
                    signups
                })
            })
            .collect();
        Ok(Self { stop, tasks })
    }

    /// Stops the clients after their signup in flight, and returns every signup.
    pub(crate) async fn stop(self) -> Vec<Signup> {
        self.stop.store(true, Ordering::Release);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.unwrap_or_default());
        }
        all.sort_by_key(|signup| signup.sent);
        all
    }
}

async fn sign_up(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    start: Instant,
) -> Signup {
    let sent = Instant::now();
    let answer = http.post(url).json(body).send().await;
    let user_id = match answer {
        Ok(answer) if answer.status().is_success() => answer
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|body| body.get("userId")?.as_str().map(str::to_owned)),
        _ => None,
    };
    Signup {
        sent: sent.duration_since(start),
        wait: sent.elapsed(),
        user_id,
    }
}
