//! The Discord connection flow against local stand-ins of Clerk, Discord and Inngest: the
//! app on port 0 with live-mode settings pointing at the stand-in.

use axum::http::Method;
use chrono::{Duration, Utc};
use huckleberry::clock::Clock;
use huckleberry::discord::tokens::{LinkToken, OAuthCookie, Signer};
use huckleberry::startup::AppOverrides;
use huckleberry_functions::events::ConnectSource;
use serde_json::{Value, json};

use crate::stand_in::{
    AUTH_CODE, CLERK_USER, DISCORD_USER, GUILD, LINK_KEY, PURCHASE, ROLE_GROUP, StandIn, clerk_user,
};
use crate::support::{TestApp, spawn_app_with};

/// The app wired to a fresh stand-in, with a client that follows no redirects.
pub(crate) struct Flow {
    pub(crate) app: TestApp,
    pub(crate) stand_in: StandIn,
    pub(crate) client: reqwest::Client,
}

pub(crate) async fn flow() -> Flow {
    flow_with_overrides(AppOverrides::default()).await
}

/// As [`flow`], the app reading "now" from `clock`.
pub(crate) async fn flow_with_clock(clock: Clock) -> Flow {
    flow_with_overrides(AppOverrides {
        clock: Some(clock),
        ..AppOverrides::default()
    })
    .await
}

async fn flow_with_overrides(overrides: AppOverrides) -> Flow {
    let stand_in = StandIn::start().await;
    let env = stand_in.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = spawn_app_with(&vars, overrides).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Flow {
        app,
        stand_in,
        client,
    }
}

pub(crate) fn signer() -> Signer {
    Signer::new(LINK_KEY.as_bytes())
}

pub(crate) fn link_token(expires_in: Duration, nonce: &str) -> String {
    signer().sign_link(&LinkToken {
        uid: CLERK_USER.into(),
        pid: PURCHASE.into(),
        exp: (Utc::now() + expires_in).timestamp(),
        nonce: nonce.into(),
    })
}

/// What the start route answered: where it redirects, the state it chose, the cookie.
pub(crate) struct Started {
    location: url::Url,
    pub(crate) state: String,
    pub(crate) cookie: String,
}

impl Flow {
    pub(crate) async fn get(
        &self,
        path_and_query: &str,
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .get(format!("{}{path_and_query}", self.app.address));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("request")
    }

    pub(crate) async fn start_with_link(&self, token: &str) -> Started {
        let response = self
            .get(&format!("/api/auth/discord?t={token}"), None)
            .await;
        started(response)
    }

    pub(crate) async fn callback(&self, query: &str, cookie: Option<&str>) -> (u16, String) {
        let response = self
            .get(&format!("/api/auth/discord/callback?{query}"), cookie)
            .await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }
}

fn started(response: reqwest::Response) -> Started {
    assert_eq!(response.status(), 303, "the start route redirects");
    let location = url::Url::parse(
        response.headers()["location"]
            .to_str()
            .expect("ascii location"),
    )
    .expect("absolute location");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii cookie")
        .to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
        "Path=/api/auth/discord",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state in the authorize URL");
    Started {
        location,
        state,
        cookie,
    }
}

fn sealed_cookie(cookie: &OAuthCookie) -> String {
    format!("hb_discord_oauth={}", signer().seal_cookie(cookie))
}

