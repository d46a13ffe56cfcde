//! What the fake executor shares with its loopback server: the run state, the clock and
//! the signing key. Below both: the server answers from it, the executor drives it.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use http::HeaderMap;
use url::Url;

use super::clock::FakeClock;
use super::state::State;
use crate::core::signature::SigningKey;

/// State shared with the loopback server.
pub(crate) struct Shared {
    pub(super) state: Mutex<State>,
    pub(crate) clock: Arc<FakeClock>,
    pub(super) url: Url,
    /// Signs calls and syncs, and is required as the API bearer, when set.
    pub(super) signing_key: Option<SigningKey>,
    pub(super) http: reqwest::Client,
    /// One driver at a time, so calls stay sequential even if the test drives from
    /// several tasks.
    pub(super) driver: tokio::sync::Mutex<()>,
    /// Numbers in-process apps, for their fake URLs.
    pub(super) apps: AtomicUsize,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a test while the lock is held leaves nothing half-applied that later
        // assertions could misread worse than the panic itself.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an API request carries the bearer of the signing key (docs/protocol.md §3.3). Without
    /// a key, like the dev server, no bearer is required.
    pub(crate) fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(key) = &self.signing_key else {
            return true;
        };
        let Ok(token) = key.bearer_token() else {
            return false;
        };
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {token}"))
    }
}
