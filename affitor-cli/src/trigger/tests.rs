use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Command {
    #[command(flatten)]
    args: TriggerArgs,
}

fn parse(line: &[&str]) -> TriggerArgs {
    Command::try_parse_from(std::iter::once("trigger").chain(line.iter().copied()))
        .unwrap()
        .args
}

#[test]
fn the_same_flags_are_the_same_payment() {
    let line = ["stripe", "sale", "--to", "http://x", "--customer-key", "u1"];
    assert_eq!(payment_key(&parse(&line)), payment_key(&parse(&line)));
    let other = ["stripe", "sale", "--to", "http://x", "--customer-key", "u2"];
    assert_ne!(payment_key(&parse(&line)), payment_key(&parse(&other)));
    let mut new = line.to_vec();
    new.push("--new-id");
    assert_ne!(payment_key(&parse(&line)), payment_key(&parse(&new)));
    let mut live = line.to_vec();
    live.push("--live");
    assert_ne!(payment_key(&parse(&line)), payment_key(&parse(&live)));
}

#[test]
fn a_refund_names_its_sale_and_a_renewal_is_a_payment_of_its_own() {
    for provider in WebhookProvider::ALL {
        let sale = payment_id(provider, SampleKind::Sale, "k");
        assert_eq!(sale, payment_id(provider, SampleKind::Refund, "k"));
        let renewal = SampleEvent::new(
            provider,
            SampleKind::Renewal,
            payment_id(provider, SampleKind::Renewal, "k"),
        )
        .unwrap();
        let first = SampleEvent::new(provider, SampleKind::Sale, sale).unwrap();
        assert_ne!(
            renewal.transaction_id(),
            first.transaction_id(),
            "{provider}"
        );
    }
}

#[test]
fn names_and_aliases() {
    assert_eq!(
        parse(&["lemonsqueezy", "sale", "--to", "http://x"]).provider,
        ProviderName::LemonSqueezy
    );
    assert_eq!(
        parse(&["lemon-squeezy", "refund", "--to", "http://x"]).event,
        EventName::Refund
    );
    let both = [
        "stripe", "sale", "--to", "http://x", "--id", "pi_1", "--new-id",
    ];
    assert!(Command::try_parse_from(std::iter::once("trigger").chain(both)).is_err());
}

#[test]
fn only_this_machine_is_a_target_without_live() {
    for local in [
        "http://127.0.0.1:3000/webhooks/stripe",
        "http://127.9.9.9/",
        "http://[::1]:3000/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:3000/x",
        "http://LOCALHOST./",
        "http://localhost.:3000/x",
    ] {
        let args = parse(&["stripe", "sale", "--to", local]);
        assert!(target(&args).is_ok(), "{local}");
    }
    for remote in [
        "https://shop.example/webhooks/stripe",
        "http://10.0.0.5/",
        "http://[2001:db8::1]/",
        "http://localhost.example/",
        // Looked up in DNS, which may answer another machine's address.
        "http://app.localhost/",
        "http://shop.localhost.:4010/wh",
        "http://localhost.localhost/",
    ] {
        let refusal = target(&parse(&["stripe", "sale", "--to", remote])).unwrap_err();
        assert!(refusal.problem.contains("not this machine"), "{remote}");
        assert!(refusal.fix.contains("--live"), "{remote}");
        let live = parse(&["stripe", "sale", "--to", remote, "--live"]);
        assert!(target(&live).is_ok(), "{remote} with --live");
    }
}

#[test]
fn a_name_under_localhost_is_refused_saying_why() {
    let refusal = target(&parse(&[
        "stripe",
        "sale",
        "--to",
        "http://shop.localhost:4010/wh",
    ]));
    let refusal = refusal.unwrap_err();
    assert!(refusal.fix.contains("looked up in DNS"), "{refusal:?}");
    assert!(refusal.fix.contains("127.0.0.1"), "{refusal:?}");
}

#[test]
fn a_urls_password_is_not_shown() {
    let to = "https://hook:s3cr3tPW@example.com/wh";
    let refusal = target(&parse(&["stripe", "sale", "--to", to])).unwrap_err();
    assert!(!refusal.problem.contains("s3cr3tPW"), "{refusal:?}");
    assert!(
        refusal.problem.contains("https://hook:***@example.com/wh"),
        "{refusal:?}"
    );
    let url = target(&parse(&["stripe", "sale", "--to", to, "--live"])).unwrap();
    assert_eq!(
        url.password(),
        Some("s3cr3tPW"),
        "the request still sends it"
    );
    assert_eq!(shown(&url), "https://hook:***@example.com/wh");
    let refusal = target(&parse(&["stripe", "sale", "--to", "ftp://u:s3cr3tPW@x/"])).unwrap_err();
    assert!(!refusal.problem.contains("s3cr3tPW"), "{refusal:?}");
    // Not a URL at all: no URL's password to find, and nothing of it shown.
    for to in [
        "hook:s3cr3tPW@127.0.0.1:3000/wh",
        "http//hook:s3cr3tPW@127.0.0.1/wh",
    ] {
        let refusal = target(&parse(&["stripe", "sale", "--to", to])).unwrap_err();
        assert!(!refusal.problem.contains("s3cr3tPW"), "{refusal:?}");
    }
}

