//! The two routes of the Discord connection (docs/design.md §5, docs/integrations.md §3.7 and
//! §11): `GET /api/auth/discord` starts it from an emailed link token or a Clerk session, and
//! `GET /api/auth/discord/callback` finishes it and renders the result page.
//!
//! Discord itself sits behind [`DiscordConnect`](super::connect::DiscordConnect) (live, or
//! the dry run of development without Discord settings), so these handlers have one path:
//! the dry run's callback passes every check below and sends the real
//! `user/discord.connected`. "Now" is the app's clock (`DiscordAuth::clock`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use huckleberry_functions::events::{ConnectSource, DiscordConnected, EventId};
use huckleberry_functions::ids::{ClerkUserId, PurchaseId};
use oauth2::{CsrfToken, PkceCodeChallenge};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::DiscordAuth;
use super::connect::{ConnectError, ConnectRequest, Connected};
use super::cookies::cookie;
use super::session::{SessionError, SessionVerifier};
use super::tokens::{OAuthCookie, TokenError};
use crate::integrations::clerk::MentorshipRecord;
use crate::pages::{ExpiredReason, Page, Problem};
use crate::paths;

/// The OAuth cookie's name.
pub const COOKIE_NAME: &str = "hb_discord_oauth";
/// Its path: the start route and, below it, the callback.
pub const COOKIE_PATH: &str = paths::DISCORD_START;
/// How long the buyer has on Discord's consent screen (docs/integrations.md §3.7).
pub const STATE_TTL_SECS: i64 = 600;

/// `GET /api/auth/discord` query.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    /// The signed link token from an email; absent for the dashboard button.
    #[serde(default)]
    t: Option<String>,
}

/// `GET /api/auth/discord/callback` query (RFC 6749 §4.1.2).
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Who is connecting, once the link token or session checked out.
#[derive(Debug)]
struct Starter {
    uid: ClerkUserId,
    pid: Option<PurchaseId>,
    record: MentorshipRecord,
    source: ConnectSource,
    link: Option<(String, i64)>,
}

/// Starts the flow: verify who is asking, set the sealed state cookie, redirect to Discord.
pub async fn start_discord_login(
    State(auth): State<Arc<DiscordAuth>>,
    query: Result<Query<StartQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let auth = &*auth;
    // A query that does not parse (a repeated `t`) is a broken link: the browser gets the
    // page for that, not axum's plain-text rejection.
    let Ok(Query(query)) = query else {
        let page = Page::Error {
            problem: Problem::InvalidLink,
        };
        return no_store(page.respond(&auth.links));
    };
    let now = auth.clock.now();
    let starter = match &query.t {
        Some(token) => start_from_link(auth, token, now).await,
        None => start_from_session(auth, &headers).await,
    };
    match starter {
        Ok(starter) => redirect_to_discord(auth, starter, now),
        Err(page) => no_store(page.respond(&auth.links)),
    }
}

