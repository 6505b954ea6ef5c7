//! The signals that stop the relay: SIGTERM (a service manager's or a container runtime's
//! stop) and SIGINT (Ctrl-C).

use std::fmt;

/// A signal that stops the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(unix), allow(dead_code))] // no SIGTERM there
pub(crate) enum Signal {
    Terminate,
    Interrupt,
}

impl Signal {
    /// The exit code of a process this signal ends at once: 128 + its number, as a shell
    /// reports it.
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Self::Terminate => 128 + 15,
            Self::Interrupt => 128 + 2,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
        })
    }
}

/// The stopping signals, caught from [`listen`](Self::listen) on: each one that arrives is
/// handed out by [`next`](Self::next), none ends the process by itself.
#[cfg(unix)]
pub(crate) struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Catches SIGTERM and SIGINT from now on.
    pub(crate) fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};

        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next stopping signal.
    pub(crate) async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.terminate.recv() => Signal::Terminate,
            _ = self.interrupt.recv() => Signal::Interrupt,
        }
    }
}

/// Ctrl-C, where there is no SIGTERM.
#[cfg(not(unix))]
pub(crate) struct Signals;

#[cfg(not(unix))]
impl Signals {
    /// Catches Ctrl-C from the first [`next`](Self::next) on.
    pub(crate) fn listen() -> std::io::Result<Self> {
        Ok(Self)
    }

    /// The next Ctrl-C.
    pub(crate) async fn next(&mut self) -> Signal {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot catch Ctrl-C: stop the relay by ending its process");
            std::future::pending::<()>().await;
        }
        Signal::Interrupt
    }
}
