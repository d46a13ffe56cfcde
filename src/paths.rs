//! Every route path of the app, named once: the route table mounts them, and the code that
//! builds a URL to one of them (emailed links, the OAuth redirect URI, log lines, the
//! `simulate` command) names the same constant (docs/design.md §5).

/// Liveness probe.
pub const HEALTHZ: &str = "/healthz";
/// Readiness probe.
pub const READYZ: &str = "/readyz";
/// The Inngest endpoint: sync, and the executor's calls to run a function.
pub const INNGEST: &str = "/api/inngest";
/// Stripe webhook deliveries.
pub const STRIPE_WEBHOOK: &str = "/api/stripe/webhook";
/// PayPal webhook deliveries.
pub const PAYPAL_WEBHOOK: &str = "/api/paypal/webhook";
/// Clerk (Svix) webhook deliveries.
pub const CLERK_WEBHOOK: &str = "/api/clerk/webhook";
/// Resend (Svix) webhook deliveries.
pub const RESEND_WEBHOOK: &str = "/api/resend/webhook";
/// The start of the Discord connection, which emailed links and the dashboard button open.
/// Also the OAuth cookie's path, so the browser sends it to the callback below.
pub const DISCORD_START: &str = "/api/auth/discord";
/// The Discord OAuth callback, registered with Discord as the redirect URI.
pub const DISCORD_CALLBACK: &str = "/api/auth/discord/callback";
