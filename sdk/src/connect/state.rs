//! Where a worker is in its life: a leaf, read by the worker and by its handle.

use std::fmt;

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerState {
    /// Not connected: starting, or reconnecting after the gateway went away.
    Connecting,
    /// Connected, handshake done: requests are routed to this worker.
    Ready,
    /// Shutting down: no new requests, the ones in flight finish and their replies are sent.
    Draining,
    /// Done: nothing in flight, the socket is closed.
    Closed,
}

impl WorkerState {
    /// The state's name, lowercase (`connecting`, `ready`, `draining`, `closed`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Connecting => "connecting",
            WorkerState::Ready => "ready",
            WorkerState::Draining => "draining",
            WorkerState::Closed => "closed",
        }
    }
}

impl fmt::Display for WorkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
