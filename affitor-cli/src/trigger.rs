//! `affitor trigger <provider> <event> --to URL`: a payment provider's sample event
//! ([`SampleEvent`]), signed as the provider signs it, posted to the app's webhook URL.
//!
//! The same command sends the same event: its ids follow from `--customer-key` and
//! `--click-id` (or `--id`), so a second trigger is a redelivery, which the app acknowledges
//! without a second sale, and `refund` or `dispute` return the `sale` of the same flags.
//! `--new-id` sends another payment.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::webhook::{LemonSqueezy, Paddle, Polar, Provider as _, Stripe};
use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::env_var;
use crate::output::{Output, Status};

#[derive(Debug, Args)]
pub(crate) struct TriggerArgs {
    /// The payment provider whose event to send.
    provider: ProviderName,
    /// The event: `dispute` for Stripe and Paddle only.
    event: EventName,
    /// The app's webhook URL, such as http://127.0.0.1:3000/webhooks/stripe.
    #[arg(long, value_name = "URL")]
    to: String,
    /// The webhook's signing secret (default: the provider's variable, such as
    /// STRIPE_WEBHOOK_SECRET; the first of several).
    #[arg(long, value_name = "SECRET")]
    secret: Option<String>,
    /// The click id the app's checkout wrote in the payment (`affitor_click_id`).
    #[arg(long, value_name = "ID")]
    click_id: Option<String>,
    /// The customer key the app's checkout wrote in the payment (`affitor_customer_key`).
    #[arg(long, value_name = "KEY")]
    customer_key: Option<String>,
    /// The amount of the payment, in cents.
    #[arg(long, default_value_t = 4900)]
    amount_cents: u64,
    /// The payment's id as the provider names it (a Stripe payment intent, or the invoice of a
    /// renewal); default: one that follows from --customer-key and --click-id.
    #[arg(long, value_name = "PAYMENT_ID", conflicts_with = "new_id")]
    id: Option<String>,
    /// A payment never sent before, instead of the one the same flags always send.
    #[arg(long)]
    new_id: bool,
}

/// The providers, as the command line names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProviderName {
    Stripe,
    Polar,
    Paddle,
    #[value(alias = "lemonsqueezy")]
    LemonSqueezy,
}

impl ProviderName {
    fn provider(self) -> WebhookProvider {
        match self {
            Self::Stripe => WebhookProvider::Stripe,
            Self::Polar => WebhookProvider::Polar,
            Self::Paddle => WebhookProvider::Paddle,
            Self::LemonSqueezy => WebhookProvider::LemonSqueezy,
        }
    }

    fn secret_variable(self) -> &'static str {
        match self {
            Self::Stripe => Stripe::SECRET_VARIABLE,
            Self::Polar => Polar::SECRET_VARIABLE,
            Self::Paddle => Paddle::SECRET_VARIABLE,
            Self::LemonSqueezy => LemonSqueezy::SECRET_VARIABLE,
        }
    }
}

/// The events, as the command line names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EventName {
    /// A one-off payment.
    Sale,
    /// A subscription's renewal.
    Renewal,
    /// A refund of the sale.
    Refund,
    /// A chargeback of the sale (Stripe, Paddle).
    Dispute,
}

impl EventName {
    fn kind(self) -> SampleKind {
        match self {
            Self::Sale => SampleKind::Sale,
            Self::Renewal => SampleKind::Renewal,
            Self::Refund => SampleKind::Refund,
            Self::Dispute => SampleKind::Dispute,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sale => "sale",
            Self::Renewal => "renewal",
            Self::Refund => "refund",
            Self::Dispute => "dispute",
        }
    }
}

/// Why nothing was sent.
fn refused(out: Output, problem: &str, fix: Option<&str>) -> ExitCode {
    out.status(Status::Fail, "trigger", problem);
    if let Some(fix) = fix {
        out.hint(fix);
    }
    out.document(&json!({
        "command": "trigger", "ok": false, "error": { "message": problem, "fix": fix },
    }));
    ExitCode::FAILURE
}

