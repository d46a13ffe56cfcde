//! The `huckleberry` binary: reads configuration, then serves until SIGTERM or ctrl-c.

use std::process::ExitCode;

use huckleberry::config::AppConfig;
use huckleberry::startup::Application;
use huckleberry::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env file is normal (production reads the real environment).
    let _ = dotenvy::dotenv();
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("healthcheck") => return healthcheck(),
        Some("simulate") => {
            return match huckleberry::simulate_cli::run(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("huckleberry simulate: {error:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(other) => {
            eprintln!("huckleberry: unknown command {other:?} (commands: healthcheck, simulate)");
            return ExitCode::FAILURE;
        }
        None => {}
    }
    let config = match AppConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            // Telemetry is not set up yet: the operator reads this on stderr.
            eprintln!("huckleberry: refusing to start: {error}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(config.log_format);
    let shutdown = shutdown_signal();
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
    if let Err(error) = app.run_until(shutdown).await {
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

/// `huckleberry healthcheck`: exits 0 when `/healthz` on this container's port answers 200.
/// The runtime image has no curl; this keeps the container health check in the binary.
fn healthcheck() -> ExitCode {
    use std::io::{Read, Write};
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let probe = || -> std::io::Result<bool> {
        let timeout = std::time::Duration::from_secs(2);
        let address = format!("127.0.0.1:{port}")
            .parse()
            .map_err(|_| std::io::Error::other("invalid PORT"))?;
        let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
