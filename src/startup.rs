//! Building and running the app: the caller owns the listener and the shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::{AppConfig, Environment, HttpLimits};
use crate::routes;
use crate::serve;
use crate::state::AppState;
use crate::webhooks::routes::{WebhookOverrides, WebhookState};
use huckleberry_functions::Deps;
use huckleberry_functions::config::{DiscordRoles, OnboardingConfig};

/// The Inngest app id the functions are served under.
pub const APP_ID: &str = "huckleberry";

/// How long in-flight requests may take to finish after a shutdown signal. Below the 30 s
/// most orchestrators wait between SIGTERM and SIGKILL.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// The app bound to its port, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// Registered with Inngest at start in production; the dev server syncs by itself.
    sync: Option<(inngest_sdk::Endpoint, String)>,
    /// The listener's timeouts and connection cap.
    limits: HttpLimits,
}

/// Test doubles for [`Application::build_with`]; production uses the default (none).
#[derive(Debug, Clone, Default)]
pub struct AppOverrides {
    /// PayPal certificate source and clock for the webhook routes.
    pub webhooks: WebhookOverrides,
}

impl Application {
    /// Binds the configured address (port 0 picks a free port) and wires the routes.
    pub async fn build(config: AppConfig) -> anyhow::Result<Self> {
        Application::build_with(config, AppOverrides::default()).await
    }

    /// As [`Application::build`], with test doubles in place of some production parts.
    ///
    /// `huckleberry check-config` (`crate::cli::check_config`) repeats the checks made here
    /// before serving, without binding: a new check belongs there too.
    pub async fn build_with(
        mut config: AppConfig,
        overrides: AppOverrides,
    ) -> anyhow::Result<Self> {
        let webhooks = WebhookState::build(&config.webhooks, overrides.webhooks)
            .context("building the webhook routes")?;
        let address = format!("{}:{}", config.host, config.port);
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding {address}"))?;
        // A base URL on port 0 (development's default with `PORT=0`, as in tests) cannot be
        // reached; links and the OAuth redirect must name the port actually bound.
        if config.app_base_url.port() == Some(0)
            && let Ok(bound) = listener.local_addr()
            && let Ok(url) = url::Url::parse(&format!("http://{bound}"))
        {
            config.app_base_url = url;
        }
        let http = crate::integrations::http::vendor_http_client()
            .context("building the vendor HTTP client")?;
        let integrations = crate::integrations::Integrations::build(&config, &http);
        let inngest = inngest_sdk::Client::new(config.inngest.clone());
        let deps = Deps::new(
            integrations.users.clone(),
            integrations.mailer.clone(),
            integrations.guild.clone(),
            integrations.links.clone(),
        );
        let mut endpoint = inngest_sdk::Endpoint::builder(APP_ID, inngest.clone())
            .framework("axum")
            .middleware(crate::telemetry::InngestFailureLog::default());
        for function in huckleberry_functions::functions(deps, onboarding_config(&config)) {
            endpoint = endpoint.function(function);
        }
        let endpoint = endpoint.build().context("building the Inngest endpoint")?;
        let sync = (config.environment == Environment::Production).then(|| {
            let url = config
                .app_base_url
                .join("api/inngest")
                .map_or_else(|_| config.app_base_url.to_string(), String::from);
            (endpoint.clone(), url)
        });
        let limits = config.http.clone();
        let state = AppState {
            config: Arc::new(config),
            inngest,
            webhooks: Arc::new(webhooks),
            auth: integrations.auth.clone(),
            integrations,
        };
        Ok(Application {
            listener,
            router: routes::router(state, endpoint),
            sync,
            limits,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting and gives in-flight requests
    /// [`SHUTDOWN_GRACE`] to finish. First it raises the open-file limit and fits the
    /// connection cap under it; in production it registers the functions with Inngest, in
    /// the background, once the port is open.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let open_files = serve::raise_open_file_limit();
        let max_connections =
            serve::effective_max_connections(self.limits.max_connections, open_files);
        tracing::info!(
            max_connections,
            configured = self.limits.max_connections,
            header_read_timeout = ?self.limits.header_read_timeout,
            keep_alive_idle = ?self.limits.keep_alive_idle,
            "connection limits"
        );
        if let Some((endpoint, url)) = self.sync {
            tokio::spawn(sync_with_inngest(endpoint, url));
        }
        serve::serve(
            self.listener,
            self.router,
            &self.limits,
            max_connections,
            SHUTDOWN_GRACE,
            shutdown,
        )
        .await;
        Ok(())
    }
}

/// Registers the functions with Inngest (out-of-band sync), logging the outcome once.
async fn sync_with_inngest(endpoint: inngest_sdk::Endpoint, url: String) {
    match endpoint.register(&url).await {
        Ok(modified) => tracing::info!(%url, modified, "synced functions with Inngest"),
        Err(error) => tracing::error!(
            %url,
            %error,
            "syncing functions with Inngest failed; runs will not start until the app is synced (redeploy, or sync from the Inngest dashboard)"
        ),
    }
}

/// The functions' configuration: addresses and roles from the vendor settings, timing from
/// `ONBOARDING_*` (docs/design.md §4 defaults when unset).
fn onboarding_config(config: &AppConfig) -> OnboardingConfig {
    let settings = &config.integrations;
    // In a development dry run there is no guild: the dry-run guild logs these names.
    let roles = settings.discord.as_ref().map_or_else(
        || DiscordRoles {
            one_on_one: "dry-run-role-one-on-one".to_owned(),
            group: "dry-run-role-group".to_owned(),
        },
        |discord| DiscordRoles {
            one_on_one: discord.role_one_on_one.clone(),
            group: discord.role_group.clone(),
        },
    );
    let mut onboarding = OnboardingConfig::new(
        settings.email.staff_alert.clone(),
        roles,
        settings.pages.dashboard_url.clone(),
    );
    if let Some(reminders) = config.onboarding.reminders {
        onboarding.reminders = reminders;
    }
    if let Some(interval) = config.onboarding.reminder_interval {
        onboarding.reminder_interval = interval;
    }
    onboarding
}
