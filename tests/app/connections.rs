//! Connection hygiene (issue 17), as a peer sees it on loopback: a slow-header client is
//! closed at the header-read timeout, an idle keep-alive connection at the idle timeout,
//! connections beyond the cap are answered 503 and closed, and the real binary under a low
//! open-file limit survives a flood of idle connections and still serves Stripe.
//!
//! Every wait is a deadline on something the peer observes (a response, a closed socket),
//! never a sleep standing in for one.

use std::time::{Duration, Instant};

use huckleberry::webhooks::{WebhookSecret, stripe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::Binary;
use crate::support::spawn_app;

const STRIPE_FIXTURE: &[u8] = include_bytes!("../fixtures/stripe-checkout.session.completed.json");
const STRIPE_SECRET: &str = "whsec_connections_test";

/// `http://host:port` → `host:port`.
fn authority(address: &str) -> &str {
    address.trim_start_matches("http://")
}

/// Reads until the peer closes the connection (end of file or reset), or `limit` passes.
/// Returns what was read and when the connection closed (`None`: still open at `limit`).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Instant>) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return (received, None),
            Ok(Ok(0) | Err(_)) => return (received, Some(Instant::now())),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// One raw `GET` with `Connection: close`; the whole response.
async fn get_raw(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("request");
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "the response ends");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_slow_header_client_is_closed_at_the_header_read_timeout() {
    let app = spawn_app(&[
        ("HEADER_READ_TIMEOUT_SECS", "1"),
        ("KEEP_ALIVE_IDLE_SECS", "60"),
    ])
    .await;
    let mut stream = TcpStream::connect(authority(&app.address))
        .await
        .expect("connect");
    let opened = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("request line");

    // One header line every 200 ms, as a slow-loris client sends them, for up to 5 s: the
    // connection is never idle, but its head never ends.
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    let mut buffer = [0u8; 1024];
    let mut received = Vec::new();
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let closed = loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break None,
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break Some(Instant::now()),
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            },
            _ = ticks.tick() => {
                sent += 1;
                if stream.write_all(format!("X-Slow-{sent}: {sent}\r\n").as_bytes()).await.is_err() {
                    break Some(Instant::now());
                }
            }
        }
    };

    let closed = closed.expect("the server closed the slow connection within 5 s");
    let after = closed - opened;
    eprintln!("slow headers: closed after {after:?}, {sent} header lines sent");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(2500),
        "closed {after:?} after opening, at the 1 s header timeout"
    );
    assert!(sent >= 4, "header lines kept coming: {sent}");
    assert!(
        received.is_empty(),
        "no response to an unfinished request: {}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_but_not_a_busy_one() {
    let app = spawn_app(&[
        ("HEADER_READ_TIMEOUT_SECS", "30"),
        ("KEEP_ALIVE_IDLE_SECS", "1"),
    ])
    .await;
    let mut stream = TcpStream::connect(authority(&app.address))
        .await
        .expect("connect");

    // Busy: a request every 400 ms for 2.4 s, all on this one connection, longer than the
    // idle timeout in total but never idle for as long.
    for n in 0..6 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("request on the kept-alive connection");
        let mut response = Vec::new();
        let mut buffer = [0u8; 1024];
        while !response.ends_with(b"\r\n\r\nok") {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
                .await
                .expect("a response within 5 s")
                .expect("read");
            assert!(n > 0, "the connection stayed open");
            response.extend_from_slice(&buffer[..n]);
        }
        assert!(response.starts_with(b"HTTP/1.1 200"), "request {n}");
        if n < 5 {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }

    // Idle: nothing more is sent; the server closes after about 1 s, long before the 30 s
    // header-read timeout could.
    let idle_from = Instant::now();
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let closed = closed.expect("the idle connection was closed");
    let after = closed - idle_from;
    eprintln!("idle keep-alive: closed {after:?} after the last response");
    assert!(received.is_empty(), "nothing but the close");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "closed {after:?} after the last response, at the 1 s idle timeout"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_are_answered_503_and_closed() {
    let app = spawn_app(&[("MAX_CONNECTIONS", "3"), ("KEEP_ALIVE_IDLE_SECS", "60")]).await;
    let address = authority(&app.address).to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&address).await.expect("connect"));
    }

    let mut beyond = TcpStream::connect(&address).await.expect("connect");
    let (response, closed) = read_until_closed(&mut beyond, Duration::from_secs(5)).await;

    assert!(closed.is_some(), "the refused connection is closed");
    let response = String::from_utf8_lossy(&response).to_ascii_lowercase();
    assert!(response.starts_with("http/1.1 503"), "{response}");
    assert!(response.contains("connection: close"), "{response}");
    assert!(response.contains("retry-after: 1"), "{response}");
    assert!(
        response.contains("x-content-type-options: nosniff"),
        "{response}"
    );
    for stream in &mut held {
        let (data, closed) = read_until_closed(stream, Duration::from_millis(200)).await;
        assert!(
            data.is_empty() && closed.is_none(),
            "the 3 within the cap are held"
        );
    }

    // One of the three leaves: a new connection is served again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = get_raw(&address, "/healthz").await;
        if response.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(Instant::now() < deadline, "a freed slot serves again");
    }
}

