//! The Connect transport against the real Inngest dev server and its gateway
//! (docs/protocol.md §13): the conformance fixture functions complete through a worker, and
//! the worker's lifecycle cases (a dropped socket, a server restart, a drain during a step,
//! two workers) lose no run and run no step twice.
//!
//! These tests need the server binary (`INNGEST_BIN`, or `inngest-cli` / `inngest` on
//! `PATH`), so they are ignored by default: `cargo test --workspace --all-features -- --ignored`.
#![cfg(all(feature = "connect", feature = "testing"))]
#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use inngest_sdk::connect::{self, Worker, WorkerState};
use inngest_sdk::testing::conformance;
use inngest_sdk::testing::real::{InngestServer, Run, RunStatus, ServerOptions};
use inngest_sdk::{
    Client, Config, Endpoint, Error, EventKey, Function, FunctionOpts, Input, SigningKey, Step,
    Trigger,
};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify, watch};

const LIMIT: Duration = Duration::from_secs(60);

fn config(server: &InngestServer) -> Config {
    Config::dev().with_base_url(server.url().clone())
}

/// The conformance fixture app.
fn fixture(server: &InngestServer) -> Endpoint {
    let mut builder = Endpoint::builder(conformance::APP_ID, Client::new(config(server)));
    for function in conformance::functions() {
        builder = builder.function(function);
    }
    builder.build().unwrap()
}

/// Waits (up to [`LIMIT`]) until the worker is in `state`.
async fn wait_state(states: &mut watch::Receiver<WorkerState>, state: WorkerState) {
    tokio::time::timeout(LIMIT, states.wait_for(|s| *s == state))
        .await
        .unwrap_or_else(|_| panic!("the worker did not become {state} in {LIMIT:?}"))
        .unwrap();
}

/// Starts a worker and waits until it is ready and the server lists the app as connected.
async fn ready_worker(server: &InngestServer, builder: connect::ConnectBuilder) -> Worker {
    let worker = builder.start();
    wait_state(&mut worker.subscribe(), WorkerState::Ready).await;
    server.wait_for_connected_app(LIMIT).await.unwrap();
    worker
}

/// Sends `event` and returns the id of the run it starts.
async fn start_run(server: &InngestServer, event: Value) -> String {
    let ids = server.send_event(event).await.unwrap();
    server
        .wait_for("the run to start", LIMIT, || async {
            let runs = server.runs_of_event(&ids[0]).await.ok()?;
            runs.into_iter().next().map(|r| r.id)
        })
        .await
        .unwrap()
}

