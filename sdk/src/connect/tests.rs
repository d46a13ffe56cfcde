//! The worker's lifecycle against a stand-in gateway on loopback: a start API (axum) and a
//! WebSocket server (tungstenite) that the test drives frame by frame (docs/protocol.md §13).

#![allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use prost::Message as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use super::proto::*;
use super::{ConnectBuilder, Worker, WorkerState, connect};
use crate::{Client, Config, Endpoint, Error, Function, FunctionOpts, Input, Step, Trigger};

const LIMIT: Duration = Duration::from_secs(10);

/// The stand-in: start and flush API, and the gateway's WebSocket.
struct Gateway {
    api: url::Url,
    starts: Arc<Mutex<Vec<StartRequest>>>,
    flushed: mpsc::UnboundedReceiver<SdkResponse>,
    sockets: mpsc::UnboundedReceiver<WebSocketStream<tokio::net::TcpStream>>,
}

impl Gateway {
    async fn start() -> Gateway {
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_url = format!("ws://{}/v0/connect", ws.local_addr().unwrap());
        let (socket_tx, sockets) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                let socket_tx = socket_tx.clone();
                tokio::spawn(async move {
                    if let Ok(socket) =
                        tokio_tungstenite::accept_hdr_async(stream, echo_protocol).await
                    {
                        let _ = socket_tx.send(socket);
                    }
                });
            }
        });
        let starts = Arc::new(Mutex::new(Vec::new()));
        let (flush_tx, flushed) = mpsc::unbounded_channel();
        let recorded = Arc::clone(&starts);
        let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let app = axum::Router::new()
            .route(
                "/v0/connect/start",
                axum::routing::post(move |body: bytes::Bytes| {
                    let recorded = Arc::clone(&recorded);
                    let ws_url = ws_url.clone();
                    let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    async move {
                        recorded
                            .lock()
                            .await
                            .push(StartRequest::decode(body).unwrap());
                        StartResponse {
                            connection_id: format!("conn-{n}"),
                            gateway_endpoint: ws_url,
                            gateway_group: format!("group-{n}"),
                            session_token: "session".into(),
                            sync_token: "sync".into(),
                        }
                        .encode_to_vec()
                    }
                }),
            )
            .route(
                "/v0/connect/flush",
                axum::routing::post(move |body: bytes::Bytes| {
                    let flush_tx = flush_tx.clone();
                    async move {
                        let reply = SdkResponse::decode(body).unwrap();
                        let id = reply.request_id.clone();
                        let _ = flush_tx.send(reply);
                        FlushResponse { request_id: id }.encode_to_vec()
                    }
                }),
            );
        let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = url::Url::parse(&format!("http://{}", api.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(api, app).await });
        Gateway {
            api: api_url,
            starts,
            flushed,
            sockets,
        }
    }

    /// The next socket, through the handshake: hello, the worker's connect, ready with
    /// these intervals. Returns the socket and the worker's connect message.
    async fn accept(&mut self, heartbeat: &str, extend: &str) -> (Conn, WorkerConnectRequestData) {
        self.accept_with_status(heartbeat, extend, "").await
    }

    async fn accept_with_status(
        &mut self,
        heartbeat: &str,
        extend: &str,
        status: &str,
    ) -> (Conn, WorkerConnectRequestData) {
        let socket = tokio::time::timeout(LIMIT, self.sockets.recv())
            .await
            .expect("the worker connects")
            .unwrap();
        let mut conn = Conn { socket };
        conn.send(MessageKind::GatewayHello, Vec::new()).await;
        let connect: WorkerConnectRequestData = conn.expect(MessageKind::WorkerConnect).await;
        let ready = GatewayConnectionReadyData {
            heartbeat_interval: heartbeat.into(),
            extend_lease_interval: extend.into(),
            status_interval: status.into(),
        };
        conn.send(MessageKind::GatewayConnectionReady, ready.encode_to_vec())
            .await;
        let (kind, _) = conn.recv().await;
        assert_eq!(
            kind,
            MessageKind::WorkerReady,
            "the worker says it is ready"
        );
        (conn, connect)
    }
}

