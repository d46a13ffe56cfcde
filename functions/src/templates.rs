//! The emails onboarding sends: connection invite, reminder, welcome, staff alert.
//!
//! Each renders a subject, an HTML body and a plain-text body. Every piece of user-supplied
//! text (names, addresses, Discord usernames, bounce messages) goes through [`escape_html`]
//! in the HTML body and through [`one_line`] in a subject, and every link appears in both
//! bodies, so a reader whose client shows only one part still has the next action.

use std::fmt::Write as _;

use url::Url;

use crate::events::MentorshipKind;
use crate::ports::{EmailAddress, OutgoingEmail};

/// A rendered email, not yet addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// Subject line (one line, no control characters).
    pub subject: String,
    /// HTML body, user-supplied text escaped.
    pub html: String,
    /// Plain-text body.
    pub text: String,
}

impl RenderedEmail {
    /// The email addressed to `to`, tagged with `category` (Resend echoes tags in its
    /// webhooks, which is how email-bounced tells a welcome email from a connection link).
    #[must_use]
    pub fn addressed(self, to: EmailAddress, category: Category) -> OutgoingEmail {
        OutgoingEmail {
            to,
            subject: self.subject,
            html: self.html,
            text: self.text,
            tags: vec![("category".to_owned(), category.as_str().to_owned())],
        }
    }
}

/// What an email is for; sent as the `category` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The first email with the Discord connection link.
    ConnectLink,
    /// A reminder with a fresh link.
    Reminder,
    /// The welcome email after access was granted.
    Welcome,
    /// An alert to staff.
    StaffAlert,
}

impl Category {
    /// The tag value (Resend allows ASCII letters, digits, `_` and `-`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectLink => "connect_link",
            Self::Reminder => "reminder",
            Self::Welcome => "welcome",
            Self::StaffAlert => "staff_alert",
        }
    }
}

/// Escapes text for an HTML body or a double- or single-quoted attribute value.
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Makes text safe for a subject line: control characters (a CR/LF would start a new
/// header in some transports) become spaces, and runs of whitespace collapse.
#[must_use]
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How emails name a mentorship kind.
#[must_use]
pub fn mentorship_label(kind: MentorshipKind) -> &'static str {
    match kind {
        MentorshipKind::OneOnOne => "1-on-1 mentorship",
        MentorshipKind::Group => "group mentorship",
    }
}

/// The first email: connect Discord with this link.
#[derive(Debug, Clone, Copy)]
pub struct ConnectInvite<'a> {
    /// The academy's name.
    pub academy: &'a str,
    /// The buyer's first name, if known.
    pub name: Option<&'a str>,
    /// What they bought.
    pub mentorship: MentorshipKind,
    /// The signed connection link.
    pub link: &'a Url,
    /// How many days the link stays valid.
    pub valid_for_days: u64,
}

/// Renders the connection invite.
#[must_use]
pub fn connect_invite(email: &ConnectInvite<'_>) -> RenderedEmail {
    let what = mentorship_label(email.mentorship);
    let intro = format!(
        "Thank you for joining the {what}! Your mentor and fellow artists meet on our Discord \
         server. Connect your Discord account and we will add you with the right role."
    );
    let expiry = link_expiry(email.valid_for_days);
    RenderedEmail {
        subject: format!(
            "Welcome to {}: connect your Discord",
            one_line(email.academy)
        ),
        html: layout(
            email.academy,
            "One step left: connect Discord",
            &format!(
                "{}<p>{}</p>{}<p>{}</p>",
                greeting_html(email.name),
                escape_html(&intro),
                button_html(email.link, "Connect Discord"),
                escape_html(&expiry)
            ),
        ),
        text: format!(
            "{}\n\n{intro}\n\nConnect Discord: {}\n\n{expiry}\n\n— {}\n",
            greeting_text(email.name),
            email.link,
            email.academy
        ),
    }
}