pub(crate) async fn run(out: Output, args: TriggerArgs) -> ExitCode {
    let provider = args.provider.provider();
    let Some(secret) = args.secret.clone().or_else(|| {
        env_var(args.provider.secret_variable()).and_then(|value| {
            value
                .split(|c: char| c == ',' || c.is_whitespace())
                .find(|secret| !secret.is_empty())
                .map(str::to_owned)
        })
    }) else {
        let problem = format!(
            "no secret to sign with: --secret is not given and {} is unset",
            args.provider.secret_variable()
        );
        return refused(
            out,
            &problem,
            Some("pass the webhook's signing secret with --secret"),
        );
    };
    let url = match reqwest::Url::parse(args.to.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => {
            let problem = format!("--to `{}` is not an http:// or https:// URL", args.to);
            let fix = "give the app's webhook URL, such as http://127.0.0.1:3000/webhooks/stripe";
            return refused(out, &problem, Some(fix));
        }
    };
    let payment_id = args
        .id
        .clone()
        .unwrap_or_else(|| payment_id(provider, args.event.kind(), &payment_key(&args)));
    let Some(mut event) = SampleEvent::new(provider, args.event.kind(), &payment_id) else {
        let problem = format!("{provider} sends no {} event", args.event.name());
        return refused(
            out,
            &problem,
            Some(
                "dispute is for stripe and paddle; reverse a chargeback's commission in the dashboard",
            ),
        );
    };
    event = event.amount_cents(args.amount_cents);
    if let Some(key) = &args.customer_key {
        event = event.customer_key(key);
    }
    if let Some(click_id) = &args.click_id {
        event = event.click_id(click_id);
    }
    let signed = event.sign(&secret);
    let event_id = event.event_id();
    let described = format!(
        "{provider} {} {}→ transaction {}",
        event.event_type(),
        event_id
            .as_deref()
            .map(|id| format!("{id} "))
            .unwrap_or_default(),
        event.transaction_id()
    );
    out.status(Status::Pass, "signed", &described);
    let spinner = out.spinner(format!("POST {url}"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("affitor-cli/", env!("CARGO_PKG_VERSION")))
        .build();
    let sent = match http {
        Ok(http) => {
            let mut request = http.post(url.clone());
            for (name, value) in signed.headers() {
                request = request.header(name, value);
            }
            request.body(signed.body().to_owned()).send().await
        }
        Err(error) => Err(error),
    };
    let answer = match sent {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            Ok((status, body))
        }
        Err(error) => Err(error),
    };
    drop(spinner);
    let base = json!({
        "command": "trigger",
        "provider": provider.name(),
        "event": args.event.name(),
        "event_type": event.event_type(),
        "event_id": event_id,
        "transaction_id": event.transaction_id(),
        "url": url.as_str(),
    });
    match answer {
        Ok((status, body)) => {
            let ok = status.is_success();
            let shown = shown_body(&body);
            out.status(
                if ok { Status::Pass } else { Status::Fail },
                &format!("POST answered {}", status.as_u16()),
                &shown,
            );
            if !ok {
                out.hint(&answer_fix(
                    status.as_u16(),
                    args.provider.secret_variable(),
                ));
            }
            let mut document = base;
            document["ok"] = json!(ok);
            document["status"] = json!(status.as_u16());
            document["answer"] = serde_json::from_str::<Value>(&body).unwrap_or(json!(body));
            out.document(&document);
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            let problem = format!("could not POST to {url}: {error}");
            out.status(Status::Fail, "POST", &problem);
            out.hint("is the app running, and listening at that address?");
            let mut document = base;
            document["ok"] = json!(false);
            document["error"] = json!({ "message": problem });
            out.document(&document);
            ExitCode::FAILURE
        }
    }
}

/// What to do about a webhook that did not answer 2xx.
fn answer_fix(status: u16, variable: &str) -> String {
    match status {
        400 => format!(
            "the app refused the signature: sign with the secret it verifies with ({variable} in \
             the app's environment)"
        ),
        404 | 405 => "no webhook at that URL: check its path (such as /webhooks/stripe)".to_owned(),
        503 => "the app could not reach Affitor and asks for a redelivery: trigger again later"
            .to_owned(),
        _ => "see the app's log for why".to_owned(),
    }
}

/// The answer's body on one line, at most 400 characters.
fn shown_body(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(400) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "(no body)".to_owned(),
        None => line,
    }
}

/// The key a payment's ids follow from: the same for the same --customer-key and --click-id,
/// a new one with --new-id.
fn payment_key(args: &TriggerArgs) -> String {
    let seed = if args.new_id {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        format!("{}:{}", now.as_nanos(), std::process::id())
    } else {
        format!(
            "{}\u{0}{}",
            args.customer_key.as_deref().unwrap_or_default(),
            args.click_id.as_deref().unwrap_or_default()
        )
    };
    format!("affitor_{:012x}", fnv1a(&seed) & 0xffff_ffff_ffff)
}

/// The payment's id as `provider` names it, for the event `kind` about the payment `key`: a
/// renewal is a payment of its own; a refund and a dispute name the sale.
fn payment_id(provider: WebhookProvider, kind: SampleKind, key: &str) -> String {
    let renewal = kind == SampleKind::Renewal;
    match provider {
        WebhookProvider::Stripe if renewal => format!("in_{key}"),
        WebhookProvider::Stripe => format!("pi_{key}"),
        WebhookProvider::Polar if renewal => format!("order_{key}_renewal"),
        WebhookProvider::Polar => format!("order_{key}"),
        WebhookProvider::Paddle if renewal => format!("txn_{key}_renewal"),
        WebhookProvider::Paddle => format!("txn_{key}"),
        // `orders/<key>` and `subscription-invoices/<key>` already differ.
        _ => key.to_owned(),
    }
}

/// FNV-1a, 64 bits: stable across runs and platforms.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
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
    fn long_answers_are_cut() {
        assert_eq!(shown_body(""), "(no body)");
        assert_eq!(shown_body("{\n \"a\": 1\n}"), "{ \"a\": 1 }");
        assert!(shown_body(&"x".repeat(1000)).ends_with('…'));
    }
}
