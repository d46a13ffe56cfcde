//! Each vendor client against the stand-in: method, path, headers, body, and how the
//! vendor's errors become retry decisions.

use std::time::Duration;

use axum::http::Method;
use huckleberry::integrations::clerk::ClerkClient;
use huckleberry::integrations::config::DiscordConfig;
use huckleberry::integrations::discord::{DiscordClient, GuildJoin};
use huckleberry::integrations::http::vendor_http_client;
use huckleberry::integrations::resend::ResendMailer;
use huckleberry_functions::config::DiscordRoles;
use huckleberry_functions::ports::{
    DiscordGuild, EmailAddress, Mailer, OutgoingEmail, PortError, UserDirectory,
};
use secrecy::SecretString;
use serde_json::json;
use url::Url;

use crate::stand_in::{CLERK_USER, DISCORD_USER, GUILD, ROLE_GROUP, StandIn, clerk_user};

pub(crate) fn clerk(stand_in: &StandIn) -> ClerkClient {
    ClerkClient::new(
        vendor_http_client().expect("the vendor client builds"),
        Url::parse(&format!("{}/clerk/v1", stand_in.url)).expect("url"),
        SecretString::from("sk_test_standin"),
    )
}

fn resend(stand_in: &StandIn) -> ResendMailer {
    ResendMailer::new(
        vendor_http_client().expect("the vendor client builds"),
        Url::parse(&format!("{}/resend", stand_in.url)).expect("url"),
        &SecretString::from("re_standin"),
        "Huckleberry <hello@academy.test>".into(),
    )
}

pub(crate) fn discord(stand_in: &StandIn) -> DiscordClient {
    let config = DiscordConfig {
        client_id: "1".into(),
        client_secret: SecretString::from("secret"),
        bot_token: SecretString::from("discord-bot-token"),
        guild_id: GUILD.into(),
        roles: DiscordRoles {
            one_on_one: "1".into(),
            group: ROLE_GROUP.into(),
        },
        api_base: Url::parse(&format!("{}/discord/api/v10", stand_in.url)).expect("url"),
        authorize_url: Url::parse(&format!("{}/discord/oauth2/authorize", stand_in.url))
            .expect("url"),
        redirect_url: Url::parse("http://127.0.0.1/api/auth/discord/callback").expect("url"),
    };
    DiscordClient::new(
        vendor_http_client().expect("the vendor client builds"),
        &config,
    )
}

fn email() -> EmailAddress {
    EmailAddress::parse("ada@example.com").expect("valid")
}

#[tokio::test]
async fn clerk_get_user_sends_the_secret_key_and_pinned_api_version() {
    let stand_in = StandIn::start().await;

    let user = clerk(&stand_in)
        .user(&CLERK_USER.into())
        .await
        .expect("ok")
        .expect("found");

    assert_eq!(
        user.primary_email,
        Some(email()),
        "primary by id, not index"
    );
    assert_eq!(user.first_name.as_deref(), Some("Ada"));
    let request = &stand_in.requests_to(Method::GET, "/clerk/v1/users/")[0];
    assert_eq!(request.path, format!("/clerk/v1/users/{CLERK_USER}"));
    assert_eq!(
        request.header("authorization"),
        Some("Bearer sk_test_standin")
    );
    assert_eq!(request.header("clerk-api-version"), Some("2026-05-12"));
}

#[tokio::test]
async fn clerk_unknown_user_is_none() {
    let stand_in = StandIn::start().await;
    stand_in.respond(
        Method::GET,
        "/clerk/v1/users/user_gone",
        404,
        json!({"errors": [{"code": "resource_not_found"}]}),
    );

    assert_eq!(clerk(&stand_in).user(&"user_gone".into()).await, Ok(None));
}