/// A reminder with a fresh link.
#[derive(Debug, Clone, Copy)]
pub struct Reminder<'a> {
    /// The academy's name.
    pub academy: &'a str,
    /// The buyer's first name, if known.
    pub name: Option<&'a str>,
    /// Which automatic reminder (1, 2, …); `None` for a manual resend by staff.
    pub number: Option<u32>,
    /// The fresh signed link.
    pub link: &'a Url,
    /// How many days the link stays valid.
    pub valid_for_days: u64,
}

/// Renders a reminder.
#[must_use]
pub fn reminder(email: &Reminder<'_>) -> RenderedEmail {
    let (subject, intro) = match email.number {
        Some(n) => (
            format!("Reminder {n}: connect your Discord to start your mentorship"),
            "Your mentorship is ready, and the only thing missing is your Discord account. \
             It takes a minute: click the button, approve, and you are in."
                .to_owned(),
        ),
        None => (
            "Your Discord connection link".to_owned(),
            "Here is a fresh link to connect your Discord account, as you asked.".to_owned(),
        ),
    };
    let expiry = link_expiry(email.valid_for_days);
    let older = "Links from earlier emails may have expired; this one works.";
    RenderedEmail {
        subject,
        html: layout(
            email.academy,
            "Connect your Discord",
            &format!(
                "{}<p>{}</p>{}<p>{} {}</p>",
                greeting_html(email.name),
                escape_html(&intro),
                button_html(email.link, "Connect Discord"),
                escape_html(&expiry),
                escape_html(older)
            ),
        ),
        text: format!(
            "{}\n\n{intro}\n\nConnect Discord: {}\n\n{expiry} {older}\n\n— {}\n",
            greeting_text(email.name),
            email.link,
            email.academy
        ),
    }
}

/// The welcome email after access was granted.
#[derive(Debug, Clone, Copy)]
pub struct Welcome<'a> {
    /// The academy's name.
    pub academy: &'a str,
    /// The buyer's first name, if known.
    pub name: Option<&'a str>,
    /// What they bought.
    pub mentorship: MentorshipKind,
    /// The Discord account that was connected.
    pub discord_username: &'a str,
    /// Where the dashboard is.
    pub dashboard_url: &'a Url,
}

/// Renders the welcome email.
#[must_use]
pub fn welcome(email: &Welcome<'_>) -> RenderedEmail {
    let what = mentorship_label(email.mentorship);
    let discord = format!(
        "Your Discord account {} is connected and has the {what} role: the mentorship \
         channels are open to you now.",
        email.discord_username
    );
    let dashboard = "Your dashboard has your schedule and materials.";
    RenderedEmail {
        subject: format!("You're in: welcome to your {what}"),
        html: layout(
            email.academy,
            "You're all set",
            &format!(
                "{}<p>{}</p><p>{}</p>{}",
                greeting_html(email.name),
                escape_html(&discord),
                escape_html(dashboard),
                button_html(email.dashboard_url, "Open your dashboard"),
            ),
        ),
        text: format!(
            "{}\n\n{discord}\n\n{dashboard}\nOpen your dashboard: {}\n\n— {}\n",
            greeting_text(email.name),
            email.dashboard_url,
            email.academy
        ),
    }
}

