//! onboarding-flow (docs/design.md §4): from a paid purchase to dashboard access and a Discord
//! role.
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
use crate::config::RETRIES;
use crate::deps::Deps;
use crate::events::{
    ClerkUser, ConnectSource, DiscordConnected, DiscordFollowUp, EventId, OnboardingCompleted,
    PurchaseMentorship,
};
use crate::expressions;
use crate::follow_up::DISCORD_FOLLOW_UP;
use crate::ids::{ClerkUserId, DiscordUserId, RoleId};
use crate::mail::{days, expires_at, idempotency_key, send};
use crate::metadata::{self, MentorshipStatus};
use crate::ports::{EmailAddress, Invitation, OutgoingEmail, User};
use crate::templates::{self, Category, StaffAlert};

/// The function id (the app prefixes it: `<app id>-onboarding-flow`).
pub const ONBOARDING_FLOW_ID: &str = "onboarding-flow";

/// How a run of onboarding-flow ended; its return value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardingSummary {
    /// The end state.
    pub status: OnboardingStatus,
    /// The buyer's Clerk user, once known.
    pub clerk_user_id: Option<ClerkUserId>,
    /// The connected Discord account, when onboarding completed.
    pub discord_user_id: Option<DiscordUserId>,
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
    // Triggered by the event its handler takes: `purchase/mentorship`.
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
    user_id: ClerkUserId,
    email: EmailAddress,
    name: Option<String>,
}

/// One run of onboarding-flow, told as its phases, in order: find (or invite) the buyer,
/// record the purchase, then either give the role to an account connected earlier or send the
/// connection link and wait for the connection (with reminders), then grant access, welcome,
/// announce. Each phase is a method of [`Onboarding`] named after what the buyer would see.
async fn onboard(
    deps: Deps,
    config: Arc<OnboardingConfig>,
    input: Input<PurchaseMentorship>,
    step: Step,
) -> Result<OnboardingSummary, Error> {
    let purchase = input.event.data;
    let run = Onboarding {
        step: &step,
        deps: &deps,
        config: &config,
        run_id: &input.run.run_id,
        purchase: &purchase,
    };
    let email = run.buyer_email()?;

    // 1. Resolve the buyer in Clerk, inviting them when they have no account.
    let user = match run.find_buyer(&email).await? {
        Some(user) => user,
        None => match run.invite_and_wait_for_signup(&email).await? {
            Some(user) => user,
            None => return run.alert_staff_of_signup_timeout(&email).await,
        },
    };
    let buyer = Buyer {
        email: user.primary_email.clone().unwrap_or_else(|| email.clone()),
        name: user.first_name.clone().or_else(|| purchase.name.clone()),
        user_id: user.id.clone(),
    };
    // A returning buyer keeps the access an earlier purchase gave while this one onboards.
    let keep_access = user.mentorship.has_access();

    // 2. Record the purchase on the user, beside any earlier one.
    run.record_purchase(&buyer, keep_access).await?;

    // 3 and 4: a buyer whose Discord account is connected already (an earlier purchase) gets
    // the new role at once; everyone else (and one who left the guild since) gets the link,
    // the wait and the reminders.
    let role_id = config.discord_roles.for_kind(purchase.mentorship).clone();
    let (connection, reminders_sent, role_given) = match run
        .grant_role_to_connected_account(&buyer, &user, &role_id)
        .await?
    {
        Some(connection) => (connection, 0, true),
        None => {
            run.send_connect_link(&buyer).await?;
            match run.wait_for_discord(&buyer).await? {
                Waited::Connected {
                    connection,
                    reminders_sent,
                } => (connection, reminders_sent, false),
                Waited::GaveUp { reminders_sent } => {
                    return run.give_up(&buyer, reminders_sent, keep_access).await;
                }
            }
        }
    };

    // 5. Grant access (and the role, to a new connection), welcome, announce.
    run.grant_dashboard_access(&buyer, &connection).await?;
    if !role_given {
        run.grant_discord_role(&connection.discord_user_id, &role_id)
            .await?;
    }
    run.send_welcome_email(&buyer, &connection).await?;
    run.announce_completion(&buyer, &connection).await?;
    Ok(OnboardingSummary {
        status: OnboardingStatus::Active,
        clerk_user_id: Some(buyer.user_id),
        discord_user_id: Some(connection.discord_user_id),
        reminders_sent,
    })
}

