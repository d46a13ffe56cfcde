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
        String::from_utf8_lossy(&output.stdout).into_owned()
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
