//! The command line of the real binary, as a user types it: help and version on every
//! command, usage errors with exit code 2, `check-config`, and `simulate` producing distinct
//! purchases.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use crate::binary::{simulate_stripe, start_dry_run_with_stripe};
use crate::process::{BIN, Binary};

/// Runs the binary with `args` and exactly `env`, in `dir`, failing the test if it has not
/// returned within 20 s (a command that starts the service would not).
async fn run_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .unwrap_or_else(|_| panic!("`huckleberry {}` returns promptly", args.join(" ")))
        .expect("the binary runs")
}

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_in(&std::env::temp_dir(), args, env).await
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh empty directory under the system temp dir.
fn empty_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hb-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn every_command_has_help_that_names_its_options() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--help"],
            &[
                "serve",
                "simulate",
                "healthcheck",
                "check-config",
                "--version",
            ],
        ),
        (&["serve", "--help"], &["Run the service", "--help"]),
        (&["simulate", "--help"], &["stripe", "clerk", "resend"]),
        (
            &["simulate", "stripe", "--help"],
            &[
                "--email",
                "--name",
                "--product",
                "--purchase-id",
                "--count",
                "--url",
                "price_1QxOneOnOne2026",
            ],
        ),
        (
            &["simulate", "clerk", "--help"],
            &["--email", "--name", "--user-id", "--count", "--url"],
        ),
        (
            &["simulate", "resend", "--help"],
            &["--email", "--count", "--url"],
        ),
        (&["healthcheck", "--help"], &["/healthz"]),
        (&["check-config", "--help"], &["every problem"]),
        (&["help", "simulate"], &["stripe"]),
    ];
    for (args, expected) in cases {
        let output = run(args, &[]).await;
        let text = stdout(&output);
        assert!(output.status.success(), "{args:?}: {output:?}");
        for word in *expected {
            assert!(text.contains(word), "{args:?} help mentions {word}: {text}");
        }
    }
}

#[test]
fn serve_runs_the_service_as_no_command_does() {
    let app = Binary::start_with_args(
        &["serve"],
        &[("INNGEST_DEV", "1"), ("HOST", "127.0.0.1"), ("PORT", "0")],
    );
    let (address, startup) = app.wait_listening(Duration::from_secs(30));
    assert!(address.is_some(), "serve listens: {startup:#?}");
}

#[tokio::test]
async fn version_prints_the_package_version_on_every_command() {
    for args in [
        &["--version"][..],
        &["serve", "--version"],
        &["simulate", "stripe", "--version"],
        &["check-config", "--version"],
        &["healthcheck", "-V"],
    ] {
        let output = run(args, &[]).await;
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert!(
            stdout(&output).contains(env!("CARGO_PKG_VERSION")),
            "{args:?}: {}",
            stdout(&output)
        );
    }
}

