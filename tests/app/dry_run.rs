//! Development without vendor credentials: the app starts, every vendor runs dry, and the
//! connection flow still completes (skipping Discord) and sends the real event.

use chrono::Duration;

use crate::discord_flow::link_token;
use crate::stand_in::{CLERK_USER, LINK_KEY, PURCHASE, StandIn};
use crate::support::spawn_app;

#[tokio::test]
async fn the_dry_run_flow_skips_discord_and_still_sends_user_discord_connected() {
    // The stand-in only plays Inngest's event API here; no vendor is configured.
    let stand_in = StandIn::start().await;
    let events_url = format!("{}/inngest", stand_in.url);
    let app = spawn_app(&[
        ("INNGEST_EVENT_API_BASE_URL", &events_url),
        ("LINK_TOKEN_KEY", LINK_KEY),
    ])
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let start = client
        .get(format!(
            "{}/api/auth/discord?t={}",
            app.address,
            link_token(Duration::days(1), "dry-run")
        ))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), 303);
    let location = start.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.starts_with(&format!(
            "{}/api/auth/discord/callback?code=dry-run-code&state=",
            app.address
        )),
        "straight back to our own callback: {location}"
    );
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let done = client
        .get(&location)
        .header("cookie", cookie)
        .send()
        .await
        .expect("callback");

    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .expect("body")
            .contains("You&#39;re connected!")
    );
    let events = stand_in.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "user/discord.connected");
    assert_eq!(events[0]["data"]["clerk_user_id"], CLERK_USER);
    assert_eq!(events[0]["data"]["purchase_id"], PURCHASE);
    assert!(
        stand_in
            .requests_to(axum::http::Method::GET, "/clerk")
            .is_empty()
    );
}
