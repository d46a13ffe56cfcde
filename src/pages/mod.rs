//! The buyer-facing result pages of the Discord connection (docs/design.md §5): connected,
//! declined, link expired, and error.
//!
//! Plain server-rendered HTML from one small template with escaping — four static pages do
//! not justify a template engine. Every page fits a phone (viewport meta, fluid layout,
//! 18 px type), carries the academy's warm look, and offers one clear next action. Every link
//! goes to a fixed destination from configuration (dashboard, the guild, a mailto); nothing
//! here ever echoes a URL from the request, so there is no open redirect.

use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use huckleberry_functions::ports::EmailAddress;
use huckleberry_functions::templates::escape_html as escape;
use url::Url;

/// Which page to show, and the detail that changes its wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// Discord is connected. `joined` is false when adding to the server failed.
    Connected {
        /// Whether the buyer is in the academy's server now.
        joined: bool,
    },
    /// The buyer pressed "Cancel" on Discord's consent screen.
    Declined,
    /// The emailed link or the sign-in attempt is too old, or was already used.
    LinkExpired {
        /// Why, in the buyer's terms.
        reason: ExpiredReason,
    },
    /// Anything else.
    Error {
        /// What went wrong, in the buyer's terms.
        problem: Problem,
    },
}

/// Why a link no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiredReason {
    /// The link's date passed.
    Expired,
    /// The link was already used to connect.
    AlreadyUsed,
    /// The ten minutes to finish on Discord passed, or the browser lost the sign-in cookie.
    SessionTimedOut,
}

/// What went wrong, for the error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The link is not one we made (tampered, truncated).
    InvalidLink,
    /// No link and no dashboard sign-in.
    NotSignedIn,
    /// The sign-in could not be verified (mismatched state, forged cookie).
    VerificationFailed,
    /// Discord or another service failed; trying again may work.
    ServiceUnavailable,
    /// This client sent too many requests; waiting a moment works.
    TooManyRequests,
}

/// The fixed destinations pages link to.
#[derive(Debug, Clone)]
pub struct PageLinks {
    /// The academy dashboard.
    pub dashboard: Url,
    /// The academy's Discord server (or Discord itself when the guild is unknown).
    pub discord: Url,
    /// Where "Contact us" writes to.
    pub support: Option<EmailAddress>,
}

