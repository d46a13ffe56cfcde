//! Huckleberry onboarding workflows on Inngest (docs/design.md §3–4): the typed events they
//! exchange, the ports they need from the outside world, the email templates, and the functions.
//!
//! The app registers the functions on its SDK endpoint:
//!
//! ```
//! use std::sync::Arc;
//!
//! use huckleberry_functions::config::{DiscordRoles, OnboardingConfig};
//! use huckleberry_functions::ids::{ClerkUserId, DiscordUserId, PurchaseId, RoleId};
//! use huckleberry_functions::ports::{
//!     ConnectLinks, DiscordGuild, EmailAddress, Invitation, Mailer, OutgoingEmail,
//!     PortFuture, User, UserDirectory,
//! };
//! use huckleberry_functions::{Deps, functions};
//! # struct Nobody;
//! # impl UserDirectory for Nobody {
//! #     fn user(&self, _: &ClerkUserId) -> PortFuture<'_, Option<User>> {
//! #         Box::pin(async { Ok(None) })
//! #     }
//! #     fn find_by_email(&self, _: &EmailAddress) -> PortFuture<'_, Option<User>> {
//! #         Box::pin(async { Ok(None) })
//! #     }
//! #     fn invite(&self, _: &EmailAddress, _: serde_json::Value) -> PortFuture<'_, Invitation> {
//! #         Box::pin(async { Ok(Invitation { id: "inv_1".into() }) })
//! #     }
//! #     fn merge_public_metadata(
//! #         &self,
//! #         _: &ClerkUserId,
//! #         _: serde_json::Value,
//! #     ) -> PortFuture<'_, ()> {
//! #         Box::pin(async { Ok(()) })
//! #     }
//! # }
//! # impl Mailer for Nobody {
//! #     fn send(&self, _: &OutgoingEmail, _: &str) -> PortFuture<'_, String> {
//! #         Box::pin(async { Ok("em_1".into()) })
//! #     }
//! # }
//! # impl DiscordGuild for Nobody {
//! #     fn grant_role(&self, _: &DiscordUserId, _: &RoleId) -> PortFuture<'_, ()> {
//! #         Box::pin(async { Ok(()) })
//! #     }
//! # }
//! # impl ConnectLinks for Nobody {
//! #     fn connect_link(
//! #         &self,
//! #         _: &ClerkUserId,
//! #         _: &PurchaseId,
//! #         _: chrono::DateTime<chrono::Utc>,
//! #     ) -> url::Url {
//! #         "https://academy.test/connect".parse().expect("valid")
//! #     }
//! # }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (clerk, resend, discord, links) =
//! #     (Arc::new(Nobody), Arc::new(Nobody), Arc::new(Nobody), Arc::new(Nobody));
//! // The vendor clients (or dry-run stand-ins) implement the ports.
//! let deps = Deps::new(clerk, resend, discord, links);
//! let config = OnboardingConfig::new(
//!     EmailAddress::parse("staff@academy.test")?,
//!     DiscordRoles { one_on_one: "111".into(), group: "222".into() },
//!     "https://academy.test/dashboard".parse()?,
//! );
//!
//! let client = inngest_sdk::Client::new(inngest_sdk::Config::dev());
//! let mut endpoint = inngest_sdk::Endpoint::builder("huckleberry", client);
//! for function in functions(deps, config) {
//!     endpoint = endpoint.function(function);
//! }
//! let endpoint = endpoint.build()?;
//! assert_eq!(
//!     endpoint.function_ids(),
//!     [
//!         "huckleberry-onboarding-flow",
//!         "huckleberry-onboarding-flow-failure",
//!         "huckleberry-discord-follow-up",
//!         "huckleberry-email-bounced",
//!     ]
//! );
//! # Ok(())
//! # }
//! ```
//!
//! Every side effect is a named step, so a run in the Inngest dashboard reads as the buyer's
//! story; `?` on a [`PortError`](ports::PortError) in a step keeps its nature, so a permanent
//! failure (a missing Discord permission) fails at once instead of being retried.

#![warn(missing_docs)]

use std::sync::Arc;

use inngest_sdk::Function;

pub mod config;
pub mod deps;
pub mod events;
pub mod expressions;
pub mod ids;
pub mod metadata;
pub mod ports;
pub mod templates;

mod bounced;
mod follow_up;
mod mail;
mod onboarding;

pub use bounced::{BounceSummary, EMAIL_BOUNCED_ID};
pub use follow_up::{DISCORD_FOLLOW_UP, DISCORD_FOLLOW_UP_ID, ReminderSent};
pub use onboarding::{ONBOARDING_FLOW_ID, OnboardingStatus, OnboardingSummary};

pub use config::RETRIES;
pub use deps::Deps;

use crate::config::OnboardingConfig;

/// Every onboarding function, ready for [`inngest_sdk::EndpointBuilder::function`]:
/// `onboarding-flow` (with its failure handler, which alerts staff), `discord-follow-up` and
/// `email-bounced`.
#[must_use]
pub fn functions(deps: Deps, config: OnboardingConfig) -> Vec<Function> {
    let config = Arc::new(config);
    vec![
        onboarding::onboarding_flow(deps.clone(), Arc::clone(&config)),
        follow_up::discord_follow_up(deps.clone(), Arc::clone(&config)),
        bounced::email_bounced(deps, config),
    ]
}
