//! onboarding-flow (docs/design.md §4): from a paid purchase to dashboard access and a Discord role.
//!
//! The run's steps, as the Inngest dashboard lists them:
//! `find-buyer-in-clerk` → (`invite-buyer-to-clerk` → `wait-for-clerk-signup`) →
//! `record-purchase` → `send-connect-link` → `wait-for-discord` → (`send-reminder-<n>` →
//! `wait-for-discord-after-reminder-<n>`)* → either `grant-dashboard-access` →
//! `grant-discord-role` → `send-welcome-email` → `send-onboarding-completed`, or
//! `alert-staff` → `mark-discord-not-connected`.

use std::sync::Arc;

use inngest_sdk::{
    Concurrency, Error, Event, Function, FunctionFailed, FunctionOpts, Input, Step, WaitForEvent,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::OnboardingConfig;
use crate::events::{
    ClerkUser, ConnectSource, DiscordConnected, DiscordFollowUp, EventId, OnboardingCompleted,
    PurchaseMentorship,
};
use crate::follow_up::DISCORD_FOLLOW_UP;
use crate::mail::{days, expires_at, idempotency_key, send};
use crate::metadata::{self, MentorshipStatus};
use crate::ports::{EmailAddress, Invitation, PortError, User};
use crate::templates::{self, Category, StaffAlert};
use crate::{Deps, RETRIES, expressions};

/// The function id (the app prefixes it: `<app id>-onboarding-flow`).
pub const ONBOARDING_FLOW_ID: &str = "onboarding-flow";

/// How a run of onboarding-flow ended; its return value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardingSummary {
    /// The end state.
    pub status: OnboardingStatus,
    /// The buyer's Clerk user, once known.
    pub clerk_user_id: Option<String>,
    /// The connected Discord account, when onboarding completed.
    pub discord_user_id: Option<String>,
    /// Reminders sent before the buyer connected or the run gave up.
    pub reminders_sent: u32,
}

/// The end state of an onboarding run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnboardingStatus {
    /// Access granted, role given, welcome email sent.
    Active,
    /// The buyer did not connect Discord after every reminder; staff were alerted.
    DiscordNotConnected,
    /// The buyer never accepted the Clerk invitation; staff were alerted.
    SignupTimedOut,
}

/// onboarding-flow with its failure handler.
pub(crate) fn onboarding_flow(deps: Deps, config: Arc<OnboardingConfig>) -> Function {
    let failure_deps = deps.clone();
    let failure_config = Arc::clone(&config);
    Function::for_event(
        FunctionOpts::new(ONBOARDING_FLOW_ID)
            .name("Onboard a mentorship buyer")
            // Stripe sends two events for one delayed-payment purchase: one run per purchase.
            .idempotency("event.data.purchase_id")
            // Two purchases by one buyer must not race on their Clerk metadata.
            .concurrency(Concurrency::new(1).key("event.data.email"))
            .retries(RETRIES),
        move |input: Input<PurchaseMentorship>, step: Step| {
            onboard(deps.clone(), Arc::clone(&config), input, step)
        },
    )
    .on_failure(move |input: Input<FunctionFailed<Value>>, step: Step| {
        alert_staff_of_failure(
            failure_deps.clone(),
            Arc::clone(&failure_config),
            input,
            step,
        )
    })
}

/// The buyer as onboarding addresses them.
struct Buyer {
    user_id: String,
    email: EmailAddress,
    name: Option<String>,
}