impl Page {
    /// The HTTP status the page is served with.
    pub fn status(&self) -> StatusCode {
        match self {
            Page::Connected { .. } | Page::Declined => StatusCode::OK,
            Page::LinkExpired { .. } => StatusCode::GONE,
            Page::Error {
                problem: Problem::ServiceUnavailable,
            } => StatusCode::BAD_GATEWAY,
            Page::Error {
                problem: Problem::NotSignedIn,
            } => StatusCode::UNAUTHORIZED,
            Page::Error {
                problem: Problem::TooManyRequests,
            } => StatusCode::TOO_MANY_REQUESTS,
            Page::Error { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The page as a response.
    pub fn respond(&self, links: &PageLinks) -> Response {
        (self.status(), Html(self.render(links))).into_response()
    }

    /// The page's HTML.
    pub fn render(&self, links: &PageLinks) -> String {
        let dashboard = Action {
            label: "Back to your dashboard",
            href: links.dashboard.to_string(),
        };
        let try_again = Action {
            label: "Try again from your dashboard",
            href: links.dashboard.to_string(),
        };
        let contact = links.support.as_ref().map(|email| Action {
            label: "Contact us",
            href: format!("mailto:{email}"),
        });
        let open_discord = Action {
            label: "Open Discord",
            href: links.discord.to_string(),
        };
        let (id, title, lead, body, primary, secondary): (
            &str,
            &str,
            &str,
            &str,
            Option<Action>,
            Option<Action>,
        ) = match self {
            Page::Connected { joined: true } => (
                "connected",
                "You're connected!",
                "Your Discord account is linked and you have joined the Huckleberry Art Academy server.",
                "Your mentorship channels appear in Discord within a minute. See you there!",
                Some(open_discord),
                Some(dashboard),
            ),
            Page::Connected { joined: false } => (
                "connected",
                "Discord is linked",
                "Your Discord account is linked, but we could not add you to the academy's server just now.",
                "We will retry for you; if you do not see the server within a day, write to us and we will sort it out.",
                contact.clone(),
                Some(dashboard),
            ),
            Page::Declined => (
                "declined",
                "No problem",
                "You chose not to connect Discord, so nothing was shared with us.",
                "Your mentorship chat lives on Discord. Whenever you are ready, connect from your dashboard.",
                Some(try_again),
                contact.clone(),
            ),
            Page::LinkExpired { reason } => (
                "expired",
                "This link has expired",
                match reason {
                    ExpiredReason::Expired => {
                        "For your security, connection links only work for a limited time."
                    }
                    ExpiredReason::AlreadyUsed => {
                        "This link was already used to connect Discord, and each link works once."
                    }
                    ExpiredReason::SessionTimedOut => {
                        "The connection took longer than ten minutes, or your browser did not keep our sign-in cookie."
                    }
                },
                "You can start again from your dashboard in one click.",
                Some(try_again),
                contact.clone(),
            ),
            Page::Error { problem } => (
                "error",
                "Something went wrong",
                match problem {
                    Problem::InvalidLink => {
                        "This link is not valid. It may have been shortened or changed when it was copied."
                    }
                    Problem::NotSignedIn => {
                        "Please sign in to your dashboard first, then connect Discord from there."
                    }
                    Problem::VerificationFailed => {
                        "We could not verify this sign-in, so we stopped to keep your account safe."
                    }
                    Problem::ServiceUnavailable => {
                        "Discord or one of our services did not answer. Nothing was changed."
                    }
                    Problem::TooManyRequests => {
                        "We received many requests from your connection in a short time, so we paused for a moment."
                    }
                },
                "Please try again from your dashboard. If it keeps happening, write to us.",
                Some(try_again),
                contact.clone(),
            ),
        };
        render(id, title, lead, body, primary.as_ref(), secondary.as_ref())
    }
}

/// The pages' one inline style sheet: the CSP allows exactly it, by its hash.
const STYLE: &str = r#"  :root { color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
    background: #fbf4ea; color: #3b2a20; font: 18px/1.6 Georgia, "Iowan Old Style", serif; padding: 24px; }
  main { max-width: 34rem; width: 100%; background: #fffdf9; border-radius: 18px; padding: 32px 28px;
    box-shadow: 0 8px 30px rgba(91, 56, 32, .12); }
  .brand { font: 600 14px/1.2 system-ui, sans-serif; letter-spacing: .08em; text-transform: uppercase; color: #9a5b3c; }
  h1 { font-size: 1.75rem; line-height: 1.25; margin: .4em 0 .5em; }
  p { margin: 0 0 1em; }
  .actions { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 1.5em; }
  a.button { display: inline-block; padding: 12px 22px; border-radius: 999px; text-decoration: none;
    font: 600 16px/1.2 system-ui, sans-serif; background: #b5532f; color: #fff; }
  a.button.secondary { background: transparent; color: #8a3f22; border: 2px solid #e3c3ad; }
"#;

/// The pages' `Content-Security-Policy`: nothing but the one inline style sheet, by hash
/// (computed here from the style sheet itself, so an edit cannot leave a stale hash behind). No
/// script, image, font or frame may load; no page may frame this one; forms may only post here.
pub fn content_security_policy() -> HeaderValue {
    use base64::Engine as _;
    use sha2::Digest as _;
    static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
        let policy = format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        );
        HeaderValue::try_from(policy).expect("the policy is ASCII without control characters")
    });
    POLICY.clone()
}

#[derive(Debug, Clone)]
struct Action {
    label: &'static str,
    href: String,
}

/// The shared layout.
fn render(
    id: &str,
    title: &str,
    lead: &str,
    body: &str,
    primary: Option<&Action>,
    secondary: Option<&Action>,
) -> String {
    let mut html = String::with_capacity(4096);
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Huckleberry Art Academy</title>
<style>{style}</style>
</head>
<body data-page="{id}">
<main>
<div class="brand">Huckleberry Art Academy</div>
<h1>{title}</h1>
<p>{lead}</p>
<p>{body}</p>
<div class="actions">"#,
        style = STYLE,
        id = escape(id),
        title = escape(title),
        lead = escape(lead),
        body = escape(body),
    );
    for (action, class) in [(primary, "button"), (secondary, "button secondary")] {
        if let Some(action) = action {
            let _ = write!(
                html,
                r#"<a class="{class}" href="{href}">{label}</a>"#,
                href = escape(&action.href),
                label = escape(action.label),
            );
        }
    }
    html.push_str("</div>\n</main>\n</body>\n</html>\n");
    html
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;

    fn links() -> PageLinks {
        PageLinks {
            dashboard: Url::parse("https://academy.example/dashboard?a=1&b=2").unwrap(),
            discord: Url::parse("https://discord.com/channels/42").unwrap(),
            support: Some(EmailAddress::parse("help@academy.example").unwrap()),
        }
    }

    #[test]
    fn every_page_is_mobile_friendly_and_has_an_action() {
        for page in [
            Page::Connected { joined: true },
            Page::Connected { joined: false },
            Page::Declined,
            Page::LinkExpired {
                reason: ExpiredReason::AlreadyUsed,
            },
            Page::Error {
                problem: Problem::InvalidLink,
            },
        ] {
            let html = page.render(&links());
            assert!(html.contains(r#"name="viewport""#), "{page:?}");
            assert!(html.contains(r#"<a class="button""#), "{page:?}");
        }
    }

    #[test]
    fn the_policy_allows_exactly_the_style_sheet_the_pages_carry() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let html = Page::Declined.render(&links());
        let start = html.find("<style>").unwrap() + "<style>".len();
        let end = html.find("</style>").unwrap();
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(&html[start..end]));
        let policy = content_security_policy();
        let policy = policy.to_str().unwrap();
        assert!(
            policy.contains(&format!("style-src 'sha256-{hash}';")),
            "{policy}"
        );
        assert_eq!(html.matches("<style").count(), 1, "one style sheet");
        assert!(!html.contains("style=\""), "no inline style attributes");
        assert!(!html.contains("<script"), "no scripts");
    }

    #[test]
    fn links_are_escaped_in_attributes() {
        let html = Page::Declined.render(&links());
        assert!(html.contains(r#"href="https://academy.example/dashboard?a=1&amp;b=2""#));
        assert!(html.contains(r#"href="mailto:help@academy.example""#));
        assert_eq!(
            escape(r#"<a href="x">'&'"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;"
        );
    }
}
