//! Typed payloads and names of the Inngest events in docs/design.md §3.
//!
//! The event *names* and the JSON shape of each `data` object are the contract between the
//! webhook routes, the Discord callback and the functions, so they live here, once. Field names
//! are snake_case on the wire; optional fields serialize as `null` (a stable schema for Inngest
//! expressions such as `async.data.purchase_id == event.data.purchase_id`) and may be absent
//! when deserializing.

use std::fmt;

use chrono::{DateTime, Utc};
use inngest_sdk::EventType;
use serde::{Deserialize, Serialize};

pub use crate::ids::{ClerkUserId, DiscordUserId, PurchaseId};

/// Event names (docs/design.md §3). Names are the contract: never rename one without a migration.
pub mod names {
    /// A paid mentorship purchase, sent by the Stripe and PayPal webhook routes.
    pub const PURCHASE_MENTORSHIP: &str = "purchase/mentorship";
    /// A buyer connected Discord, sent by the Discord OAuth callback.
    pub const DISCORD_CONNECTED: &str = "user/discord.connected";
    /// A manual "send the Discord reminder again", sent by staff from the Inngest dashboard.
    pub const DISCORD_FOLLOW_UP: &str = "mentorship/discord.follow-up";
    /// Onboarding finished, sent by onboarding-flow.
    pub const ONBOARDING_COMPLETED: &str = "mentorship/onboarding.completed";
    /// A Clerk user was created, forwarded by the Clerk webhook route (`clerk/<type>`).
    pub const CLERK_USER_CREATED: &str = "clerk/user.created";
    /// A Resend email bounced, forwarded by the Resend webhook route (`resend/<type>`).
    pub const RESEND_EMAIL_BOUNCED: &str = "resend/email.bounced";
}

/// The payment provider a purchase came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Stripe Checkout.
    Stripe,
    /// PayPal Checkout (Orders v2 captures).
    Paypal,
}

/// Which mentorship was bought; decides the Discord role and the Clerk metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MentorshipKind {
    /// A 1-on-1 mentorship.
    OneOnOne,
    /// A group mentorship.
    Group,
}

impl MentorshipKind {
    /// Parses the wire spelling (`one_on_one` | `group`), as used in provider metadata.
    #[must_use]
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "one_on_one" => Some(Self::OneOnOne),
            "group" => Some(Self::Group),
            _ => None,
        }
    }

    /// The wire spelling (`one_on_one` | `group`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneOnOne => "one_on_one",
            Self::Group => "group",
        }
    }
}

/// Where the buyer started the Discord connection from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectSource {
    /// The signed link in an onboarding or reminder email.
    Email,
    /// The button in the academy dashboard (Clerk session).
    Dashboard,
    /// Nobody connected now: the buyer's account was connected for an earlier purchase.
    AlreadyConnected,
}

/// A three-letter ISO 4217 currency code, always lowercase (`usd`, `jpy`), as Stripe spells it.
///
/// PayPal sends uppercase codes; normalising here means the functions compare one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

/// A currency code that is not three ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCurrency;

impl fmt::Display for InvalidCurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("currency must be a three-letter ISO 4217 code")
    }
}

impl std::error::Error for InvalidCurrency {}

impl Currency {
    /// Parses a three-letter code in any case and stores it lowercase.
    ///
    /// # Errors
    /// [`InvalidCurrency`] unless `code` is exactly three ASCII letters.
    pub fn parse(code: &str) -> Result<Self, InvalidCurrency> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(code.to_ascii_lowercase()))
        } else {
            Err(InvalidCurrency)
        }
    }

    /// The lowercase code, e.g. `usd`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `purchase/mentorship`: a buyer paid for a mentorship. Triggers onboarding-flow, which is