#[test]
fn polar_and_paddle_need_live_to_sign_with_the_environments_secret() {
    for provider in ["polar", "paddle"] {
        let args = parse(&[provider, "sale", "--to", "http://127.0.0.1/"]);
        let refusal = check_unflagged(&args, SecretFrom::Environment).unwrap_err();
        assert!(refusal.problem.contains("no test-mode flag"), "{refusal:?}");
        assert!(check_unflagged(&args, SecretFrom::Chosen).is_ok());
        let live = parse(&[provider, "sale", "--to", "http://127.0.0.1/", "--live"]);
        assert!(check_unflagged(&live, SecretFrom::Environment).is_ok());
    }
    for provider in ["stripe", "lemon-squeezy"] {
        let args = parse(&[provider, "sale", "--to", "http://127.0.0.1/"]);
        assert!(check_unflagged(&args, SecretFrom::Environment).is_ok());
    }
}

#[test]
fn events_are_of_test_mode_unless_live() {
    let test = sample(&parse(&["stripe", "refund", "--to", "http://127.0.0.1/"])).unwrap();
    assert_eq!(test.to_json()["livemode"], false);
    let live = parse(&["stripe", "refund", "--to", "http://127.0.0.1/", "--live"]);
    assert_eq!(sample(&live).unwrap().to_json()["livemode"], true);
    let lemon = sample(&parse(&[
        "lemon-squeezy",
        "sale",
        "--to",
        "http://127.0.0.1/",
    ]));
    assert_eq!(lemon.unwrap().to_json()["meta"]["test_mode"], true);
}

/// The refusal of `line`'s `--id`, if refused.
fn id_refusal(line: &[&str]) -> Option<Refusal> {
    let args = parse(line);
    let event = sample(&args).unwrap();
    check_payment_id(&args, &event).err()
}

#[test]
fn a_real_payments_id_needs_live() {
    let to = ["--to", "http://127.0.0.1/"];
    for (provider, event, id, what) in [
        (
            "stripe",
            "sale",
            "pi_3QpLyxLkdIwHu7ix0mS3hXkT",
            "a Stripe payment intent",
        ),
        (
            "stripe",
            "renewal",
            "in_1RaBc9LkdIwHu7ixCycle0002",
            "a Stripe invoice",
        ),
        (
            "paddle",
            "sale",
            "txn_01hv8wptq8987qeep44cyrewp9",
            "a Paddle transaction",
        ),
        (
            "polar",
            "sale",
            "b6a1f0c2-4e5d-4c3b-9a8f-7e6d5c4b3a21",
            "a Polar order",
        ),
        ("lemon-squeezy", "sale", "1012345", "a Lemon Squeezy order"),
        ("stripe", "sale", "order-1001", "a real sale's"),
    ] {
        let line = [&[provider, event][..], &to, &["--id", id]].concat();
        let refusal = id_refusal(&line).unwrap_or_else(|| panic!("{line:?} taken"));
        assert!(refusal.problem.contains(what), "{refusal:?}");
        assert!(refusal.problem.contains("409"), "{refusal:?}");
        assert!(refusal.fix.contains("--live"), "{refusal:?}");
        let live = [&line[..], &["--live"]].concat();
        assert!(id_refusal(&live).is_none(), "{live:?}");
    }
    let refund = [
        "stripe",
        "refund",
        "--to",
        "http://127.0.0.1/",
        "--id",
        "pi_3Qp",
    ];
    let refusal = id_refusal(&refund).unwrap();
    assert!(refusal.problem.contains("test payment"), "{refusal:?}");
}

#[test]
fn an_id_trigger_made_is_taken_without_live() {
    for provider in WebhookProvider::ALL {
        for kind in [SampleKind::Sale, SampleKind::Renewal, SampleKind::Refund] {
            let id = payment_id(provider, kind, "affitor_0123456789ab");
            assert!(is_test_payment(provider, &id), "{provider} {id}");
        }
    }
    let line = [
        "stripe",
        "refund",
        "--to",
        "http://127.0.0.1/",
        "--id",
        "pi_affitor_0123456789ab",
    ];
    assert!(id_refusal(&line).is_none());
    let made = parse(&["stripe", "sale", "--to", "http://127.0.0.1/"]);
    let made = sample(&made).unwrap().transaction_id();
    let line = ["stripe", "sale", "--to", "http://127.0.0.1/", "--id", &made];
    assert!(id_refusal(&line).is_none(), "{made}");
}

/// Read as the verifier reads the variable: a rotation of issued secrets is several, the first
/// signs; a Lemon Squeezy secret, chosen by its owner, is one, spaces and all.
#[test]
fn a_secret_is_the_first_of_several() {
    let (new, old) = (
        "whsec_0123456789abcdefABCDEF",
        "whsec_FEDCBA9876543210fedcba",
    );
    let stripe = ProviderName::Stripe;
    assert_eq!(
        stripe.first_secret(&format!(" {new}, {old}\n")).as_deref(),
        Some(new)
    );
    assert_eq!(stripe.first_secret(" \n"), None);
    let lemon_squeezy = ProviderName::LemonSqueezy;
    assert_eq!(
        lemon_squeezy.first_secret("my shop 2024").as_deref(),
        Some("my shop 2024")
    );
}

#[test]
fn long_answers_are_cut() {
    assert_eq!(shown_body(""), "(no body)");
    assert_eq!(shown_body("{\n \"a\": 1\n}"), "{ \"a\": 1 }");
    assert!(shown_body(&"x".repeat(1000)).ends_with('…'));
}
