//! Recording fakes of the ports, and a test environment: the functions served by the SDK's
//! fake executor, with fake time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeZone, Utc};
use huckleberry_functions::config::{DiscordRoles, OnboardingConfig};
use huckleberry_functions::events::{
    ConnectSource, Currency, DiscordConnected, EventId, MentorshipKind, Provider,
    PurchaseMentorship,
};
use huckleberry_functions::ids::{ClerkUserId, DiscordUserId, PurchaseId, RoleId};
use huckleberry_functions::metadata::Mentorship;
use huckleberry_functions::ports::{
    ConnectLinks, DiscordGuild, EmailAddress, Invitation, Mailer, OutgoingEmail, PortError,
    PortFuture, User, UserDirectory,
};
use huckleberry_functions::{Deps, functions};
use inngest_sdk::testing::{FakeExecutor, RunId, RunRecord};
use inngest_sdk::{Endpoint, Event};
use serde_json::{Value, json};
use url::Url;

pub(crate) const APP: &str = "huckleberry";
pub(crate) const ONBOARDING: &str = "huckleberry-onboarding-flow";
pub(crate) const FOLLOW_UP: &str = "huckleberry-discord-follow-up";
pub(crate) const STAFF: &str = "staff@academy.test";
pub(crate) const ROLE_ONE_ON_ONE: &str = "role-1on1";
pub(crate) const ROLE_GROUP: &str = "role-group";
pub(crate) const HOURS_48: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ----- user directory -------------------------------------------------------------------

/// An in-memory Clerk: users, their merged public metadata, every patch and invitation.
#[derive(Default)]
pub(crate) struct FakeDirectory {
    state: Mutex<DirectoryState>,
}

#[derive(Default)]
struct DirectoryState {
    users: Vec<User>,
    metadata: HashMap<String, Value>,
    patches: Vec<(String, Value)>,
    invitations: Vec<(String, Value)>,
}

impl DirectoryState {
    /// The user with the metadata merged so far, as Clerk returns a user.
    fn as_clerk_returns_it(&self, user: &User) -> User {
        let metadata = self
            .metadata
            .get(user.id.as_str())
            .cloned()
            .unwrap_or_default();
        User {
            mentorship: Mentorship::from_public_metadata(&metadata),
            ..user.clone()
        }
    }
}

impl FakeDirectory {
    pub(crate) fn add_user(&self, id: &str, email: &str, first_name: Option<&str>) {
        lock(&self.state).users.push(User {
            id: id.into(),
            primary_email: Some(EmailAddress::parse(email).expect("a valid test address")),
            first_name: first_name.map(str::to_owned),
            mentorship: Mentorship::default(),
        });
    }

    /// Every `merge_public_metadata` call, in order.
    pub(crate) fn patches(&self) -> Vec<(String, Value)> {
        lock(&self.state).patches.clone()
    }

    /// The user's public metadata after every merge.
    pub(crate) fn metadata(&self, user_id: &str) -> Value {
        lock(&self.state)
            .metadata
            .get(user_id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// `(email, public_metadata)` of every invitation.
    pub(crate) fn invitations(&self) -> Vec<(String, Value)> {
        lock(&self.state).invitations.clone()
    }
}

impl UserDirectory for FakeDirectory {
    fn user(&self, user_id: &ClerkUserId) -> PortFuture<'_, Option<User>> {
        let state = lock(&self.state);
        let found = state
            .users
            .iter()
            .find(|u| &u.id == user_id)
            .map(|u| state.as_clerk_returns_it(u));
        Box::pin(async move { Ok(found) })
    }

    fn find_by_email(&self, email: &EmailAddress) -> PortFuture<'_, Option<User>> {
        let state = lock(&self.state);
        let found = state
            .users
            .iter()
            .find(|u| u.primary_email.as_ref() == Some(email))
            .map(|u| state.as_clerk_returns_it(u));
        Box::pin(async move { Ok(found) })
    }

    fn invite(&self, email: &EmailAddress, public_metadata: Value) -> PortFuture<'_, Invitation> {
        let mut state = lock(&self.state);
        state
            .invitations
            .push((email.as_str().to_owned(), public_metadata));
        let id = format!("inv_{}", state.invitations.len());
        Box::pin(async move { Ok(Invitation { id }) })
    }

    fn merge_public_metadata(&self, user_id: &ClerkUserId, patch: Value) -> PortFuture<'_, ()> {
        let mut state = lock(&self.state);
        let result = if state.users.iter().any(|u| &u.id == user_id) {
            state.patches.push((user_id.to_string(), patch.clone()));
            deep_merge(
                state
                    .metadata
                    .entry(user_id.to_string())
                    .or_insert(json!({})),
                &patch,
            );
            Ok(())
        } else {
            Err(PortError::permanent(format!("no user {user_id}")))
        };
        Box::pin(async move { result })
    }
}

