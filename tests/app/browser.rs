//! The result pages in headless Chromium (Debian `chromium`; `.ci/run` installs it): each
//! page shows its message and next action, and the connect flow's redirects are followed by
//! the browser itself, end to end, against the stand-ins.
//!
//! They need an external program, so they are `#[ignore]`d and the README's test command
//! passes without Chromium; `cargo test --workspace --all-features -- --ignored` runs them
//! (and `.ci/run` does), failing with a clear message when Chromium is missing.

use std::path::PathBuf;
use std::process::Command;

use chrono::Duration;

use crate::discord_flow::{flow, link_token};
use crate::stand_in::GUILD;

fn chromium() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.is_file())
            })
        })
        .expect(
            "these tests need headless Chromium, and none was found on PATH (chromium, \
             chromium-browser or google-chrome): install it (`apt-get install chromium`), or run \
             the tests without `--ignored`",
        )
}

/// Runs Chromium on `url` with `extra` flags, off the async runtime so the app keeps serving.
async fn run_chromium(url: String, extra: Vec<String>) -> String {
    run_chromium_logged(url, extra).await.0
}

/// As [`run_chromium`]; also what Chromium logged on stderr (console messages among it).
async fn run_chromium_logged(url: String, extra: Vec<String>) -> (String, String) {
    tokio::task::spawn_blocking(move || {
        let profile = std::env::temp_dir().join(format!(
            "hb-chromium-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        let output = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(url)
            .output()
            .expect("chromium runs");
        let _ = std::fs::remove_dir_all(&profile);
        assert!(
            output.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("chromium task")
}

/// The page's DOM after Chromium followed every redirect.
async fn dump_dom(url: String) -> String {
    run_chromium(url, vec!["--dump-dom".into()]).await
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed).to_string()
}

fn assert_mobile_page(dom: &str, page: &str) {
    assert!(
        dom.contains(&format!(r#"data-page="{page}""#)),
        "{page}: {dom}"
    );
    assert!(dom.contains(r#"name="viewport""#), "{page} has a viewport");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium (apt-get install chromium); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_emailed_link_connects_end_to_end_in_a_browser() {
    let flow = flow().await;
    let url = format!(
        "{}/api/auth/discord?t={}",
        flow.app.address,
        link_token(Duration::days(14), "browser-connected")
    );

    let dom = dump_dom(url).await;

    assert_mobile_page(&dom, "connected");
    assert!(dom.contains("You're connected!"), "{dom}");
    assert!(
        dom.contains(&format!(
            r#"href="https://discord.com/channels/{GUILD}">Open Discord</a>"#
        )),
        "{dom}"
    );
    assert_eq!(
        flow.stand_in.events().len(),
        1,
        "the browser carried the cookie"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium (apt-get install chromium); run with: cargo test --workspace --all-features -- --ignored"]
async fn declining_on_discord_shows_the_declined_page_in_a_browser() {
    let flow = flow().await;
    flow.stand_in.deny_consent();
    let url = format!(
        "{}/api/auth/discord?t={}",
        flow.app.address,
        link_token(Duration::days(14), "browser-declined")
    );

    let dom = dump_dom(url).await;

    assert_mobile_page(&dom, "declined");
    assert!(dom.contains("You chose not to connect Discord"));
    assert!(
        dom.contains(r#"href="https://academy.test/dashboard">Try again from your dashboard</a>"#)
    );
    assert!(flow.stand_in.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium (apt-get install chromium); run with: cargo test --workspace --all-features -- --ignored"]
async fn an_expired_link_shows_the_expired_page_in_a_browser() {
    let flow = flow().await;
    let url = format!(
        "{}/api/auth/discord?t={}",
        flow.app.address,
        link_token(Duration::minutes(-5), "browser-expired")
    );

    let dom = dump_dom(url).await;

    assert_mobile_page(&dom, "expired");
    assert!(dom.contains("This link has expired"));
    assert!(
        dom.contains(r#"href="https://academy.test/dashboard">Try again from your dashboard</a>"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium (apt-get install chromium); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_broken_link_shows_the_error_page_in_a_browser() {
    let flow = flow().await;
    let url = format!("{}/api/auth/discord?t=not-a-token", flow.app.address);

    let dom = dump_dom(url).await;

    assert_mobile_page(&dom, "error");
    assert!(dom.contains("This link is not valid"));
    assert!(dom.contains(r#"href="mailto:help@academy.test">Contact us</a>"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium (apt-get install chromium); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_connected_page_renders_on_a_phone_sized_screen() {
    let flow = flow().await;
    let url = format!(
        "{}/api/auth/discord?t={}",
        flow.app.address,
        link_token(Duration::days(14), "browser-screenshot")
    );
    let shot = std::env::temp_dir().join(format!("hb-connected-{}.png", std::process::id()));

    run_chromium(
        url,
        vec![
            format!("--screenshot={}", shot.display()),
            "--window-size=390,844".into(),
            "--hide-scrollbars".into(),
        ],
    )
    .await;

    let png = std::fs::read(&shot).expect("screenshot written");
    let _ = std::fs::remove_file(&shot);
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    // PNG IHDR: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes(png[16..20].try_into().expect("4 bytes"));
    assert_eq!(width, 390);
}

/// The page's DOM, asserting that its console reported no Content Security Policy
/// violation (Chromium logs console messages on stderr as `INFO:CONSOLE…`).
async fn dump_dom_without_csp_violation(url: String, what: &str) -> String {
    let (dom, log) = run_chromium_logged(
        url,
        vec![
            "--dump-dom".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
        ],
    )
    .await;
    let violations: Vec<&str> = csp_violations(&log).collect();
    assert!(violations.is_empty(), "{what}: {violations:#?}");
    dom
}

fn csp_violations(log: &str) -> impl Iterator<Item = &str> {
    log.lines()
        .filter(|line| line.contains("CONSOLE") && line.contains("Content Security Policy"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium (apt-get install chromium); run with: cargo test --workspace --all-features -- --ignored"]
async fn every_page_renders_in_a_browser_without_a_csp_violation() {
    let flow = flow().await;
    let address = flow.app.address.clone();
    let connected = format!(
        "{address}/api/auth/discord?t={}",
        link_token(Duration::days(14), "csp-connected")
    );
    let dom = dump_dom_without_csp_violation(connected, "connected").await;
    assert_mobile_page(&dom, "connected");

    for (url, page) in [
        (
            format!(
                "{address}/api/auth/discord?t={}",
                link_token(Duration::minutes(-5), "csp-expired")
            ),
            "expired",
        ),
        (format!("{address}/api/auth/discord?t=not-a-token"), "error"),
        (format!("{address}/api/auth/discord"), "error"),
    ] {
        let dom = dump_dom_without_csp_violation(url, page).await;
        assert_mobile_page(&dom, page);
    }

    flow.stand_in.deny_consent();
    let declined = format!(
        "{address}/api/auth/discord?t={}",
        link_token(Duration::days(14), "csp-declined")
    );
    let dom = dump_dom_without_csp_violation(declined, "declined").await;
    assert_mobile_page(&dom, "declined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium (apt-get install chromium); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_rate_limit_page_renders_in_a_browser_without_a_csp_violation() {
    let app = crate::support::spawn_app(&[
        ("DISCORD_RATE_LIMIT_PER_MINUTE", "1"),
        ("DISCORD_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    let url = format!("{}/api/auth/discord?t=not-a-token", app.address);
    let first = app.http.get(&url).send().await.expect("answered");
    assert_ne!(first.status(), 429);

    let dom = dump_dom_without_csp_violation(url, "429").await;

    assert_mobile_page(&dom, "error");
    assert!(dom.contains("paused for a moment"), "{dom}");
}

/// The check above can fail: a page whose style sheet the policy does not allow is
/// reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium (apt-get install chromium); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_console_check_sees_a_csp_violation() {
    use axum::http::header::CONTENT_SECURITY_POLICY;
    let page = || async {
        (
            [(
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'sha256-AAAA'",
            )],
            axum::response::Html("<!doctype html><style>body { color: red }</style><p>styled"),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new().route("/", axum::routing::get(page)),
        )
        .await
    });

    let (_, log) = run_chromium_logged(
        url,
        vec![
            "--dump-dom".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
        ],
    )
    .await;

    assert_eq!(csp_violations(&log).count(), 1, "{log}");
}
