//! A TCP proxy on 127.0.0.1 for the network's faults: it forwards every connection to its
//! target, and can be told to go silent (bytes held, sockets left open: a partition, a
//! failover), to leave the connections open now silent for ever while it forwards new ones (a
//! failover whose old sockets nobody resets), to reset every connection (RST, as
//! `SO_LINGER` 0 makes a close) and forward again, and to set up new connections slowly.
//!
//! ```no_run
//! # async fn run(postgres: std::net::SocketAddr) -> std::io::Result<()> {
//! let proxy = test_support::proxy::Proxy::start(postgres).await?;
//! // ... connect to `proxy.addr()` instead of Postgres, then:
//! proxy.go_silent();
//! proxy.reset();
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// The proxy; it stops with the runtime it was started on.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    silent: AtomicBool,
    /// How long a new connection waits before it reaches the target, in milliseconds.
    connect_delay: AtomicU64,
    /// The forwarding tasks of the connections open (aborting one resets both its sockets),
    /// each with whether it is lost (silent for ever).
    connections: Mutex<Vec<(AbortHandle, Arc<AtomicBool>)>>,
}

impl Proxy {
    /// Listens on an ephemeral port of 127.0.0.1, forwarding to `target`.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delay = accepting.connect_delay.load(Ordering::Acquire);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let Ok(server) = TcpStream::connect(target).await else {
                    continue; // the client sees its connection closed, as with its target down
                };
                let lost = Arc::new(AtomicBool::new(false));
                let forwarding = forward(client, server, Arc::clone(&accepting), Arc::clone(&lost));
                let task = tokio::spawn(forwarding);
                let mut connections = lock(&accepting.connections);
                connections.retain(|(connection, _)| !connection.is_finished());
                connections.push((task.abort_handle(), lost));
            }
        });
        Ok(Self { addr, shared })
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Holds every byte from now on, in both directions, the sockets left open.
    pub fn go_silent(&self) {
        self.shared.silent.store(true, Ordering::Release);
    }

    /// Holds every byte of the connections open now, for ever, their sockets left open; new
    /// connections are forwarded.
    pub fn lose_open_connections(&self) {
        for (_, lost) in lock(&self.shared.connections).iter() {
            lost.store(true, Ordering::Release);
        }
    }

    /// Makes each new connection wait `delay` before it reaches the target, one after the
    /// other: a server whose connections take that long to set up (TLS and SCRAM over a long
    /// round trip, a cloud proxy, a compute waking up).
    pub fn delay_connects(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.connect_delay.store(millis, Ordering::Release);
    }

    /// Resets every connection open (RST), and forwards new ones again.
    pub fn reset(&self) {
        for (connection, _) in lock(&self.shared.connections).drain(..) {
            connection.abort();
        }
        self.shared.silent.store(false, Ordering::Release);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forwards between `client` and `server` until either closes; an abort resets both, their
/// linger being 0.
async fn forward(client: TcpStream, server: TcpStream, shared: Arc<Shared>, lost: Arc<AtomicBool>) {
    for socket in [&client, &server] {
        #[allow(deprecated)] // set_zero_linger is newer than the workspace's tokio
        let _ = socket.set_linger(Some(Duration::ZERO));
    }
    let (client_in, client_out) = client.into_split();
    let (server_in, server_out) = server.into_split();
    tokio::select! {
        () = pump(client_in, server_out, &shared, &lost) => {}
        () = pump(server_in, client_out, &shared, &lost) => {}
    }
}

/// Copies `from` to `to`, holding what it read while the proxy is silent or the connection
/// lost.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: &Shared, lost: &AtomicBool) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        while shared.silent.load(Ordering::Acquire) || lost.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on 127.0.0.1.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut from, mut to) = socket.split();
                    let _ = tokio::io::copy(&mut from, &mut to).await;
                });
            }
        });
        addr
    }

    /// A connection through `proxy`, checked to be forwarded: one round trip answered.
    async fn forwarded(proxy: &Proxy) -> TcpStream {
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        stream.write_all(b"ping").await.unwrap();
        let mut answer = [0; 4];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer));
        read.await.expect("an answer through the proxy").unwrap();
        assert_eq!(&answer, b"ping");
        stream
    }

    /// Whether a byte written on `stream` goes unanswered for 200 ms.
    async fn is_held(stream: &mut TcpStream) -> bool {
        stream.write_all(b"x").await.unwrap();
        let answer = tokio::time::timeout(Duration::from_millis(200), stream.read_u8());
        answer.await.is_err()
    }

    #[tokio::test]
    async fn it_forwards_holds_while_silent_and_resets() {
        let proxy = Proxy::start(echo().await).await.unwrap();
        let mut before = forwarded(&proxy).await;

        proxy.go_silent();
        assert!(is_held(&mut before).await, "a silent proxy answered");

        proxy.reset();
        // The held byte is dropped with the connection (a FIN from the write half, then RST).
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), before.read_to_end(&mut rest));
        assert!(
            closed.await.is_ok(),
            "the connection stays open after a reset"
        );
        assert!(rest.is_empty(), "{rest:?}");
        forwarded(&proxy).await;
    }

    #[tokio::test]
    async fn lost_connections_stay_silent_while_new_ones_are_forwarded() {
        let proxy = Proxy::start(echo().await).await.unwrap();
        let mut lost = forwarded(&proxy).await;

        proxy.lose_open_connections();
        forwarded(&proxy).await;
        assert!(is_held(&mut lost).await, "a lost connection answered");
    }
}