/// Waits for the run to end and for its output.
async fn finished(server: &InngestServer, run_id: &str) -> (Run, Value) {
    let run = server
        .wait_for_run_end(run_id, Duration::from_secs(120))
        .await
        .unwrap();
    let output = server
        .wait_for("the run's output", Duration::from_secs(30), || async {
            server.run(run_id).await.ok().flatten()?.output
        })
        .await
        .unwrap_or(Value::Null);
    (run, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_fixture_functions_complete_through_a_connect_worker() {
    let server = InngestServer::start(ServerOptions::dev().retry_interval(1))
        .await
        .unwrap();
    let worker = ready_worker(&server, connect::connect(fixture(&server))).await;
    let apps = server.apps().await.unwrap();
    assert!(
        apps.iter()
            .any(|(name, count, connected)| name == conformance::APP_ID
                && *count == 5
                && *connected),
        "the gateway synced the app with its five functions: {apps:?}"
    );

    // basic-invoke
    let simple = start_run(&server, json!({"name": "tests/function.test", "data": {}})).await;
    // steps-serial: step, 2 s sleep, step
    let steps = start_run(&server, json!({"name": "tests/step.test", "data": {}})).await;
    // retry-basic: the step fails once, the body once
    let retry = start_run(&server, json!({"name": "tests/retry.test", "data": {}})).await;
    // wait-for-event-basic, resumed by a matching event
    let wait = start_run(
        &server,
        json!({"name": "tests/wait.test", "data": {"id": "w1"}}),
    )
    .await;
    // cancel-basic, cancelled during its sleep
    let cancel = start_run(
        &server,
        json!({"name": "tests/cancel.test", "data": {"request_id": "c1"}}),
    )
    .await;

    // The wait and the cancel are registered once their first call was answered.
    server
        .wait_for("the wait to be registered", LIMIT, || async {
            let run = server.run(&wait).await.ok()??;
            (run.status == RunStatus::Running).then_some(())
        })
        .await
        .unwrap();
    let resume = json!({"name": "test/resume", "data": {"id": "w1", "resume": true}});
    let cancel_event = json!({"name": "cancel/please", "data": {"request_id": "c1"}});
    // Sent until they take effect: the server may register the wait a moment after the
    // run shows as running.
    let mut tries = 0;
    let (run, output) = loop {
        tries += 1;
        assert!(tries <= 20, "the wait was never resumed");
        server.send_event(resume.clone()).await.unwrap();
        let ended = server.wait_for_run_end(&wait, Duration::from_secs(2)).await;
        if ended.is_ok() {
            break finished(&server, &wait).await;
        }
    };
    assert_eq!(run.status, RunStatus::Completed, "wait-for-event");
    assert_eq!(output, json!({"result": {"id": "w1", "resume": true}}));
    let mut tries = 0;
    let run = loop {
        tries += 1;
        assert!(tries <= 20, "the run was never cancelled");
        server.send_event(cancel_event.clone()).await.unwrap();
        if let Ok(run) = server
            .wait_for_run_end(&cancel, Duration::from_secs(2))
            .await
        {
            break run;
        }
    };
    assert_eq!(run.status, RunStatus::Cancelled, "cancel-basic");

    let (run, output) = finished(&server, &simple).await;
    assert_eq!(run.status, RunStatus::Completed, "basic-invoke");
    assert_eq!(output, json!({"body": "ok", "name": "tests/function.test"}));
    let (run, output) = finished(&server, &steps).await;
    assert_eq!(run.status, RunStatus::Completed, "steps-serial");
    assert_eq!(output, json!({"body": "ok", "name": "tests/step.test"}));
    let trace: Vec<String> = server
        .steps(&steps)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(
        trace.iter().any(|n| n == "first step") && trace.iter().any(|n| n == "second step"),
        "both steps are in the run's trace: {trace:?}"
    );
    let (run, output) = finished(&server, &retry).await;
    assert_eq!(run.status, RunStatus::Completed, "retry-basic");
    assert_eq!(output, json!({"body": "ok", "name": "tests/retry.test"}));

    let stats = worker.stats();
    assert!(
        stats.replies_acked >= 8 && stats.replies_flushed == 0,
        "every call was answered over the socket and acknowledged: {stats:?}"
    );
    worker.shutdown().await;
}

/// A TCP proxy in front of the gateway whose connections the test can cut.
struct Proxy {
    port: u16,
    cut: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
    /// While set, new connections are closed at once (the gateway is unreachable).
    refuse: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    async fn start(gateway_port: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, _) = watch::channel(0u64);
        let cut_rx = cut.subscribe();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let refuse = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refusing = Arc::clone(&refuse);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refusing.load(Ordering::SeqCst) {
                    continue;
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let mut cut = cut_rx.clone();
                cut.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", gateway_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                    // Dropping both streams resets the connection mid-stream.
                });
            }
        });
        Proxy {
            port,
            cut,
            accepted,
            refuse,
        }
    }

    fn url(&self) -> url::Url {
        url::Url::parse(&format!("ws://127.0.0.1:{}/v0/connect", self.port)).unwrap()
    }

    /// Drops every connection open now.
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// Three counted steps with a sleep between the first two; the middle step signals that it
/// runs and waits for the test's go before it returns.
struct Gate {
    entered: Notify,
    go: Notify,
}

fn gated_steps(runs: Arc<[AtomicUsize; 3]>, gate: Arc<Gate>) -> Function {
    Function::new(
        FunctionOpts::new("gated").trigger(Trigger::event("test/gated")),
        move |_input: Input<Value>, step: Step| {
            let runs = Arc::clone(&runs);
            let gate = Arc::clone(&gate);
            async move {
                let r = Arc::clone(&runs);
                let a: u32 = step
                    .run("one", move || async move {
                        r[0].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(1)
                    })
                    .await?;
                step.sleep("pause", Duration::from_secs(1)).await;
                let r = Arc::clone(&runs);
                let b: u32 = step
                    .run("two", move || async move {
                        r[1].fetch_add(1, Ordering::SeqCst);
                        gate.entered.notify_one();
                        gate.go.notified().await;
                        Ok::<_, Error>(2)
                    })
                    .await?;
                let r = Arc::clone(&runs);
                let c: u32 = step
                    .run("three", move || async move {
                        r[2].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(3)
                    })
                    .await?;
                Ok::<_, Error>(a + b + c)
            }
        },
    )
}