/// idempotent on `purchase_id` (Stripe sends two events for one delayed-payment purchase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseMentorship {
    /// Which provider took the money.
    pub provider: Provider,
    /// The provider's stable purchase key: Stripe Checkout Session id, PayPal capture id.
    pub purchase_id: PurchaseId,
    /// The email the buyer typed at checkout; how onboarding finds or invites them in Clerk.
    pub email: String,
    /// The buyer's name as given at checkout, for greetings.
    #[serde(default)]
    pub name: Option<String>,
    /// The Clerk user id when the buyer was signed in at checkout; skips the email lookup.
    #[serde(default)]
    pub clerk_user_id: Option<ClerkUserId>,
    /// Which mentorship was bought.
    pub mentorship: MentorshipKind,
    /// The provider's product reference (Stripe price/product id or PayPal item), for support.
    pub product: String,
    /// Amount paid in the currency's minor unit (cents; yen for JPY), never a float.
    pub amount_minor: i64,
    /// Lowercase ISO 4217 code.
    pub currency: Currency,
    /// False for Stripe test mode / PayPal sandbox, so test purchases are recognisable.
    pub livemode: bool,
    /// When the provider recorded the purchase (RFC 3339, UTC).
    pub purchased_at: DateTime<Utc>,
}

impl EventType for PurchaseMentorship {
    const NAME: &'static str = names::PURCHASE_MENTORSHIP;
}

/// `user/discord.connected`: the buyer linked Discord (and was added to the guild if possible).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscordConnected {
    /// The Clerk user who connected.
    pub clerk_user_id: ClerkUserId,
    /// The purchase being onboarded, when the link carried one (email links do).
    #[serde(default)]
    pub purchase_id: Option<PurchaseId>,
    /// Discord's user snowflake, as a string (it exceeds JavaScript's safe integers).
    pub discord_user_id: DiscordUserId,
    /// The Discord username at connection time, for staff.
    pub discord_username: String,
    /// Whether the guild join succeeded; onboarding retries the role grant either way.
    pub joined_guild: bool,
    /// Where the buyer clicked.
    pub source: ConnectSource,
}

impl EventType for DiscordConnected {
    const NAME: &'static str = names::DISCORD_CONNECTED;
}

/// `mentorship/discord.follow-up`: staff ask for the Discord reminder to be sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscordFollowUp {
    /// The buyer to remind.
    pub clerk_user_id: ClerkUserId,
    /// The purchase whose onboarding is waiting.
    pub purchase_id: PurchaseId,
    /// Which automatic reminder this is (1, 2, …), set when onboarding-flow invokes the
    /// follow-up; absent for a manual resend by staff, which the email words differently.
    #[serde(default)]
    pub reminder: Option<u32>,
}

impl EventType for DiscordFollowUp {
    const NAME: &'static str = names::DISCORD_FOLLOW_UP;
}

/// `mentorship/onboarding.completed`: access granted, role given, welcome email sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardingCompleted {
    /// The onboarded buyer.
    pub clerk_user_id: ClerkUserId,
    /// The purchase that was onboarded.
    pub purchase_id: PurchaseId,
    /// Which mentorship access was granted.
    pub mentorship: MentorshipKind,
    /// The Discord account that received the role.
    pub discord_user_id: DiscordUserId,
}

impl EventType for OnboardingCompleted {
    const NAME: &'static str = names::ONBOARDING_COMPLETED;
}

/// `clerk/user.created`: the Clerk user object, as Clerk's webhook `data` carries it
/// (docs/integrations.md §4.3). Only the fields onboarding reads; every one is lenient, so a field
/// Clerk stops sending cannot make the event undecodable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClerkUser {
    /// Clerk user id (`user_…`).
    pub id: ClerkUserId,
    /// The id of the primary entry of `email_addresses`.
    #[serde(default)]
    pub primary_email_address_id: Option<String>,
    /// Every address of the user; the primary one is named by `primary_email_address_id`
    /// (do not assume index 0).
    #[serde(default)]
    pub email_addresses: Vec<ClerkEmailAddress>,
    /// First name, for greetings.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Public metadata; an invitation's metadata lands here at sign-up.
    #[serde(default)]
    pub public_metadata: serde_json::Value,
}

impl EventType for ClerkUser {
    const NAME: &'static str = names::CLERK_USER_CREATED;
}

