//! Where `affitor trigger` sends its signed event, and when it cannot, what failed, with its
//! causes.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use support::{affitor, document, stdout};

/// A Stripe secret of the shape Stripe issues.
const SECRET: &str = "whsec_cli_trigger_test";

async fn trigger(to: &str, env: &[(&str, &str)]) -> std::process::Output {
    let args = ["trigger", "stripe", "sale", "--to", to, "--secret", SECRET];
    affitor(&args, env).await
}

/// A POST that failed says why, the system's answer included, not only reqwest's `error
/// sending request`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_failed_says_its_cause() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = format!("http://127.0.0.1:{port}/wh");
    let run = trigger(&to, &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let text = stdout(&run);
    assert!(
        text.contains(&format!("could not POST to {to}: ")),
        "{text}"
    );
    assert!(text.contains("(cause: "), "{text}");
    assert!(text.contains("onnection refused"), "{text}");

    let mut args = vec!["trigger", "stripe", "sale", "--to", &to, "--secret", SECRET];
    args.push("--json");
    let failed = document(&affitor(&args, &[]).await);
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("onnection refused"), "{failed}");
}