/// Finishes the flow: check state and cookie, exchange the code, join the guild, send
/// `user/discord.connected`, clear the cookie, render the result.
pub async fn complete_discord_login(
    State(auth): State<Arc<DiscordAuth>>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // A query that does not parse (repeated `code` or `state`) cannot be verified.
    let page = match query {
        Ok(Query(query)) => complete(&auth, query, &headers, auth.clock.now()).await,
        Err(_) => Page::Error {
            problem: Problem::VerificationFailed,
        },
    };
    let mut response = no_store(page.respond(&auth.links));
    if let Ok(value) = HeaderValue::from_str(&clear_cookie(auth.secure_cookies)) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

async fn start_from_link(
    auth: &DiscordAuth,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Starter, Page> {
    let token = auth.signer.verify_link(token, now).map_err(|e| match e {
        TokenError::Invalid => {
            tracing::info!("discord link refused: invalid token");
            Page::Error {
                problem: Problem::InvalidLink,
            }
        }
        TokenError::Expired => Page::LinkExpired {
            reason: ExpiredReason::Expired,
        },
    })?;
    let used = Page::LinkExpired {
        reason: ExpiredReason::AlreadyUsed,
    };
    if auth.used.is_used(&nonce_key(&token.nonce)) {
        tracing::info!(clerk_user_id = %token.uid, "discord link refused: already used here");
        return Err(used);
    }
    let record = lookup_record(auth, &token.uid).await?;
    if record.is_connected_for(&token.pid) {
        tracing::info!(clerk_user_id = %token.uid, "discord link refused: purchase already connected");
        return Err(used);
    }
    Ok(Starter {
        uid: token.uid,
        pid: Some(token.pid),
        record,
        source: ConnectSource::Email,
        link: Some((token.nonce, token.exp)),
    })
}

async fn start_from_session(auth: &DiscordAuth, headers: &HeaderMap) -> Result<Starter, Page> {
    let token = SessionVerifier::token_from(headers).ok_or(Page::Error {
        problem: Problem::NotSignedIn,
    })?;
    let uid = auth
        .sessions
        .verify(&token)
        .await
        .map(ClerkUserId::new)
        .map_err(|e| {
            tracing::info!(error = %e, "dashboard session refused");
            match e {
                SessionError::Unavailable(_) => Page::Error {
                    problem: Problem::ServiceUnavailable,
                },
                SessionError::Invalid(_) => Page::Error {
                    problem: Problem::NotSignedIn,
                },
            }
        })?;
    let record = lookup_record(auth, &uid).await?;
    Ok(Starter {
        uid,
        pid: record.pending_purchase(),
        record,
        source: ConnectSource::Dashboard,
        link: None,
    })
}

/// The purchase onboarding recorded on the user: its kind decides the role, and a finished
/// connection makes an emailed link single use for good (see `replay`).
async fn lookup_record(auth: &DiscordAuth, uid: &ClerkUserId) -> Result<MentorshipRecord, Page> {
    match auth.metadata.public_metadata(uid).await {
        Ok(Some(metadata)) => Ok(MentorshipRecord::from_public_metadata(&metadata)),
        Ok(None) => Ok(MentorshipRecord::default()),
        Err(error) => {
            tracing::warn!(%error, "reading Clerk metadata failed");
            Err(Page::Error {
                problem: Problem::ServiceUnavailable,
            })
        }
    }
}

fn redirect_to_discord(auth: &DiscordAuth, starter: Starter, now: DateTime<Utc>) -> Response {
    let state = CsrfToken::new_random_len(32).secret().clone();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // The role to give at the guild join: the kind of the purchase being connected.
    let kind = starter
        .pid
        .as_ref()
        .and_then(|pid| starter.record.purchase(pid))
        .and_then(|purchase| purchase.kind);
    let cookie = OAuthCookie {
        state: state.clone(),
        verifier: verifier.secret().clone(),
        uid: starter.uid,
        pid: starter.pid,
        kind,
        source: starter.source,
        created_at: now.timestamp(),
        link: starter.link,
    };
    let location = auth.discord.authorize_url(&state, challenge);
    let set_cookie = format!(
        "{COOKIE_NAME}={}; Path={COOKIE_PATH}; Max-Age={STATE_TTL_SECS}; HttpOnly; SameSite=Lax{}",
        auth.signer.seal_cookie(&cookie),
        if auth.secure_cookies { "; Secure" } else { "" },
    );
    no_store(
        (
            StatusCode::SEE_OTHER,
            [(LOCATION, location.to_string()), (SET_COOKIE, set_cookie)],
        )
            .into_response(),
    )
}

async fn complete(
    auth: &DiscordAuth,
    query: CallbackQuery,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Page {
    let verification_failed = Page::Error {
        problem: Problem::VerificationFailed,
    };
    if let Some(error) = &query.error {
        if error == "access_denied" {
            return Page::Declined;
        }
        tracing::warn!(%error, "Discord returned an OAuth error");
        return verification_failed;
    }
    let Some(sealed) = cookie(headers, COOKIE_NAME) else {
        return Page::LinkExpired {
            reason: ExpiredReason::SessionTimedOut,
        };
    };
    let Ok(flow) = auth.signer.open_cookie(&sealed) else {
        tracing::warn!("discord callback refused: forged or damaged cookie");
        return verification_failed;
    };
    let state_matches = query
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
    if !state_matches {
        tracing::warn!("discord callback refused: state does not match the cookie");
        return verification_failed;
    }
    let age = now.timestamp() - flow.created_at;
    if !(-60..=STATE_TTL_SECS).contains(&age) {
        return Page::LinkExpired {
            reason: ExpiredReason::SessionTimedOut,
        };
    }
    let already_used = Page::LinkExpired {
        reason: ExpiredReason::AlreadyUsed,
    };
    if !auth.used.mark_used(
        &format!("state:{}", flow.state),
        flow.created_at + STATE_TTL_SECS,
        now.timestamp(),
    ) {
        tracing::warn!("discord callback refused: state replayed");
        return already_used;
    }
    if let Some((nonce, _)) = &flow.link
        && auth.used.is_used(&nonce_key(nonce))
    {
        return already_used;
    }
    let Some(code) = query.code.as_deref() else {
        return verification_failed;
    };
    let request = ConnectRequest {
        code,
        verifier: &flow.verifier,
        clerk_user_id: &flow.uid,
        kind: flow.kind,
    };
    let Connected { user, joined_guild } = match auth.discord.connect(request).await {
        Ok(connected) => connected,
        Err(ConnectError::Refused) => return verification_failed,
        Err(ConnectError::Unavailable) => {
            return Page::Error {
                problem: Problem::ServiceUnavailable,
            };
        }
    };
    let data = DiscordConnected {
        clerk_user_id: flow.uid.clone(),
        purchase_id: flow.pid.clone(),
        discord_user_id: user.id.clone(),
        discord_username: user.username.clone(),
        joined_guild,
        source: flow.source,
    };
    let event = inngest_sdk::Event::from_data(data).id(EventId::discord_connected(
        &flow.uid,
        &user.id,
        flow.pid.as_ref(),
    )
    .as_str());
    if let Err(error) = auth.events.send(&event).await {
        tracing::error!(error = %error, "sending user/discord.connected failed");
        return Page::Error {
            problem: Problem::ServiceUnavailable,
        };
    }
    if let Some((nonce, exp)) = &flow.link {
        auth.used
            .mark_used(&nonce_key(nonce), *exp, now.timestamp());
    }
    tracing::info!(
        clerk_user_id = %flow.uid,
        discord_user_id = %user.id,
        joined_guild,
        source = ?flow.source,
        "discord connected"
    );
    Page::Connected {
        joined: joined_guild,
    }
}

fn nonce_key(nonce: &str) -> String {
    format!("link:{nonce}")
}

fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE_NAME}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
