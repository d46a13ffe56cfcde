//! The conformance fixture app: serves the five fixture functions of the official runner's
//! serve cases (docs/protocol.md §9.4) at `http://127.0.0.1:$PORT/api/inngest` (default port 3000).
//!
//! ```sh
//! INNGEST_DEV=1 INNGEST_SIGNING_KEY=7468697320697320612074657374206b6579 \
//!   cargo run -p inngest-sdk --example conformance --features testing
//! ```
//!
//! In-band sync is enabled; the app never registers itself, so the runner's proxy sees all
//! traffic. Restart it before each run: `retry-basic` keeps per-process attempt counters.
//!
//! With `BENCH_STEPS=1` it also serves `bench-steps` (N memoized steps), which the load
//! benchmark `bench/run.sh` calls; the conformance runner never sees it.
//!
//! With `INNGEST_CONNECT=1` (and the `connect` feature) it runs as a Connect worker instead
//! (docs/protocol.md §13): no HTTP listener, an outbound WebSocket to the gateway of the
//! server `INNGEST_DEV`/`INNGEST_BASE_URL` names. SIGTERM or Ctrl-C drains it: in-flight
//! requests finish before it exits.
//!
//! ```sh
//! INNGEST_DEV=http://127.0.0.1:8288 INNGEST_CONNECT=1 \
//!   cargo run -p inngest-sdk --example conformance --features testing,connect
//! ```

use inngest_sdk::testing::conformance;
use inngest_sdk::{Client, Config, Endpoint};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?.with_in_band_sync(true);
    let mut builder = Endpoint::builder(conformance::APP_ID, Client::new(config)).framework("axum");
    for function in conformance::functions() {
        builder = builder.function(function);
    }
    if std::env::var_os("BENCH_STEPS").is_some_and(|v| v == "1") {
        builder = builder.function(conformance::bench_steps());
    }
    let endpoint = builder.build()?;
    if std::env::var_os("INNGEST_CONNECT").is_some_and(|v| v == "1") {
        return serve_over_connect(endpoint).await;
    }
    let app = axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint));
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!(
        "conformance fixture listening on http://{}/api/inngest",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// Runs the endpoint as a Connect worker until SIGTERM or Ctrl-C, then drains it.
#[cfg(feature = "connect")]
async fn serve_over_connect(endpoint: Endpoint) -> Result<(), Box<dyn std::error::Error>> {
    use inngest_sdk::connect::{self, WorkerState};
    use tokio::signal::unix::{SignalKind, signal};

    let worker = connect::connect(endpoint).start();
    let mut states = worker.subscribe();
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            let state = *states.borrow_and_update();
            eprintln!("conformance fixture: Connect worker {state}");
            if state == WorkerState::Closed {
                break;
            }
        }
    });
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("conformance fixture: draining");
    worker.shutdown().await;
    Ok(())
}

#[cfg(not(feature = "connect"))]
async fn serve_over_connect(_endpoint: Endpoint) -> Result<(), Box<dyn std::error::Error>> {
    Err("INNGEST_CONNECT=1 needs the `connect` feature (--features testing,connect)".into())
}