/// Why staff are alerted.
#[derive(Debug, Clone)]
pub enum StaffAlert<'a> {
    /// The buyer never connected Discord, after every reminder.
    DiscordNotConnected {
        /// The buyer's address.
        buyer_email: &'a str,
        /// The buyer's name, if known.
        buyer_name: Option<&'a str>,
        /// Their Clerk user id.
        clerk_user_id: &'a str,
        /// The purchase.
        purchase_id: &'a str,
        /// What they bought.
        mentorship: MentorshipKind,
        /// Reminders sent.
        reminders: u32,
    },
    /// The buyer never accepted the Clerk invitation.
    SignupTimedOut {
        /// The buyer's address.
        buyer_email: &'a str,
        /// The buyer's name, if known.
        buyer_name: Option<&'a str>,
        /// The purchase.
        purchase_id: &'a str,
        /// What they bought.
        mentorship: MentorshipKind,
    },
    /// An email to a buyer bounced.
    EmailBounced {
        /// The address that bounced.
        recipient: &'a str,
        /// The Clerk user with that address, if any.
        clerk_user_id: Option<&'a str>,
        /// The receiving server's reason, if given.
        reason: Option<&'a str>,
        /// The bounced email's subject, if known.
        subject: Option<&'a str>,
    },
    /// An onboarding run failed for good.
    OnboardingFailed {
        /// The buyer's address.
        buyer_email: &'a str,
        /// The purchase.
        purchase_id: &'a str,
        /// The final error message.
        error: &'a str,
        /// The failed run, to find it in the Inngest dashboard.
        run_id: &'a str,
    },
}

/// Renders a staff alert: what happened, the facts, and what to do next.
#[must_use]
pub fn staff_alert(academy: &str, alert: &StaffAlert<'_>) -> RenderedEmail {
    let (subject, summary, facts, action) = staff_alert_parts(alert);
    let mut html_facts = String::from("<ul>");
    let mut text_facts = String::new();
    for (label, value) in &facts {
        // Writing to a String cannot fail.
        let _ = write!(
            html_facts,
            "<li><strong>{}</strong>: {}</li>",
            escape_html(label),
            escape_html(value)
        );
        let _ = writeln!(text_facts, "- {label}: {value}");
    }
    html_facts.push_str("</ul>");
    RenderedEmail {
        subject: format!("[{}] {}", one_line(academy), one_line(&subject)),
        html: layout(
            academy,
            "A buyer needs a hand",
            &format!(
                "<p>{}</p>{html_facts}<p>{}</p>",
                escape_html(&summary),
                escape_html(&action)
            ),
        ),
        text: format!("{summary}\n\n{text_facts}\n{action}\n"),
    }
}

type AlertParts = (String, String, Vec<(&'static str, String)>, String);

fn staff_alert_parts(alert: &StaffAlert<'_>) -> AlertParts {
    let unknown = || "(unknown)".to_owned();
    match alert {
        StaffAlert::DiscordNotConnected {
            buyer_email,
            buyer_name,
            clerk_user_id,
            purchase_id,
            mentorship,
            reminders,
        } => (
            format!("Buyer has not connected Discord: {buyer_email}"),
            format!(
                "A buyer has not connected Discord after {reminders} reminders. They have no \
                 mentorship access yet."
            ),
            vec![
                ("Buyer", buyer_email.to_string()),
                ("Name", buyer_name.map_or_else(unknown, str::to_owned)),
                ("Clerk user", clerk_user_id.to_string()),
                ("Purchase", purchase_id.to_string()),
                ("Mentorship", mentorship_label(*mentorship).to_owned()),
            ],
            "Please reach out to them personally. To send a fresh link, send the event \
             mentorship/discord.follow-up with their clerk_user_id and purchase_id from the \
             Inngest dashboard."
                .to_owned(),
        ),
        StaffAlert::SignupTimedOut {
            buyer_email,
            buyer_name,
            purchase_id,
            mentorship,
        } => (
            format!("Buyer has not created an account: {buyer_email}"),
            "A buyer was invited to create an account but has not signed up, so onboarding \
             stopped."
                .to_owned(),
            vec![
                ("Buyer", buyer_email.to_string()),
                ("Name", buyer_name.map_or_else(unknown, str::to_owned)),
                ("Purchase", purchase_id.to_string()),
                ("Mentorship", mentorship_label(*mentorship).to_owned()),
            ],
            "Please check the address with the buyer and re-send the Clerk invitation.".to_owned(),
        ),
        StaffAlert::EmailBounced {
            recipient,
            clerk_user_id,
            reason,
            subject,
        } => (
            format!("Email bounced: {recipient}"),
            "An email to a buyer bounced, so they may never see their onboarding link.".to_owned(),
            vec![
                ("Recipient", recipient.to_string()),
                (
                    "Clerk user",
                    clerk_user_id.map_or_else(|| "(no matching user)".to_owned(), str::to_owned),
                ),
                ("Reason", reason.map_or_else(unknown, str::to_owned)),
                ("Email subject", subject.map_or_else(unknown, str::to_owned)),
            ],
            "Please contact the buyer another way and correct their address.".to_owned(),
        ),
        StaffAlert::OnboardingFailed {
            buyer_email,
            purchase_id,
            error,
            run_id,
        } => (
            format!("Onboarding failed: {buyer_email}"),
            "Onboarding stopped with an error that retrying could not fix.".to_owned(),
            vec![
                ("Buyer", buyer_email.to_string()),
                ("Purchase", purchase_id.to_string()),
                ("Error", error.to_string()),
                ("Inngest run", run_id.to_string()),
            ],
            "Please fix the cause (see the run in the Inngest dashboard) and finish this \
             buyer's onboarding by hand."
                .to_owned(),
        ),
    }
}

fn link_expiry(days: u64) -> String {
    match days {
        1 => "The link works for 1 day.".to_owned(),
        n => format!("The link works for {n} days."),
    }
}

fn greeting_html(name: Option<&str>) -> String {
    format!("<p>{}</p>", escape_html(&greeting_text(name)))
}

fn greeting_text(name: Option<&str>) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("Hi {name},"),
        None => "Hi there,".to_owned(),
    }
}