/// One entry of a Clerk user's `email_addresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClerkEmailAddress {
    /// The entry's id (`idn_…`).
    #[serde(default)]
    pub id: String,
    /// The address.
    pub email_address: String,
}

impl ClerkUser {
    /// The primary address: the entry named by `primary_email_address_id`, else the first.
    #[must_use]
    pub fn primary_email(&self) -> Option<&str> {
        let primary = self.primary_email_address_id.as_deref();
        self.email_addresses
            .iter()
            .find(|e| primary == Some(e.id.as_str()))
            .or_else(|| self.email_addresses.first())
            .map(|e| e.email_address.as_str())
    }
}

/// `resend/email.bounced`: Resend's webhook `data` for a bounce (docs/integrations.md §5.2), only
/// the fields the email-bounced function reads, all lenient.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendEmailBounced {
    /// Resend's id of the bounced email (what `Mailer::send` returned).
    #[serde(default)]
    pub email_id: Option<String>,
    /// Recipients; the bounced address is the first.
    #[serde(default)]
    pub to: Vec<String>,
    /// Subject of the bounced email, for staff.
    #[serde(default)]
    pub subject: Option<String>,
    /// Why it bounced.
    #[serde(default)]
    pub bounce: Option<Bounce>,
    /// The tags the email was sent with (an object in webhooks), e.g. `category`.
    #[serde(default)]
    pub tags: Option<serde_json::Map<String, serde_json::Value>>,
}

impl EventType for ResendEmailBounced {
    const NAME: &'static str = names::RESEND_EMAIL_BOUNCED;
}

/// The `bounce` object of a Resend bounce.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounce {
    /// The receiving server's message.
    #[serde(default)]
    pub message: Option<String>,
    /// `Permanent`, `Transient`, …
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `General`, `NoEmail`, `Suppressed`, …
    #[serde(default, rename = "subType")]
    pub sub_kind: Option<String>,
}

impl ResendEmailBounced {
    /// The value of tag `name`, when the email carried it as a string.
    #[must_use]
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.as_ref()?.get(name)?.as_str()
    }
}