async fn onboard(
    deps: Deps,
    config: Arc<OnboardingConfig>,
    input: Input<PurchaseMentorship>,
    step: Step,
) -> Result<OnboardingSummary, Error> {
    let purchase = input.event.data;
    let run_id = input.run.run_id;
    let email = EmailAddress::parse(&purchase.email).map_err(|_| {
        Error::non_retriable("the purchase's email is not a valid address")
            .with_name("InvalidPurchase")
    })?;

    // 1. Resolve the buyer in Clerk, inviting them when they have no account.
    let found: Option<User> = step
        .run("find-buyer-in-clerk", {
            let users = Arc::clone(&deps.users);
            let user_id = purchase.clerk_user_id.clone();
            let email = email.clone();
            move || async move {
                if let Some(id) = user_id {
                    let by_id = users.user(&id).await.map_err(PortError::into_step_error)?;
                    if by_id.is_some() {
                        return Ok::<_, Error>(by_id);
                    }
                }
                users
                    .find_by_email(&email)
                    .await
                    .map_err(PortError::into_step_error)
            }
        })
        .await?;
    let user = match found {
        Some(user) => user,
        None => {
            let _invitation: Invitation = step
                .run("invite-buyer-to-clerk", {
                    let users = Arc::clone(&deps.users);
                    let email = email.clone();
                    let patch = metadata::invitation(&purchase);
                    move || async move {
                        users
                            .invite(&email, patch)
                            .await
                            .map_err(PortError::into_step_error)
                    }
                })
                .await?;
            let signup = step
                .wait_for_event(
                    "wait-for-clerk-signup",
                    WaitForEvent::<ClerkUser>::of(config.signup_wait)
                        .if_exp(expressions::signup_of(&email)),
                )
                .await?;
            match signup {
                Some(created) => user_from_clerk(created.data),
                None => {
                    let alert = templates::staff_alert(
                        &config.academy_name,
                        &StaffAlert::SignupTimedOut {
                            buyer_email: email.as_str(),
                            buyer_name: purchase.name.as_deref(),
                            purchase_id: &purchase.purchase_id,
                            mentorship: purchase.mentorship,
                        },
                    )
                    .addressed(config.staff_email.clone(), Category::StaffAlert);
                    send_step(&step, &deps, &run_id, "alert-staff", alert).await?;
                    return Ok(OnboardingSummary {
                        status: OnboardingStatus::SignupTimedOut,
                        clerk_user_id: None,
                        discord_user_id: None,
                        reminders_sent: 0,
                    });
                }
            }
        }
    };
    let buyer = Buyer {
        email: user.primary_email.clone().unwrap_or_else(|| email.clone()),
        name: user.first_name.clone().or_else(|| purchase.name.clone()),
        user_id: user.id,
    };
    // A returning buyer keeps the access an earlier purchase gave while this one onboards.
    let keep_access = user.mentorship.has_access();

    // 2. Record the purchase on the user, beside any earlier one.
    merge_step(
        &step,
        &deps,
        "record-purchase",
        &buyer.user_id,
        metadata::purchase(&purchase, MentorshipStatus::AwaitingDiscord, keep_access),
    )
    .await?;

    // A buyer whose Discord account is connected already (an earlier purchase) gets the new
    // role at once; one who left the guild since gets a fresh link like a new buyer.
    let role_id = config
        .discord_roles
        .for_kind(purchase.mentorship)
        .to_owned();
    let returning = match user.mentorship.connected_account() {
        Some((discord_user_id, discord_username)) => {
            let member: bool = step
                .run("grant-role-to-connected-account", {
                    let guild = Arc::clone(&deps.guild);
                    let discord_user_id = discord_user_id.clone();
                    let role_id = role_id.clone();
                    move || async move {
                        guild
                            .grant_role_to_member(&discord_user_id, &role_id)
                            .await
                            .map_err(PortError::into_step_error)
                    }
                })
                .await?;
            member.then(|| DiscordConnected {
                clerk_user_id: buyer.user_id.clone(),
                purchase_id: Some(purchase.purchase_id.clone()),
                discord_user_id,
                discord_username,
                joined_guild: true,
                source: ConnectSource::AlreadyConnected,
            })
        }
        None => None,
    };
    // 3 and 4, for everyone else: the link, the wait, the reminders.
    let (connection, reminders_sent, role_given) = match returning {
        Some(connection) => (connection, 0, true),
        None => {
            match connect_discord(
                &step,
                &deps,
                &config,
                &purchase,
                &buyer,
                &run_id,
                keep_access,
            )
            .await?
            {
                Connection::Connected {
                    connection,
                    reminders_sent,
                } => (connection, reminders_sent, false),
                Connection::GaveUp(summary) => return Ok(summary),
            }
        }
    };

    // 5. Grant access (and the role, to a new connection), welcome, announce.
    let _granted: Value = step
        .run("grant-dashboard-access", {
            let users = Arc::clone(&deps.users);
            let clock = Arc::clone(&deps.clock);
            let user_id = buyer.user_id.clone();
            let purchase_id = purchase.purchase_id.clone();
            let connection = connection.clone();
            move || async move {
                let patch = metadata::access_granted(&connection, &purchase_id, clock.now());
                users
                    .merge_public_metadata(&user_id, patch.clone())
                    .await
                    .map_err(PortError::into_step_error)?;
                Ok::<_, Error>(patch)
            }
        })
        .await?;
    if !role_given {
        grant_role_step(&step, &deps, &connection.discord_user_id, &role_id).await?;
    }
    let welcome = templates::welcome(&templates::Welcome {
        academy: &config.academy_name,
        name: buyer.name.as_deref(),
        mentorship: purchase.mentorship,
        discord_username: &connection.discord_username,
        dashboard_url: &config.dashboard_url,
    })
    .addressed(buyer.email.clone(), Category::Welcome);
    send_step(&step, &deps, &run_id, "send-welcome-email", welcome).await?;
    let completed = OnboardingCompleted {
        clerk_user_id: buyer.user_id.clone(),
        purchase_id: purchase.purchase_id.clone(),
        mentorship: purchase.mentorship,
        discord_user_id: connection.discord_user_id.clone(),
    };
    step.send_event(
        "send-onboarding-completed",
        vec![
            Event::from_data(completed)
                .id(EventId::onboarding_completed(&purchase.purchase_id).as_str()),
        ],
    )
    .await?;

    Ok(OnboardingSummary {
        status: OnboardingStatus::Active,
        clerk_user_id: Some(buyer.user_id),
        discord_user_id: Some(connection.discord_user_id),
        reminders_sent,
    })
}

