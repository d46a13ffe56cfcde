//! Per-client rate limits (issue 17), as clients on loopback see them: past its burst a
//! client gets `429` with `Retry-After`, the next window lets it through, another client is
//! unaffected; `/api/inngest` and the probes are never limited; a trusted proxy header,
//! only when configured, names the client by its last entry.
//!
//! Loopback has many addresses: a client bound to 127.0.0.2 is another client.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::security_headers::assert_page_headers;
use crate::support::{TestApp, spawn_app};

/// A client whose connections come from `local` (a loopback address).
fn client_from(local: [u8; 4]) -> reqwest::Client {
    let [a, b, c, d] = local;
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn post_webhook(app: &TestApp, client: &reqwest::Client) -> reqwest::Response {
    client
        .post(format!("{}/api/stripe/webhook", app.address))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("answered")
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds")
}

#[tokio::test]
async fn a_webhook_client_past_its_burst_gets_429_with_retry_after_until_the_next_window() {
    // One request per 100 ms after a burst of 3.
    let app = spawn_app(&[
        ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "600"),
        ("WEBHOOK_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    let client = client_from([127, 0, 0, 1]);
    for n in 0..3 {
        let response = post_webhook(&app, &client).await;
        assert_ne!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "request {n}"
        );
    }

    let refused = post_webhook(&app, &client).await;

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), 1, "rounded up to a whole second");
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = refused.json().await.expect("a JSON error");
    assert!(body["error"].is_string(), "{body}");

    // Another client is not affected.
    let other = post_webhook(&app, &client_from([127, 0, 0, 2])).await;
    assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS);

    // The next window lets the first client through again.
    let refused_at = Instant::now();
    let deadline = refused_at + Duration::from_secs(5);
    while post_webhook(&app, &client).await.status() == StatusCode::TOO_MANY_REQUESTS {
        assert!(Instant::now() < deadline, "let through again within 5 s");
    }
}

#[tokio::test]
async fn a_discord_client_past_its_burst_gets_the_429_page_with_the_page_headers() {
    let app = spawn_app(&[
        ("DISCORD_RATE_LIMIT_PER_MINUTE", "600"),
        ("DISCORD_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let client = client_from([127, 0, 0, 1]);
    let start = format!("{}/api/auth/discord?t=not-a-token", app.address);
    let callback = format!("{}/api/auth/discord/callback?state=x", app.address);
    // The two Discord routes share the client's allowance.
    for url in [&start, &callback] {
        let response = client.get(url).send().await.expect("answered");
        assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    let refused = client.get(&start).send().await.expect("answered");

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused), 1);
    assert_page_headers(refused.headers(), "429 page");
    let page = refused.text().await.expect("page");
    assert!(page.contains(r#"data-page="error""#), "{page}");
    assert!(page.contains("paused for a moment"), "{page}");

    let deadline = Instant::now() + Duration::from_secs(5);
    while client
        .get(&callback)
        .send()
        .await
        .expect("answered")
        .status()
        == StatusCode::TOO_MANY_REQUESTS
    {
        assert!(Instant::now() < deadline, "let through again within 5 s");
    }
}

#[tokio::test]
async fn the_inngest_endpoint_and_the_probes_are_never_rate_limited() {
    // One request a minute, no burst: the second is already past the limit.
    let app = spawn_app(&[
        ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "1"),
        ("WEBHOOK_RATE_LIMIT_BURST", "1"),
        ("DISCORD_RATE_LIMIT_PER_MINUTE", "1"),
        ("DISCORD_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    let client = client_from([127, 0, 0, 1]);

    for path in ["/api/inngest", "/healthz", "/readyz"] {
        for n in 0..50 {
            let response = client
                .get(format!("{}{path}", app.address))
                .send()
                .await
                .expect("answered");
            assert_eq!(response.status(), StatusCode::OK, "{path} request {n}");
        }
    }
    for n in 0..20 {
        let response = client
            .post(format!(
                "{}/api/inngest?fnId=huckleberry-onboarding-flow",
                app.address
            ))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("answered");
        assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS, "call {n}");
    }

    // Control: the same client is limited where limits apply.
    for expected in [false, true] {
        let limited = post_webhook(&app, &client).await.status() == StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(limited, expected, "webhook");
        let page = client
            .get(format!("{}/api/auth/discord", app.address))
            .send()
            .await
            .expect("answered");
        assert_eq!(
            page.status() == StatusCode::TOO_MANY_REQUESTS,
            expected,
            "discord"
        );
    }
}

#[tokio::test]
async fn a_trusted_proxy_header_names_the_client_by_its_last_entry_only_when_configured() {
    let limits = [
        ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "1"),
        ("WEBHOOK_RATE_LIMIT_BURST", "1"),
    ];
    let behind_proxy = spawn_app(&[
        limits[0],
        limits[1],
        ("TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
    ])
    .await;
    let direct = spawn_app(&limits).await;
    let proxy = client_from([127, 0, 0, 1]);
    let forwarded = |app: &TestApp, chain: &str| {
        proxy
            .post(format!("{}/api/stripe/webhook", app.address))
            .header("x-forwarded-for", chain)
            .body("{}")
            .send()
    };
    let limited = |response: reqwest::Response| response.status() == StatusCode::TOO_MANY_REQUESTS;

    // Behind the proxy: the proxy appended the client's address last; what the client
    // wrote before it does not change who it is.
    assert!(!limited(
        forwarded(&behind_proxy, "198.51.100.7")
            .await
            .expect("answered")
    ));
    assert!(limited(
        forwarded(&behind_proxy, "1.1.1.1, 198.51.100.7")
            .await
            .expect("answered")
    ));
    assert!(!limited(
        forwarded(&behind_proxy, "198.51.100.7, 203.0.113.8")
            .await
            .expect("answered")
    ));

    // Not configured: the header is the client's own words and is ignored.
    assert!(!limited(
        forwarded(&direct, "198.51.100.7").await.expect("answered")
    ));
    assert!(limited(
        forwarded(&direct, "203.0.113.8").await.expect("answered")
    ));
}