/// Answers with the sub-protocol the worker asked for, as the gateway does.
#[allow(
    clippy::result_large_err,
    reason = "the callback's type is tungstenite's"
)]
fn echo_protocol(req: &Request, mut res: Response) -> Result<Response, ErrorResponse> {
    if let Some(p) = req.headers().get("sec-websocket-protocol") {
        res.headers_mut()
            .insert("sec-websocket-protocol", p.clone());
    }
    Ok(res)
}

struct Conn {
    socket: WebSocketStream<tokio::net::TcpStream>,
}

impl Conn {
    async fn send(&mut self, kind: MessageKind, payload: Vec<u8>) {
        let frame = ConnectMessage {
            kind: kind as i32,
            payload,
        };
        self.socket
            .send(Message::binary(frame.encode_to_vec()))
            .await
            .unwrap();
    }

    /// The next frame from the worker, skipping heartbeats.
    async fn recv(&mut self) -> (MessageKind, Vec<u8>) {
        loop {
            match self.next().await {
                Some((MessageKind::WorkerHeartbeat, _)) => {}
                Some(frame) => return frame,
                None => panic!("the worker closed the socket"),
            }
        }
    }

    /// The next frame from the worker (heartbeats skipped), which must be of `kind`;
    /// returns its decoded payload.
    async fn expect<M: prost::Message + Default>(&mut self, kind: MessageKind) -> M {
        let (got, payload) = self.recv().await;
        assert_eq!(got, kind);
        M::decode(payload.as_slice()).unwrap()
    }

    /// The next frame, heartbeats included, must be a heartbeat.
    async fn expect_heartbeat(&mut self) {
        assert_eq!(
            self.next().await.map(|f| f.0),
            Some(MessageKind::WorkerHeartbeat)
        );
    }

    /// The next frame, heartbeats included; `None` when the socket closes.
    async fn next(&mut self) -> Option<(MessageKind, Vec<u8>)> {
        loop {
            let message = tokio::time::timeout(LIMIT, self.socket.next())
                .await
                .expect("a frame from the worker");
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    let frame = ConnectMessage::decode(bytes).unwrap();
                    return Some((frame.kind(), frame.payload));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Waits for the worker's close frame; returns its code and reason.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            let message = tokio::time::timeout(LIMIT, self.socket.next())
                .await
                .expect("a frame from the worker");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Binary(bytes))) => {
                    let frame = ConnectMessage::decode(bytes).unwrap();
                    assert_eq!(
                        frame.kind(),
                        MessageKind::WorkerHeartbeat,
                        "only heartbeats before the close"
                    );
                }
                Some(Ok(_)) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    }

    async fn request(&mut self, id: &str, lease: &str) {
        let request = GatewayExecutorRequestData {
            request_id: id.into(),
            account_id: "acct".into(),
            env_id: "env".into(),
            app_id: "app-uuid".into(),
            app_name: "app".into(),
            function_slug: "app-gated".into(),
            step_id: Some("step".into()),
            request_payload: call_body(id),
            run_id: format!("run-{id}"),
            lease_id: lease.into(),
            ..GatewayExecutorRequestData::default()
        };
        self.send(MessageKind::GatewayExecutorRequest, request.encode_to_vec())
            .await;
    }
}

fn call_body(id: &str) -> Vec<u8> {
    let event = json!({"name": "test/gated", "data": {"id": id}, "id": "e1", "ts": 1});
    serde_json::to_vec(&json!({
        "ctx": {"attempt": 0, "disable_immediate_execution": false, "env": "",
                "fn_id": "uuid", "max_attempts": 1, "run_id": format!("run-{id}"),
                "stack": {"current": 0, "stack": []}, "step_id": "step", "use_api": false},
        "event": event, "events": [event], "steps": {}, "use_api": false, "version": 2
    }))
    .unwrap()
}

/// A function with no steps that waits for the test's go, then returns its event's `id`.
fn gated(go: Arc<Notify>) -> Function {
    Function::new(
        FunctionOpts::new("gated").trigger(Trigger::event("test/gated")),
        move |input: Input<Value>, _step: Step| {
            let go = Arc::clone(&go);
            async move {
                go.notified().await;
                Ok::<_, Error>(input.event.data["id"].clone())
            }
        },
    )
}

