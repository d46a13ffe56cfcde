//! Security headers (issue 17), as a browser receives them: every page of the Discord flow
//! (connected, declined, expired, error, not signed in) and its redirect carry the strict
//! CSP, `X-Frame-Options: DENY`, `nosniff` and `Referrer-Policy: no-referrer`; every other
//! response carries `nosniff`; HSTS is sent only when the app's base URL is https.

use chrono::Duration;
use reqwest::header::HeaderMap;

use crate::discord_flow::{Flow, flow, link_token};
use crate::stand_in::AUTH_CODE;
use crate::support::spawn_app;

/// A header's value as text, `None` when absent.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ascii header"))
}

/// The headers every page (and the flow's redirects) must carry.
pub(crate) fn assert_page_headers(headers: &HeaderMap, what: &str) {
    let policy =
        header(headers, "content-security-policy").unwrap_or_else(|| panic!("{what}: CSP"));
    for directive in [
        "default-src 'none'",
        "img-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(
            policy.contains(directive),
            "{what}: {directive} in {policy}"
        );
    }
    assert!(
        policy.contains("style-src 'sha256-"),
        "{what}: styles by hash: {policy}"
    );
    assert!(!policy.contains("unsafe"), "{what}: {policy}");
    assert!(!policy.contains("script-src"), "{what}: no script allowed");
    assert_eq!(
        policy,
        huckleberry::pages::content_security_policy()
            .to_str()
            .expect("ascii"),
        "{what}"
    );
    assert_eq!(header(headers, "x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        header(headers, "x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(headers, "referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(
        header(headers, "strict-transport-security"),
        None,
        "{what}: no HSTS over http"
    );
}

/// Follows a link to the end of the flow as a browser would, checking the headers of each
/// answer from the app; returns the final page's status and body.
async fn walk(flow: &Flow, token: &str, what: &str) -> (u16, String) {
    let start = flow
        .client
        .get(format!("{}/api/auth/discord?t={token}", flow.app.address))
        .send()
        .await
        .expect("start");
    assert_page_headers(start.headers(), &format!("{what}: start"));
    if !start.status().is_redirection() {
        let status = start.status().as_u16();
        return (status, start.text().await.expect("page"));
    }
    let cookie = header(start.headers(), "set-cookie")
        .expect("the state cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    let authorize = header(start.headers(), "location")
        .expect("location")
        .to_owned();
    let consent = flow.client.get(authorize).send().await.expect("consent");
    let callback = header(consent.headers(), "location")
        .expect("Discord sends the browser back")
        .to_owned();
    let page = flow
        .client
        .get(callback)
        .header("cookie", cookie)
        .send()
        .await
        .expect("callback");
    assert_page_headers(page.headers(), &format!("{what}: callback"));
    let status = page.status().as_u16();
    (status, page.text().await.expect("page"))
}

#[tokio::test]
async fn every_page_of_the_discord_flow_carries_the_security_headers() {
    let flow = flow().await;
    let (status, page) = walk(
        &flow,
        &link_token(Duration::days(14), "headers-connected"),
        "connected",
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"data-page="connected""#), "{page}");

    flow.stand_in.deny_consent();
    let (status, page) = walk(
        &flow,
        &link_token(Duration::days(14), "headers-declined"),
        "declined",
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"data-page="declined""#), "{page}");

    let (status, page) = walk(
        &flow,
        &link_token(Duration::minutes(-5), "headers-expired"),
        "expired",
    )
    .await;
    assert_eq!(status, 410);
    assert!(page.contains(r#"data-page="expired""#), "{page}");

    let (status, page) = walk(&flow, "not-a-token", "broken link").await;
    assert_eq!(status, 400);
    assert!(page.contains(r#"data-page="error""#), "{page}");

    let no_link = flow
        .client
        .get(format!("{}/api/auth/discord", flow.app.address))
        .send()
        .await
        .expect("no link");
    assert_page_headers(no_link.headers(), "not signed in");
    assert_eq!(no_link.status(), 401);

    let forged_callback = flow
        .client
        .get(format!(
            "{}/api/auth/discord/callback?code={AUTH_CODE}&state=forged",
            flow.app.address
        ))
        .send()
        .await
        .expect("callback without a cookie");
    assert_page_headers(forged_callback.headers(), "callback without a cookie");
    assert!(forged_callback.status().is_client_error());
}

#[tokio::test]
async fn nosniff_is_on_every_response_and_page_headers_only_on_pages() {
    let app = spawn_app(&[]).await;
    let requests = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/api/inngest"),
        ("PUT", "/api/inngest"),
        ("POST", "/api/stripe/webhook"),
        ("POST", "/api/paypal/webhook"),
        ("POST", "/api/clerk/webhook"),
        ("POST", "/api/resend/webhook"),
        ("GET", "/no/such/route"),
    ];
    for (method, path) in requests {
        let response = app
            .http
            .request(
                method.parse().expect("a method"),
                format!("{}{path}", app.address),
            )
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("answered");
        let what = format!("{method} {path} → {}", response.status());
        let headers = response.headers();
        assert_eq!(
            header(headers, "x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(header(headers, "strict-transport-security"), None, "{what}");
        assert_eq!(
            header(headers, "content-security-policy"),
            None,
            "{what}: the page policy is for pages"
        );
    }
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_app_is_served_over_https() {
    let https = spawn_app(&[("APP_BASE_URL", "https://academy.example")]).await;
    let http = spawn_app(&[("APP_BASE_URL", "http://academy.example")]).await;

    for path in [
        "/healthz",
        "/api/inngest",
        "/api/auth/discord?t=not-a-token",
    ] {
        let over_https = https
            .http
            .get(format!("{}{path}", https.address))
            .send()
            .await
            .expect("answered");
        assert_eq!(
            header(over_https.headers(), "strict-transport-security"),
            Some("max-age=31536000; includeSubDomains"),
            "{path} with an https base URL"
        );
        let over_http = http
            .http
            .get(format!("{}{path}", http.address))
            .send()
            .await
            .expect("answered");
        assert_eq!(
            header(over_http.headers(), "strict-transport-security"),
            None,
            "{path} with an http base URL"
        );
    }
}
