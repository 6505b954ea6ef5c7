//! A TCP proxy on 127.0.0.1 for the network's faults: it forwards every connection to its
//! target, and can be told to go silent (bytes held, sockets left open: a partition, a
//! failover), to leave the connections open now silent for ever while it forwards new ones (a
//! failover whose old sockets nobody resets), and to reset every connection (RST, as
//! `SO_LINGER` 0 makes a close) and forward again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// The proxy; it stops with the test's runtime.
pub(crate) struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    silent: AtomicBool,
    /// The forwarding tasks of the connections open (aborted, their sockets reset), each with
    /// whether it is lost (silent for ever).
    connections: Mutex<Vec<(AbortHandle, Arc<AtomicBool>)>>,
}

impl Proxy {
    /// Listens on an ephemeral port of 127.0.0.1, forwarding to `target`.
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("its address");
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let lost = Arc::new(AtomicBool::new(false));
                let forwarding = forward(client, server, Arc::clone(&accepting), Arc::clone(&lost));
                let task = tokio::spawn(forwarding);
                lock(&accepting.connections).push((task.abort_handle(), lost));
            }
        });
        Self { addr, shared }
    }

    /// Where to connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Holds every byte from now on, in both directions, the sockets left open.
    pub(crate) fn go_silent(&self) {
        self.shared.silent.store(true, Ordering::Release);
    }

    /// Holds every byte of the connections open now, for ever, their sockets left open; new
    /// connections are forwarded.
    pub(crate) fn lose_open_connections(&self) {
        for (_, lost) in lock(&self.shared.connections).iter() {
            lost.store(true, Ordering::Release);
        }
    }

    /// Resets every connection open (RST), and forwards new ones again.
    pub(crate) fn reset(&self) {
        for (connection, _) in lock(&self.shared.connections).drain(..) {
            connection.abort();
        }
        self.shared.silent.store(false, Ordering::Release);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Forwards between `client` and `server` until either closes; a close (an abort) resets
/// both, their linger being 0.
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
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
    lost: &AtomicBool,
) {
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
