//! The durable outbox an example writes its events to when `AFFITOR_OUTBOX` names one.

use affitor::{Client, ErrorReport};
use affitor_outbox::Outbox;

use crate::environment::SetupError;

/// The environment variable naming the durable outbox: a SQLite path, or a `postgres://` URL.
pub(crate) const OUTBOX_VARIABLE: &str = "AFFITOR_OUTBOX";

/// Opens the outbox of `AFFITOR_OUTBOX`, if it is set and not empty, for `affitor`'s handlers.
/// Its relay sends through a client of its own, made by `relay_client`: a connection pool of its
/// own, so that a handler's call to the API (a click's) never waits for the relay's thread.
pub(crate) async fn open_outbox(
    affitor: &Client,
    relay_client: impl FnOnce() -> Result<Client, SetupError>,
) -> Result<Option<Outbox>, SetupError> {
    let location = match std::env::var(OUTBOX_VARIABLE) {
        Ok(location) if !location.trim().is_empty() => location,
        _ => return Ok(None),
    };
    // The attribution journal on, so that `affitor explain` can say why a sale was credited
    // or not. The error names the location (its password left out) and what to check; its causes
    // say what the database or the system answered.
    let outbox = Outbox::builder(affitor.clone())
        .relay_client(relay_client()?)
        .journal(affitor_outbox::journal::DEFAULT_RETENTION)
        .open(location.trim())
        .await
        .map_err(|error| SetupError(format!("{OUTBOX_VARIABLE}: {}", ErrorReport::new(&error))))?;
    Ok(Some(outbox))
}