fn counts(runs: &[AtomicUsize]) -> Vec<usize> {
    runs.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_dropped_socket_loses_no_run_and_runs_no_step_twice() {
    let server = InngestServer::start(ServerOptions::dev()).await.unwrap();
    let proxy = Proxy::start(server.gateway_port()).await;
    let runs = Arc::new([
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]);
    let gate = Arc::new(Gate {
        entered: Notify::new(),
        go: Notify::new(),
    });
    let endpoint = Endpoint::builder("connect-drop", Client::new(config(&server)))
        .function(gated_steps(Arc::clone(&runs), Arc::clone(&gate)))
        .build()
        .unwrap();
    let worker = ready_worker(&server, connect::connect(endpoint).gateway_url(proxy.url())).await;
    let mut states = worker.subscribe();

    // Run 1: the socket is cut while step "two" runs; the worker reconnects before the step
    // ends, and the reply goes out on the new connection.
    let run = start_run(&server, json!({"name": "test/gated", "data": {}})).await;
    tokio::time::timeout(LIMIT, gate.entered.notified())
        .await
        .unwrap();
    proxy.cut();
    wait_state(&mut states, WorkerState::Connecting).await;
    wait_state(&mut states, WorkerState::Ready).await;
    gate.go.notify_one();
    let (ended, output) = finished(&server, &run).await;
    assert_eq!(ended.status, RunStatus::Completed);
    assert_eq!(output, json!(6));
    assert_eq!(counts(&*runs), vec![1, 1, 1], "each step ran exactly once");
    assert_eq!(worker.stats().connections, 2, "the worker connected again");

    // Run 2: cut, and the gateway stays unreachable while the step ends: the reply goes
    // through the flush API.
    let run = start_run(&server, json!({"name": "test/gated", "data": {}})).await;
    tokio::time::timeout(LIMIT, gate.entered.notified())
        .await
        .unwrap();
    proxy.refuse.store(true, Ordering::SeqCst);
    proxy.cut();
    wait_state(&mut states, WorkerState::Connecting).await;
    gate.go.notify_one();
    server
        .wait_for("the reply to be flushed", LIMIT, || async {
            (worker.stats().replies_flushed == 1).then_some(())
        })
        .await
        .unwrap();
    assert_eq!(worker.state(), WorkerState::Connecting, "still cut off");
    proxy.refuse.store(false, Ordering::SeqCst);
    wait_state(&mut states, WorkerState::Ready).await;
    let (ended, output) = finished(&server, &run).await;
    assert_eq!(ended.status, RunStatus::Completed);
    assert_eq!(output, json!(6));
    assert_eq!(
        counts(&*runs),
        vec![2, 2, 2],
        "each step ran exactly once per run"
    );
    assert!(proxy.accepted.load(Ordering::SeqCst) >= 3);
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn the_worker_comes_back_after_the_server_restarts() {
    let mut server = InngestServer::start(ServerOptions::dev()).await.unwrap();
    let worker = ready_worker(&server, connect::connect(fixture(&server))).await;
    let mut states = worker.subscribe();
    let (run, _) = finished(
        &server,
        &start_run(&server, json!({"name": "tests/function.test", "data": {}})).await,
    )
    .await;
    assert_eq!(run.status, RunStatus::Completed, "before the restart");

    server.restart().await.unwrap();
    // The worker saw its gateway go (it may already be back by now).
    assert!(
        worker.state() != WorkerState::Ready || states.has_changed().unwrap(),
        "the worker noticed the restart"
    );
    // The new server knows nothing: the worker's new handshake syncs the app again.
    let worker_ready = async {
        wait_state(&mut states, WorkerState::Ready).await;
    };
    worker_ready.await;
    server
        .wait_for("the app to be connected again", LIMIT, || async {
            let apps = server.apps().await.ok()?;
            apps.iter()
                .any(|(name, _, connected)| name == conformance::APP_ID && *connected)
                .then_some(())
        })
        .await
        .unwrap();
    let (run, output) = finished(
        &server,
        &start_run(&server, json!({"name": "tests/step.test", "data": {}})).await,
    )
    .await;
    assert_eq!(run.status, RunStatus::Completed, "after the restart");
    assert_eq!(output, json!({"body": "ok", "name": "tests/step.test"}));
    worker.shutdown().await;
}

/// One step that takes `step_time`, counted; the test hears when it starts.
fn slow_step(
    id: &str,
    step_time: Duration,
    started: Arc<Notify>,
    runs: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
) -> Function {
    Function::new(
        FunctionOpts::new(id).trigger(Trigger::event("test/slow")),
        move |_input: Input<Value>, step: Step| {
            let started = Arc::clone(&started);
            let runs = Arc::clone(&runs);
            let done = Arc::clone(&done);
            async move {
                step.run("slow", move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    started.notify_one();
                    tokio::time::sleep(step_time).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>("slept".to_owned())
                })
                .await?;
                step.run("after", || async { Ok::<_, Error>("after".to_owned()) })
                    .await?;
                Ok::<_, Error>("finished")
            }
        },
    )
}

/// SIGTERM handling: a drain during a step lets the step finish (its lease is extended while it
/// runs) and delivers its reply before the worker closes;
/// the run then goes on with the next worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_drain_during_a_step_finishes_it_before_the_worker_closes() {
    let server = InngestServer::start(ServerOptions::dev()).await.unwrap();
    let started = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let endpoint = |server: &InngestServer| {
        Endpoint::builder("connect-drain", Client::new(config(server)))
            .function(slow_step(
                "slow",
                // Longer than the gateway's lease-extension interval (30 s on the dev server).
                Duration::from_secs(35),
                Arc::clone(&started),
                Arc::clone(&runs),
                Arc::clone(&done),
            ))
            .build()
            .unwrap()
    };
    let first = ready_worker(&server, connect::connect(endpoint(&server))).await;
    let mut states = first.subscribe();
    let run = start_run(&server, json!({"name": "test/slow", "data": {}})).await;
    tokio::time::timeout(LIMIT, started.notified())
        .await
        .unwrap();
    assert_eq!(first.in_flight(), 1);

    let stop = first.stop_handle();
    stop.stop();
    wait_state(&mut states, WorkerState::Draining).await;
    assert_eq!(done.load(Ordering::SeqCst), 0, "the step is still running");
    tokio::time::timeout(
        Duration::from_secs(60),
        states.wait_for(|s| *s == WorkerState::Closed),
    )
    .await
    .expect("the drained worker closes")
    .unwrap();
    assert_eq!(
        done.load(Ordering::SeqCst),
        1,
        "the step finished before the worker closed"
    );
    let stats = first.stats();
    assert!(
        stats.lease_extensions >= 1,
        "the gateway extended the lease while the 35 s step ran: {stats:?}"
    );
    assert_eq!(stats.replies_acked + stats.replies_flushed, 1, "{stats:?}");
    first.closed().await;

    // The run goes on with a new worker; the slow step is not run again.
    let second = ready_worker(&server, connect::connect(endpoint(&server))).await;
    let (ended, output) = finished(&server, &run).await;
    assert_eq!(ended.status, RunStatus::Completed);
    assert_eq!(output, json!("finished"));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the slow step ran once");
    second.shutdown().await;
}

