//! email-bounced (docs/design.md §4): a bounced onboarding email blocks the buyer, so staff must
//! know.
//!
//! Steps: `find-user` (by the bounced recipient, `data.to[0]`) → `mark-email-bounced` (when a
//! user matches) → `alert-staff`. With no matching user, staff are still alerted with what
//! is known.

use std::sync::Arc;

use inngest_sdk::{Error, Function, FunctionOpts, Input, Step};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::OnboardingConfig;
use crate::config::RETRIES;
use crate::deps::Deps;
use crate::events::ResendEmailBounced;
use crate::ids::ClerkUserId;
use crate::mail::{idempotency_key, send};
use crate::metadata;
use crate::ports::{EmailAddress, User};
use crate::templates::{self, Category, StaffAlert};

/// The function id (the app prefixes it: `<app id>-email-bounced`).
pub const EMAIL_BOUNCED_ID: &str = "email-bounced";

/// What email-bounced returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BounceSummary {
    /// The address that bounced, as Resend reported it.
    pub recipient: Option<String>,
    /// The Clerk user with that address, if any.
    pub clerk_user_id: Option<ClerkUserId>,
    /// Whether the user's onboarding was marked `email_bounced`.
    pub blocked: bool,
    /// Whether staff were alerted (not when the bounced email was itself a staff alert:
    /// alerting again would loop).
    pub staff_alerted: bool,
}

pub(crate) fn email_bounced(deps: Deps, config: Arc<OnboardingConfig>) -> Function {
    Function::for_event(
        FunctionOpts::new(EMAIL_BOUNCED_ID)
            .name("Handle a bounced email")
            .retries(RETRIES),
        move |input: Input<ResendEmailBounced>, step: Step| {
            handle_bounce(deps.clone(), Arc::clone(&config), input, step)
        },
    )
}

async fn handle_bounce(
    deps: Deps,
    config: Arc<OnboardingConfig>,
    input: Input<ResendEmailBounced>,
    step: Step,
) -> Result<BounceSummary, Error> {
    let bounce = input.event.data;
    let run_id = input.run.run_id;
    let recipient = bounce.to.first().cloned();
    let reason = bounce.bounce.as_ref().and_then(|b| {
        b.message
            .clone()
            .or_else(|| b.sub_kind.clone())
            .or_else(|| b.kind.clone())
    });
    let category = bounce.tag("category").map(str::to_owned);
    let address = recipient
        .as_deref()
        .and_then(|r| EmailAddress::parse(r).ok());

    // A staff alert that bounces must not trigger another alert (which would bounce too).
    if category.as_deref() == Some(Category::StaffAlert.as_str())
        || address.as_ref() == Some(&config.staff_email)
    {
        return Ok(BounceSummary {
            recipient,
            clerk_user_id: None,
            blocked: false,
            staff_alerted: false,
        });
    }

    let user: Option<User> = match address {
        Some(address) => {
            step.run("find-user", {
                let users = Arc::clone(&deps.users);
                move || async move { Ok::<_, Error>(users.find_by_email(&address).await?) }
            })
            .await?
        }
        None => None,
    };

    // A bounced welcome email arrives after access was granted, and a returning buyer's
    // earlier purchase keeps giving access: record the bounce, keep the access.
    let block = category.as_deref() != Some(Category::Welcome.as_str())
        && !user.as_ref().is_some_and(|u| u.mentorship.has_access());
    if let Some(user) = &user {
        let _patch: Value = step
            .run("mark-email-bounced", {
                let users = Arc::clone(&deps.users);
                let clock = Arc::clone(&deps.clock);
                let user_id = user.id.clone();
                let reason = reason.clone();
                let email_id = bounce.email_id.clone();
                move || async move {
                    let patch = metadata::email_bounced(
                        reason.as_deref(),
                        email_id.as_deref(),
                        clock.now(),
                        block,
                    );
                    users.merge_public_metadata(&user_id, patch.clone()).await?;
                    Ok::<_, Error>(patch)
                }
            })
            .await?;
    }

    let clerk_user_id = user.map(|u| u.id);
    let alert = templates::staff_alert(
        &config.academy_name,
        &StaffAlert::EmailBounced {
            recipient: recipient
                .as_deref()
                .unwrap_or("(no recipient in the event)"),
            clerk_user_id: clerk_user_id.as_ref().map(ClerkUserId::as_str),
            reason: reason.as_deref(),
            subject: bounce.subject.as_deref(),
        },
    )
    .addressed(config.staff_email.clone(), Category::StaffAlert);
    let key = idempotency_key(EMAIL_BOUNCED_ID, &run_id, "alert-staff");
    let mailer = Arc::clone(&deps.mailer);
    let _message_id: String = step
        .run("alert-staff", move || async move {
            send(mailer.as_ref(), &alert, &key).await
        })
        .await?;

    Ok(BounceSummary {
        recipient,
        blocked: clerk_user_id.is_some() && block,
        clerk_user_id,
        staff_alerted: true,
    })
}