#[tokio::test]
async fn oauth_callback_success_joins_the_guild_with_the_role_and_sends_the_event() {
    let flow = flow().await;

    let started = flow
        .start_with_link(&link_token(Duration::days(14), "nonce-success"))
        .await;
    assert!(
        started
            .location
            .as_str()
            .starts_with(&format!("{}/discord/oauth2/authorize?", flow.stand_in.url))
    );
    let query: Vec<(String, String)> = started.location.query_pairs().into_owned().collect();
    let param = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(param("scope"), Some("identify email guilds.join"));
    assert_eq!(param("prompt"), Some("consent"));
    assert_eq!(param("code_challenge_method"), Some("S256"));
    assert_eq!(param("response_type"), Some("code"));
    assert_eq!(
        param("redirect_uri"),
        Some(format!("{}/api/auth/discord/callback", flow.app.address).as_str())
    );
    assert!(started.state.len() >= 43, "32 random bytes, base64url");

    let (status, page) = flow
        .callback(
            &format!("code={AUTH_CODE}&state={}", started.state),
            Some(&started.cookie),
        )
        .await;

    assert_eq!(status, 200);
    assert!(page.contains("You&#39;re connected!"), "{page}");
    let token = &flow
        .stand_in
        .requests_to(Method::POST, "/discord/api/v10/oauth2/token")[0];
    let form = token.text();
    assert!(form.contains("grant_type=authorization_code"));
    assert!(form.contains(&format!("code={AUTH_CODE}")));
    assert!(
        form.contains("code_verifier="),
        "PKCE verifier sent: {form}"
    );
    let me = &flow
        .stand_in
        .requests_to(Method::GET, "/discord/api/v10/users/@me")[0];
    assert_eq!(me.header("authorization"), Some("Bearer user-access-token"));
    let join = &flow.stand_in.requests_to(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}"),
    )[0];
    assert_eq!(join.header("authorization"), Some("Bot discord-bot-token"));
    assert_eq!(
        join.json(),
        json!({"access_token": "user-access-token", "roles": [ROLE_GROUP]})
    );
    let events = flow.stand_in.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "user/discord.connected");
    assert_eq!(
        events[0]["id"],
        format!("discord-{CLERK_USER}-{DISCORD_USER}-{PURCHASE}")
    );
    assert_eq!(
        events[0]["data"],
        json!({
            "clerk_user_id": CLERK_USER,
            "purchase_id": PURCHASE,
            "discord_user_id": DISCORD_USER,
            "discord_username": "nelly",
            "joined_guild": true,
            "source": "email"
        })
    );
}

#[tokio::test]
async fn the_callback_clears_the_state_cookie() {
    let flow = flow().await;
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-clear"))
        .await;

    let response = flow
        .get(
            &format!(
                "/api/auth/discord/callback?code={AUTH_CODE}&state={}",
                started.state
            ),
            Some(&started.cookie),
        )
        .await;

    let set_cookie = response.headers()["set-cookie"].to_str().expect("ascii");
    assert!(set_cookie.starts_with("hb_discord_oauth=;"));
    assert!(set_cookie.contains("Max-Age=0"));
}

#[tokio::test]
async fn a_callback_without_the_state_cookie_shows_the_expired_page() {
    let flow = flow().await;
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-missing"))
        .await;

    let (status, page) = flow
        .callback(&format!("code={AUTH_CODE}&state={}", started.state), None)
        .await;

    assert_eq!(status, 410);
    assert!(page.contains("This link has expired"));
    assert!(flow.stand_in.events().is_empty());
    assert!(
        flow.stand_in
            .requests_to(Method::POST, "/discord")
            .is_empty()
    );
}

#[tokio::test]
async fn a_callback_without_state_is_refused() {
    let flow = flow().await;
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-nostate"))
        .await;

    let (status, page) = flow
        .callback(&format!("code={AUTH_CODE}"), Some(&started.cookie))
        .await;

    assert_eq!(status, 400);
    assert!(page.contains("could not verify this sign-in"));
    assert!(flow.stand_in.events().is_empty());
}

#[tokio::test]
async fn a_callback_whose_state_differs_from_the_cookie_is_refused() {
    let flow = flow().await;
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-mismatch"))
        .await;

    let (status, page) = flow
        .callback(
            &format!("code={AUTH_CODE}&state=AAAA{}", &started.state[4..]),
            Some(&started.cookie),
        )
        .await;

    assert_eq!(status, 400);
    assert!(page.contains("could not verify this sign-in"));
    assert!(
        flow.stand_in
            .requests_to(Method::POST, "/discord/api/v10/oauth2/token")
            .is_empty(),
        "no code exchange"
    );
}

#[tokio::test]
async fn a_forged_state_cookie_is_refused() {
    let flow = flow().await;
    let forged = OAuthCookie {
        state: "attacker-state".into(),
        verifier: "x".repeat(43),
        uid: "user_victim".into(),
        pid: Some(PURCHASE.into()),
        kind: None,
        source: ConnectSource::Email,
        created_at: Utc::now().timestamp(),
        link: None,
    };
    let wrong_key = Signer::new(b"not-the-app-key-not-the-app-key-!!");
    let cookie = format!("hb_discord_oauth={}", wrong_key.seal_cookie(&forged));

    let (status, page) = flow
        .callback(
            &format!("code={AUTH_CODE}&state=attacker-state"),
            Some(&cookie),
        )
        .await;

    assert_eq!(status, 400);
    assert!(page.contains("could not verify this sign-in"));
    assert!(flow.stand_in.events().is_empty());
}

