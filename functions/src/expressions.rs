//! The CEL expressions of the functions' waits and cancellations (docs/protocol.md §1.4).
//!
//! They use only what both Inngest's CEL and the SDK fake executor's subset evaluate: member
//! access, list indexing, `==`, `||` and string literals. No macros (`exists`), so the tests
//! exercise the very strings Inngest receives. Values known only at run time (a Clerk user
//! id found by email, a normalised email) are embedded as escaped string literals.

use crate::ports::EmailAddress;

/// Cancels discord-follow-up when its user connects Discord. `event` is the run's trigger:
/// `mentorship/discord.follow-up`, or `inngest/function.invoked` whose data is the same
/// [`DiscordFollowUp`](crate::events::DiscordFollowUp) payload.
pub const FOLLOW_UP_CANCEL: &str = "async.data.clerk_user_id == event.data.clerk_user_id";

/// Matches the `clerk/user.created` of the buyer onboarding invited: the invitation's public
/// metadata (which Clerk copies onto the user at sign-up) names this purchase, or the
/// account's first address is the invited one.
///
/// The metadata clause is the robust one: it holds even when the buyer signs up with another
/// address through the invitation link. The address clause covers a buyer who signs up
/// without the link; it reads index 0 because CEL without macros cannot search a list, and a
/// new account has exactly one address. In Inngest's CEL a missing key is an error, and
/// `error || true` is `true`, so either clause alone suffices there too.
#[must_use]
pub fn signup_of(email: &EmailAddress) -> String {
    format!(
        "async.data.public_metadata.mentorship.purchase_id == event.data.purchase_id || \
         async.data.email_addresses[0].email_address == {}",
        string_literal(email.as_str())
    )
}

/// Matches `user/discord.connected` of this Clerk user.
///
/// Deliberately per user, not per purchase: Discord is connected once per account, and the
/// dashboard button sends no purchase id; two onboarding runs of one buyer (two purchases)
/// both complete on one connection.
#[must_use]
pub fn discord_connected_by(clerk_user_id: &str) -> String {
    format!(
        "async.data.clerk_user_id == {}",
        string_literal(clerk_user_id)
    )
}

/// A double-quoted CEL string literal of `value`: backslash and quote escaped, control
/// characters as `\n`/`\r`/`\t` or dropped, so no value can end the literal early.
#[must_use]
pub fn string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_cannot_be_broken_out_of() {
        assert_eq!(string_literal("user_1"), "\"user_1\"");
        assert_eq!(
            string_literal("a\" || true || \"\\"),
            "\"a\\\" || true || \\\"\\\\\""
        );
    }

    #[test]
    fn signup_expression_embeds_the_normalised_email() {
        let email = EmailAddress::parse("Ada@Example.com").unwrap();

        assert_eq!(
            signup_of(&email),
            "async.data.public_metadata.mentorship.purchase_id == event.data.purchase_id || \
             async.data.email_addresses[0].email_address == \"ada@example.com\""
        );
    }
}