/// How the wait for a new connection ended.
enum Connection {
    Connected {
        connection: DiscordConnected,
        reminders_sent: u32,
    },
    /// No connection after every reminder; staff were alerted.
    GaveUp(OnboardingSummary),
}

/// Steps 3 and 4: email the signed connection link, then wait for the connection, reminding
/// the buyer between rounds; after the last round, alert staff.
async fn connect_discord(
    step: &Step,
    deps: &Deps,
    config: &Arc<OnboardingConfig>,
    purchase: &PurchaseMentorship,
    buyer: &Buyer,
    run_id: &str,
    keep_access: bool,
) -> Result<Connection, Error> {
    // 3. Email the signed connection link.
    let _message_id: String = step
        .run("send-connect-link", {
            let deps = deps.clone();
            let config = Arc::clone(config);
            let key = idempotency_key(ONBOARDING_FLOW_ID, run_id, "send-connect-link");
            let user_id = buyer.user_id.clone();
            let purchase_id = purchase.purchase_id.clone();
            let to = buyer.email.clone();
            let name = buyer.name.clone();
            let mentorship = purchase.mentorship;
            move || async move {
                let expires = expires_at(deps.clock.now(), config.link_validity);
                let link = deps.links.connect_link(&user_id, &purchase_id, expires);
                let email = templates::connect_invite(&templates::ConnectInvite {
                    academy: &config.academy_name,
                    name: name.as_deref(),
                    mentorship,
                    link: &link,
                    valid_for_days: days(config.link_validity),
                })
                .addressed(to, Category::ConnectLink);
                send(deps.mailer.as_ref(), &email, &key).await
            }
        })
        .await?;

    // 4. Wait for the connection, reminding the buyer between rounds.
    let connected_if = expressions::discord_connected_by(&buyer.user_id);
    let mut reminders_sent = 0;
    let connection = loop {
        let wait_id = match reminders_sent {
            0 => "wait-for-discord".to_owned(),
            n => format!("wait-for-discord-after-reminder-{n}"),
        };
        let connected = step
            .wait_for_event(
                &wait_id,
                WaitForEvent::<DiscordConnected>::of(config.reminder_interval)
                    .if_exp(connected_if.clone()),
            )
            .await?;
        if let Some(event) = connected {
            break Some(event.data);
        }
        if reminders_sent >= config.reminders {
            break None;
        }
        reminders_sent += 1;
        let reminder = DiscordFollowUp {
            clerk_user_id: buyer.user_id.clone(),
            purchase_id: purchase.purchase_id.clone(),
            reminder: Some(reminders_sent),
        };
        // A reminder that failed for good (its own run shows why) does not end onboarding:
        // the buyer may still connect from an earlier link or the dashboard, and staff are
        // alerted after the last round either way. Known gap: Inngest matches only events
        // that arrive after a wait starts, so a connection made while the reminder is being
        // sent (from an older link) is seen by no wait; the run then ends with a staff alert.
        let _sent = step
            .invoke(
                &format!("send-reminder-{reminders_sent}"),
                &DISCORD_FOLLOW_UP,
                &reminder,
                None,
            )
            .await;
    };

    let Some(connection) = connection else {
        // After the last reminder: alert staff, and end with a clear status.
        let alert = templates::staff_alert(
            &config.academy_name,
            &StaffAlert::DiscordNotConnected {
                buyer_email: buyer.email.as_str(),
                buyer_name: buyer.name.as_deref(),
                clerk_user_id: &buyer.user_id,
                purchase_id: &purchase.purchase_id,
                mentorship: purchase.mentorship,
                reminders: reminders_sent,
            },
        )
        .addressed(config.staff_email.clone(), Category::StaffAlert);
        send_step(step, deps, run_id, "alert-staff", alert).await?;
        merge_step(
            step,
            deps,
            "mark-discord-not-connected",
            &buyer.user_id,
            metadata::status(
                &purchase.purchase_id,
                MentorshipStatus::DiscordNotConnected,
                keep_access,
            ),
        )
        .await?;
        return Ok(Connection::GaveUp(OnboardingSummary {
            status: OnboardingStatus::DiscordNotConnected,
            clerk_user_id: Some(buyer.user_id.clone()),
            discord_user_id: None,
            reminders_sent,
        }));
    };
    Ok(Connection::Connected {
        connection,
        reminders_sent,
    })
}

