//! Runs the actix-checkout example: `cargo run -p actix-checkout`.
//!
//! Reads `ADDR` (default `127.0.0.1:3000`), `METRICS_ADDR` (the Prometheus page's address,
//! default `127.0.0.1:9464`, or `off`), `AFFITOR_API_URL` and `AFFITOR_API_KEY`; with no
//! `AFFITOR_API_URL` it starts the local Affitor API stand-in and logs every event it receives.
//! With `AFFITOR_OUTBOX` (a SQLite path, or a `postgres://` URL) the events go through the
//! durable outbox there.
//! The payment webhooks verify with `STRIPE_WEBHOOK_SECRET` and `POLAR_WEBHOOK_SECRET`
//! (several, comma-separated, during a rotation); a route whose secret is unset is mounted, on a
//! demo secret, only with the local stand-in, as is the unsigned `POST /webhooks/payment`.

use std::time::Duration;

use example_support::Environment;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    example_support::init_tracing();
    let env = Environment::from_env().await?;
    let config = env.config.clone();
    // The Prometheus page, on an address of its own: never the app's port.
    example_support::start_metrics(env.metrics).await?;

    let listener = env.listen_std()?;
    example_support::announce(&env, listener.local_addr()?);
    example_support::announce_webhooks(&env, listener.local_addr()?);
    // Ends on SIGTERM after the requests in progress are answered (at once on Ctrl-C).
    actix_checkout::serve(listener, env.config, env.webhooks)?.await?;

    // Deliver what is being sent before the process ends; the outbox keeps the rest.
    example_support::shut_down(&config, Duration::from_secs(5)).await;
    Ok(())
}
