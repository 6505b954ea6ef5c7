//! What an example tells whoever runs it: its log, and the printed lines that say where it
//! listens, where its events go and how to try it.

use std::net::SocketAddr;

use crate::environment::Environment;
use crate::outbox::OUTBOX_VARIABLE;
use crate::stand_in::DEMO_CLICK_ID;

/// Logs to stderr; `RUST_LOG` filters (default: `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// Prints `listening on http://ADDR`, where the events go, and, on the local stand-in, how to
/// try the app.
pub fn announce(env: &Environment, listening: SocketAddr) {
    println!("listening on http://{listening}");
    match &env.config.outbox {
        Some(outbox) => println!(
            "tracking events go through the durable outbox at {} ({OUTBOX_VARIABLE})",
            outbox.location()
        ),
        None => println!(
            "tracking events are sent in the background from memory; set {OUTBOX_VARIABLE} \
             (a SQLite path, or a postgres:// URL) to write them to a durable outbox first"
        ),
    }
    if env.stand_in.is_some() {
        println!(
            "open http://{listening}/?aff=partner as a visitor sent by the partner `partner`: \
             the app records the click and the page shows the click id it set"
        );
        println!(
            "a partner's link was clicked; sign up as that visitor with its click id:\n  \
             curl -s http://{listening}/api/signup -H 'content-type: application/json' \
             -b 'affitor_click_id={DEMO_CLICK_ID}' \
             -d '{{\"email\":\"ada@example.com\",\"password\":\"correct horse\"}}'"
        );
    }
}

/// Prints, for each payment webhook on its demo secret, how to send it a signed sample event
/// with `affitor trigger` (the `affitor-cli` package).
pub fn announce_webhooks(env: &Environment, listening: SocketAddr) {
    if env.webhooks.demo.is_empty() {
        return;
    }
    println!(
        "send the payment webhooks a signed sample event with the `affitor` CLI (`cargo install \
         --path affitor-cli`, or `cargo run -p affitor-cli --` in this repository, which compiles it \
         first); a second \
         trigger of the same event is a redelivery, acknowledged without a second sale:"
    );
    for provider in &env.webhooks.demo {
        println!(
            "{} is unset: on the local stand-in, /webhooks/{provider} verifies with a demo \
             secret; a sample sale (then `refund`) as the user of a signup (USER_ID=the userId \
             it answered), of the provider's test mode (`--live` for a live one):\n  \
             echo {} | affitor trigger {} sale --to http://{listening}/webhooks/{provider} \
             --secret-file - --customer-key \"$USER_ID\" --click-id {DEMO_CLICK_ID}",
            provider.secret_variable(),
            provider.demo_secret(),
            provider.webhook_provider(),
        );
    }
}