/// The step that gives a newly connected member the mentorship's role.
async fn grant_role_step(
    step: &Step,
    deps: &Deps,
    discord_user_id: &str,
    role_id: &str,
) -> Result<String, Error> {
    let guild = Arc::clone(&deps.guild);
    let discord_user_id = discord_user_id.to_owned();
    let role_id = role_id.to_owned();
    Ok(step
        .run("grant-discord-role", move || async move {
            guild
                .grant_role(&discord_user_id, &role_id)
                .await
                .map_err(PortError::into_step_error)?;
            Ok::<_, Error>(role_id)
        })
        .await?)
}

/// The failure handler (`onboarding-flow-failure`): a run that failed for good leaves a paying
/// buyer without access, so staff hear about it with the error and the run id. The original
/// event is read loosely: a payload that did not decode is one of the failures to report.
async fn alert_staff_of_failure(
    deps: Deps,
    config: Arc<OnboardingConfig>,
    input: Input<FunctionFailed<Value>>,
    step: Step,
) -> Result<String, Error> {
    let failed = input.event.data;
    let field = |name: &str| {
        failed.event.data[name]
            .as_str()
            .unwrap_or("(unknown)")
            .to_owned()
    };
    let alert = templates::staff_alert(
        &config.academy_name,
        &StaffAlert::OnboardingFailed {
            buyer_email: &field("email"),
            purchase_id: &field("purchase_id"),
            error: &failed.error.message,
            run_id: &failed.run_id,
        },
    )
    .addressed(config.staff_email.clone(), Category::StaffAlert);
    let key = idempotency_key("onboarding-flow-failure", &input.run.run_id, "alert-staff");
    step.run("alert-staff", move || async move {
        send(deps.mailer.as_ref(), &alert, &key).await
    })
    .await
    .map_err(Error::from)
}

/// A step that sends `email`, keyed by run and step, returning the message id.
async fn send_step(
    step: &Step,
    deps: &Deps,
    run_id: &str,
    step_id: &str,
    email: crate::ports::OutgoingEmail,
) -> Result<String, Error> {
    let mailer = Arc::clone(&deps.mailer);
    let key = idempotency_key(ONBOARDING_FLOW_ID, run_id, step_id);
    Ok(step
        .run(step_id, move || async move {
            send(mailer.as_ref(), &email, &key).await
        })
        .await?)
}

/// A step that deep-merges `patch` into the user's public metadata and returns it, so the
/// dashboard shows what was written.
async fn merge_step(
    step: &Step,
    deps: &Deps,
    step_id: &str,
    user_id: &str,
    patch: Value,
) -> Result<Value, Error> {
    let users = Arc::clone(&deps.users);
    let user_id = user_id.to_owned();
    Ok(step
        .run(step_id, move || async move {
            users
                .merge_public_metadata(&user_id, patch.clone())
                .await
                .map_err(PortError::into_step_error)?;
            Ok::<_, Error>(patch)
        })
        .await?)
}

fn user_from_clerk(created: ClerkUser) -> User {
    User {
        mentorship: crate::metadata::Mentorship::from_public_metadata(&created.public_metadata),
        primary_email: created
            .primary_email()
            .and_then(|e| EmailAddress::parse(e).ok()),
        first_name: created.first_name,
        id: created.id,
    }
}
