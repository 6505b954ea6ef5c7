//! The test Postgres server: where it is, whether anything answers there before a test waits on
//! it, and what to run when nothing does.
//!
//! ```no_run
//! use test_support::postgres;
//!
//! if let Err(why) = postgres::reachable("127.0.0.1", 5432) {
//!     panic!("these tests need a Postgres server: {why}. {}.", postgres::START_ONE);
//! }
//! ```

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The server when `AFFITOR_TEST_POSTGRES` is unset: the one `bash .ci/postgres` starts.
pub const DEFAULT_URL: &str = "postgres://affitor:affitor@127.0.0.1:5432/affitor_test";

/// How long a test waits for the server before it fails, saying what to run: a server that is
/// not there fails every test at once, not after sqlx's 30 s each.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What to run when there is no server.
pub const START_ONE: &str = "Run every test with `bash .ci/test` (it installs and starts \
                             Postgres, then runs `cargo test --workspace --all-features`), or \
                             start one with `export AFFITOR_TEST_POSTGRES=$(bash .ci/postgres)` \
                             (Debian's `postgresql` package; it creates the role and the \
                             database), or set AFFITOR_TEST_POSTGRES to a server of your own";

/// Whether something accepts a TCP connection at `host:port` within [`CONNECT_TIMEOUT`], and
/// why not when nothing does; a Unix socket directory (`/…`) is left to the client.
pub fn reachable(host: &str, port: u16) -> Result<(), String> {
    if host.starts_with('/') {
        return Ok(());
    }
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|error| format!("{host}:{port} does not resolve ({error})"))?;
    let mut why = format!("{host}:{port} has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(error) => why = format!("nothing answers at {address} ({error})"),
        }
    }
    Err(why)
}
