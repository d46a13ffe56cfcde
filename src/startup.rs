//! Building and running the app: the caller owns the listener and the shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::AppConfig;
use crate::routes;
use crate::state::AppState;

/// The app bound to its port, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
}

/// The Inngest app id the functions are served under.
pub const APP_ID: &str = "huckleberry";

impl Application {
    /// Binds the configured address (port 0 picks a free port) and wires the routes.
    pub async fn build(mut config: AppConfig) -> anyhow::Result<Self> {
        let inngest = inngest_sdk::Client::new(config.inngest.clone());
        let endpoint = inngest_sdk::Endpoint::builder(APP_ID, inngest.clone())
            .framework("axum")
            .build()
            .context("building the Inngest endpoint")?;
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
        let http = crate::integrations::http::vendor_http_client();
        let integrations = crate::integrations::Integrations::build(&config, &http);
        let state = AppState {
            config: Arc::new(config),
            inngest,
            auth: integrations.auth.clone(),
            integrations,
        };
        Ok(Application {
            listener,
            router: routes::router(state, endpoint),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests
    /// finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")
    }
}
