//! Connecting a buyer's Discord account (docs/design.md §5): link tokens, the sealed OAuth cookie,
//! Clerk sessions for the dashboard button, single use, Discord behind a port (live or dry
//! run), and the two routes. [`DiscordAuth`] is the routes' whole state.

use std::sync::Arc;

use crate::clock::Clock;
use crate::integrations::clerk::UserMetadata;
use crate::pages::PageLinks;

pub mod connect;
pub mod cookies;
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
    /// Discord's consent screen, code exchange and guild join (live or dry run).
    pub discord: Arc<dyn connect::DiscordConnect>,
    /// Clerk metadata: the purchase's kind and whether it is already connected.
    pub metadata: Arc<dyn UserMetadata>,
    /// Fixed destinations of the result pages.
    pub links: PageLinks,
    /// `Secure` on the cookie when the app is served over https.
    pub secure_cookies: bool,
    /// Sends `user/discord.connected` to Inngest.
    pub events: inngest_sdk::Client,
    /// "Now", for link expiry and the OAuth state's age.
    pub clock: Clock,
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
