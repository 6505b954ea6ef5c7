//! The hostile variant: the traffic of an attack run beside the ordinary signups, each kind on
//! connections of its own, from a thread of its own, over raw TCP on 127.0.0.1.
//!
//! - big cookies: `GET /?aff=partner` with a 120 KiB `affitor_click_ids` cookie of 6,000 ids
//!   (the de-duplication of that cookie was quadratic);
//! - 1-byte chunks: `POST /api/signup`, JSON, chunked, 64 KiB of body in 1-byte chunks, then
//!   silence (a buffered body was held per chunk, not per byte);
//! - unread bodies: `POST` to a route that does not exist, a JSON `Content-Length` of 60,000
//!   (under the lookup's 64 KiB) and 1,000 bytes sent with no click id among them, then silence
//!   (the body lookup waited for the rest; now it gives up at its deadline);
//! - an `?aff=` flood: `GET /?aff=partner` without cookies, back to back on keep-alive
//!   connections (each one was a click call); and beside it a many-address flood: each request
//!   from an address of its own (64 connections, from 127.16.0.0 to 127.79.255.255: all of
//!   127.0.0.0/8 is loopback) with a
//!   partner code of its own (the per-address and per-partner bounds never see one twice, only
//!   the total does), while ordinary visitors, each from a fresh address of 127.200.0.0/16 with
//!   the real partner's link, come every 20 ms: how many still get an `affitor_click_id` cookie
//!   is counted. The apps take the client address from the connection (no forwarded header is
//!   trusted), so the addresses are the sockets' own.
//!
//! A stalled connection is held until the server closes it (or for [`STALL`]), then reopened,
//! at most once every [`REOPEN`] per slot. What each kind got is counted: a flood that costs the server nothing shows as requests
//! answered and few click calls at the stand-in.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// How many connections each kind of attack holds at once.
const BIG_COOKIE_CONNECTIONS: usize = 4;
const CHUNKED_CONNECTIONS: usize = 200;
const UNREAD_CONNECTIONS: usize = 200;
const FLOOD_CONNECTIONS: usize = 4;
const MANY_ADDRESS_CONNECTIONS: usize = 64;

/// How often an ordinary visitor comes during the many-address flood.
const VISITOR_EVERY: Duration = Duration::from_millis(20);

/// The headers of a browser's navigation, which capture records.
const BROWSER: &str = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0\r\n\
    Accept: text/html,application/xhtml+xml\r\nSec-Fetch-Mode: navigate\r\n\
    Sec-Fetch-Dest: document\r\n";

/// How long a stalled connection is held before it is reopened.
const STALL: Duration = Duration::from_secs(30);

/// The least time between two connections of one stalled slot: a server that answers at once
/// (a 404 that never reads its body) meets 200 slow connections reopened each second, not a
/// flood of new connections, which is the `?aff=` flood's part.
const REOPEN: Duration = Duration::from_secs(1);

/// What the attack sent, and what came back.
#[derive(Debug, Default)]
pub(crate) struct AttackCounts {
    /// Big-cookie requests answered.
    pub(crate) big_cookies: AtomicU64,
    /// Chunked bodies sent (each 64 KiB in 1-byte chunks), and stalled.
    pub(crate) chunked: AtomicU64,
    /// Requests with a body that never comes, sent; and how many were answered anyway.
    pub(crate) unread_sent: AtomicU64,
    pub(crate) unread_answered: AtomicU64,
    /// `?aff=` flood requests answered.
    pub(crate) flood: AtomicU64,
    /// Many-address flood requests answered (each from its own address, with its own code).
    pub(crate) many_addresses: AtomicU64,
    /// Ordinary visitors of the real partner's link during the flood, each from a fresh
    /// address; and those of them answered with an `affitor_click_id` cookie.
    pub(crate) visitors: AtomicU64,
    pub(crate) visitors_cookied: AtomicU64,
}

/// An attack under way.
pub(crate) struct Attack {
    stop: Arc<AtomicBool>,
    counts: Arc<AttackCounts>,
    thread: std::thread::JoinHandle<()>,
}

