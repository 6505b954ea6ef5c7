//! A TCP proxy on 127.0.0.1 between the outbox and Postgres: it forwards every connection, can
//! go silent (every byte held, nothing dropped, no socket closed: a partition or a failover as
//! the app sees it), and then reset every connection (RST) and forward again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// The proxy; it stops with the runtime it was started on.
#[derive(Debug)]
pub(crate) struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    silent: AtomicBool,
    /// The forwarding tasks of the connections open: aborting one resets both its sockets.
    connections: Mutex<Vec<AbortHandle>>,
}

impl Proxy {
    /// Listens on an ephemeral port of 127.0.0.1, forwarding to `target`.
    pub(crate) async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue; // the client sees its connection closed, as with Postgres down
                };
                let task = tokio::spawn(forward(client, server, Arc::clone(&accepting)));
                let mut connections = accepting
                    .connections
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                connections.retain(|connection| !connection.is_finished());
                connections.push(task.abort_handle());
            }
        });
        Ok(Self { addr, shared })
    }

    /// Where to connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Holds every byte from now on, in both directions, the sockets left open.
    pub(crate) fn go_silent(&self) {
        self.shared.silent.store(true, Ordering::Release);
    }

    /// Resets every connection open (RST), and forwards new ones again.
    pub(crate) fn reset(&self) {
        let mut connections = self
            .shared
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for connection in connections.drain(..) {
            connection.abort();
        }
        self.shared.silent.store(false, Ordering::Release);
    }
}

/// Forwards between `client` and `server` until either closes; an abort resets both, their
/// linger being 0.
async fn forward(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    for socket in [&client, &server] {
        #[allow(deprecated)] // set_zero_linger is newer than the workspace's tokio
        let _ = socket.set_linger(Some(Duration::ZERO));
    }
    let (client_in, client_out) = client.into_split();
    let (server_in, server_out) = server.into_split();
    tokio::select! {
        () = pump(client_in, server_out, &shared) => {}
        () = pump(server_in, client_out, &shared) => {}
    }
}

/// Copies `from` to `to`, holding what it read while the proxy is silent.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: &Shared) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        while shared.silent.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