#[tokio::test]
async fn unknown_commands_and_flags_print_the_usage_and_exit_2() {
    for args in [
        &["bogus"][..],
        &["--bogus"],
        &["simulate", "paypal"],
        &["simulate", "stripe", "--emial", "x@y.z"],
        &[
            "simulate",
            "stripe",
            "--count",
            "2",
            "--purchase-id",
            "cs_1",
        ],
        &["check-config", "--port", "3000"],
    ] {
        let output = run(args, &[]).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(
            stderr(&output).contains("Usage: huckleberry"),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
}

#[tokio::test]
async fn an_invalid_option_value_is_a_usage_error_with_exit_2() {
    let output = run(&["simulate", "stripe", "--count", "0"], &[]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = stderr(&output);
    assert!(
        text.contains("--count") && text.contains("--help"),
        "{text}"
    );
}

#[tokio::test]
async fn check_config_lists_every_problem_at_once_and_exits_1_without_secrets() {
    let output = run(
        &["check-config"],
        &[
            ("PORT", "not-a-port"),
            ("STRIPE_LIVEMODE", "maybe"),
            ("LINK_TOKEN_KEY", "too-short-secret-value"),
            ("CLERK_WEBHOOK_SECRET", "whsec_not*base64!secret"),
        ],
    )
    .await;
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    for expected in [
        "production (INNGEST_DEV is unset)",
        "missing: APP_BASE_URL",
        "missing: INNGEST_SIGNING_KEY",
        "missing: INNGEST_EVENT_KEY",
        "missing: RESEND_API_KEY",
        "missing: DISCORD_BOT_TOKEN",
        "invalid: PORT",
        "invalid: STRIPE_LIVEMODE",
        "invalid: LINK_TOKEN_KEY",
        "invalid: CLERK_WEBHOOK_SECRET",
    ] {
        assert!(text.contains(expected), "{expected} listed in: {text}");
    }
    for secret in ["too-short-secret-value", "not*base64!secret", "not-a-port"] {
        assert!(!text.contains(secret), "{secret} printed: {text}");
    }
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
}

#[tokio::test]
async fn check_config_accepts_a_valid_development_environment_without_binding_its_port() {
    // The port is held by the test: the service could not bind it, check-config must not try.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port().to_string();
    let output = run(
        &["check-config"],
        &[
            ("INNGEST_DEV", "1"),
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("STRIPE_WEBHOOK_SECRETS", "whsec_check_config_secret"),
            ("MENTORSHIP_CATALOG", "price_1=one_on_one"),
        ],
    )
    .await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(text.starts_with("configuration OK"), "{text}");
    assert!(
        text.contains(&format!("listen: 127.0.0.1:{port}")),
        "{text}"
    );
    assert!(
        text.contains("webhook /api/stripe/webhook: mounted"),
        "{text}"
    );
    assert!(text.contains("Clerk dry run"), "{text}");
    assert!(!text.contains("whsec_check_config_secret"), "{text}");
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[tokio::test]
async fn the_env_example_is_a_valid_development_env_and_is_never_read_by_itself() {
    const EXAMPLE: &str = include_str!("../../.env.example");
    // Next to the binary as `.env.example` it is ignored: production, which lacks everything.
    let ignored = empty_dir("example");
    std::fs::write(ignored.join(".env.example"), EXAMPLE).expect("write");
    let output = run_in(&ignored, &["check-config"], &[]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("production"), "{output:?}");

    // Copied to `.env`, as the README says, it is a working development configuration.
    let copied = empty_dir("dotenv");
    std::fs::write(copied.join(".env"), EXAMPLE).expect("write");
    let output = run_in(&copied, &["check-config"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout(&output).contains("development"), "{output:?}");

    // Every commented setting uncommented still parses, and still makes a valid configuration.
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(setting)
                if setting
                    .split_once('=')
                    .is_some_and(|(name, _)| is_name(name)) =>
            {
                setting
            }
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(copied.join(".env"), uncommented).expect("write");
    let output = run_in(&copied, &["check-config"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stderr(&output).is_empty(), "{output:?}");
    let _ = std::fs::remove_dir_all(ignored);
    let _ = std::fs::remove_dir_all(copied);
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[tokio::test]
async fn check_config_reports_a_malformed_env_file_without_printing_its_line() {
    let dir = empty_dir("malformed");
    std::fs::write(
        dir.join(".env"),
        "INNGEST_DEV=1\nEMAIL_FROM=Name <a@b.c> unquoted-secret-value\nPORT=3000\n",
    )
    .expect("write");

    let output = run_in(&dir, &["check-config"], &[]).await;

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stderr(&output);
    assert!(text.contains(".env: a line could not be parsed"), "{text}");
    assert!(!text.contains("unquoted-secret-value"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `(email, purchase_id)` of every `purchase/mentorship` event Inngest received.
fn purchases(inngest: &inngest_sdk::testing::FakeExecutor) -> Vec<(String, String)> {
    inngest
        .events_named("purchase/mentorship")
        .iter()
        .map(|event| {
            let data = event.data();
            (
                data["email"].as_str().expect("email").to_owned(),
                data["purchase_id"]
                    .as_str()
                    .expect("purchase_id")
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_stripe_with_an_email_is_a_new_purchase_by_that_buyer_each_run() {
    let inngest = inngest_sdk::testing::FakeExecutor::start().await;
    let app = start_dry_run_with_stripe(&inngest);

    for _ in 0..2 {
        let output = simulate_stripe(&app, &["--email", "x@y.z", "--name", "X Y"]).await;
        assert!(output.status.success(), "{output:?}");
        assert!(stdout(&output).contains("-> 200 OK"), "{output:?}");
    }

    let purchases = purchases(&inngest);
    assert_eq!(purchases.len(), 2, "{purchases:?}");
    assert!(
        purchases.iter().all(|(email, _)| email == "x@y.z"),
        "{purchases:?}"
    );
    assert_ne!(purchases[0].1, purchases[1].1, "distinct purchase ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_stripe_count_3_sends_three_distinct_purchases() {
    let inngest = inngest_sdk::testing::FakeExecutor::start().await;
    let app = start_dry_run_with_stripe(&inngest);

    let output = simulate_stripe(&app, &["--count", "3"]).await;

    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output).matches("-> 200 OK").count(),
        3,
        "{output:?}"
    );
    let ids: HashSet<String> = purchases(&inngest).into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_stripe_with_a_product_missing_from_the_catalog_fails() {
    let inngest = inngest_sdk::testing::FakeExecutor::start().await;
    let app = start_dry_run_with_stripe(&inngest);

    let output = simulate_stripe(&app, &["--product", "price_not_sold"]).await;

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("not accepted"), "{output:?}");
    assert!(purchases(&inngest).is_empty());
}