fn worker_for(gateway: &Gateway, go: &Arc<Notify>) -> ConnectBuilder {
    let config = Config::dev().with_base_url(gateway.api.clone());
    let endpoint = Endpoint::builder("app", Client::new(config))
        .function(gated(Arc::clone(go)))
        .build()
        .unwrap();
    connect(endpoint).instance_id("test-instance")
}

async fn wait_state(worker: &Worker, state: WorkerState) {
    tokio::time::timeout(LIMIT, worker.subscribe().wait_for(|s| *s == state))
        .await
        .unwrap_or_else(|_| panic!("the worker did not become {state}"))
        .unwrap();
}

#[tokio::test]
async fn a_request_is_acknowledged_its_lease_extended_and_its_reply_acknowledged() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go).max_concurrency(3).start();
    let (mut conn, hello) = gateway.accept("1h", "50ms").await;

    assert_eq!(hello.connection_id, "conn-1");
    assert_eq!(hello.instance_id, "test-instance");
    let auth = hello.auth_data.clone().unwrap();
    assert_eq!(
        (auth.session_token.as_str(), auth.sync_token.as_str()),
        ("session", "sync")
    );
    assert!(hello.worker_manual_readiness_ack);
    assert_eq!(hello.max_worker_concurrency, Some(3));
    assert_eq!(
        (hello.sdk_language.as_str(), hello.framework.as_str()),
        ("rust", "connect")
    );
    let capabilities: Value = serde_json::from_slice(&hello.capabilities).unwrap();
    assert_eq!(capabilities["connect"], "v1");
    assert_eq!(hello.apps.len(), 1);
    assert_eq!(hello.apps[0].app_name, "app");
    let functions: Value = serde_json::from_slice(&hello.apps[0].functions).unwrap();
    assert_eq!(functions[0]["id"], "app-gated");
    assert_eq!(functions[0]["steps"]["step"]["runtime"]["type"], "ws");
    assert_eq!(
        functions[0]["steps"]["step"]["runtime"]["url"],
        "wss://connect/?fnId=app-gated&stepId=step"
    );
    wait_state(&worker, WorkerState::Ready).await;

    conn.request("r1", "lease-1").await;
    let ack: WorkerRequestAckData = conn.expect(MessageKind::WorkerRequestAck).await;
    assert_eq!(
        (ack.request_id.as_str(), ack.run_id.as_str()),
        ("r1", "run-r1")
    );
    assert_eq!(ack.function_slug, "app-gated");
    assert_eq!(worker.in_flight(), 1);

    // While the function waits, the lease is extended with the latest lease id.
    let extend: WorkerRequestExtendLeaseData =
        conn.expect(MessageKind::WorkerRequestExtendLease).await;
    assert_eq!(extend.lease_id, "lease-1");
    let granted = WorkerRequestExtendLeaseAckData {
        request_id: "r1".into(),
        new_lease_id: Some("lease-2".into()),
        ..WorkerRequestExtendLeaseAckData::default()
    };
    conn.send(
        MessageKind::WorkerRequestExtendLeaseAck,
        granted.encode_to_vec(),
    )
    .await;
    let lease = loop {
        let extend: WorkerRequestExtendLeaseData =
            conn.expect(MessageKind::WorkerRequestExtendLease).await;
        if extend.lease_id != "lease-1" {
            break extend.lease_id;
        }
    };
    assert_eq!(lease, "lease-2");

    go.notify_one();
    let reply = loop {
        let (kind, payload) = conn.recv().await;
        if kind == MessageKind::WorkerReply {
            break SdkResponse::decode(payload.as_slice()).unwrap();
        }
        assert_eq!(kind, MessageKind::WorkerRequestExtendLease);
    };
    assert_eq!(reply.request_id, "r1");
    assert_eq!(reply.status(), SdkResponseStatus::Done);
    assert_eq!(reply.body, br#""r1""#);
    assert_eq!(
        (reply.account_id.as_str(), reply.run_id.as_str()),
        ("acct", "run-r1")
    );
    conn.send(
        MessageKind::WorkerReplyAck,
        WorkerReplyAckData {
            request_id: "r1".into(),
        }
        .encode_to_vec(),
    )
    .await;
    tokio::time::timeout(LIMIT, async {
        while worker.stats().replies_acked == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let stats = worker.stats();
    assert_eq!((stats.requests, stats.replies_flushed), (1, 0));
    assert!(stats.lease_extensions >= 1);
    assert_eq!(worker.in_flight(), 0);
}

#[tokio::test]
async fn gateway_closing_moves_to_a_new_gateway_without_losing_the_request_in_flight() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go).start();
    let (mut first, _) = gateway.accept("1h", "1h").await;
    first.request("r1", "lease-1").await;
    assert_eq!(first.recv().await.0, MessageKind::WorkerRequestAck);

    first.send(MessageKind::GatewayClosing, Vec::new()).await;
    let (mut second, hello) = gateway.accept("1h", "1h").await;
    assert_eq!(hello.connection_id, "conn-2");
    let starts = gateway.starts.lock().await.clone();
    assert_eq!(starts.len(), 2);
    assert!(starts[0].exclude_gateways.is_empty());
    assert_eq!(
        starts[1].exclude_gateways,
        vec!["group-1".to_owned()],
        "the closing gateway is excluded"
    );
    // The old socket is closed once the new one is ready.
    assert_eq!(first.closed().await, (1000, "WORKER_SHUTDOWN".to_owned()));
    assert_eq!(worker.state(), WorkerState::Ready);

    // The request that arrived on the old socket replies on the new one.
    go.notify_one();
    let reply: SdkResponse = second.expect(MessageKind::WorkerReply).await;
    assert_eq!(reply.request_id, "r1");
}