/// A function that records which worker ran it.
fn tagged(worker: usize, ran: Arc<Mutex<Vec<usize>>>, steps: Arc<AtomicUsize>) -> Function {
    Function::new(
        FunctionOpts::new("tagged").trigger(Trigger::event("test/tagged")),
        move |_input: Input<Value>, step: Step| {
            let ran = Arc::clone(&ran);
            let steps = Arc::clone(&steps);
            async move {
                let by: usize = step
                    .run("work", move || async move {
                        steps.fetch_add(1, Ordering::SeqCst);
                        ran.lock().await.push(worker);
                        // Long enough that the requests of a burst overlap.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok::<_, Error>(worker)
                    })
                    .await?;
                Ok::<_, Error>(by)
            }
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn two_workers_share_the_load() {
    const RUNS: usize = 20;
    let server = InngestServer::start(ServerOptions::dev()).await.unwrap();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let steps = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for n in 0..2 {
        let endpoint = Endpoint::builder("connect-pair", Client::new(config(&server)))
            .function(tagged(n, Arc::clone(&ran), Arc::clone(&steps)))
            .build()
            .unwrap();
        // At most two at a time each: a burst must spill over to the other worker.
        workers.push(ready_worker(&server, connect::connect(endpoint).max_concurrency(2)).await);
    }
    let events: Vec<Value> = (0..RUNS)
        .map(|i| json!({"name": "test/tagged", "data": {"i": i}}))
        .collect();
    let mut run_ids = Vec::new();
    for event in events {
        run_ids.push(start_run(&server, event).await);
    }
    for id in &run_ids {
        let (run, _) = finished(&server, id).await;
        assert_eq!(run.status, RunStatus::Completed);
    }
    let ran = ran.lock().await.clone();
    assert_eq!(
        steps.load(Ordering::SeqCst),
        RUNS,
        "each run's step ran once"
    );
    let by_first = ran.iter().filter(|w| **w == 0).count();
    assert!(
        by_first > 0 && by_first < RUNS,
        "both workers ran steps: {ran:?}"
    );
    for worker in workers {
        worker.shutdown().await;
    }
}

/// Against a signed self-hosted server (`inngest start`): the start request authenticates
/// with the hashed signing key, falling back to the fallback key on 401 (the primary here is
/// a key the server does not know).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_worker_authenticates_to_a_signed_server_with_the_fallback_key() {
    const EVENT_KEY: &str = "connect-event-key";
    let server = InngestServer::start(ServerOptions::self_hosted(
        conformance::SIGNING_KEY,
        EVENT_KEY,
    ))
    .await
    .unwrap();
    let wrong = SigningKey::new("signkey-prod-00112233445566778899aabbccddeeff").unwrap();
    let config = Config::cloud(wrong)
        .with_signing_key_fallback(SigningKey::new(conformance::SIGNING_KEY).unwrap())
        .with_base_url(server.url().clone())
        .with_event_key(EventKey::new(EVENT_KEY));
    let mut builder = Endpoint::builder(conformance::APP_ID, Client::new(config));
    for function in conformance::functions() {
        builder = builder.function(function);
    }
    let worker = ready_worker(&server, connect::connect(builder.build().unwrap())).await;
    let (run, output) = finished(
        &server,
        &start_run(&server, json!({"name": "tests/function.test", "data": {}})).await,
    )
    .await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(output, json!({"body": "ok", "name": "tests/function.test"}));
    worker.shutdown().await;
}

/// Without any key, a signed server refuses the start request: the worker keeps trying and
/// never reports ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Inngest server (INNGEST_BIN, or inngest-cli on PATH); run with: cargo test --workspace --all-features -- --ignored"]
async fn a_signed_server_refuses_a_worker_with_an_unknown_key() {
    let server = InngestServer::start(ServerOptions::self_hosted(
        conformance::SIGNING_KEY,
        "connect-event-key",
    ))
    .await
    .unwrap();
    let wrong = SigningKey::new("signkey-prod-00112233445566778899aabbccddeeff").unwrap();
    let config = Config::cloud(wrong).with_base_url(server.url().clone());
    let endpoint = Endpoint::builder(conformance::APP_ID, Client::new(config))
        .function(conformance::functions().remove(0))
        .build()
        .unwrap();
    let worker = connect::connect(endpoint).start();
    server
        .wait_for("two refused attempts", LIMIT, || async {
            (worker.stats().failed_attempts >= 2).then_some(())
        })
        .await
        .unwrap();
    assert_eq!(worker.stats().connections, 0);
    assert_eq!(worker.state(), WorkerState::Connecting);
    let apps = server.apps().await.unwrap();
    assert!(
        !apps.iter().any(|(name, _, _)| name == conformance::APP_ID),
        "the app was never registered: {apps:?}"
    );
    worker.shutdown().await;
}