fn button_html(link: &Url, label: &str) -> String {
    let href = escape_html(link.as_str());
    format!(
        "<p style=\"margin:28px 0\"><a href=\"{href}\" style=\"background:#3d5a40;color:#ffffff;\
         padding:12px 22px;border-radius:6px;text-decoration:none;font-weight:bold;\
         display:inline-block\">{}</a></p>\
         <p style=\"font-size:13px;color:#555555\">If the button does not work, open this link: \
         <a href=\"{href}\" style=\"color:#3d5a40;word-break:break-all\">{href}</a></p>",
        escape_html(label)
    )
}

fn layout(academy: &str, heading: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{heading}</title></head>\
         <body style=\"margin:0;padding:24px;background:#f6f3ee;font-family:Georgia,serif;\
         color:#2b2b2b;line-height:1.5\">\
         <div style=\"max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;\
         padding:32px\"><h1 style=\"font-size:22px;margin:0 0 16px\">{heading}</h1>{body}\
         <p style=\"margin-top:32px;font-size:13px;color:#777777\">{academy}</p></div>\
         </body></html>",
        heading = escape_html(heading),
        academy = escape_html(academy),
    )
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;

    fn link() -> Url {
        Url::parse("https://academy.test/api/auth/discord?token=abc&v=1").unwrap()
    }

    #[test]
    fn escape_html_neutralises_markup_quotes_and_ampersands() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape_html("plain text"), "plain text");
    }

    #[test]
    fn one_line_removes_header_breaking_characters() {
        assert_eq!(one_line("a\r\nBcc: x@y.z\t b"), "a Bcc: x@y.z b");
    }

    #[test]
    fn connect_invite_escapes_the_name_and_links_in_both_bodies() {
        let link = link();
        let email = connect_invite(&ConnectInvite {
            academy: "Huckleberry Art Academy",
            name: Some("<script>alert('hi')</script>"),
            mentorship: MentorshipKind::OneOnOne,
            link: &link,
            valid_for_days: 7,
        });

        assert!(!email.html.contains("<script>"));
        assert!(
            email
                .html
                .contains("&lt;script&gt;alert(&#39;hi&#39;)&lt;/script&gt;")
        );
        assert!(
            email
                .html
                .contains("href=\"https://academy.test/api/auth/discord?token=abc&amp;v=1\"")
        );
        assert!(
            email
                .text
                .contains("Connect Discord: https://academy.test/api/auth/discord?token=abc&v=1")
        );
        assert!(email.text.contains("7 days"));
        assert!(email.text.contains("1-on-1 mentorship"));
        assert_eq!(
            email.subject,
            "Welcome to Huckleberry Art Academy: connect your Discord"
        );
    }

    #[test]
    fn reminder_names_its_number_and_a_manual_resend_does_not() {
        let link = link();
        let numbered = reminder(&Reminder {
            academy: "Academy",
            name: None,
            number: Some(2),
            link: &link,
            valid_for_days: 1,
        });
        let manual = reminder(&Reminder {
            academy: "Academy",
            name: Some("Ada"),
            number: None,
            link: &link,
            valid_for_days: 7,
        });

        assert!(numbered.subject.starts_with("Reminder 2:"));
        assert!(numbered.text.starts_with("Hi there,"));
        assert!(numbered.text.contains("1 day."));
        assert!(numbered.html.contains("token=abc&amp;v=1"));
        assert!(numbered.text.contains(link.as_str()));
        assert_eq!(manual.subject, "Your Discord connection link");
        assert!(manual.text.starts_with("Hi Ada,"));
    }

    #[test]
    fn welcome_escapes_the_discord_username_and_links_the_dashboard() {
        let dashboard = Url::parse("https://academy.test/dashboard").unwrap();
        let email = welcome(&Welcome {
            academy: "Academy",
            name: Some("Ada & Co"),
            mentorship: MentorshipKind::Group,
            discord_username: "\"nelly\"<b>",
            dashboard_url: &dashboard,
        });

        assert!(email.html.contains("Hi Ada &amp; Co,"));
        assert!(email.html.contains("&quot;nelly&quot;&lt;b&gt;"));
        assert!(!email.html.contains("<b>"));
        assert!(
            email
                .html
                .contains("href=\"https://academy.test/dashboard\"")
        );
        assert!(
            email
                .text
                .contains("Open your dashboard: https://academy.test/dashboard")
        );
        assert!(email.text.contains("\"nelly\"<b>"));
        assert!(email.subject.contains("group mentorship"));
    }

    #[test]
    fn staff_alerts_escape_what_buyers_typed() {
        let stuck = staff_alert(
            "Academy",
            &StaffAlert::DiscordNotConnected {
                buyer_email: "ada@example.com",
                buyer_name: Some("<i>Ada</i>"),
                clerk_user_id: "user_1",
                purchase_id: "cs_1",
                mentorship: MentorshipKind::OneOnOne,
                reminders: 3,
            },
        );
        let bounced = staff_alert(
            "Academy",
            &StaffAlert::EmailBounced {
                recipient: "x@example.com\r\nBcc: evil@example.com",
                clerk_user_id: None,
                reason: Some("550 <no such user>"),
                subject: None,
            },
        );

        assert_eq!(
            stuck.subject,
            "[Academy] Buyer has not connected Discord: ada@example.com"
        );
        assert!(stuck.html.contains("&lt;i&gt;Ada&lt;/i&gt;"));
        assert!(stuck.text.contains("after 3 reminders"));
        assert!(stuck.text.contains("- Purchase: cs_1"));
        assert!(!bounced.subject.contains('\n'));
        assert!(bounced.html.contains("550 &lt;no such user&gt;"));
        assert!(bounced.text.contains("(no matching user)"));
    }

    #[test]
    fn emails_are_tagged_with_their_category() {
        let to = EmailAddress::parse("ada@example.com").unwrap();
        let email = RenderedEmail {
            subject: "s".into(),
            html: "h".into(),
            text: "t".into(),
        }
        .addressed(to, Category::Welcome);

        assert_eq!(email.tags, [("category".to_owned(), "welcome".to_owned())]);
    }
}
