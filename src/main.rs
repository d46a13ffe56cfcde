//! The `huckleberry` binary: parses the command line (`huckleberry::cli`), then serves until
//! SIGTERM or ctrl-c, or runs one of the other commands.

use std::process::ExitCode;

use clap::Parser as _;
use huckleberry::cli::{self, Cli, Command};
use huckleberry::config::AppConfig;
use huckleberry::startup::Application;
use huckleberry::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit here with code 2, `--help` and `--version` with 0.
    let args = Cli::parse();
    let dotenv_problem = cli::load_dotenv();
    if let Some(problem) = &dotenv_problem {
        eprintln!("huckleberry: {problem}");
    }
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Simulate(provider) => match cli::simulate::run(provider).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("huckleberry simulate: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Healthcheck => cli::healthcheck::run(),
        Command::CheckConfig => cli::check_config::run(dotenv_problem),
    }
}

/// `huckleberry serve`: reads the configuration, then serves until SIGTERM or ctrl-c.
async fn serve() -> ExitCode {
    let config = match AppConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            // Telemetry is not set up yet: the operator reads this on stderr.
            eprintln!("huckleberry: refusing to start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = telemetry::init(config.log_format);
    let shutdown = shutdown_signal();
    let environment = config.environment;
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "start-up failed");
            telemetry.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    match app.local_addr() {
        Ok(addr) => tracing::info!(%addr, ?environment, "listening"),
        Err(error) => tracing::warn!(%error, "listening on an unknown address"),
    }
    let stopped = app.run_until(shutdown).await;
    telemetry.shutdown().await;
    if let Err(error) = stopped {
        tracing::error!(error = format!("{error:#}"), "server stopped with an error");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM (container stop) or ctrl-c. The handlers are installed when this is
/// called, not when the future is first polled: a signal that arrives between start-up and
/// the first poll must still shut down gracefully rather than kill the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let terminate = async move {
            match terminate {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            () = terminate => {},
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}