/// Clerk's metadata merge: objects merge recursively, `null` removes a key.
fn deep_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else if value.is_object() {
                    deep_merge(target.entry(key.clone()).or_insert(json!({})), value);
                } else {
                    target.insert(key.clone(), value.clone());
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

// ----- mailer ---------------------------------------------------------------------------

/// An email the fake mailer delivered.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) email: OutgoingEmail,
    pub(crate) key: String,
    pub(crate) id: String,
}

impl Delivered {
    pub(crate) fn to(&self) -> &str {
        self.email.to.as_str()
    }

    pub(crate) fn category(&self) -> &str {
        self.email
            .tags
            .iter()
            .find(|(name, _)| name == "category")
            .map_or("", |(_, value)| value)
    }
}

/// A Resend stand-in: records deliveries, honours idempotency keys (a repeated key delivers
/// nothing and returns the first id), and can fail after delivering, like a timeout after
/// the provider accepted the email.
#[derive(Default)]
pub(crate) struct FakeMailer {
    state: Mutex<MailerState>,
}

#[derive(Default)]
struct MailerState {
    delivered: Vec<Delivered>,
    by_key: HashMap<String, String>,
    calls: Vec<String>,
    fail_after_send: u32,
}

impl FakeMailer {
    /// The next `n` sends deliver, then answer with a transient error.
    pub(crate) fn fail_after_send(&self, n: u32) {
        lock(&self.state).fail_after_send = n;
    }

    pub(crate) fn delivered(&self) -> Vec<Delivered> {
        lock(&self.state).delivered.clone()
    }

    /// The idempotency key of every `send` call, delivered or not.
    pub(crate) fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }
}

impl Mailer for FakeMailer {
    fn send(&self, email: &OutgoingEmail, idempotency_key: &str) -> PortFuture<'_, String> {
        let mut state = lock(&self.state);
        state.calls.push(idempotency_key.to_owned());
        let result = if let Some(id) = state.by_key.get(idempotency_key) {
            Ok(id.clone())
        } else {
            let id = format!("em_{}", state.delivered.len() + 1);
            state.delivered.push(Delivered {
                email: email.clone(),
                key: idempotency_key.to_owned(),
                id: id.clone(),
            });
            state.by_key.insert(idempotency_key.to_owned(), id.clone());
            if state.fail_after_send > 0 {
                state.fail_after_send -= 1;
                Err(PortError::transient("timed out waiting for the mail API"))
            } else {
                Ok(id)
            }
        };
        Box::pin(async move { result })
    }
}

// ----- Discord guild --------------------------------------------------------------------

/// Records role grants; can be told to fail every call with an error.
#[derive(Default)]
pub(crate) struct FakeGuild {
    state: Mutex<GuildState>,
}

#[derive(Default)]
struct GuildState {
    grants: Vec<(String, String)>,
    attempts: u32,
    fail_with: Option<PortError>,
}

impl FakeGuild {
    pub(crate) fn fail_with(&self, error: PortError) {
        lock(&self.state).fail_with = Some(error);
    }

    /// `(discord user id, role id)` of every successful grant.
    pub(crate) fn grants(&self) -> Vec<(String, String)> {
        lock(&self.state).grants.clone()
    }

    pub(crate) fn attempts(&self) -> u32 {
        lock(&self.state).attempts
    }
}

impl DiscordGuild for FakeGuild {
    fn grant_role(&self, discord_user_id: &DiscordUserId, role_id: &RoleId) -> PortFuture<'_, ()> {
        let mut state = lock(&self.state);
        state.attempts += 1;
        let result = match state.fail_with.clone() {
            Some(error) => Err(error),
            None => {
                state
                    .grants
                    .push((discord_user_id.to_string(), role_id.to_string()));
                Ok(())
            }
        };
        Box::pin(async move { result })
    }
}

// ----- connect links --------------------------------------------------------------------

/// Deterministic links, numbered so a fresh link is recognisable; records each request.
#[derive(Default)]
pub(crate) struct FixedLinks {
    made: Mutex<Vec<(String, String, DateTime<Utc>)>>,
}

impl FixedLinks {
    /// `(clerk user id, purchase id, expires_at)` of every link made.
    pub(crate) fn made(&self) -> Vec<(String, String, DateTime<Utc>)> {
        lock(&self.made).clone()
    }

    /// The n-th link (1-based) for this user and purchase.
    pub(crate) fn link(user: &str, purchase: &str, n: usize) -> String {
        format!("https://academy.test/api/auth/discord?token={user}.{purchase}.{n}&sig=abc")
    }
}

