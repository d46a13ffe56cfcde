//! Load and restarts (issue 7.5), against the real binary on loopback.
//!
//! - Load: signed executor calls (`POST /api/inngest`, as Inngest Cloud sends them) and
//!   signed Stripe deliveries from many concurrent clients, with zero errors and a bounded
//!   RSS. `cargo test` runs the short form (100 clients, 3 s); `LOAD_CLIENTS` and
//!   `LOAD_SECONDS` make it the full form (500 clients, 30 s), see `docs/load.md`.
//! - SIGTERM under load: requests the app has provably started (it asked for their body
//!   with `100 Continue`) all get complete responses.
//! - A restart in the middle of a run: the fake executor drives the onboarding run over
//!   HTTP, the app is stopped while the run waits, a new process takes the same port, and
//!   the run finishes there.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::Method;
use huckleberry::webhooks::{WebhookSecret, stripe};
use inngest_sdk::SigningKey;
use inngest_sdk::testing::{FakeExecutor, RunStatus};
use serde_json::json;

use crate::journey::{connect_link, follow_connect_link};
use crate::process::Binary;
use crate::secrets::{SIGNING_KEY, STRIPE_SECRET, production_env};
use crate::stand_in::{DISCORD_USER, StandIn, clerk_user};

const STRIPE_FIXTURE: &[u8] = include_bytes!("../fixtures/stripe-checkout.session.completed.json");
const ONBOARDING: &str = "/api/inngest?fnId=huckleberry-onboarding-flow&stepId=step";

/// The running binary and the address it listens on; killed when dropped.
struct Process {
    binary: Binary,
    address: String,
}

impl Process {
    /// Starts the binary with exactly `env` and waits for it to listen.
    fn start(env: &[(String, String)]) -> Process {
        let binary = Binary::start(env);
        let (address, _) = binary.wait_listening(Duration::from_secs(30));
        let address = address.expect("the binary logs its address");
        Process { binary, address }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Resident memory, from `/proc`.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.binary.id()))
            .expect("the process is alive");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    fn terminate(&self) {
        self.binary.terminate();
    }

    /// Waits for the process to exit; true when it exited successfully.
    fn wait(&mut self, limit: Duration) -> bool {
        self.binary.wait_exit(limit).success()
    }
}

/// The production binary, every vendor and Inngest at `vendors`, logging at info.
fn production(vendors: &StandIn) -> Vec<(String, String)> {
    let mut env = production_env(vendors);
    env.retain(|(k, _)| k != "RUST_LOG");
    env.push(("RUST_LOG".into(), "info".into()));
    // All the load comes from one address, loopback: far past what one client may send to
    // the webhook routes in production, which is not what these tests measure.
    env.push(("WEBHOOK_RATE_LIMIT_PER_MINUTE".into(), "1000000".into()));
    env.push(("WEBHOOK_RATE_LIMIT_BURST".into(), "1000000".into()));
    env
}

/// A call request as the executor sends it to plan the onboarding run's first step (no
/// vendor is called: `disable_immediate_execution`), signed as Inngest Cloud signs it.
fn executor_call(n: usize) -> (Vec<u8>, String) {
    let event = json!({
        "name": "purchase/mentorship", "id": format!("stripe-evt_load_{n}"), "ts": 1_767_322_800_000_i64,
        "data": {"provider": "stripe", "purchase_id": format!("cs_test_load_{n}"),
                 "email": "ada@example.com", "name": "Ada", "clerk_user_id": null,
                 "mentorship": "group", "product": "price_load", "amount_minor": 120000,
                 "currency": "usd", "livemode": false, "purchased_at": "2026-01-02T03:00:00Z"}
    });
    let body = serde_json::to_vec(&json!({
        "ctx": {"attempt": 0, "disable_immediate_execution": true, "env": "production",
                "fn_id": "uuid", "max_attempts": 4, "run_id": format!("01JLOAD{n:08}"),
                "stack": {"current": 0, "stack": []}, "use_api": false},
        "event": event, "events": [event], "steps": {}, "use_api": false, "version": 2
    }))
    .expect("json");
    let key = SigningKey::new(SIGNING_KEY).expect("key");
    let signature = key.sign(&body, chrono::Utc::now().timestamp());
    (body, signature)
}

/// What a load run saw.
#[derive(Debug, Default)]
struct LoadReport {
    calls: AtomicUsize,
    webhooks: AtomicUsize,
    errors: AtomicUsize,
}

impl LoadReport {
    /// Prints the first few failures, so a red run says what failed; always `false`.
    fn failed(&self, what: &str, outcome: reqwest::Result<reqwest::Response>) -> bool {
        if self.errors.load(Ordering::Relaxed) < 5 {
            match outcome {
                Ok(response) => eprintln!("load: {what} answered {}", response.status()),
                Err(error) => eprintln!("load: {what} failed: {error:?}"),
            }
        }
        false
    }
}

