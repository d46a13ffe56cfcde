//! discord-follow-up (docs/design.md §4): a reminder with a fresh Discord connection link.
//!
//! Invoked by onboarding-flow between waits (with the reminder number), and triggered by
//! `mentorship/discord.follow-up` when staff resend a link by hand. Both carry the same
//! [`DiscordFollowUp`] data. Cancelled when the user connects meanwhile. Steps: `find-user`
//! → `send-reminder`.

use std::sync::Arc;

use inngest_sdk::{Cancel, Error, EventType, Function, FunctionOpts, FunctionRef, Input, Step};
use serde::{Deserialize, Serialize};

use crate::config::OnboardingConfig;
use crate::config::RETRIES;
use crate::deps::Deps;
use crate::events::{DiscordConnected, DiscordFollowUp};
use crate::expressions;
use crate::mail::{days, expires_at, idempotency_key, send};
use crate::ports::User;
use crate::templates::{self, Category};

/// The function id (the app prefixes it: `<app id>-discord-follow-up`).
pub const DISCORD_FOLLOW_UP_ID: &str = "discord-follow-up";

/// discord-follow-up, for [`Step::invoke`]: takes [`DiscordFollowUp`], returns
/// [`ReminderSent`].
pub const DISCORD_FOLLOW_UP: FunctionRef<DiscordFollowUp, ReminderSent> =
    FunctionRef::new(DISCORD_FOLLOW_UP_ID);

/// What discord-follow-up returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSent {
    /// The mailer's message id of the reminder.
    pub message_id: String,
}

pub(crate) fn discord_follow_up(deps: Deps, config: Arc<OnboardingConfig>) -> Function {
    Function::for_event(
        FunctionOpts::new(DISCORD_FOLLOW_UP_ID)
            .name("Remind a buyer to connect Discord")
            .cancel_on(Cancel::on(DiscordConnected::NAME).if_exp(expressions::FOLLOW_UP_CANCEL))
            .retries(RETRIES),
        move |input: Input<DiscordFollowUp>, step: Step| {
            remind(deps.clone(), Arc::clone(&config), input, step)
        },
    )
}

async fn remind(
    deps: Deps,
    config: Arc<OnboardingConfig>,
    input: Input<DiscordFollowUp>,
    step: Step,
) -> Result<ReminderSent, Error> {
    let request = input.event.data;
    let run_id = input.run.run_id;

    let user: User = step
        .run("find-user", {
            let users = Arc::clone(&deps.users);
            let user_id = request.clerk_user_id.clone();
            move || async move {
                users.user(&user_id).await?.ok_or_else(|| {
                    Error::non_retriable(format!("no Clerk user {user_id}"))
                        .with_name("UnknownUser")
                })
            }
        })
        .await?;
    let to = user.primary_email.ok_or_else(|| {
        Error::non_retriable(format!("Clerk user {} has no email address", user.id))
            .with_name("NoEmailAddress")
    })?;

    let message_id: String = step
        .run("send-reminder", {
            let key = idempotency_key(DISCORD_FOLLOW_UP_ID, &run_id, "send-reminder");
            move || async move {
                let expires = expires_at(deps.clock.now(), config.link_validity);
                let link =
                    deps.links
                        .connect_link(&request.clerk_user_id, &request.purchase_id, expires);
                let email = templates::reminder(&templates::Reminder {
                    academy: &config.academy_name,
                    name: user.first_name.as_deref(),
                    number: request.reminder,
                    link: &link,
                    valid_for_days: days(config.link_validity),
                })
                .addressed(to, Category::Reminder);
                send(deps.mailer.as_ref(), &email, &key).await
            }
        })
        .await?;
    Ok(ReminderSent { message_id })
}