#[tokio::test]
async fn clerk_find_by_email_queries_the_address_and_reads_the_bare_array() {
    let stand_in = StandIn::start().await;
    stand_in.respond(
        Method::GET,
        "/clerk/v1/users",
        200,
        json!([clerk_user(json!({}))]),
    );

    let user = clerk(&stand_in)
        .find_by_email(&email())
        .await
        .expect("ok")
        .expect("found");

    assert_eq!(user.id, CLERK_USER);
    let request = &stand_in.requests_to(Method::GET, "/clerk/v1/users")[0];
    assert_eq!(request.query, "email_address=ada%40example.com&limit=1");
}

#[tokio::test]
async fn clerk_invitations_ignore_an_existing_invitation() {
    let stand_in = StandIn::start().await;
    stand_in.respond(
        Method::POST,
        "/clerk/v1/invitations",
        200,
        json!({"id": "inv_1", "object": "invitation", "email_address": "ada@example.com", "status": "pending"}),
    );

    let invitation = clerk(&stand_in)
        .invite(&email(), json!({"mentorship": {"kind": "group"}}))
        .await
        .expect("ok");

    assert_eq!(invitation.id, "inv_1");
    let request = &stand_in.requests_to(Method::POST, "/clerk/v1/invitations")[0];
    assert_eq!(
        request.json(),
        json!({
            "email_address": "ada@example.com",
            "public_metadata": {"mentorship": {"kind": "group"}},
            "notify": true,
            "ignore_existing": true
        })
    );
}

#[tokio::test]
async fn clerk_metadata_is_merged_with_patch_on_the_metadata_endpoint() {
    let stand_in = StandIn::start().await;
    stand_in.respond(
        Method::PATCH,
        &format!("/clerk/v1/users/{CLERK_USER}/metadata"),
        200,
        clerk_user(json!({})),
    );

    clerk(&stand_in)
        .merge_public_metadata(
            &CLERK_USER.into(),
            json!({"mentorship": {"status": "active"}}),
        )
        .await
        .expect("ok");

    let request = &stand_in.requests_to(Method::PATCH, "/clerk/v1/users/")[0];
    assert_eq!(
        request.json(),
        json!({"public_metadata": {"mentorship": {"status": "active"}}})
    );
}

#[tokio::test]
async fn clerk_rate_limits_are_transient_with_retry_after_and_forbidden_is_permanent() {
    let stand_in = StandIn::start().await;
    stand_in.respond_raw(
        Method::POST,
        "/clerk/v1/invitations",
        429,
        &[("retry-after", "7")],
        r#"{"errors":[{"code":"too_many_requests"}]}"#,
    );
    stand_in.respond(
        Method::GET,
        "/clerk/v1/users",
        403,
        json!({"errors": [{"code": "authorization_invalid"}]}),
    );
    let client = clerk(&stand_in);

    let limited = client.invite(&email(), json!({})).await.expect_err("429");
    let forbidden = client.find_by_email(&email()).await.expect_err("403");

    assert!(matches!(
        limited,
        PortError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)
    ));
    assert!(matches!(forbidden, PortError::Permanent(_)));
}

fn outgoing() -> OutgoingEmail {
    OutgoingEmail {
        to: email(),
        subject: "Connect your Discord".into(),
        html: "<p>Hi</p>".into(),
        text: "Hi".into(),
        tags: vec![("kind".into(), "discord_invite".into())],
    }
}

#[tokio::test]
async fn resend_sends_with_bearer_and_idempotency_key() {
    let stand_in = StandIn::start().await;
    stand_in.respond(
        Method::POST,
        "/resend/emails",
        200,
        json!({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}),
    );

    let id = resend(&stand_in)
        .send(&outgoing(), "run-1/send-discord-link")
        .await
        .expect("sent");

    assert_eq!(id, "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794");
    let request = &stand_in.requests_to(Method::POST, "/resend/emails")[0];
    assert_eq!(request.header("authorization"), Some("Bearer re_standin"));
    assert_eq!(
        request.header("idempotency-key"),
        Some("run-1/send-discord-link")
    );
    let body = request.json();
    assert_eq!(body["from"], "Huckleberry <hello@academy.test>");
    assert_eq!(body["to"], json!(["ada@example.com"]));
    assert_eq!(body["subject"], "Connect your Discord");
    assert_eq!(body["html"], "<p>Hi</p>");
    assert_eq!(body["text"], "Hi");
    assert_eq!(
        body["tags"],
        json!([{"name": "kind", "value": "discord_invite"}])
    );
}