impl ConnectLinks for FixedLinks {
    fn connect_link(
        &self,
        clerk_user_id: &ClerkUserId,
        purchase_id: &PurchaseId,
        expires_at: DateTime<Utc>,
    ) -> Url {
        let mut made = lock(&self.made);
        made.push((
            clerk_user_id.to_string(),
            purchase_id.to_string(),
            expires_at,
        ));
        Url::parse(&Self::link(
            clerk_user_id.as_str(),
            purchase_id.as_str(),
            made.len(),
        ))
        .expect("a valid test URL")
    }
}

// ----- the environment ------------------------------------------------------------------

pub(crate) fn config() -> OnboardingConfig {
    OnboardingConfig::new(
        EmailAddress::parse(STAFF).expect("valid"),
        DiscordRoles {
            one_on_one: ROLE_ONE_ON_ONE.into(),
            group: ROLE_GROUP.into(),
        },
        Url::parse("https://academy.test/dashboard").expect("valid"),
    )
}

/// The functions served by a fake executor, with recording fakes of every port.
pub(crate) struct TestEnv {
    pub(crate) inngest: FakeExecutor,
    pub(crate) users: Arc<FakeDirectory>,
    pub(crate) mailer: Arc<FakeMailer>,
    pub(crate) guild: Arc<FakeGuild>,
    pub(crate) links: Arc<FixedLinks>,
}

pub(crate) async fn spawn() -> TestEnv {
    let inngest = FakeExecutor::start().await;
    let users = Arc::new(FakeDirectory::default());
    let mailer = Arc::new(FakeMailer::default());
    let guild = Arc::new(FakeGuild::default());
    let links = Arc::new(FixedLinks::default());
    let deps = Deps::new(users.clone(), mailer.clone(), guild.clone(), links.clone())
        .with_clock(inngest.clock());
    let mut endpoint = Endpoint::builder(APP, inngest.client()).clock(inngest.clock());
    for function in functions(deps, config()) {
        endpoint = endpoint.function(function);
    }
    inngest
        .serve(endpoint.build().expect("the endpoint builds"))
        .await
        .expect("the app syncs");
    TestEnv {
        inngest,
        users,
        mailer,
        guild,
        links,
    }
}

impl TestEnv {
    pub(crate) fn run(&self, id: &RunId) -> RunRecord {
        self.inngest.run(id)
    }

    /// Emails of one category, in delivery order.
    pub(crate) fn emails(&self, category: &str) -> Vec<Delivered> {
        self.mailer
            .delivered()
            .into_iter()
            .filter(|d| d.category() == category)
            .collect()
    }
}

// ----- events ---------------------------------------------------------------------------

pub(crate) fn purchase(purchase_id: &str, email: &str) -> PurchaseMentorship {
    PurchaseMentorship {
        provider: Provider::Stripe,
        purchase_id: purchase_id.into(),
        email: email.to_owned(),
        name: Some("Ada Lovelace".to_owned()),
        clerk_user_id: None,
        mentorship: MentorshipKind::OneOnOne,
        product: "price_1on1".to_owned(),
        amount_minor: 25_000,
        currency: Currency::parse("usd").expect("valid"),
        livemode: false,
        purchased_at: Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("valid"),
    }
}

pub(crate) fn purchase_event(
    purchase: PurchaseMentorship,
    stripe_event: &str,
) -> Event<PurchaseMentorship> {
    Event::from_data(purchase).id(EventId::stripe(stripe_event).as_str())
}

pub(crate) fn connected(
    user: &str,
    discord_user: &str,
    purchase_id: Option<&str>,
) -> Event<DiscordConnected> {
    Event::from_data(DiscordConnected {
        clerk_user_id: user.into(),
        purchase_id: purchase_id.map(PurchaseId::from),
        discord_user_id: discord_user.into(),
        discord_username: "ada_draws".to_owned(),
        joined_guild: true,
        source: ConnectSource::Email,
    })
    .id(EventId::discord_connected(
        &user.into(),
        &discord_user.into(),
        purchase_id.map(PurchaseId::from).as_ref(),
    )
    .as_str())
}

/// `clerk/user.created` as the Clerk webhook route forwards it: the Clerk user object.
pub(crate) fn clerk_user_created(user: &str, email: &str, public_metadata: Value) -> Event<Value> {
    Event::new(
        "clerk/user.created",
        json!({
            "id": user,
            "object": "user",
            "first_name": "Ada",
            "primary_email_address_id": "idn_1",
            "email_addresses": [
                {"id": "idn_1", "object": "email_address", "email_address": email,
                 "verification": {"status": "verified", "strategy": "ticket"}}
            ],
            "public_metadata": public_metadata,
            "created_at": 1_767_323_045_000_i64
        }),
    )
    .id(format!("clerk-msg_{user}"))
}
