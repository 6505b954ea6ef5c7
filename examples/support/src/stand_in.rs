//! The local stand-in of the Affitor API, which an example starts when `AFFITOR_API_URL` is
//! unset: its demo click, and the lines that say how to call it.

use affitor::Client;
use affitor::client::Endpoint;
use affitor_mock::MockServer;

use crate::environment::SetupError;

/// The click id of a partner's click that the local stand-in API knows from the start, so the
/// README's `curl` works as it is written: `affitor mock`'s too.
pub use affitor_mock::DEMO_CLICK_ID;

/// Starts the local stand-in, which logs every event it receives and knows the partner
/// `partner`'s click [`DEMO_CLICK_ID`], and a client of it. Prints its URL and API key, so
/// that it can be called by hand too.
pub(crate) async fn start() -> Result<(MockServer, Client), SetupError> {
    let stand_in = MockServer::builder()
        .log_events(true)
        .start()
        .await
        .map_err(|error| {
            SetupError(format!(
                "cannot start the local Affitor API stand-in: {error}"
            ))
        })?;
    let affitor = client(&stand_in)?;
    stand_in.demo_click();
    announce(&stand_in);
    Ok((stand_in, affitor))
}

/// A client of `stand_in`.
pub(crate) fn client(stand_in: &MockServer) -> Result<Client, SetupError> {
    Client::builder()
        .base_url(stand_in.url())
        .api_key(stand_in.api_key())
        .build()
        .map_err(|error| SetupError(format!("cannot build the Affitor client: {error}")))
}

/// Prints where the stand-in listens and the API key it accepts (a key of the stand-in only,
/// printed so that a newcomer can call it), with a `curl` that does.
fn announce(stand_in: &MockServer) {
    let (url, api_key) = (stand_in.url(), stand_in.api_key());
    println!(
        "AFFITOR_API_URL is unset or empty: started the local Affitor API stand-in at {url}, \
         with the API key {api_key}; ask it for the program's readiness:\n  \
         curl -s {url}{readiness} -H 'authorization: Bearer {api_key}'",
        readiness = Endpoint::Readiness.path(),
    );
    if std::env::var("AFFITOR_API_KEY").is_ok_and(|key| !key.trim().is_empty()) {
        println!(
            "AFFITOR_API_KEY is set, but it is not used: without AFFITOR_API_URL the example \
             tracks into this stand-in only; set AFFITOR_API_URL (https://api.affitor.com) to \
             track for real"
        );
    }
}
