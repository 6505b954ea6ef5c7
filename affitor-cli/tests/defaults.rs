//! What the `affitor` binary sends unless `--live` says otherwise, run as a person or a script
//! runs it against real servers on 127.0.0.1 (the stand-in API, the axum checkout example):
//! test-mode events for this machine only, secrets from the environment or a file, no refund
//! of a sale it did not make, and text from the network printed inert.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use affitor::client::Endpoint;
use affitor_mock::MockServer;
use example_support::PaymentProvider;
use support::{affitor, affitor_fed, api_env, checkout_app, document, pairs, stderr, stdout};

/// Without `--live`, a Stripe or Lemon Squeezy sample is of the provider's test mode: its sale
/// reaches Affitor as a test event (no partner paid), and its refund is acknowledged and
/// ignored, which the output says. The secret comes from the environment, or from a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_sends_test_events_unless_live() {
    let mock = MockServer::start().await.unwrap();
    let addr = checkout_app(&mock).await;
    let click_id = mock.click("partner");
    let stripe = format!("http://{addr}/webhooks/stripe");
    let env = [(
        "STRIPE_WEBHOOK_SECRET",
        PaymentProvider::Stripe.demo_secret(),
    )];
    let run = |event: &'static str| {
        let (stripe, click_id) = (stripe.clone(), click_id.to_string());
        async move {
            let args = [
                "trigger",
                "stripe",
                event,
                "--to",
                &stripe,
                "--click-id",
                &click_id,
                "--json",
            ];
            affitor(&args, &env).await
        }
    };
    let sale = run("sale").await;
    assert!(sale.status.success(), "{sale:?}");
    let sale = document(&sale);
    assert_eq!(
        (sale["test_mode"].clone(), sale["live"].clone()),
        (true.into(), false.into())
    );
    let recorded: Vec<_> = mock
        .sales()
        .into_iter()
        .filter(|recorded| recorded.transaction_id == sale["transaction_id"])
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert!(recorded[0].test, "a test event: {recorded:?}");

    let refund = document(&run("refund").await);
    assert_eq!(refund["status"], 200, "{refund}");
    assert!(
        mock.requests_to(Endpoint::Refund).is_empty(),
        "a test refund reverses nothing: {:?}",
        mock.refunds()
    );
    // As a person reads it.
    let args = ["trigger", "stripe", "refund", "--to", &stripe];
    let text = stdout(&affitor(&args, &env).await);
    assert!(text.contains("test mode"), "{text}");
    assert!(text.contains("reverses nothing"), "{text}");
    assert!(text.contains("--live"), "{text}");

    // Lemon Squeezy's flag, the secret read from a file.
    let secret_file =
        std::env::temp_dir().join(format!("affitor-cli-secret-{}", std::process::id()));
    std::fs::write(
        &secret_file,
        format!("{}\n", PaymentProvider::LemonSqueezy.demo_secret()),
    )
    .unwrap();
    let lemon = format!("http://{addr}/webhooks/lemonsqueezy");
    let run = affitor(
        &[
            "trigger",
            "lemon-squeezy",
            "sale",
            "--to",
            &lemon,
            "--click-id",
            click_id.as_str(),
            "--secret-file",
            &secret_file.to_string_lossy(),
            "--json",
        ],
        &[],
    )
    .await;
    std::fs::remove_file(&secret_file).unwrap();
    assert!(run.status.success(), "{run:?}");
    let lemon = document(&run);
    assert!(
        mock.sales()
            .iter()
            .any(|sale| sale.transaction_id == lemon["transaction_id"] && sale.test),
        "{:?}",
        mock.sales()
    );
    mock.shutdown().await;
}

/// Without `--live`, only this machine is a target: a remote URL is refused before anything
/// is signed or sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_refuses_a_remote_target_without_live() {
    let env = [("STRIPE_WEBHOOK_SECRET", "whsec_production_like")];
    let args = [
        "trigger",
        "stripe",
        "sale",
        "--to",
        "https://shop.example/webhooks/stripe",
    ];
    let run = affitor(&args, &env).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let text = stdout(&run);
    assert!(text.contains("not this machine"), "{text}");
    assert!(text.contains("--live"), "{text}");
    assert!(!text.contains("signed"), "nothing signed: {text}");
}

/// Polar and Paddle events carry no test-mode flag: the secret of the environment (a
/// production shell's is the live endpoint's) needs `--live`; a secret chosen for the run
/// (a sandbox's, from a file or standard input) does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_needs_live_to_sign_polar_or_paddle_with_the_environments_secret() {
    let mock = MockServer::start().await.unwrap();
    let addr = checkout_app(&mock).await;
    for provider in [PaymentProvider::Polar, PaymentProvider::Paddle] {
        let url = format!("http://{addr}/webhooks/{provider}");
        let name = provider.webhook_provider().name();
        let env = [(provider.secret_variable(), provider.demo_secret())];
        let run = affitor(&["trigger", name, "sale", "--to", &url], &env).await;
        assert_eq!(run.status.code(), Some(1), "{provider}: {run:?}");
        let text = stdout(&run);
        assert!(text.contains("no test-mode flag"), "{provider}: {text}");
        assert!(text.contains("--secret-file"), "{provider}: {text}");

        let args = [
            "trigger",
            name,
            "sale",
            "--to",
            &url,
            "--secret-file",
            "-",
            "--json",
        ];
        let fed = affitor_fed(&args, &[], provider.demo_secret()).await;
        assert!(fed.status.success(), "{provider}: {fed:?}");
        assert_eq!(document(&fed)["status"], 200, "{provider}");
        let live = affitor(
            &["trigger", name, "sale", "--to", &url, "--live", "--new-id"],
            &env,
        )
        .await;
        assert!(live.status.success(), "{provider}: {live:?}");
    }
    assert!(
        mock.requests()
            .iter()
            .all(|request| request.endpoint == Some(Endpoint::Sale))
    );
    mock.shutdown().await;
}