#[tokio::test]
async fn a_state_cookie_older_than_ten_minutes_shows_the_expired_page() {
    let flow = flow().await;
    let stale = OAuthCookie {
        state: "stale-state".into(),
        verifier: "v".repeat(43),
        uid: CLERK_USER.into(),
        pid: Some(PURCHASE.into()),
        kind: None,
        source: ConnectSource::Email,
        created_at: (Utc::now() - Duration::minutes(11)).timestamp(),
        link: None,
    };

    let (status, page) = flow
        .callback(
            &format!("code={AUTH_CODE}&state=stale-state"),
            Some(&sealed_cookie(&stale)),
        )
        .await;

    assert_eq!(status, 410);
    assert!(page.contains("longer than ten minutes"));
    assert!(flow.stand_in.events().is_empty());
}

#[tokio::test]
async fn a_replayed_state_is_refused() {
    let flow = flow().await;
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-replay-state"))
        .await;
    let query = format!("code={AUTH_CODE}&state={}", started.state);
    let (first, _) = flow.callback(&query, Some(&started.cookie)).await;
    assert_eq!(first, 200);

    let (second, page) = flow.callback(&query, Some(&started.cookie)).await;

    assert_eq!(second, 410);
    assert!(page.contains("already used"));
    assert_eq!(flow.stand_in.events().len(), 1, "one event only");
}

#[tokio::test]
async fn a_forged_link_token_shows_the_error_page() {
    let flow = flow().await;
    let genuine = link_token(Duration::days(1), "nonce-forged");
    let (_, tag) = genuine.split_once('.').expect("two parts");
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({"uid": "user_other", "pid": PURCHASE, "exp": 4_000_000_000_i64, "nonce": "n"})
            .to_string(),
    );

    for token in [format!("{payload}.{tag}"), "garbage".to_owned()] {
        let response = flow
            .get(&format!("/api/auth/discord?t={token}"), None)
            .await;
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("set-cookie").is_none());
        let page = response.text().await.expect("body");
        assert!(page.contains("This link is not valid"), "{page}");
    }
}

#[tokio::test]
async fn an_expired_link_token_shows_the_expired_page() {
    let flow = flow().await;
    let token = link_token(Duration::minutes(-1), "nonce-expired");

    let response = flow
        .get(&format!("/api/auth/discord?t={token}"), None)
        .await;

    assert_eq!(response.status(), 410);
    let page = response.text().await.expect("body");
    assert!(page.contains("only work for a limited time"));
}

#[tokio::test]
async fn a_link_token_used_once_is_refused_the_second_time() {
    let flow = flow().await;
    let token = link_token(Duration::days(1), "nonce-replay-link");
    let started = flow.start_with_link(&token).await;
    let (status, _) = flow
        .callback(
            &format!("code={AUTH_CODE}&state={}", started.state),
            Some(&started.cookie),
        )
        .await;
    assert_eq!(status, 200);

    let response = flow
        .get(&format!("/api/auth/discord?t={token}"), None)
        .await;

    assert_eq!(response.status(), 410);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("already used")
    );
}

#[tokio::test]
async fn a_link_for_a_purchase_clerk_shows_connected_is_refused() {
    let flow = flow().await;
    flow.stand_in.respond(
        Method::GET,
        &format!("/clerk/v1/users/{CLERK_USER}"),
        200,
        clerk_user(json!({"mentorship": {
            "kind": "group", "purchase_id": PURCHASE, "status": "active",
            "discord_user_id": DISCORD_USER
        }})),
    );

    let response = flow
        .get(
            &format!(
                "/api/auth/discord?t={}",
                link_token(Duration::days(1), "nonce-fresh-but-done")
            ),
            None,
        )
        .await;

    assert_eq!(response.status(), 410);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("already used")
    );
}

#[tokio::test]
async fn a_discord_token_error_shows_the_error_page_and_sends_nothing() {
    let flow = flow().await;
    flow.stand_in.respond(
        Method::POST,
        "/discord/api/v10/oauth2/token",
        400,
        json!({"error": "invalid_grant", "error_description": "Invalid \"code\" in request."}),
    );
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-token-error"))
        .await;

    let (status, page) = flow
        .callback(
            &format!("code={AUTH_CODE}&state={}", started.state),
            Some(&started.cookie),
        )
        .await;

    assert_eq!(status, 400);
    assert!(page.contains("Something went wrong"));
    assert!(flow.stand_in.events().is_empty());
    assert!(
        flow.stand_in
            .requests_to(Method::PUT, "/discord/api/v10/guilds")
            .is_empty()
    );
}

