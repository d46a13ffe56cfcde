//! The two routes of the Discord connection (docs/design.md §5, docs/integrations.md §3.7 and §11):
//! `GET /api/auth/discord` starts it from an emailed link token or a Clerk session, and
//! `GET /api/auth/discord/callback` finishes it and renders the result page.
//!
//! Dry run (development without Discord settings): the start route skips Discord and
//! redirects straight to the callback with the fake code [`DRY_RUN_CODE`] and the real state
//! and cookie, so every check of the callback still runs; the callback then invents a
//! Discord user (`dryrun-…`, stable per Clerk user), logs the guild join it would have made,
//! and sends the real `user/discord.connected` to the dev server.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use huckleberry_functions::events::{ConnectSource, DiscordConnected, EventId};
use oauth2::{CsrfToken, PkceCodeChallenge};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use super::DiscordAuth;
use super::session::{SessionError, SessionVerifier};
use super::tokens::{OAuthCookie, TokenError};
use crate::integrations::clerk::MentorshipRecord;
use crate::integrations::discord::{DiscordUser, ExchangeError};
use crate::pages::{ExpiredReason, Page, Problem};
use crate::state::AppState;

/// The OAuth cookie's name.
pub const COOKIE_NAME: &str = "hb_discord_oauth";
/// Its path: the start route and, below it, the callback.
pub const COOKIE_PATH: &str = "/api/auth/discord";
/// How long the buyer has on Discord's consent screen (docs/integrations.md §3.7).
pub const STATE_TTL_SECS: i64 = 600;
/// The code the dry run hands its own callback.
pub const DRY_RUN_CODE: &str = "dry-run-code";

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
    uid: String,
    pid: Option<String>,
    record: MentorshipRecord,
    source: ConnectSource,
    link: Option<(String, i64)>,
}

/// Starts the flow: verify who is asking, set the sealed state cookie, redirect to Discord.
pub async fn start_discord_login(
    State(app): State<AppState>,
    query: Result<Query<StartQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let auth = &app.auth;
    // A query that does not parse (a repeated `t`) is a broken link: the browser gets the
    // page for that, not axum's plain-text rejection.
    let Ok(Query(query)) = query else {
        let page = Page::Error {
            problem: Problem::InvalidLink,
        };
        return no_store(page.respond(&auth.links));
    };
    let now = Utc::now();
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
    State(app): State<AppState>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // A query that does not parse (repeated `code` or `state`) cannot be verified.
    let page = match query {
        Ok(Query(query)) => complete(&app, query, &headers, Utc::now()).await,
        Err(_) => Page::Error {
            problem: Problem::VerificationFailed,
        },
    };
    let mut response = no_store(page.respond(&app.auth.links));
    if let Ok(value) = HeaderValue::from_str(&clear_cookie(app.auth.secure_cookies)) {
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
    let uid = auth.sessions.verify(&token).await.map_err(|e| {
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
async fn lookup_record(auth: &DiscordAuth, uid: &str) -> Result<MentorshipRecord, Page> {
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
        .as_deref()
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
    let location = match &auth.discord {
        Some(discord) => discord.authorize_url(&state, challenge),
        None => {
            let mut url = auth.callback_url.clone();
            url.query_pairs_mut()
                .append_pair("code", DRY_RUN_CODE)
                .append_pair("state", &state);
            tracing::info!(dry_run = "discord", "skipping Discord's consent screen");
            url
        }
    };
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
    app: &AppState,
    query: CallbackQuery,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Page {
    let auth = &app.auth;
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
    let (user, joined) = match connect(auth, code, &flow).await {
        Ok(connected) => connected,
        Err(page) => return page,
    };
    let data = DiscordConnected {
        clerk_user_id: flow.uid.clone(),
        purchase_id: flow.pid.clone(),
        discord_user_id: user.id.clone(),
        discord_username: user.username.clone(),
        joined_guild: joined,
        source: flow.source,
    };
    let event = inngest_sdk::Event::from_data(data).id(EventId::discord_connected(
        &flow.uid,
        &user.id,
        flow.pid.as_deref(),
    )
    .as_str());
    if let Err(error) = app.inngest.send(&event).await {
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
        joined_guild = joined,
        source = ?flow.source,
        "discord connected"
    );
    Page::Connected { joined }
}

/// Exchange, identify, join: the live calls, or their dry run.
async fn connect(
    auth: &DiscordAuth,
    code: &str,
    flow: &OAuthCookie,
) -> Result<(DiscordUser, bool), Page> {
    let unavailable = Page::Error {
        problem: Problem::ServiceUnavailable,
    };
    let Some(discord) = &auth.discord else {
        let user = dry_run_user(&flow.uid);
        tracing::info!(
            dry_run = "discord",
            discord_user_id = %user.id,
            kind = ?flow.kind,
            "would have added this user to the guild with the mentorship role"
        );
        return Ok((user, true));
    };
    let token = discord
        .exchange_code(code, &flow.verifier)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "discord code exchange failed");
            match e {
                ExchangeError::Refused(_) => Page::Error {
                    problem: Problem::VerificationFailed,
                },
                ExchangeError::Unavailable(_) => unavailable.clone(),
            }
        })?;
    let user = discord.current_user(&token).await.map_err(|e| {
        tracing::warn!(error = %e, "discord /users/@me failed");
        unavailable.clone()
    })?;
    let role = match (flow.kind, &auth.discord_config) {
        (Some(kind), Some(config)) => Some(config.role_for(kind).to_owned()),
        _ => None,
    };
    let joined = match discord.add_member(&user.id, &token, role.as_deref()).await {
        Ok(join) => {
            tracing::info!(discord_user_id = %user.id, ?join, "joined the guild");
            true
        }
        Err(error) => {
            // The connection itself succeeded: report it with joined_guild = false, and
            // onboarding retries the role grant (docs/design.md §3).
            tracing::warn!(%error, discord_user_id = %user.id, "guild join failed");
            false
        }
    };
    Ok((user, joined))
}

fn dry_run_user(uid: &str) -> DiscordUser {
    let digest = Sha256::digest(uid.as_bytes());
    let number = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8])) >> 1;
    DiscordUser {
        id: number.to_string(),
        username: format!("dryrun-{}", &hex::encode(&digest[..3])),
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

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// The callback URL for a base URL.
pub fn callback_url(app_base_url: &Url) -> Url {
    app_base_url
        .join(crate::integrations::config::DISCORD_CALLBACK_PATH)
        .unwrap_or_else(|_| app_base_url.clone())
}