/// `--secret` still signs, and warns on stderr that the process list and the shell's history
/// keep it (stdout keeps `--json`'s one document).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_on_the_command_line_is_warned_about() {
    let mock = MockServer::start().await.unwrap();
    let addr = checkout_app(&mock).await;
    let url = format!("http://{addr}/webhooks/stripe");
    let secret = PaymentProvider::Stripe.demo_secret();
    let args = [
        "trigger", "stripe", "sale", "--to", &url, "--secret", secret, "--json",
    ];
    let run = affitor(&args, &[]).await;
    assert!(run.status.success(), "{run:?}");
    assert_eq!(document(&run)["status"], 200);
    let warned = stderr(&run);
    assert!(warned.contains("process list"), "{warned}");
    assert!(warned.contains("--secret-file"), "{warned}");
    assert!(
        !warned.contains(secret),
        "the warning never shows the secret: {warned}"
    );
    mock.shutdown().await;
}

/// A webhook's answer reaches the terminal with its control characters replaced: an escape
/// sequence in it (a title, a colour, a cleared screen) is shown, never run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_escape_sequences_is_printed_inert() {
    use axum::routing::post;

    let hostile = "ok\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mred\r\u{202e}txet";
    let app = axum::Router::new().route("/hook", post(move || async move { hostile }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://{addr}/hook");
    let env = [("STRIPE_WEBHOOK_SECRET", "whsec_anything_at_all")];
    let run = affitor(&["trigger", "stripe", "sale", "--to", &url], &env).await;
    assert!(run.status.success(), "{run:?}");
    let text = stdout(&run);
    assert!(text.contains("POST answered 200"), "{text}");
    assert!(text.contains("red"), "{text}");
    for control in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
        assert!(!text.contains(control), "{control:?} in {text:?}");
    }
}

/// A refund is never a test: `test refund` refunds only a sale `test sale` made, unless
/// `--live`; `test sale` takes no transaction id but a test one (`affitor_cli_test_...`): a
/// provider's payment or the app's own order would then be answered 409, with no commission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_refund_and_test_sale_leave_real_payments_alone() {
    let mock = MockServer::start().await.unwrap();
    let env = api_env(&mock);
    let real = "pi_3QpLyxLkdIwHu7ix0mS3hXkT";
    let refund = affitor(&["test", "refund", "--transaction-id", real], &pairs(&env)).await;
    assert_eq!(refund.status.code(), Some(1), "{refund:?}");
    let text = stdout(&refund);
    assert!(
        text.contains("not a sale `affitor test sale` made"),
        "{text}"
    );
    assert!(text.contains("--live"), "{text}");
    let sale = affitor(
        &["test", "sale", "--transaction-id", real, "--json"],
        &pairs(&env),
    )
    .await;
    assert_eq!(sale.status.code(), Some(1), "{sale:?}");
    let refused = document(&sale);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a Stripe payment intent"),
        "{refused}"
    );
    let own_order = affitor(
        &["test", "sale", "--transaction-id", "order-1001", "--json"],
        &pairs(&env),
    )
    .await;
    assert_eq!(own_order.status.code(), Some(1), "{own_order:?}");
    let refused = document(&own_order);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a test transaction id"),
        "{refused}"
    );
    assert!(
        refused["error"]["fix"]
            .as_str()
            .unwrap()
            .contains("begin yours with `affitor_cli_test_`"),
        "{refused}"
    );
    assert!(
        mock.requests().is_empty(),
        "nothing sent: {:?}",
        mock.requests()
    );

    // A test sale's id, made or chosen, refunds without --live; any other with it.
    let sale = document(&affitor(&["test", "sale", "--json"], &pairs(&env)).await);
    let own = sale["transaction_id"].as_str().unwrap();
    let refund = affitor(&["test", "refund", "--transaction-id", own], &pairs(&env)).await;
    assert!(refund.status.success(), "{refund:?}");
    let chosen = "affitor_cli_test_checkout_1";
    let sale = affitor(&["test", "sale", "--transaction-id", chosen], &pairs(&env)).await;
    assert!(sale.status.success(), "{sale:?}");
    let refund = affitor(
        &["test", "refund", "--transaction-id", chosen],
        &pairs(&env),
    )
    .await;
    assert!(refund.status.success(), "{refund:?}");
    let live = affitor(
        &[
            "test",
            "refund",
            "--transaction-id",
            "order-1001",
            "--live",
            "--json",
        ],
        &pairs(&env),
    )
    .await;
    assert_eq!(document(&live)["command"], "test refund");
    let mut refunded: Vec<String> = mock
        .requests_to(Endpoint::Refund)
        .iter()
        .map(|request| request.body["transaction_id"].as_str().unwrap().to_owned())
        .collect();
    refunded.dedup(); // a refund of a sale the API does not know is tried a few times
    assert_eq!(refunded, [own, chosen, "order-1001"]);
    mock.shutdown().await;
}
