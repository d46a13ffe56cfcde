//! Building and running the app: the caller owns the listener and the shutdown signal.
//!
//! This is the one place that wires the app: it picks each vendor's live client or its dry
//! run (docs/design.md §6), hands the functions their ports, and gives each feature its
//! state ([`AppState`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use inngest_sdk::connect::WorkerState;
use tokio::net::TcpListener;
use tokio::sync::watch;

use huckleberry_functions::Deps;
use huckleberry_functions::config::{DiscordRoles, OnboardingConfig};
use huckleberry_functions::ports::{ConnectLinks, DiscordGuild, Mailer, UserDirectory};
use url::Url;

use crate::clock::Clock;
use crate::config::{AppConfig, Environment, HttpLimits};
use crate::discord::DiscordAuth;
use crate::discord::connect::{DiscordConnect, DryRunDiscord, LiveDiscord};
use crate::discord::replay::UsedTokens;
use crate::discord::session::SessionVerifier;
use crate::discord::tokens::{LinkMaker, Signer};
use crate::integrations::clerk::{ClerkClient, UserMetadata};
use crate::integrations::discord::DiscordClient;
use crate::integrations::dry_run::{DryRunDirectory, DryRunGuild, DryRunMailer};
use crate::integrations::http::vendor_http_client;
use crate::integrations::paypal::SharedCertificateSource;
use crate::integrations::resend::ResendMailer;
use crate::pages::PageLinks;
use crate::paths;
use crate::routes;
use crate::serve;
use crate::state::AppState;
use crate::webhooks::routes::WebhookState;

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
    /// With `INNGEST_CONNECT=1`: the endpoint the Connect worker serves, and where it
    /// reports its state (`/readyz` reads it).
    connect: Option<(inngest_sdk::Endpoint, watch::Sender<WorkerState>)>,
    /// The listener's timeouts and connection cap.
    limits: HttpLimits,
}

