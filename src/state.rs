//! State shared by every handler.

use std::sync::Arc;

use crate::config::AppConfig;

/// What handlers need: configuration and the Inngest client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration read at start-up.
    pub config: Arc<AppConfig>,
    /// Sends events to Inngest.
    pub inngest: inngest_sdk::Client,
    /// The webhook routes' verifiers, clients and clock, built at start-up.
    pub webhooks: Arc<crate::webhooks::routes::WebhookState>,
    /// The Discord connection routes' state (signer, sessions, Discord, pages).
    pub auth: Arc<crate::discord::DiscordAuth>,
    /// The vendor ports (Clerk, Resend, Discord, links), live or dry run, for the functions.
    pub integrations: crate::integrations::Integrations,
}
