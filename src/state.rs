//! The router's state: one sub-state per feature, each handed to its handlers through
//! axum's [`FromRef`], so a handler sees only what it uses.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::discord::DiscordAuth;
use crate::webhooks::routes::WebhookState;

/// Every feature's state, built once at start-up. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The webhook routes: verifiers, catalog, clock and the event sender.
    pub webhooks: Arc<WebhookState>,
    /// The Discord connection routes: signer, sessions, Discord, pages and the event sender.
    pub discord: Arc<DiscordAuth>,
}

impl FromRef<AppState> for Arc<WebhookState> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.webhooks)
    }
}

impl FromRef<AppState> for Arc<DiscordAuth> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.discord)
    }
}