/// How the wait for a new connection ended.
enum Waited {
    Connected {
        connection: DiscordConnected,
        reminders_sent: u32,
    },
    /// No connection after every reminder.
    GaveUp { reminders_sent: u32 },
}

/// What every phase of one run needs. Step ids are durable (changing one breaks in-flight
/// runs), so each phase names its steps exactly as before.
struct Onboarding<'a> {
    step: &'a Step,
    deps: &'a Deps,
    config: &'a Arc<OnboardingConfig>,
    run_id: &'a str,
    purchase: &'a PurchaseMentorship,
}

impl Onboarding<'_> {
    /// The email the buyer typed at checkout; an invalid one cannot be onboarded (no retry).
    fn buyer_email(&self) -> Result<EmailAddress, Error> {
        EmailAddress::parse(&self.purchase.email).map_err(|_| {
            Error::non_retriable("the purchase's email is not a valid address")
                .with_name("InvalidPurchase")
        })
    }

    /// `find-buyer-in-clerk`: by the Clerk id from checkout, else by email.
    async fn find_buyer(&self, email: &EmailAddress) -> Result<Option<User>, Error> {
        Ok(self
            .step
            .run("find-buyer-in-clerk", {
                let users = Arc::clone(&self.deps.users);
                let user_id = self.purchase.clerk_user_id.clone();
                let email = email.clone();
                move || async move {
                    if let Some(id) = user_id {
                        let by_id = users.user(&id).await?;
                        if by_id.is_some() {
                            return Ok::<_, Error>(by_id);
                        }
                    }
                    Ok::<_, Error>(users.find_by_email(&email).await?)
                }
            })
            .await?)
    }

    /// `invite-buyer-to-clerk`, then `wait-for-clerk-signup`: the new user, or `None` when
    /// the invitation was not accepted in time.
    async fn invite_and_wait_for_signup(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<User>, Error> {
        let _invitation: Invitation = self
            .step
            .run("invite-buyer-to-clerk", {
                let users = Arc::clone(&self.deps.users);
                let email = email.clone();
                let patch = metadata::invitation(self.purchase);
                move || async move { Ok::<_, Error>(users.invite(&email, patch).await?) }
            })
            .await?;
        let signup = self
            .step
            .wait_for_event(
                "wait-for-clerk-signup",
                WaitForEvent::<ClerkUser>::of(self.config.signup_wait)
                    .if_exp(expressions::signup_of(email)),
            )
            .await?;
        Ok(signup.map(|created| user_from_clerk(created.data)))
    }

    /// `alert-staff` when the buyer never signed up; the run ends there.
    async fn alert_staff_of_signup_timeout(
        &self,
        email: &EmailAddress,
    ) -> Result<OnboardingSummary, Error> {
        let alert = templates::staff_alert(
            &self.config.academy_name,
            &StaffAlert::SignupTimedOut {
                buyer_email: email.as_str(),
                buyer_name: self.purchase.name.as_deref(),
                purchase_id: self.purchase.purchase_id.as_str(),
                mentorship: self.purchase.mentorship,
            },
        )
        .addressed(self.config.staff_email.clone(), Category::StaffAlert);
        self.send("alert-staff", alert).await?;
        Ok(OnboardingSummary {
            status: OnboardingStatus::SignupTimedOut,
            clerk_user_id: None,
            discord_user_id: None,
            reminders_sent: 0,
        })
    }

    /// `record-purchase`: the purchase on the user, awaiting Discord.
    async fn record_purchase(&self, buyer: &Buyer, keep_access: bool) -> Result<Value, Error> {
        self.merge(
            "record-purchase",
            &buyer.user_id,
            metadata::purchase(
                self.purchase,
                MentorshipStatus::AwaitingDiscord,
                keep_access,
            ),
        )
        .await
    }

    /// `grant-role-to-connected-account`, for a buyer connected by an earlier purchase: the
    /// connection to carry on with, or `None` when there is none or they left the guild.
    async fn grant_role_to_connected_account(
        &self,
        buyer: &Buyer,
        user: &User,
        role_id: &RoleId,
    ) -> Result<Option<DiscordConnected>, Error> {
        let Some((discord_user_id, discord_username)) = user.mentorship.connected_account() else {
            return Ok(None);
        };
        let member: bool = self
            .step
            .run("grant-role-to-connected-account", {
                let guild = Arc::clone(&self.deps.guild);
                let discord_user_id = discord_user_id.clone();
                let role_id = role_id.clone();
                move || async move {
                    Ok::<_, Error>(
                        guild
                            .grant_role_to_member(&discord_user_id, &role_id)
                            .await?,
                    )
                }
            })
            .await?;
        Ok(member.then(|| DiscordConnected {
            clerk_user_id: buyer.user_id.clone(),
            purchase_id: Some(self.purchase.purchase_id.clone()),
            discord_user_id,
            discord_username,
            joined_guild: true,
            source: ConnectSource::AlreadyConnected,
        }))
    }

    /// `send-connect-link`: the email with the signed connection link; its message id.
    async fn send_connect_link(&self, buyer: &Buyer) -> Result<String, Error> {
        Ok(self
            .step
            .run("send-connect-link", {
                let deps = self.deps.clone();
                let config = Arc::clone(self.config);
                let key = idempotency_key(ONBOARDING_FLOW_ID, self.run_id, "send-connect-link");
                let user_id = buyer.user_id.clone();
                let purchase_id = self.purchase.purchase_id.clone();
                let to = buyer.email.clone();
                let name = buyer.name.clone();
                let mentorship = self.purchase.mentorship;
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
            .await?)
    }

    /// `wait-for-discord`, then per round `send-reminder-<n>` (an invoked
    /// discord-follow-up) and `wait-for-discord-after-reminder-<n>`.
    async fn wait_for_discord(&self, buyer: &Buyer) -> Result<Waited, Error> {
        let connected_if = expressions::discord_connected_by(buyer.user_id.as_str());
        let mut reminders_sent = 0;
        loop {
            let wait_id = match reminders_sent {
                0 => "wait-for-discord".to_owned(),
                n => format!("wait-for-discord-after-reminder-{n}"),
            };
            let connected = self
                .step
                .wait_for_event(
                    &wait_id,
                    WaitForEvent::<DiscordConnected>::of(self.config.reminder_interval)
                        .if_exp(connected_if.clone()),
                )
                .await?;
            if let Some(event) = connected {
                return Ok(Waited::Connected {
                    connection: event.data,
                    reminders_sent,
                });
            }
            if reminders_sent >= self.config.reminders {
                return Ok(Waited::GaveUp { reminders_sent });
            }
            reminders_sent += 1;
            let reminder = DiscordFollowUp {
                clerk_user_id: buyer.user_id.clone(),
                purchase_id: self.purchase.purchase_id.clone(),
                reminder: Some(reminders_sent),
            };
            // A reminder that failed for good (its own run shows why) does not end
            // onboarding: the buyer may still connect from an earlier link or the dashboard,
            // and staff are alerted after the last round either way. Known gap: Inngest
            // matches only events that arrive after a wait starts, so a connection made while
            // the reminder is being sent (from an older link) is seen by no wait; the run
            // then ends with a staff alert.
            let _sent = self
                .step
                .invoke(
                    &format!("send-reminder-{reminders_sent}"),
                    &DISCORD_FOLLOW_UP,
                    &reminder,
                    None,
                )
                .await;
        }
    }

    /// After the last reminder: `alert-staff`, then `mark-discord-not-connected`; the run
    /// ends with that status.
    async fn give_up(
        &self,
        buyer: &Buyer,
        reminders_sent: u32,
        keep_access: bool,
    ) -> Result<OnboardingSummary, Error> {
        let alert = templates::staff_alert(
            &self.config.academy_name,
            &StaffAlert::DiscordNotConnected {
                buyer_email: buyer.email.as_str(),
                buyer_name: buyer.name.as_deref(),
                clerk_user_id: buyer.user_id.as_str(),
                purchase_id: self.purchase.purchase_id.as_str(),
                mentorship: self.purchase.mentorship,
                reminders: reminders_sent,
            },
        )
        .addressed(self.config.staff_email.clone(), Category::StaffAlert);
        self.send("alert-staff", alert).await?;
        self.merge(
            "mark-discord-not-connected",
            &buyer.user_id,
            metadata::status(
                self.purchase.purchase_id.as_str(),
                MentorshipStatus::DiscordNotConnected,
                keep_access,
            ),
        )
        .await?;
        Ok(OnboardingSummary {
            status: OnboardingStatus::DiscordNotConnected,
            clerk_user_id: Some(buyer.user_id.clone()),
            discord_user_id: None,
            reminders_sent,
        })
    }

    /// `grant-dashboard-access`: the purchase active, with the connected account, on the user.
    async fn grant_dashboard_access(
        &self,
        buyer: &Buyer,
        connection: &DiscordConnected,
    ) -> Result<Value, Error> {
        Ok(self
            .step
            .run("grant-dashboard-access", {
                let users = Arc::clone(&self.deps.users);
                let clock = Arc::clone(&self.deps.clock);
                let user_id = buyer.user_id.clone();
                let purchase_id = self.purchase.purchase_id.clone();
                let connection = connection.clone();
                move || async move {
                    let patch =
                        metadata::access_granted(&connection, purchase_id.as_str(), clock.now());
                    users.merge_public_metadata(&user_id, patch.clone()).await?;
                    Ok::<_, Error>(patch)
                }
            })
            .await?)
    }

    /// `grant-discord-role`: the mentorship's role for a newly connected member.
    async fn grant_discord_role(
        &self,
        discord_user_id: &DiscordUserId,
        role_id: &RoleId,
    ) -> Result<RoleId, Error> {
        let guild = Arc::clone(&self.deps.guild);
        let discord_user_id = discord_user_id.clone();
        let role_id = role_id.clone();
        Ok(self
            .step
            .run("grant-discord-role", move || async move {
                guild.grant_role(&discord_user_id, &role_id).await?;
                Ok::<_, Error>(role_id)
            })
            .await?)
    }

    /// `send-welcome-email`.
    async fn send_welcome_email(
        &self,
        buyer: &Buyer,
        connection: &DiscordConnected,
    ) -> Result<String, Error> {
        let welcome = templates::welcome(&templates::Welcome {
            academy: &self.config.academy_name,
            name: buyer.name.as_deref(),
            mentorship: self.purchase.mentorship,
            discord_username: &connection.discord_username,
            dashboard_url: &self.config.dashboard_url,
        })
        .addressed(buyer.email.clone(), Category::Welcome);
        self.send("send-welcome-email", welcome).await
    }

    /// `send-onboarding-completed`: `mentorship/onboarding.completed`, id per purchase.
    async fn announce_completion(
        &self,
        buyer: &Buyer,
        connection: &DiscordConnected,
    ) -> Result<(), Error> {
        let completed = OnboardingCompleted {
            clerk_user_id: buyer.user_id.clone(),
            purchase_id: self.purchase.purchase_id.clone(),
            mentorship: self.purchase.mentorship,
            discord_user_id: connection.discord_user_id.clone(),
        };
        self.step
            .send_event(
                "send-onboarding-completed",
                vec![
                    Event::from_data(completed)
                        .id(EventId::onboarding_completed(&self.purchase.purchase_id).as_str()),
                ],
            )
            .await?;
        Ok(())
    }

    /// A step that sends `email`, keyed by run and step, returning the message id.
    async fn send(&self, step_id: &str, email: OutgoingEmail) -> Result<String, Error> {
        let mailer = Arc::clone(&self.deps.mailer);
        let key = idempotency_key(ONBOARDING_FLOW_ID, self.run_id, step_id);
        Ok(self
            .step
            .run(step_id, move || async move {
                send(mailer.as_ref(), &email, &key).await
            })
            .await?)
    }

    /// A step that deep-merges `patch` into the user's public metadata and returns it, so
    /// the dashboard shows what was written.
    async fn merge(
        &self,
        step_id: &str,
        user_id: &ClerkUserId,
        patch: Value,
    ) -> Result<Value, Error> {
        let users = Arc::clone(&self.deps.users);
        let user_id = user_id.clone();
        Ok(self
            .step
            .run(step_id, move || async move {
                users.merge_public_metadata(&user_id, patch.clone()).await?;
                Ok::<_, Error>(patch)
            })
            .await?)
    }
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