/// Test doubles for [`Application::build_with`]; production uses the default (none).
///
/// Neither weakens a check: a certificate source only changes where the PayPal certificate
/// comes from (the signature is still checked against it), and a clock only changes "now".
#[derive(Debug, Clone, Default)]
pub struct AppOverrides {
    /// Serves PayPal certificates instead of fetching them from PayPal.
    pub paypal_certificates: Option<SharedCertificateSource>,
    /// Replaces the system clock everywhere the app reads the time.
    pub clock: Option<Clock>,
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
        let clock = overrides.clock.unwrap_or_else(Clock::system);
        let inngest = inngest_sdk::Client::new(config.inngest.clone());
        let webhooks = WebhookState::build(
            &config.webhooks,
            overrides.paypal_certificates,
            clock.clone(),
            inngest.clone(),
        )
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
        let http = vendor_http_client().context("building the vendor HTTP client")?;
        let vendors = Vendors::build(&config, &http);
        let deps = Deps::new(
            vendors.users.clone(),
            vendors.mailer.clone(),
            vendors.guild.clone(),
            vendors.links.clone(),
        )
        .with_clock(clock.as_source());
        let mut endpoint = inngest_sdk::Endpoint::builder(APP_ID, inngest.clone())
            .framework("axum")
            .middleware(crate::telemetry::InngestFailureLog::default());
        for function in huckleberry_functions::functions(deps, onboarding_config(&config)) {
            endpoint = endpoint.function(function);
        }
        let endpoint = endpoint.build().context("building the Inngest endpoint")?;
        // Over Connect the worker's handshake syncs the app: no registration, no /api/inngest.
        let sync =
            (config.environment == Environment::Production && !config.inngest_connect).then(|| {
                let url = config
                    .app_base_url
                    .join(paths::INNGEST)
                    .map_or_else(|_| config.app_base_url.to_string(), String::from);
                (endpoint.clone(), url)
            });
        let connect = config
            .inngest_connect
            .then(|| (endpoint.clone(), watch::channel(WorkerState::Connecting).0));
        let state = AppState {
            webhooks: Arc::new(webhooks),
            discord: Arc::new(vendors.discord_auth(&config, inngest, clock)),
        };
        let https = config.app_base_url.scheme() == "https";
        let router = match &connect {
            Some((_, worker)) => {
                routes::router_over_connect(state, worker.subscribe(), &config.http, https)
            }
            None => routes::router(state, endpoint, &config.http, https),
        };
        Ok(Application {
            listener,
            router,
            sync,
            connect,
            limits: config.http,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting and gives in-flight requests
    /// [`SHUTDOWN_GRACE`] to finish. First it raises the open-file limit and fits the
    /// connection cap under it; in production it registers the functions with Inngest, in
    /// the background, once the port is open. With `INNGEST_CONNECT=1` it starts the Connect
    /// worker instead, and drains it beside the HTTP server on shutdown: no new executor
    /// requests, the ones in flight finish and their replies are delivered.
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
        let Some((endpoint, readiness)) = self.connect else {
            serve::serve(
                self.listener,
                self.router,
                &self.limits,
                max_connections,
                SHUTDOWN_GRACE,
                shutdown,
            )
            .await;
            return Ok(());
        };
        let worker = inngest_sdk::connect::connect(endpoint).start();
        let mut states = worker.subscribe();
        tokio::spawn(async move {
            loop {
                let state = *states.borrow_and_update();
                readiness.send_replace(state);
                if state == WorkerState::Closed || states.changed().await.is_err() {
                    break;
                }
            }
        });
        // The shutdown signal starts both drains at once.
        let stop = worker.stop_handle();
        let fired = Arc::new(std::sync::OnceLock::new());
        let fired_at = Arc::clone(&fired);
        let shutdown = async move {
            shutdown.await;
            let _ = fired_at.set(tokio::time::Instant::now());
            stop.stop();
        };
        serve::serve(
            self.listener,
            self.router,
            &self.limits,
            max_connections,
            SHUTDOWN_GRACE,
            shutdown,
        )
        .await;
        // One grace period for both, counted from the signal.
        let deadline = fired
            .get()
            .copied()
            .unwrap_or_else(tokio::time::Instant::now)
            + SHUTDOWN_GRACE;
        if tokio::time::timeout_at(deadline, worker.closed())
            .await
            .is_err()
        {
            tracing::warn!("the Connect worker did not drain within the grace period");
        }
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
    let roles = discord_roles(config);
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

/// The role per mentorship kind: the configured ones, or, in a development dry run without a
/// guild, names the dry-run guild logs.
fn discord_roles(config: &AppConfig) -> DiscordRoles {
    config.integrations.discord.as_ref().map_or_else(
        || DiscordRoles {
            one_on_one: "dry-run-role-one-on-one".into(),
            group: "dry-run-role-group".into(),
        },
        |discord| discord.roles.clone(),
    )
}

/// The OAuth callback for a base URL.
fn callback_url(app_base_url: &Url) -> Url {
    app_base_url
        .join(paths::DISCORD_CALLBACK)
        .unwrap_or_else(|_| app_base_url.clone())
}

/// Each vendor live, or its dry run where the configuration has none (only possible in
/// development: production configuration requires them all). Each dry run is announced with
/// a warning.
struct Vendors {
    /// Clerk (or the in-memory dry run), for the functions.
    users: Arc<dyn UserDirectory>,
    /// The same directory's public metadata, for the connection routes.
    metadata: Arc<dyn UserMetadata>,
    /// Clerk's client, for session keys; `None` in the dry run, which refuses sessions.
    clerk: Option<ClerkClient>,
    /// Resend (or the log-only dry run).
    mailer: Arc<dyn Mailer>,
    /// The Discord bot (or the log-only dry run), for onboarding's role grant.
    guild: Arc<dyn DiscordGuild>,
    /// Discord's OAuth side (or the dry run that skips it), for the connection routes.
    discord: Arc<dyn DiscordConnect>,
    /// Signs emailed links and the OAuth cookie.
    signer: Signer,
    /// Makes the emailed links.
    links: Arc<dyn ConnectLinks>,
}

impl Vendors {
    fn build(config: &AppConfig, http: &reqwest::Client) -> Self {
        let settings = &config.integrations;
        let dry = |vendor: &str, what: &str| {
            tracing::warn!(
                vendor,
                "{vendor} is not configured: running it dry ({what})"
            );
        };
        debug_assert!(
            config.environment == Environment::Development
                || (settings.clerk.is_some()
                    && settings.resend.is_some()
                    && settings.discord.is_some()
                    && settings.link_key.is_some()),
            "production configuration requires every vendor"
        );

        let clerk = settings
            .clerk
            .as_ref()
            .map(|c| ClerkClient::new(http.clone(), c.api_base.clone(), c.secret_key.clone()));
        let (users, metadata): (Arc<dyn UserDirectory>, Arc<dyn UserMetadata>) = match &clerk {
            Some(client) => (Arc::new(client.clone()), Arc::new(client.clone())),
            None => {
                dry(
                    "clerk",
                    "users live in memory, keyed by email; set CLERK_SECRET_KEY",
                );
                let directory = Arc::new(DryRunDirectory::new());
                (directory.clone(), directory)
            }
        };

        let mailer: Arc<dyn Mailer> = match &settings.resend {
            Some(r) => Arc::new(ResendMailer::new(
                http.clone(),
                r.api_base.clone(),
                &r.api_key,
                settings.email.from.clone(),
            )),
            None => {
                dry(
                    "resend",
                    "emails and their links go to the log; set RESEND_API_KEY",
                );
                Arc::new(DryRunMailer::new())
            }
        };

        // The redirect URI follows the base URL start-up settled on (it may have bound port 0).
        let callback = callback_url(&config.app_base_url);
        let (guild, discord): (Arc<dyn DiscordGuild>, Arc<dyn DiscordConnect>) =
            match &settings.discord {
                Some(settings) => {
                    let mut settings = settings.clone();
                    settings.redirect_url = callback;
                    let client = DiscordClient::new(http.clone(), &settings);
                    (
                        Arc::new(client.clone()),
                        Arc::new(LiveDiscord::new(client, settings.roles)),
                    )
                }
                None => {
                    dry(
                        "discord",
                        "the connect flow skips Discord and role grants are logged; set DISCORD_*",
                    );
                    (
                        Arc::new(DryRunGuild),
                        Arc::new(DryRunDiscord::new(callback)),
                    )
                }
            };

        let signer = match &settings.link_key {
            Some(key) => Signer::new(key.expose()),
            None => {
                dry(
                    "link tokens",
                    "a random key per process, so emailed links stop working on restart; set LINK_TOKEN_KEY",
                );
                Signer::random()
            }
        };
        let links = Arc::new(LinkMaker::new(signer.clone(), config.app_base_url.clone()));
        Vendors {
            users,
            metadata,
            clerk,
            mailer,
            guild,
            discord,
            signer,
            links,
        }
    }

    /// The connection routes' state.
    fn discord_auth(
        self,
        config: &AppConfig,
        events: inngest_sdk::Client,
        clock: Clock,
    ) -> DiscordAuth {
        let settings = &config.integrations;
        let discord_page = settings
            .pages
            .discord_guild_id
            .as_ref()
            .and_then(|g| Url::parse(&format!("https://discord.com/channels/{g}")).ok())
            .unwrap_or_else(|| {
                Url::parse("https://discord.com/app").expect("constant URL is valid")
            });
        DiscordAuth {
            signer: self.signer,
            used: UsedTokens::new(),
            sessions: SessionVerifier::new(self.clerk, settings.clerk_session.clone()),
            discord: self.discord,
            metadata: self.metadata,
            links: PageLinks {
                dashboard: settings.pages.dashboard_url.clone(),
                discord: discord_page,
                support: settings.pages.support_email.clone(),
            },
            secure_cookies: config.app_base_url.scheme() == "https",
            events,
            clock,
        }
    }
}
