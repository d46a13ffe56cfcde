//! The real `huckleberry` binary, started as a newcomer or an orchestrator would start it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::process::{BIN, Binary};

/// A started binary and the address it listens on (read from its JSON log).
pub(crate) struct Running {
    process: Binary,
    pub(crate) address: String,
    /// Log lines up to and including "listening".
    startup: Vec<String>,
}

/// Starts the binary with exactly `vars` on a free loopback port.
fn start(vars: &[(&str, &str)]) -> Running {
    let mut env = vec![("PORT", "0"), ("HOST", "127.0.0.1")];
    env.extend_from_slice(vars);
    let process = Binary::start(&env);
    let (address, startup) = process.wait_listening(Duration::from_secs(30));
    let address = address.expect("the binary logs its address");
    Running {
        process,
        address,
        startup,
    }
}

/// One raw HTTP/1.1 exchange, so the test controls when each byte is sent.
fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn with_only_inngest_dev_the_binary_serves_introspection_and_runs_vendors_dry() {
    let app = start(&[("INNGEST_DEV", "1")]);
    for vendor in ["clerk", "resend", "discord"] {
        assert!(
            app.startup
                .iter()
                .any(|line| line.contains("running it dry") && line.contains(vendor)),
            "{vendor} dry run not announced: {:#?}",
            app.startup
        );
    }
    let response = http_get(&app.address, "/api/inngest");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-inngest-sdk: inngest-rs:v")
    );
    assert!(response.contains(r#""mode":"dev""#), "{response}");
}

#[test]
fn without_inngest_dev_the_binary_refuses_to_start_and_lists_what_is_missing() {
    let output = Command::new(BIN)
        .env_clear()
        .current_dir(std::env::temp_dir())
        .output()
        .expect("binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for variable in ["APP_BASE_URL", "INNGEST_SIGNING_KEY", "INNGEST_EVENT_KEY"] {
        assert!(
            stderr.contains(variable),
            "{variable} not listed in: {stderr}"
        );
    }
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let mut app = start(&[("INNGEST_DEV", "1")]);
    // An in-band sync whose body is still arriving when the signal comes. `Expect:
    // 100-continue` makes the server say when the handler has started reading the body,
    // so the signal provably lands while the request is in flight.
    let body = br#"{"url":"http://127.0.0.1:3000/api/inngest"}"#;
    let mut stream = TcpStream::connect(&app.address).expect("connect");
    write!(
        stream,
        "PUT /api/inngest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Inngest-Sync-Kind: in_band\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("headers");
    stream.flush().expect("flush");
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("interim response");
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );

    app.process.terminate();
    // The app acknowledges the signal before the request completes.
    while !app.process.next_log().contains("shutdown requested") {}

    stream.write_all(body).expect("the body");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""app_id":"huckleberry""#), "{response}");

    let exit = app.process.wait_exit(Duration::from_secs(30));
    assert!(exit.success(), "graceful exit, got {exit:?}");
}

/// The Stripe secret compose uses in development.
const DEV_STRIPE_SECRET: &str = "whsec_local_development_only";

/// The binary in development mode with no vendor credentials, Stripe configured with the
/// development secret, and `inngest` as its Inngest. Call from a multi-thread runtime:
/// `start` blocks until the binary logs its address while the fake executor keeps serving.
pub(crate) fn start_dry_run_with_stripe(inngest: &inngest_sdk::testing::FakeExecutor) -> Running {
    let base = inngest.url().to_string();
    let vars = [
        ("INNGEST_DEV", "1"),
        ("INNGEST_BASE_URL", base.as_str()),
        ("STRIPE_WEBHOOK_SECRETS", DEV_STRIPE_SECRET),
        ("MENTORSHIP_CATALOG", "price_1QxOneOnOne2026=one_on_one"),
    ];
    tokio::task::block_in_place(|| start(&vars))
}

/// `huckleberry simulate stripe <args>` against `app`, as a newcomer runs it.
pub(crate) async fn simulate_stripe(app: &Running, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .args([
            "simulate",
            "stripe",
            "--url",
            &format!("http://{}", app.address),
        ])
        .args(args)
        .env_clear()
        .env("STRIPE_WEBHOOK_SECRETS", DEV_STRIPE_SECRET)
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .expect("simulate runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_stripe_sends_a_purchase_the_running_binary_accepts() {
    let inngest = inngest_sdk::testing::FakeExecutor::start().await;
    let app = start_dry_run_with_stripe(&inngest);
    let output = simulate_stripe(&app, &[]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("-> 200 OK"), "{stdout}");
    let purchases = inngest.events_named("purchase/mentorship");
    assert_eq!(purchases.len(), 1);
    assert_eq!(purchases[0].data()["mentorship"], "one_on_one");
}

/// The README's "see it work", against the real binary with no vendor credentials: a
/// simulated purchase starts onboarding, the dry-run mailer logs the link, following it
/// connects a dry-run Discord account, and the run completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_dry_run_mode_a_simulated_purchase_is_onboarded_through_the_logged_link() {
    let inngest = inngest_sdk::testing::FakeExecutor::start().await;
    let app = start_dry_run_with_stripe(&inngest);
    inngest
        .serve_url(&format!("http://{}/api/inngest", app.address))
        .await
        .expect("the fake executor syncs the binary");
    let simulated = simulate_stripe(&app, &[]).await;
    assert!(simulated.status.success());
    inngest.run_until_idle().await;
    let runs = inngest.runs_of("huckleberry-onboarding-flow");
    assert_eq!(runs.len(), 1);

    // The connection email went to the log, with its link.
    let link = tokio::task::block_in_place(|| {
        loop {
            let line = app.process.next_log();
            let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if json["message"] == "would have sent this email" {
                let text = json["text"].as_str().expect("the email's text").to_owned();
                break crate::journey::connect_link(&text);
            }
        }
    });

    // Following it: the dry-run Discord sends the browser straight back to the callback.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let start = browser.get(&link).send().await.expect("start");
    assert!(start.status().is_redirection(), "{}", start.status());
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    let callback = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let page = browser
        .get(&callback)
        .header("cookie", cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(page.status(), 200);

    inngest.run_until_idle().await;
    let run = inngest.run(&runs[0].id);
    assert_eq!(
        run.status,
        inngest_sdk::testing::RunStatus::Completed,
        "{run:?}"
    );
    assert_eq!(
        inngest
            .events_named("mentorship/onboarding.completed")
            .len(),
        1
    );
}