/// An Inngest event id (docs/design.md §3): Inngest drops a second event with the same id for 24
/// h, so each id is derived from the provider's own delivery or object id, never generated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// `stripe-<evt id>` for a Stripe event.
    #[must_use]
    pub fn stripe(event_id: &str) -> Self {
        Self(format!("stripe-{event_id}"))
    }

    /// `paypal-<event id>` for a PayPal webhook event (`WH-…`).
    #[must_use]
    pub fn paypal(event_id: &str) -> Self {
        Self(format!("paypal-{event_id}"))
    }

    /// `clerk-<svix-id>` for a Clerk webhook delivery (the id is stable across retries).
    #[must_use]
    pub fn clerk(svix_id: &str) -> Self {
        Self(format!("clerk-{svix_id}"))
    }

    /// `resend-<svix-id>` for a Resend webhook delivery.
    #[must_use]
    pub fn resend(svix_id: &str) -> Self {
        Self(format!("resend-{svix_id}"))
    }

    /// `discord-<clerk id>-<discord id>[-<purchase id>]` for `user/discord.connected`.
    ///
    /// The purchase is part of it: a buyer who connects again for a second purchase (after
    /// leaving the guild, say) within Inngest's 24 h dedupe window must not have that
    /// connection dropped as a duplicate of the first.
    #[must_use]
    pub fn discord_connected(
        clerk_user_id: &ClerkUserId,
        discord_user_id: &DiscordUserId,
        purchase_id: Option<&PurchaseId>,
    ) -> Self {
        match purchase_id {
            Some(purchase) => Self(format!(
                "discord-{clerk_user_id}-{discord_user_id}-{purchase}"
            )),
            None => Self(format!("discord-{clerk_user_id}-{discord_user_id}")),
        }
    }

    /// `onboarded-<purchase_id>` for `mentorship/onboarding.completed`.
    #[must_use]
    pub fn onboarding_completed(purchase_id: &PurchaseId) -> Self {
        Self(format!("onboarded-{purchase_id}"))
    }

    /// The id as sent to Inngest.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn purchase() -> PurchaseMentorship {
        PurchaseMentorship {
            provider: Provider::Stripe,
            purchase_id: "cs_test_a1".into(),
            email: "buyer@example.com".into(),
            name: Some("Ada Buyer".into()),
            clerk_user_id: None,
            mentorship: MentorshipKind::OneOnOne,
            product: "price_1on1".into(),
            amount_minor: 25_000,
            currency: Currency::parse("USD").unwrap(),
            livemode: false,
            purchased_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        }
    }

    #[test]
    fn purchase_mentorship_serializes_to_the_design_contract() {
        let value = serde_json::to_value(purchase()).unwrap();

        assert_eq!(
            value,
            json!({
                "provider": "stripe",
                "purchase_id": "cs_test_a1",
                "email": "buyer@example.com",
                "name": "Ada Buyer",
                "clerk_user_id": null,
                "mentorship": "one_on_one",
                "product": "price_1on1",
                "amount_minor": 25000,
                "currency": "usd",
                "livemode": false,
                "purchased_at": "2026-01-02T03:04:05Z"
            })
        );
    }

    #[test]
    fn purchase_mentorship_roundtrips_and_accepts_absent_optionals() {
        let text = r#"{"provider":"paypal","purchase_id":"3C679366HH908993F","email":"b@example.com","mentorship":"group","product":"group-2026","amount_minor":1500,"currency":"jpy","livemode":true,"purchased_at":"2026-01-02T03:04:05Z"}"#;

        let parsed: PurchaseMentorship = serde_json::from_str(text).unwrap();

        assert_eq!(parsed.provider, Provider::Paypal);
        assert_eq!(parsed.name, None);
        assert_eq!(parsed.mentorship, MentorshipKind::Group);
        assert_eq!(parsed.currency.as_str(), "jpy");
        let again: PurchaseMentorship =
            serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(again, parsed);
    }

    #[test]
    fn purchase_with_a_malformed_currency_is_rejected() {
        let mut value = serde_json::to_value(purchase()).unwrap();
        value["currency"] = json!("dollars");

        assert!(serde_json::from_value::<PurchaseMentorship>(value).is_err());
    }

    #[test]
    fn discord_connected_roundtrips_with_exact_json() {
        let event = DiscordConnected {
            clerk_user_id: "user_2abc".into(),
            purchase_id: Some("cs_test_a1".into()),
            discord_user_id: "80351110224678912".into(),
            discord_username: "nelly".into(),
            joined_guild: true,
            source: ConnectSource::Dashboard,
        };
        let expected = r#"{"clerk_user_id":"user_2abc","purchase_id":"cs_test_a1","discord_user_id":"80351110224678912","discord_username":"nelly","joined_guild":true,"source":"dashboard"}"#;

        assert_eq!(serde_json::to_string(&event).unwrap(), expected);
        assert_eq!(
            serde_json::from_str::<DiscordConnected>(expected).unwrap(),
            event
        );
    }

    #[test]
    fn follow_up_and_completed_roundtrip_with_exact_json() {
        let follow_up = DiscordFollowUp {
            clerk_user_id: "user_2abc".into(),
            purchase_id: "cs_test_a1".into(),
            reminder: None,
        };
        let completed = OnboardingCompleted {
            clerk_user_id: "user_2abc".into(),
            purchase_id: "cs_test_a1".into(),
            mentorship: MentorshipKind::Group,
            discord_user_id: "80351110224678912".into(),
        };
        let follow_up_json =
            r#"{"clerk_user_id":"user_2abc","purchase_id":"cs_test_a1","reminder":null}"#;
        let completed_json = r#"{"clerk_user_id":"user_2abc","purchase_id":"cs_test_a1","mentorship":"group","discord_user_id":"80351110224678912"}"#;

        assert_eq!(serde_json::to_string(&follow_up).unwrap(), follow_up_json);
        assert_eq!(serde_json::to_string(&completed).unwrap(), completed_json);
        assert_eq!(
            serde_json::from_str::<DiscordFollowUp>(follow_up_json).unwrap(),
            follow_up
        );
        assert_eq!(
            serde_json::from_str::<OnboardingCompleted>(completed_json).unwrap(),
            completed
        );
    }

    #[test]
    fn a_manual_follow_up_without_a_reminder_number_decodes() {
        let staff_sent = r#"{"clerk_user_id":"user_2abc","purchase_id":"cs_test_a1"}"#;

        let parsed: DiscordFollowUp = serde_json::from_str(staff_sent).unwrap();

        assert_eq!(parsed.reminder, None);
    }

    #[test]
    fn clerk_user_primary_email_follows_the_primary_id_not_the_order() {
        let user: ClerkUser = serde_json::from_value(json!({
            "id": "user_1",
            "primary_email_address_id": "idn_2",
            "email_addresses": [
                {"id": "idn_1", "email_address": "old@example.com"},
                {"id": "idn_2", "email_address": "new@example.com"}
            ],
            "unknown_field": true
        }))
        .unwrap();

        assert_eq!(user.primary_email(), Some("new@example.com"));
        assert_eq!(user.first_name, None);
    }

    #[test]
    fn resend_bounce_decodes_the_webhook_data() {
        let data: ResendEmailBounced = serde_json::from_value(json!({
            "email_id": "4ef9a417",
            "created_at": "2026-01-02T03:04:05Z",
            "from": "Academy <hello@academy.test>",
            "to": ["ada@example.com"],
            "subject": "Connect Discord",
            "tags": {"category": "connect_link"},
            "bounce": {"message": "mailbox does not exist", "type": "Permanent", "subType": "General"}
        }))
        .unwrap();

        assert_eq!(data.to, ["ada@example.com"]);
        assert_eq!(data.tag("category"), Some("connect_link"));
        let bounce = data.bounce.unwrap();
        assert_eq!(bounce.kind.as_deref(), Some("Permanent"));
        assert_eq!(bounce.sub_kind.as_deref(), Some("General"));
    }

    #[test]
    fn each_event_type_names_its_event_as_design_section_3_does() {
        fn name<E: EventType>() -> &'static str {
            E::NAME
        }
        assert_eq!(name::<PurchaseMentorship>(), "purchase/mentorship");
        assert_eq!(name::<DiscordConnected>(), "user/discord.connected");
        assert_eq!(name::<DiscordFollowUp>(), "mentorship/discord.follow-up");
        assert_eq!(
            name::<OnboardingCompleted>(),
            "mentorship/onboarding.completed"
        );
        assert_eq!(name::<ClerkUser>(), "clerk/user.created");
        assert_eq!(name::<ResendEmailBounced>(), "resend/email.bounced");
    }

    #[test]
    fn event_ids_follow_design_section_3() {
        assert_eq!(EventId::stripe("evt_1").as_str(), "stripe-evt_1");
        assert_eq!(EventId::paypal("WH-1").as_str(), "paypal-WH-1");
        assert_eq!(EventId::clerk("msg_1").as_str(), "clerk-msg_1");
        assert_eq!(EventId::resend("msg_2").as_str(), "resend-msg_2");
        assert_eq!(
            EventId::discord_connected(&"user_2abc".into(), &"8035".into(), None).as_str(),
            "discord-user_2abc-8035"
        );
        assert_eq!(
            EventId::discord_connected(&"user_2abc".into(), &"8035".into(), Some(&"cs_2".into()))
                .as_str(),
            "discord-user_2abc-8035-cs_2"
        );
        assert_eq!(
            EventId::onboarding_completed(&"cs_test_a1".into()).to_string(),
            "onboarded-cs_test_a1"
        );
    }

    #[test]
    fn mentorship_kind_wire_spelling_matches_serde() {
        for kind in [MentorshipKind::OneOnOne, MentorshipKind::Group] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
            assert_eq!(MentorshipKind::from_wire(kind.as_str()), Some(kind));
        }
        assert_eq!(MentorshipKind::from_wire("One_On_One"), None);
    }
}
