//! `spawn_app`: the real app on port 0 with a test configuration. Every test that needs the
//! app in-process starts it here.

use huckleberry::config::AppConfig;
use huckleberry::startup::{AppOverrides, Application};

/// A running app and how to reach it.
pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) http: reqwest::Client,
}

/// Starts the app in development mode on a free port, with `extra` variables on top.
pub(crate) async fn spawn_app(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_with(extra, AppOverrides::default()).await
}

/// As [`spawn_app`], with test doubles (a clock, PayPal certificates) in place.
pub(crate) async fn spawn_app_with(extra: &[(&str, &str)], overrides: AppOverrides) -> TestApp {
    let mut vars: Vec<(String, String)> = vec![
        ("INNGEST_DEV".into(), "1".into()),
        ("HOST".into(), "127.0.0.1".into()),
        ("PORT".into(), "0".into()),
    ];
    for (name, value) in extra {
        vars.retain(|(k, _)| k != name);
        vars.push(((*name).to_owned(), (*value).to_owned()));
    }
    let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let config = AppConfig::from_lookup(&lookup).expect("test configuration is valid");
    spawn_configured_app(config, overrides).await
}

/// Starts the app with `config` as given (production included), on the port it names.
pub(crate) async fn spawn_configured_app(config: AppConfig, overrides: AppOverrides) -> TestApp {
    let app = Application::build_with(config, overrides)
        .await
        .expect("app builds");
    let address = format!("http://{}", app.local_addr().expect("bound"));
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address,
        http: reqwest::Client::new(),
    }
}
