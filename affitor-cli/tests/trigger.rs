//! Where `affitor trigger` sends its signed event without `--live`: to this machine only, and
//! straight to it, through no proxy; and when it cannot, what failed, with its causes.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use support::{Recorder, affitor, document, stdout};

/// A Stripe secret of the shape Stripe issues.
const SECRET: &str = "whsec_cli_trigger_test";

async fn trigger(to: &str, env: &[(&str, &str)]) -> std::process::Output {
    let args = ["trigger", "stripe", "sale", "--to", to, "--secret", SECRET];
    affitor(&args, env).await
}

/// `HTTP_PROXY` and its kin name a proxy that would receive the signed event: an event for this
/// machine goes to it straight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_for_this_machine_goes_through_no_proxy() {
    let (app, proxy) = (Recorder::start().await, Recorder::start().await);
    let proxy_url = format!("http://{}", proxy.addr);
    let env = [
        ("HTTP_PROXY", proxy_url.as_str()),
        ("http_proxy", proxy_url.as_str()),
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("ALL_PROXY", proxy_url.as_str()),
    ];
    let port = app.addr.port();
    for to in [
        format!("http://127.0.0.1:{port}/wh"),
        format!("http://localhost:{port}/wh"),
        format!("http://LocalHost.:{port}/wh"),
    ] {
        let run = trigger(&to, &env).await;
        assert!(run.status.success(), "{to}: {run:?}");
        assert!(stdout(&run).contains("POST answered 200"), "{to}: {run:?}");
    }
    assert!(proxy.heads().is_empty(), "{:?}", proxy.heads());
    let heads = app.heads();
    assert_eq!(heads.len(), 3, "{heads:?}");
    assert!(
        heads.iter().all(|head| head.starts_with("POST /wh ")),
        "{heads:?}"
    );
}

/// A name under `localhost` is looked up in DNS, which may answer another machine: refused
/// without `--live`, nothing sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_under_localhost_is_not_this_machine() {
    let run = trigger("http://shop.localhost:4010/wh", &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let text = stdout(&run);
    assert!(text.contains("is not this machine"), "{text}");
    assert!(text.contains("looked up in DNS"), "{text}");
    assert!(!text.contains("signed"), "nothing signed nor sent: {text}");
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

/// An empty `--customer-key` or `--click-id` (a shell variable left unset) is refused before
/// anything is signed: it would send a payment of no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_id_is_refused() {
    for flag in ["--customer-key", "--click-id"] {
        let args = [
            "trigger",
            "stripe",
            "sale",
            "--to",
            "http://127.0.0.1:9/wh",
            "--secret",
            SECRET,
            flag,
            "",
        ];
        let run = affitor(&args, &[]).await;
        assert_eq!(run.status.code(), Some(2), "{flag}: {run:?}");
        let text = String::from_utf8_lossy(&run.stderr);
        assert!(text.contains("it is empty"), "{flag}: {text}");
        assert!(!stdout(&run).contains("signed"), "{flag}: nothing signed");
    }
}