#[tokio::test]
async fn resend_rate_limits_are_transient_and_a_rejected_key_is_permanent() {
    let stand_in = StandIn::start().await;
    stand_in.respond_raw(
        Method::POST,
        "/resend/emails",
        429,
        &[("ratelimit-reset", "2"), ("retry-after", "2")],
        r#"{"statusCode":429,"message":"Too many requests","name":"rate_limit_exceeded"}"#,
    );
    let mailer = resend(&stand_in);

    let limited = mailer.send(&outgoing(), "k1").await.expect_err("429");
    assert!(matches!(
        limited,
        PortError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2)
    ));

    stand_in.respond(
        Method::POST,
        "/resend/emails",
        403,
        json!({"statusCode": 403, "message": "API key is invalid", "name": "invalid_api_key"}),
    );
    let forbidden = mailer.send(&outgoing(), "k2").await.expect_err("403");
    assert!(matches!(forbidden, PortError::Permanent(_)));
}

#[tokio::test]
async fn discord_member_add_204_means_roles_were_ignored_so_add_role_is_called() {
    let stand_in = StandIn::start().await;
    stand_in.respond_raw(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/*"),
        204,
        &[],
        "",
    );
    let client = discord(&stand_in);
    let token = client
        .exchange_code("code", &"v".repeat(43))
        .await
        .expect("token");

    let join = client
        .add_member(&DISCORD_USER.into(), &token, Some(&ROLE_GROUP.into()))
        .await
        .expect("joined");

    assert_eq!(join, GuildJoin::AlreadyMember);
    let role = &stand_in.requests_to(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/{ROLE_GROUP}"),
    )[0];
    assert_eq!(role.header("authorization"), Some("Bot discord-bot-token"));
}

#[tokio::test]
async fn discord_member_add_201_needs_no_role_call() {
    let stand_in = StandIn::start().await;
    let client = discord(&stand_in);
    let token = client
        .exchange_code("code", &"v".repeat(43))
        .await
        .expect("token");

    let join = client
        .add_member(&DISCORD_USER.into(), &token, Some(&ROLE_GROUP.into()))
        .await
        .expect("joined");

    assert_eq!(join, GuildJoin::Added);
    assert!(
        stand_in
            .requests_to(Method::PUT, "/discord/api/v10/guilds/")
            .iter()
            .all(|r| !r.path.contains("/roles/"))
    );
    let exchange = &stand_in.requests_to(Method::POST, "/discord/api/v10/oauth2/token")[0];
    assert!(
        exchange
            .header("authorization")
            .is_some_and(|v| v.starts_with("Basic ")),
        "client credentials by HTTP Basic"
    );
    assert_eq!(
        exchange.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn discord_rate_limits_are_transient_with_retry_after_and_missing_permissions_permanent() {
    let stand_in = StandIn::start().await;
    let role_path = format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/*");
    stand_in.respond_raw(
        Method::PUT,
        &role_path,
        429,
        &[("retry-after", "1.5"), ("content-type", "application/json")],
        r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#,
    );
    let client = discord(&stand_in);

    let limited = client
        .grant_role(&DISCORD_USER.into(), &ROLE_GROUP.into())
        .await
        .expect_err("429");
    assert!(matches!(
        limited,
        PortError::Transient { retry_after: Some(d), .. } if d == Duration::from_millis(1500)
    ));

    stand_in.respond(
        Method::PUT,
        &role_path,
        403,
        json!({"message": "Missing Permissions", "code": 50013}),
    );
    let forbidden = client
        .grant_role(&DISCORD_USER.into(), &ROLE_GROUP.into())
        .await
        .expect_err("403");
    assert!(matches!(forbidden, PortError::Permanent(_)));
}