#[tokio::test]
async fn unanswered_heartbeats_make_the_worker_reconnect() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go).start();
    let (mut first, _) = gateway.accept("100ms", "1h").await;
    // Two heartbeats, never answered; then the worker gives up on this socket.
    for _ in 0..2 {
        first.expect_heartbeat().await;
    }
    let (_second, hello) = gateway.accept("1h", "1h").await;
    assert_eq!(hello.connection_id, "conn-2");
    wait_state(&worker, WorkerState::Ready).await;
    assert_eq!(worker.stats().connections, 2);
}

#[tokio::test]
async fn answered_heartbeats_keep_the_connection() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go).start();
    let (mut conn, _) = gateway.accept("50ms", "1h").await;
    for _ in 0..6 {
        conn.expect_heartbeat().await;
        conn.send(MessageKind::GatewayHeartbeat, Vec::new()).await;
    }
    assert_eq!(worker.stats().connections, 1);
    assert_eq!(worker.state(), WorkerState::Ready);
}

#[tokio::test]
async fn a_drain_pauses_finishes_the_request_in_flight_then_closes() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go).start();
    let (mut conn, _) = gateway.accept("1h", "1h").await;
    conn.request("r1", "lease-1").await;
    assert_eq!(conn.recv().await.0, MessageKind::WorkerRequestAck);

    let stop = worker.stop_handle();
    stop.stop();
    assert_eq!(conn.recv().await.0, MessageKind::WorkerPause);
    wait_state(&worker, WorkerState::Draining).await;
    // A request that arrives while draining is not taken.
    conn.request("r2", "lease-2").await;
    go.notify_one();
    let (kind, payload) = conn.recv().await;
    assert_eq!(
        kind,
        MessageKind::WorkerReply,
        "no ack for r2, the reply of r1"
    );
    assert_eq!(
        SdkResponse::decode(payload.as_slice()).unwrap().request_id,
        "r1"
    );
    assert_eq!(
        worker.state(),
        WorkerState::Draining,
        "the reply is not acknowledged yet"
    );
    conn.send(
        MessageKind::WorkerReplyAck,
        WorkerReplyAckData {
            request_id: "r1".into(),
        }
        .encode_to_vec(),
    )
    .await;
    assert_eq!(conn.closed().await, (1000, "WORKER_SHUTDOWN".to_owned()));
    wait_state(&worker, WorkerState::Closed).await;
    assert_eq!(worker.stats().requests, 1);
    worker.closed().await;
}