/// Drives `clients` concurrent clients for `duration`: executor calls, and every fifth
/// request a signed Stripe delivery. Returns the report and the peak RSS seen (KiB).
async fn drive(app: &Process, clients: usize, duration: Duration) -> (Arc<LoadReport>, u64, u64) {
    let report = Arc::new(LoadReport::default());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let deadline = Instant::now() + duration;
    let baseline = app.rss_kib();
    let mut workers = Vec::new();
    for worker in 0..clients {
        let http = http.clone();
        let report = Arc::clone(&report);
        let call_url = app.url(ONBOARDING);
        let hook_url = app.url("/api/stripe/webhook");
        workers.push(tokio::spawn(async move {
            let mut n = worker;
            while Instant::now() < deadline {
                n += clients;
                let ok = if n % 5 == 0 {
                    let signature = stripe::sign_for_test(
                        &WebhookSecret::new(STRIPE_SECRET),
                        STRIPE_FIXTURE,
                        chrono::Utc::now().timestamp(),
                    );
                    let sent = http
                        .post(&hook_url)
                        .header("stripe-signature", signature)
                        .body(STRIPE_FIXTURE)
                        .send()
                        .await;
                    report.webhooks.fetch_add(1, Ordering::Relaxed);
                    match sent {
                        Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                        other => report.failed("webhook", other),
                    }
                } else {
                    let (body, signature) = executor_call(n);
                    let sent = http
                        .post(&call_url)
                        .header("x-inngest-signature", signature)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    report.calls.fetch_add(1, Ordering::Relaxed);
                    match sent {
                        Ok(r) if r.status() == 206 => r
                            .bytes()
                            .await
                            .is_ok_and(|b| b.windows(11).any(|w| w == b"StepPlanned")),
                        other => report.failed("executor call", other),
                    }
                };
                if !ok {
                    report.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut peak = baseline;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(app.rss_kib());
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    peak = peak.max(app.rss_kib());
    (report, baseline, peak)
}

async fn load(clients: usize, duration: Duration) {
    let vendors = StandIn::start().await;
    let app = Process::start(&production(&vendors));
    let (report, baseline, peak) = drive(&app, clients, duration).await;
    let calls = report.calls.load(Ordering::Relaxed);
    let webhooks = report.webhooks.load(Ordering::Relaxed);
    let seconds = duration.as_secs_f64();
    eprintln!(
        "load: {clients} clients for {seconds:.0} s: {calls} executor calls + {webhooks} webhooks \
         ({:.0} req/s), {} errors, RSS {} MiB at start, peak {} MiB",
        (calls + webhooks) as f64 / seconds,
        report.errors.load(Ordering::Relaxed),
        baseline / 1024,
        peak / 1024
    );
    assert_eq!(report.errors.load(Ordering::Relaxed), 0, "{report:?}");
    assert!(calls > clients && webhooks > 0, "{report:?}");
    assert_eq!(
        vendors.events().len(),
        webhooks,
        "every delivery reached Inngest"
    );
    assert!(peak < 512 * 1024, "RSS stays bounded: peak {peak} KiB");
}

/// The short form by default (100 clients, 3 s); `LOAD_CLIENTS` and `LOAD_SECONDS` scale it
/// to the full form: `LOAD_CLIENTS=500 LOAD_SECONDS=30 cargo test --release --test app --
/// --nocapture load_of_executor_calls` (docs/load.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_of_executor_calls_and_webhooks_has_no_errors_and_bounded_memory() {
    let clients = env_number("LOAD_CLIENTS", 100);
    let seconds = env_number("LOAD_SECONDS", 3);
    load(clients, Duration::from_secs(seconds as u64)).await;
}

/// A positive whole number from the environment, or `default` when unset.
fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Err(_) => default,
        Ok(value) => value
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{name} must be a positive whole number, not {value:?}")),
    }
}

/// Opens a signed executor call and waits until the app asks for its body (`100
/// Continue`): from then on the request is in flight inside the app.
fn start_call(address: &str, n: usize) -> (TcpStream, Vec<u8>) {
    let (body, signature) = executor_call(n);
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "POST {ONBOARDING} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Inngest-Signature: {signature}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("headers");
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("interim response");
        interim.push(byte[0]);
    }
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{interim:?}");
    (stream, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_every_started_call() {
    const IN_FLIGHT: usize = 50;
    let vendors = StandIn::start().await;
    let mut app = Process::start(&production(&vendors));
    let address = app.address.clone();

    // Background load while the signal lands.
    let load = {
        let http = reqwest::Client::new();
        let url = app.url(ONBOARDING);
        tokio::spawn(async move {
            let (mut answered, mut refused) = (0usize, 0usize);
            for n in 0..2_000 {
                let (body, signature) = executor_call(100_000 + n);
                match http
                    .post(&url)
                    .header("x-inngest-signature", signature)
                    .body(body)
                    .send()
                    .await
                {
                    // A response whose head arrived must arrive whole and be the plan.
                    Ok(r) => {
                        assert_eq!(r.status(), 206);
                        assert!(r.bytes().await.is_ok(), "a complete body");
                        answered += 1;
                    }
                    // Refused or closed before the app read it: never started.
                    Err(_) => refused += 1,
                }
                if refused > 20 {
                    break;
                }
            }
            (answered, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started: Vec<(TcpStream, Vec<u8>)> = tokio::task::spawn_blocking(move || {
        (0..IN_FLIGHT).map(|n| start_call(&address, n)).collect()
    })
    .await
    .expect("calls started");
    app.terminate();
    // The app stops accepting; the started calls' bodies arrive after the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let responses = tokio::task::spawn_blocking(move || {
        started
            .into_iter()
            .map(|(mut stream, body)| {
                stream.write_all(&body).expect("the body");
                let mut response = Vec::new();
                stream.read_to_end(&mut response).expect("a response");
                String::from_utf8_lossy(&response).into_owned()
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("responses");
    for response in &responses {
        assert!(response.starts_with("HTTP/1.1 206"), "{response}");
        let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().expect("a length"))
            })
            .expect("content-length");
        assert_eq!(body.len(), length, "a complete body");
        assert!(body.contains("StepPlanned"), "{body}");
    }
    let (answered, refused) = load.await.expect("background load");
    assert!(app.wait(Duration::from_secs(30)), "graceful exit");
    eprintln!(
        "SIGTERM under load: {IN_FLIGHT}/{IN_FLIGHT} in-flight calls answered in full; background: {answered} answered, {refused} refused after the signal"
    );
}

/// A free loopback port (bound and released: the race with another process is accepted).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_the_run_waits_lets_the_fake_executor_finish_on_the_new_process() {
    let inngest = FakeExecutor::start().await;
    let vendors = StandIn::start().await;
    let buyer = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC";
    let mut recorded = clerk_user(json!({"mentorship": {
        "kind": "one_on_one",
        "purchase_id": "cs_test_a1vvp1B50lYAE8U2KLu1lzd6US91IMmBfnLfDXmJiKOQIzXbgFKgxUviQu",
        "status": "awaiting_discord"}}));
    recorded["id"] = json!(buyer);
    vendors.respond(
        Method::GET,
        &format!("/clerk/v1/users/{buyer}"),
        200,
        recorded.clone(),
    );
    vendors.respond(
        Method::PATCH,
        &format!("/clerk/v1/users/{buyer}/metadata"),
        200,
        recorded,
    );
    vendors.respond(
        Method::POST,
        "/resend/emails",
        200,
        json!({"id": "email-1"}),
    );
    let port = free_port();
    let mut env: Vec<(String, String)> = vendors
        .env()
        .into_iter()
        .filter(|(k, _)| k != "INNGEST_EVENT_API_BASE_URL")
        .collect();
    env.extend(
        [
            ("INNGEST_DEV", "1".to_owned()),
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", port.to_string()),
            ("APP_BASE_URL", format!("http://127.0.0.1:{port}")),
            ("INNGEST_BASE_URL", inngest.url().to_string()),
            ("STRIPE_WEBHOOK_SECRETS", "whsec_restart_test".to_owned()),
            ("STRIPE_LIVEMODE", "false".to_owned()),
            (
                "MENTORSHIP_CATALOG",
                "price_1QxOneOnOne2026=one_on_one".to_owned(),
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );

    // The first process: the purchase arrives and the run waits for Discord.
    let mut first = Process::start(&env);
    inngest
        .serve_url(&first.url("/api/inngest"))
        .await
        .expect("the fake executor syncs the app");
    let signature = stripe::sign_for_test(
        &WebhookSecret::new("whsec_restart_test"),
        STRIPE_FIXTURE,
        chrono::Utc::now().timestamp(),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let delivered = http
        .post(first.url("/api/stripe/webhook"))
        .header("stripe-signature", signature)
        .body(STRIPE_FIXTURE)
        .send()
        .await
        .expect("delivered");
    assert_eq!(delivered.status(), 200);
    inngest.run_until_idle().await;
    let runs = inngest.runs_of("huckleberry-onboarding-flow");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Waiting, "{:?}", runs[0]);

    // Stop it between steps; a new process takes the same port.
    first.terminate();
    assert!(first.wait(Duration::from_secs(30)), "graceful exit");
    let second = Process::start(&env);
    assert_eq!(second.address, format!("127.0.0.1:{port}"));

    // The buyer follows the link the first process emailed; the second one serves it.
    let email = vendors.requests_to(Method::POST, "/resend/emails")[0].json();
    let link = connect_link(email["text"].as_str().expect("plain text"));
    let (status, _page) = follow_connect_link(&link).await;
    assert_eq!(status, 200);

    // The fake executor resumes the run against the new process, which finishes it.
    inngest.run_until_idle().await;
    let run = inngest.run(&runs[0].id);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let completed = inngest.events_named("mentorship/onboarding.completed");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].data()["discord_user_id"], DISCORD_USER);
    drop(second);
}
