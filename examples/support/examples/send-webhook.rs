//! Sends a checkout app a signed sample payment webhook, as Stripe, Polar, Paddle or Lemon
//! Squeezy would.
//!
//! ```text
//! cargo run -p example-support --example send-webhook -- <stripe|polar|paddle|lemonsqueezy> <sale|refund> <USER_ID> [APP_URL]
//! ```
//!
//! The event is signed now with the provider's secret variable (`STRIPE_WEBHOOK_SECRET`, ...),
//! or the apps' demo secret when unset. The sale is keyed by the user id (`pi_demo_<user>`,
//! `order_demo_<user>`, ...), so `refund` refunds the `sale` sent before it, and sending `sale`
//! twice shows a redelivery recorded once. It prints the app's answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use affitor_mock::SignedWebhook;
use example_support::{DEFAULT_ADDR, DEMO_CLICK_ID, PaymentProvider, sample};

const AMOUNT_CENTS: u64 = 4900;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("send-webhook: {error}");
            eprintln!(
                "usage: cargo run -p example-support --example send-webhook -- \
                 <stripe|polar|paddle|lemonsqueezy> <sale|refund> <USER_ID> [APP_URL]"
            );
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let provider: PaymentProvider = args.first().ok_or("which provider?")?.parse()?;
    let refund = match args.get(1).map(String::as_str) {
        Some("sale") => false,
        Some("refund") => true,
        _ => return Err("`sale` or `refund`?".into()),
    };
    let user = args
        .get(2)
        .ok_or("which user? the `userId` the app's signup answered")?;
    let default_url = format!("http://{DEFAULT_ADDR}");
    let url = args.get(3).unwrap_or(&default_url);

    let (secret, demo) = provider.secret();
    // The sale's key, from the user: `refund` finds the `sale` sent before it.
    let key = match provider {
        PaymentProvider::Stripe => format!("pi_demo_{user}"),
        PaymentProvider::Polar => format!("order_demo_{user}"),
        PaymentProvider::Paddle => format!("txn_demo_{user}"),
        PaymentProvider::LemonSqueezy => format!("demo_{user}"),
    };
    let body = if refund {
        sample::refund(provider, &key, AMOUNT_CENTS, AMOUNT_CENTS)
    } else {
        sample::sale(provider, &key, AMOUNT_CENTS, user, Some(DEMO_CLICK_ID))
    };
    let signed = provider.sign(&secret, body.to_string());
    let secret_name = if demo {
        "the demo secret"
    } else {
        provider.secret_variable()
    };
    println!("POST {url}/webhooks/{provider}, signed with {secret_name}:");
    println!("{}", signed.body());

    let answer = post(url, &format!("/webhooks/{provider}"), &signed)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.lines().next().unwrap_or_default();
    println!("\nthe app answered: {status} {body}");
    Ok(())
}

/// One HTTP/1.1 POST over a plain connection; the raw answer.
fn post(url: &str, path: &str, signed: &SignedWebhook) -> std::io::Result<String> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in signed.headers() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", signed.body().len()));
    request.push_str(signed.body());
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}