/// The binary under `prlimit --nofile=<soft>:<hard>`, Stripe configured, Inngest at
/// `inngest`, idle connections held for a minute; with its start-up log lines.
fn start_under_prlimit(
    nofile: &str,
    inngest: &inngest_sdk::testing::FakeExecutor,
) -> (Binary, String, serde_json::Value) {
    let base = inngest.url().to_string();
    let env = [
        ("INNGEST_DEV", "1"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("INNGEST_BASE_URL", base.as_str()),
        ("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET),
        ("MENTORSHIP_CATALOG", "price_1QxOneOnOne2026=one_on_one"),
        ("HEADER_READ_TIMEOUT_SECS", "60"),
        ("KEEP_ALIVE_IDLE_SECS", "60"),
        ("RUST_LOG", "info"),
    ];
    let binary = Binary::start_wrapped(&["prlimit", &format!("--nofile={nofile}")], &[], &env);
    let (address, _) = binary.wait_listening(Duration::from_secs(30));
    let address = address.expect("the binary logs its address");
    let limits = loop {
        let line = binary.next_log();
        let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if json["message"] == "connection limits" {
            break json;
        }
    };
    (binary, address, limits)
}

/// A signed Stripe delivery on its own connection; the status.
async fn deliver_stripe(address: &str) -> u16 {
    let signature = stripe::sign_for_test(
        &WebhookSecret::new(STRIPE_SECRET),
        STRIPE_FIXTURE,
        chrono::Utc::now().timestamp(),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    http.post(format!("http://{address}/api/stripe/webhook"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(STRIPE_FIXTURE)
        .send()
        .await
        .expect("the delivery is answered")
        .status()
        .as_u16()
}

/// Open file descriptors of a process.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process is alive")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_under_a_256_file_limit_leaves_the_binary_serving() {
    // The test itself holds about 500 sockets: room for them under a low soft limit.
    huckleberry::serve::raise_open_file_limit();
    let inngest = inngest_sdk::testing::FakeExecutor::start().await;
    let (mut binary, address, limits) =
        tokio::task::block_in_place(|| start_under_prlimit("256:256", &inngest));
    let cap =
        usize::try_from(limits["max_connections"].as_u64().expect("the cap")).expect("a small cap");
    assert_eq!(cap, 256 - 64, "the cap is fitted under the open-file limit");

    // Idle connections up to 8 short of the cap: requests are still served meanwhile.
    let mut flood = Vec::new();
    for _ in 0..cap - 8 {
        flood.push(TcpStream::connect(&address).await.expect("connect"));
    }
    assert!(
        get_raw(&address, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert_eq!(
        deliver_stripe(&address).await,
        200,
        "within the cap, during the flood"
    );

    // Up to the cap and 300 past it, in a burst: every connection past the cap is answered
    // 503 and closed, none is held.
    for _ in 0..8 + 300 {
        flood.push(
            TcpStream::connect(&address)
                .await
                .expect("the kernel accepts"),
        );
    }
    let peak_files = open_files(binary.id());
    let mut readers = tokio::task::JoinSet::new();
    for (n, mut stream) in flood.into_iter().enumerate() {
        readers.spawn(async move {
            let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
            (n, response, closed.is_some(), stream)
        });
    }
    let (mut held, mut answered_503) = (Vec::new(), 0);
    while let Some(joined) = readers.join_next().await {
        let (n, response, closed, stream) = joined.expect("reader");
        if !closed {
            assert!(response.is_empty(), "a held connection got nothing");
            held.push((n, stream));
        } else {
            let text = String::from_utf8_lossy(&response);
            assert!(text.starts_with("HTTP/1.1 503"), "connection {n}: {text}");
            assert!(text.contains("connection: close"), "{text}");
            answered_503 += 1;
        }
    }
    eprintln!(
        "flood under nofile 256: cap {cap}; {} connections held, {answered_503} answered 503 \
         and closed; peak {peak_files} open files in the binary",
        held.len()
    );
    // The requests above closed their connections; the app may notice a moment later, so
    // up to those two slots may still be taken when the flood arrives.
    assert!(
        (cap - 2..=cap).contains(&held.len()),
        "the cap is held, no more: {}",
        held.len()
    );
    assert!(
        (0..cap - 8).all(|n| held.iter().any(|(h, _)| *h == n)),
        "the first connections are the ones held"
    );
    assert_eq!(held.len() + answered_503, cap + 300);
    assert!(peak_files <= 256, "{peak_files}");
    assert!(binary.is_running(), "the binary is still running");

    // The flood stops: the binary serves again, Stripe included.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !get_raw(&address, "/healthz")
        .await
        .starts_with("HTTP/1.1 200")
    {
        assert!(Instant::now() < deadline, "serving again after the flood");
    }
    assert_eq!(deliver_stripe(&address).await, 200, "after the flood");
    assert_eq!(inngest.events_named("purchase/mentorship").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_raises_its_soft_open_file_limit_to_the_hard_one() {
    let inngest = inngest_sdk::testing::FakeExecutor::start().await;
    let (binary, _address, limits) =
        tokio::task::block_in_place(|| start_under_prlimit("128:1024", &inngest));

    let limits_file = std::fs::read_to_string(format!("/proc/{}/limits", binary.id()))
        .expect("the process is alive");
    let open_files = limits_file
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("the open-file limit");
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["1024", "1024"], "{open_files}");
    assert_eq!(limits["max_connections"], 1024 - 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_idle_connections_at_once_and_the_binary_exits_well_within_the_grace() {
    let env = [
        ("INNGEST_DEV", "1"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("HEADER_READ_TIMEOUT_SECS", "60"),
        ("KEEP_ALIVE_IDLE_SECS", "60"),
    ];
    let mut binary = Binary::start(&env);
    let (address, _) =
        tokio::task::block_in_place(|| binary.wait_listening(Duration::from_secs(30)));
    let address = address.expect("the binary logs its address");
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&address).await.expect("connect"));
    }
    // And one kept alive after a request.
    let mut kept = TcpStream::connect(&address).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).await.expect("a response");
    assert_eq!(&head, b"HTTP/1.1 200");
    idle.push(kept);

    let signalled = Instant::now();
    binary.terminate();

    for stream in &mut idle {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "an idle connection is closed on SIGTERM");
    }
    let exit = tokio::task::block_in_place(|| binary.wait_exit(Duration::from_secs(10)));
    let took = signalled.elapsed();
    eprintln!("SIGTERM with 21 idle connections: exited after {took:?}");
    assert!(exit.success(), "{exit:?}");
    assert!(
        took < Duration::from_secs(5),
        "idle connections do not hold the 25 s grace: {took:?}"
    );
}