impl Attack {
    /// Starts every kind of attack against the server at `addr`.
    pub(crate) fn start(addr: SocketAddr, kinds: AttackKinds) -> Result<Self, BoxError> {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(AttackCounts::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = {
            let (stop, counts) = (stop.clone(), counts.clone());
            std::thread::Builder::new()
                .name("attack".to_owned())
                .spawn(move || runtime.block_on(attack(addr, kinds, stop, counts)))?
        };
        Ok(Self {
            stop,
            counts,
            thread,
        })
    }

    /// Stops the attack, closing its connections, and says what it did.
    pub(crate) fn stop(self) -> Arc<AttackCounts> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.counts
    }
}

async fn attack(
    addr: SocketAddr,
    kinds: AttackKinds,
    stop: Arc<AtomicBool>,
    counts: Arc<AttackCounts>,
) {
    let ids: Vec<String> = (0..6_000).map(|n| format!("cust_{n}_17000000")).collect();
    let big_cookie: Arc<[u8]> = format!(
        "GET /?aff=partner HTTP/1.1\r\nHost: load\r\n{BROWSER}Cookie: affitor_click_ids={}\r\n\
         Connection: close\r\n\r\n",
        ids.join("%7C")
    )
    .into_bytes()
    .into();
    let chunked: Arc<[u8]> = {
        let mut request = b"POST /api/signup HTTP/1.1\r\nHost: load\r\n\
            Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
        for byte in format!(
            "{{\"email\":\"x@load.test\",\"pad\":\"{}",
            "x".repeat(65_536)
        )
        .bytes()
        .take(65_536)
        {
            request.extend_from_slice(b"1\r\n");
            request.push(byte);
            request.extend_from_slice(b"\r\n");
        }
        request.into()
    };
    // No click id in what is sent, so the lookup has every reason to wait for the rest (a
    // too-long click id, by contrast, is refused at once and the request answered).
    let unread: Arc<[u8]> = format!(
        "POST /no/such/route HTTP/1.1\r\nHost: load\r\nContent-Type: application/json\r\n\
         Content-Length: 60000\r\n\r\n{{\"email\":\"x@load.test\",\"note\":\"{}",
        "x".repeat(960)
    )
    .into_bytes()
    .into();
    let flood: Arc<[u8]> = format!("GET /?aff=partner HTTP/1.1\r\nHost: load\r\n{BROWSER}\r\n")
        .into_bytes()
        .into();

    let mut tasks = tokio::task::JoinSet::new();
    let connections = |kind: bool, connections: usize| if kind { connections } else { 0 };
    for _ in 0..connections(kinds.big_cookies, BIG_COOKIE_CONNECTIONS) {
        let (stop, counts, request) = (stop.clone(), counts.clone(), big_cookie.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if send_and_read(addr, &request).await {
                    counts.big_cookies.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    for _ in 0..connections(kinds.chunks, CHUNKED_CONNECTIONS) {
        let (stop, counts, request) = (stop.clone(), counts.clone(), chunked.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if stall(addr, &request, &stop).await.is_some() {
                    counts.chunked.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    for _ in 0..connections(kinds.unread, UNREAD_CONNECTIONS) {
        let (stop, counts, request) = (stop.clone(), counts.clone(), unread.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(answered) = stall(addr, &request, &stop).await {
                    counts.unread_sent.fetch_add(1, Ordering::Relaxed);
                    if answered {
                        counts.unread_answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    for _ in 0..connections(kinds.flood, FLOOD_CONNECTIONS) {
        let (stop, counts, request) = (stop.clone(), counts.clone(), flood.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let mut buffer = vec![0; 16 * 1024];
                // Keep-alive: one request after another on the connection, until it closes.
                while !stop.load(Ordering::Relaxed) {
                    if stream.write_all(&request).await.is_err() {
                        break;
                    }
                    match read_response(&mut stream, &mut buffer).await {
                        Some(()) => counts.flood.fetch_add(1, Ordering::Relaxed),
                        None => break,
                    };
                }
            }
        });
    }
    if kinds.flood {
        for task in 0..MANY_ADDRESS_CONNECTIONS {
            let (stop, counts) = (stop.clone(), counts.clone());
            tasks.spawn(async move {
                // Each task walks addresses of its own: 127.(16 + task).x.y.
                let mut n: u32 = 0;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_add(1);
                    let [_, _, b, c] = n.to_be_bytes();
                    let from = std::net::Ipv4Addr::new(127, 16 + task as u8, b, c.max(1));
                    let request = format!(
                        "GET /?aff=inv{task}x{n} HTTP/1.1\r\nHost: load\r\n{BROWSER}\
                         Connection: close\r\n\r\n"
                    );
                    if visit(addr, from, request.as_bytes()).await.is_some() {
                        counts.many_addresses.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let (stop, counts) = (stop.clone(), counts.clone());
        tasks.spawn(async move {
            let request = format!(
                "GET /?aff=partner HTTP/1.1\r\nHost: load\r\n{BROWSER}Connection: close\r\n\r\n"
            );
            let mut interval = tokio::time::interval(VISITOR_EVERY);
            let mut n: u16 = 0;
            while !stop.load(Ordering::Relaxed) {
                interval.tick().await;
                n = n.wrapping_add(1);
                let [b, c] = n.to_be_bytes();
                let from = std::net::Ipv4Addr::new(127, 200, b, c.max(1));
                let Some(head) = visit(addr, from, request.as_bytes()).await else {
                    continue;
                };
                counts.visitors.fetch_add(1, Ordering::Relaxed);
                if head.contains("\r\nset-cookie: affitor_click_id=") {
                    counts.visitors_cookied.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Sends `request` from the address `from` on a new connection and reads until the server
/// closes it: the answer's head, lower-cased, when one came.
async fn visit(addr: SocketAddr, from: std::net::Ipv4Addr, request: &[u8]) -> Option<String> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(from.into(), 0)).ok()?;
    let Ok(mut stream) = socket.connect(addr).await else {
        tokio::time::sleep(Duration::from_millis(10)).await;
        return None;
    };
    stream.write_all(request).await.ok()?;
    let mut raw = Vec::new();
    let mut buffer = vec![0; 16 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next()?;
    head.starts_with("HTTP/1.1 ")
        .then(|| head.to_ascii_lowercase())
}

/// Sends `request` on a new connection and reads until the server closes it: whether an
/// answer came.
async fn send_and_read(addr: SocketAddr, request: &[u8]) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        tokio::time::sleep(Duration::from_millis(10)).await;
        return false;
    };
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut buffer = vec![0; 16 * 1024];
    let mut answered = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return answered,
            Ok(Ok(_)) => answered = true,
        }
    }
}

/// Sends `request` (a body that never ends) and holds the connection for [`STALL`] or until
/// the attack stops: whether the server answered meanwhile. `None` when it could not send.
async fn stall(addr: SocketAddr, request: &[u8], stop: &AtomicBool) -> Option<bool> {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        tokio::time::sleep(Duration::from_millis(10)).await;
        return None;
    };
    stream.write_all(request).await.ok()?;
    let mut buffer = vec![0; 4096];
    let mut answered = false;
    let started = std::time::Instant::now();
    let reopen = tokio::time::Instant::now() + REOPEN;
    while started.elapsed() < STALL && !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => answered = true,
            Err(_) => {} // still silent: hold on
        }
    }
    tokio::time::sleep_until(reopen).await;
    Some(answered)
}

/// Reads one response with a `Content-Length` from a keep-alive connection.
async fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) -> Option<()> {
    let mut read = 0;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer[read..]))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        read += n;
        let text = &buffer[..read];
        if let Some(end) = text.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&text[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if read >= end + 4 + length {
                return Some(());
            }
        }
        if read == buffer.len() {
            return None; // a response larger than the buffer: not the page this expects
        }
    }
}

/// How far the resident memory of this process grew while it ran, sampled every 50 ms from
/// `/proc`: the peak less the first sample (the allocator keeps what earlier runs freed, so the
/// peak alone says more of them than of this run).
pub(crate) struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Option<u64>>,
}

impl RssSampler {
    pub(crate) fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let first = rss_kib();
                let mut peak = first;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = rss_kib() {
                        peak = Some(peak.map_or(rss, |peak: u64| peak.max(rss)));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Some(peak?.saturating_sub(first?))
            })
        };
        Self { stop, thread }
    }

    /// The growth, in KiB, when `/proc` tells.
    pub(crate) fn stop(self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

/// This process's resident memory now, in KiB.
pub(crate) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
