//! Runs the lambda-signup example under the Lambda runtime (`AWS_LAMBDA_RUNTIME_API`, which
//! Lambda sets; locally, `cargo lambda watch`).
//!
//! Reads `AFFITOR_API_URL` and `AFFITOR_API_KEY` (with no `AFFITOR_API_URL`, it starts the local
//! Affitor API stand-in, as the other examples do), `AFFITOR_FLUSH_DEADLINE_MS` and
//! `AFFITOR_HELD_CLICK_SECRET`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    example_support::init_tracing();
    // Kept alive: with no `AFFITOR_API_URL`, it holds the local stand-in.
    let env = example_support::Environment::from_env().await?;
    let flush_deadline = lambda_signup::flush_deadline_from_env()?;
    let held = lambda_signup::held_click_key_from_env()?;
    let app = lambda_signup::app(env.config.clone(), flush_deadline, held);
    lambda_http::run(app).await
}