#[tokio::test]
async fn a_reply_without_an_ack_or_a_socket_goes_to_the_flush_api() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go)
        .reply_ack_timeout(Duration::from_millis(100))
        .start();
    let (mut conn, _) = gateway.accept("1h", "1h").await;

    // Sent, never acknowledged: flushed.
    conn.request("r1", "lease-1").await;
    assert_eq!(conn.recv().await.0, MessageKind::WorkerRequestAck);
    go.notify_one();
    assert_eq!(conn.recv().await.0, MessageKind::WorkerReply);
    let flushed = tokio::time::timeout(LIMIT, gateway.flushed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flushed.request_id, "r1");
    assert_eq!(flushed.status(), SdkResponseStatus::Done);

    // The socket is gone when the function returns: flushed, and the worker reconnects.
    conn.request("r2", "lease-2").await;
    assert_eq!(conn.recv().await.0, MessageKind::WorkerRequestAck);
    drop(conn);
    wait_state(&worker, WorkerState::Connecting).await;
    go.notify_one();
    let flushed = tokio::time::timeout(LIMIT, gateway.flushed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flushed.request_id, "r2");
    assert_eq!(flushed.body, br#""r2""#);
    let (_conn, hello) = gateway.accept("1h", "1h").await;
    assert_eq!(hello.connection_id, "conn-2");
    assert_eq!(worker.stats().replies_flushed, 2);
}

#[tokio::test]
async fn a_stop_while_connecting_with_nothing_in_flight_closes_at_once() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go)
        .handshake_timeout(Duration::from_secs(3600))
        .start();
    // The gateway takes the socket and never says hello: the handshake would wait an hour.
    let _silent = tokio::time::timeout(LIMIT, gateway.sockets.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(worker.state(), WorkerState::Connecting);
    tokio::time::timeout(LIMIT, worker.shutdown())
        .await
        .expect("the stop does not wait for the handshake");
}

#[tokio::test]
async fn an_unreachable_gateway_is_retried_until_it_answers() {
    // Start answers, but nothing listens at the gateway URL it names at first.
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere =
        url::Url::parse(&format!("ws://{}/v0/connect", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let worker = worker_for(&gateway, &go).gateway_url(nowhere).start();
    // Two failed attempts (the first retry waits 0.5 to 1 s): the worker keeps trying.
    tokio::time::timeout(LIMIT, async {
        while gateway.starts.lock().await.len() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(worker.state(), WorkerState::Connecting);
    assert!(gateway.sockets.try_recv().is_err());
    assert_eq!(worker.stats().connections, 0);
    assert!(worker.stats().failed_attempts >= 1);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_gateway_that_drops_new_connections_is_retried_with_backoff() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go).start();
    let (first, _) = gateway.accept("1h", "1h").await;
    drop(first);
    let dropped = tokio::time::Instant::now();
    // A connection lost right after it was made counts as a failed attempt: the next one
    // waits the first backoff step (0.5 to 1 s), not zero.
    let (second, hello) = gateway.accept("1h", "1h").await;
    assert!(
        dropped.elapsed() >= Duration::from_millis(500),
        "reconnected after {:?}",
        dropped.elapsed()
    );
    assert_eq!(hello.connection_id, "conn-2");
    wait_state(&worker, WorkerState::Ready).await;
    drop(second);
}

#[tokio::test]
async fn status_reports_name_the_requests_in_flight_when_the_gateway_asks_for_them() {
    let mut gateway = Gateway::start().await;
    let go = Arc::new(Notify::new());
    let worker = worker_for(&gateway, &go).start();
    let (mut conn, _) = gateway.accept_with_status("1h", "1h", "50ms").await;
    conn.request("r1", "lease-1").await;
    assert_eq!(conn.recv().await.0, MessageKind::WorkerRequestAck);
    let status = loop {
        let status: WorkerStatusData = conn.expect(MessageKind::WorkerStatus).await;
        if !status.in_flight_request_ids.is_empty() {
            break status;
        }
    };
    assert_eq!(status.in_flight_request_ids, vec!["r1".to_owned()]);
    assert!(!status.shutdown_requested);
    worker.stop_handle().stop();
    let status = loop {
        let (kind, payload) = conn.recv().await;
        if kind == MessageKind::WorkerStatus {
            let status = WorkerStatusData::decode(payload.as_slice()).unwrap();
            if status.shutdown_requested {
                break status;
            }
        } else {
            assert_eq!(kind, MessageKind::WorkerPause);
        }
    };
    assert_eq!(status.in_flight_request_ids, vec!["r1".to_owned()]);
    go.notify_one();
}
