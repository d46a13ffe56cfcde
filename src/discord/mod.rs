//! Connecting a buyer's Discord account (docs/design.md §5): link tokens, the sealed OAuth cookie,
//! Clerk sessions for the dashboard button, single use, and the two routes.

use std::sync::Arc;

use url::Url;

use crate::integrations::clerk::UserMetadata;
use crate::integrations::config::DiscordConfig;
use crate::integrations::discord::DiscordClient;
use crate::pages::PageLinks;

pub mod flow;
pub mod replay;
pub mod session;
pub mod tokens;

/// What the connection routes need. Built once at start-up.
pub struct DiscordAuth {
    /// Signs and verifies link tokens and the OAuth cookie.
    pub signer: tokens::Signer,
    /// Used link nonces and OAuth states (single use).
    pub used: replay::UsedTokens,
    /// Verifies dashboard (Clerk) sessions.
    pub sessions: session::SessionVerifier,
    /// Discord, or `None` for the dry run that skips it.
    pub discord: Option<DiscordClient>,
    /// Guild and role settings (`None` in the dry run).
    pub discord_config: Option<DiscordConfig>,
    /// Clerk metadata: the purchase's kind and whether it is already connected.
    pub metadata: Arc<dyn UserMetadata>,
    /// Fixed destinations of the result pages.
    pub links: PageLinks,
    /// `Secure` on the cookie when the app is served over https.
    pub secure_cookies: bool,
    /// Where the dry run sends the browser instead of Discord.
    pub callback_url: Url,
}

impl std::fmt::Debug for DiscordAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordAuth")
            .field("discord", &self.discord)
            .field("links", &self.links)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}