#[tokio::test]
async fn a_guild_join_failure_still_records_the_connection_with_joined_guild_false() {
    let flow = flow().await;
    flow.stand_in.respond(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/*"),
        403,
        json!({"message": "Missing Permissions", "code": 50013}),
    );
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-join-fails"))
        .await;

    let (status, page) = flow
        .callback(
            &format!("code={AUTH_CODE}&state={}", started.state),
            Some(&started.cookie),
        )
        .await;

    assert_eq!(status, 200);
    assert!(page.contains("could not add you to the academy"), "{page}");
    assert!(page.contains("mailto:help@academy.test"));
    let events = flow.stand_in.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["joined_guild"], false);
}

#[tokio::test]
async fn a_buyer_already_in_the_guild_gets_the_role_through_add_role() {
    let flow = flow().await;
    flow.stand_in.respond_raw(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/*"),
        204,
        &[],
        "",
    );
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-member"))
        .await;

    let (status, _) = flow
        .callback(
            &format!("code={AUTH_CODE}&state={}", started.state),
            Some(&started.cookie),
        )
        .await;

    assert_eq!(status, 200);
    let role_calls = flow.stand_in.requests_to(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/{ROLE_GROUP}"),
    );
    assert_eq!(role_calls.len(), 1);
    assert_eq!(flow.stand_in.events()[0]["data"]["joined_guild"], true);
}

#[tokio::test]
async fn the_buyer_declining_on_discord_shows_the_declined_page() {
    let flow = flow().await;
    let started = flow
        .start_with_link(&link_token(Duration::days(1), "nonce-declined"))
        .await;

    let (status, page) = flow
        .callback(
            &format!("error=access_denied&state={}", started.state),
            Some(&started.cookie),
        )
        .await;

    assert_eq!(status, 200);
    assert!(page.contains("You chose not to connect Discord"));
    assert!(flow.stand_in.events().is_empty());
}

mod clerk_session {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    fn session_jwt(claims: Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-key".into());
        let key = EncodingKey::from_rsa_der(include_bytes!("fixtures/clerk_session_test_key.der"));
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    }

    fn claims(sub: &str, azp: &str, expires_in: i64) -> Value {
        let now = Utc::now().timestamp();
        json!({"sub": sub, "azp": azp, "iat": now, "nbf": now - 5, "exp": now + expires_in,
               "iss": "https://clerk.academy.test", "sid": "sess_1"})
    }

    #[tokio::test]
    async fn a_dashboard_session_starts_the_flow_and_the_event_says_dashboard() {
        let flow = flow().await;
        let jwt = session_jwt(claims(CLERK_USER, "https://academy.test", 60));

        let response = flow
            .client
            .get(format!("{}/api/auth/discord", flow.app.address))
            .bearer_auth(&jwt)
            .send()
            .await
            .expect("request");
        let started = started(response);
        let (status, _) = flow
            .callback(
                &format!("code={AUTH_CODE}&state={}", started.state),
                Some(&started.cookie),
            )
            .await;

        assert_eq!(status, 200);
        let jwks = &flow.stand_in.requests_to(Method::GET, "/clerk/v1/jwks")[0];
        assert_eq!(jwks.header("authorization"), Some("Bearer sk_test_standin"));
        let events = flow.stand_in.events();
        assert_eq!(events[0]["data"]["source"], "dashboard");
        assert_eq!(
            events[0]["data"]["purchase_id"], PURCHASE,
            "from Clerk metadata"
        );
    }

    #[tokio::test]
    async fn the_session_cookie_is_accepted_too() {
        let flow = flow().await;
        let jwt = session_jwt(claims(CLERK_USER, "https://academy.test", 60));

        let response = flow
            .get("/api/auth/discord", Some(&format!("__session={jwt}")))
            .await;

        assert_eq!(response.status(), 303);
    }

    #[tokio::test]
    async fn expired_foreign_or_unsigned_sessions_are_refused() {
        let flow = flow().await;
        let expired = session_jwt(claims(CLERK_USER, "https://academy.test", -60));
        let foreign = session_jwt(claims(CLERK_USER, "https://evil.test", 60));
        let unsigned = {
            let jwt = session_jwt(claims(CLERK_USER, "https://academy.test", 60));
            let mut parts: Vec<&str> = jwt.split('.').collect();
            parts[2] = "AAAA";
            parts.join(".")
        };

        for jwt in [expired, foreign, unsigned] {
            let response = flow
                .client
                .get(format!("{}/api/auth/discord", flow.app.address))
                .bearer_auth(&jwt)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 401);
            assert!(response.headers().get("set-cookie").is_none());
        }
        let anonymous = flow.get("/api/auth/discord", None).await;
        assert_eq!(anonymous.status(), 401);
        assert!(
            anonymous
                .text()
                .await
                .expect("body")
                .contains("sign in to your dashboard")
        );
    }
}
