//! The `huckleberry` binary: reads configuration, then serves until SIGTERM or ctrl-c.

use std::process::ExitCode;

use huckleberry::config::AppConfig;
use huckleberry::startup::Application;
use huckleberry::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env file is normal (production reads the real environment).
    let _ = dotenvy::dotenv();
    let config = match AppConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            // Telemetry is not set up yet: the operator reads this on stderr.
            eprintln!("huckleberry: refusing to start: {error}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(config.log_format);
    let environment = config.environment;
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    match app.local_addr() {
        Ok(addr) => tracing::info!(%addr, ?environment, "listening"),
        Err(error) => tracing::warn!(%error, "listening on an unknown address"),
    }
    if let Err(error) = app.run_until(shutdown_signal()).await {
        tracing::error!(error = format!("{error:#}"), "server stopped with an error");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM (container stop) or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
