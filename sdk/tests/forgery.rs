//! Forgery never runs code (issue 7.1): property tests over the serve endpoint in cloud mode.
//!
//! Random and mutated bodies, signature headers, keys and timestamps are thrown at
//! `POST /api/inngest`; the function's code and its step each bump a counter, and both must
//! stay at zero unless the request carries a valid signature over its exact bytes. The
//! control property shows that a valid signature does run the code, so the counters would
//! notice. Each property tries [`CASES`] cases.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{Method, Request};
use inngest_sdk::{
    Client, Clock, Config, Endpoint, Error, Function, FunctionOpts, Input, SigningKey, Step,
    Trigger,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Cases per property: enough to cover every mutation kind many times, small enough that
/// the whole file runs in a few seconds.
const CASES: u32 = 256;

const KEY: &str = "signkey-prod-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";
const FALLBACK: &str =
    "signkey-prod-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const URI: &str = "/api/inngest?fnId=app-guarded&stepId=step";
/// The endpoint's fixed "now", so the ±300 s window is tested to the second.
const NOW: i64 = 1_780_000_000;

/// Counts how often the function body and its step ran.
#[derive(Default)]
struct Counters {
    handler: AtomicUsize,
    step: AtomicUsize,
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(NOW, 0).expect("a valid time")
    }
}

/// The app under attack: one function whose body and one step each count their runs.
struct Target {
    endpoint: Endpoint,
    counters: Arc<Counters>,
    runtime: tokio::runtime::Runtime,
}

impl Target {
    fn new(with_fallback: bool) -> Target {
        let counters = Arc::new(Counters::default());
        let seen = Arc::clone(&counters);
        let function = Function::new(
            FunctionOpts::new("guarded").trigger(Trigger::event("demo/event")),
            move |_input: Input<Value>, step: Step| {
                let seen = Arc::clone(&seen);
                seen.handler.fetch_add(1, Ordering::SeqCst);
                async move {
                    step.run("effect", move || async move {
                        seen.step.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(())
                    })
                    .await?;
                    Ok::<_, Error>("done")
                }
            },
        );
        let mut config = Config::cloud(key(KEY));
        if with_fallback {
            config = config.with_signing_key_fallback(key(FALLBACK));
        }
        let endpoint = Endpoint::builder("app", Client::new(config).with_send_attempts(1))
            .function(function)
            .clock(Arc::new(FixedClock))
            .build()
            .expect("endpoint");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Target {
            endpoint,
            counters,
            runtime,
        }
    }

    /// POSTs `body` with this `X-Inngest-Signature` (none when `None`); returns the status.
    fn post(&self, body: Vec<u8>, signature: Option<&str>) -> u16 {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(URI)
            .header("host", "app.example.com")
            .header("content-type", "application/json");
        if let Some(signature) = signature {
            request = request.header("x-inngest-signature", signature);
        }
        let request = request.body(Bytes::from(body)).expect("request");
        self.runtime
            .block_on(self.endpoint.handle(request))
            .status()
            .as_u16()
    }
}

thread_local! {
    // One app per test thread (each property runs on its own thread): building an endpoint
    // and a runtime per case would dominate the run time. Counters only ever grow, so a
    // property checks them before and after each case.
    static WITH_FALLBACK: Target = Target::new(true);
    static PRIMARY_ONLY: Target = Target::new(false);
}

/// Runs `case` against the endpoint with (or without) the fallback key configured, and
/// returns how many times user code (body or step) ran during it.
fn with_target<T>(fallback: bool, case: impl FnOnce(&Target) -> T) -> (T, usize, usize) {
    let run = |target: &Target| {
        let handler = target.counters.handler.load(Ordering::SeqCst);
        let step = target.counters.step.load(Ordering::SeqCst);
        let out = case(target);
        (
            out,
            target.counters.handler.load(Ordering::SeqCst) - handler,
            target.counters.step.load(Ordering::SeqCst) - step,
        )
    };
    if fallback {
        WITH_FALLBACK.with(run)
    } else {
        PRIMARY_ONLY.with(run)
    }
}

fn key(k: &str) -> SigningKey {
    SigningKey::new(k).expect("key")
}

/// A call request as the executor sends it, for an event with `data`.
fn call(data: &Value) -> Vec<u8> {
    let event = json!({"name": "demo/event", "data": data, "id": "e1", "ts": 1, "user": {}});
    serde_json::to_vec(&json!({
        "ctx": {"attempt": 0, "disable_immediate_execution": false, "env": "prod",
                "fn_id": "uuid", "max_attempts": 3, "run_id": "01JRUN",
                "stack": {"current": 0, "stack": []}, "use_api": false},
        "event": event, "events": [event], "steps": {}, "use_api": false, "version": 2
    }))
    .expect("json")
}

/// Small JSON values for event data.
fn data() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9 _\\-\"\\\\é]{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A different body: one bit flipped, truncated, extended, or a byte replaced.
#[derive(Debug, Clone)]
enum BodyMutation {
    FlipBit { index: usize, bit: u8 },
    Truncate { keep: usize },
    Append(Vec<u8>),
    Replace { index: usize, byte: u8 },
}

fn body_mutation() -> impl Strategy<Value = BodyMutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(index, bit)| BodyMutation::FlipBit { index, bit }),
        any::<usize>().prop_map(|keep| BodyMutation::Truncate { keep }),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(BodyMutation::Append),
        (any::<usize>(), any::<u8>())
            .prop_map(|(index, byte)| BodyMutation::Replace { index, byte }),
    ]
}

impl BodyMutation {
    /// The mutated body, or `None` when the mutation happens to change nothing.
    fn apply(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut out = body.to_vec();
        match self {
            BodyMutation::FlipBit { index, bit } => out[index % body.len()] ^= 1 << bit,
            BodyMutation::Truncate { keep } => out.truncate(keep % body.len()),
            BodyMutation::Append(extra) => out.extend_from_slice(extra),
            BodyMutation::Replace { index, byte } => out[index % body.len()] = *byte,
        }
        (out != body).then_some(out)
    }
}

/// A different signature header: a bit of the MAC flipped, a timestamp digit changed, the
/// value truncated, or the MAC in upper case with a character dropped.
#[derive(Debug, Clone)]
enum HeaderMutation {
    FlipMacBit { index: usize, bit: u8 },
    ShiftTimestamp(i64),
    Truncate { keep: usize },
    SwapMacForRandom([u8; 32]),
}

fn header_mutation() -> impl Strategy<Value = HeaderMutation> {
    prop_oneof![
        (0usize..32, 0u8..8).prop_map(|(index, bit)| HeaderMutation::FlipMacBit { index, bit }),
        prop_oneof![-10_000i64..0, 1i64..10_000].prop_map(HeaderMutation::ShiftTimestamp),
        any::<usize>().prop_map(|keep| HeaderMutation::Truncate { keep }),
        any::<[u8; 32]>().prop_map(HeaderMutation::SwapMacForRandom),
    ]
}

impl HeaderMutation {
    fn apply(&self, t: i64, mac: &[u8; 32]) -> Option<String> {
        let header = |t: i64, mac: &[u8]| format!("t={t}&s={}", hex::encode(mac));
        match self {
            HeaderMutation::FlipMacBit { index, bit } => {
                let mut mac = *mac;
                mac[*index] ^= 1 << bit;
                Some(header(t, &mac))
            }
            HeaderMutation::ShiftTimestamp(by) => Some(header(t + by, mac)),
            HeaderMutation::Truncate { keep } => {
                let full = header(t, mac);
                let keep = keep % full.len();
                Some(full[..keep].to_owned())
            }
            HeaderMutation::SwapMacForRandom(other) => (other != mac).then(|| header(t, other)),
        }
    }
}

/// The MAC bytes of a header value produced by `SigningKey::sign`.
fn mac_of(header: &str) -> [u8; 32] {
    let hex_mac = header.split("&s=").nth(1).expect("s=");
    let mut mac = [0; 32];
    hex::decode_to_slice(hex_mac, &mut mac).expect("64 hex");
    mac
}

/// A signing key unlike the configured ones: random secret, any `signkey-<env>-` prefix.
fn other_key() -> impl Strategy<Value = SigningKey> {
    (
        prop_oneof![
            Just("signkey-prod-".to_owned()),
            Just("signkey-test-".to_owned()),
            Just("signkey-branch-".to_owned()),
            "signkey-[a-z0-9_]{1,10}-",
            Just(String::new()),
        ],
        any::<[u8; 32]>(),
    )
        .prop_map(|(prefix, secret)| key(&format!("{prefix}{}", hex::encode(secret))))
        .prop_filter("not a configured secret", |k| {
            let printed = k.sign(b"probe", NOW);
            printed != key(KEY).sign(b"probe", NOW) && printed != key(FALLBACK).sign(b"probe", NOW)
        })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bodies_with_random_signature_headers_run_nothing(
        body in prop::collection::vec(any::<u8>(), 0..512),
        header in prop_oneof![
            Just(None),
            "[ -~]{0,120}".prop_map(Some),
            (any::<u32>(), any::<[u8; 32]>())
                .prop_map(|(t, mac)| Some(format!("t={t}&s={}", hex::encode(mac)))),
            (NOW - 300..=NOW + 300, any::<[u8; 32]>())
                .prop_map(|(t, mac)| Some(format!("s={}&t={t}", hex::encode(mac)))),
        ],
    ) {
        let (status, handler, step) = with_target(true, |t| t.post(body, header.as_deref()));
        prop_assert_eq!(status, 401);
        prop_assert_eq!(handler + step, 0);
    }

    #[test]
    fn a_signed_call_with_a_mutated_body_runs_nothing(
        data in data(),
        t in NOW - 300..=NOW + 300,
        mutation in body_mutation(),
        fallback in any::<bool>(),
    ) {
        let body = call(&data);
        let signature = key(if fallback { FALLBACK } else { KEY }).sign(&body, t);
        let Some(mutated) = mutation.apply(&body) else { return Ok(()) };
        let (status, handler, step) = with_target(true, |t| t.post(mutated, Some(&signature)));
        prop_assert_eq!(status, 401);
        prop_assert_eq!(handler + step, 0);
    }

    #[test]
    fn a_call_with_a_mutated_signature_runs_nothing(
        data in data(),
        t in NOW - 290..=NOW + 290,
        mutation in header_mutation(),
    ) {
        let body = call(&data);
        let mac = mac_of(&key(KEY).sign(&body, t));
        let Some(header) = mutation.apply(t, &mac) else { return Ok(()) };
        let (status, handler, step) = with_target(true, |t| t.post(body, Some(&header)));
        prop_assert_eq!(status, 401);
        prop_assert_eq!(handler + step, 0);
    }

    #[test]
    fn a_call_signed_with_any_other_key_runs_nothing(
        data in data(),
        t in NOW - 300..=NOW + 300,
        other in other_key(),
    ) {
        let body = call(&data);
        let signature = other.sign(&body, t);
        let (status, handler, step) = with_target(true, |t| t.post(body, Some(&signature)));
        prop_assert_eq!(status, 401);
        prop_assert_eq!(handler + step, 0);
    }

    #[test]
    fn the_fallback_key_runs_nothing_unless_it_is_configured(
        data in data(),
        t in NOW - 300..=NOW + 300,
    ) {
        let body = call(&data);
        let signature = key(FALLBACK).sign(&body, t);
        let (status, handler, step) = with_target(false, |t| t.post(body, Some(&signature)));
        prop_assert_eq!(status, 401);
        prop_assert_eq!(handler + step, 0);
    }

    #[test]
    fn a_valid_signature_outside_the_five_minute_window_runs_nothing(
        data in data(),
        t in prop_oneof![
            NOW + 301..=NOW + 1_000_000,
            NOW - 1_000_000..=NOW - 301,
            Just(NOW + 301),
            Just(NOW - 301),
            0i64..=i64::MAX,
        ].prop_filter("outside the window", |t| NOW.abs_diff(*t) > 300),
        fallback in any::<bool>(),
    ) {
        let body = call(&data);
        let signature = key(if fallback { FALLBACK } else { KEY }).sign(&body, t);
        let (status, handler, step) = with_target(true, |t| t.post(body, Some(&signature)));
        prop_assert_eq!(status, 401);
        prop_assert_eq!(handler + step, 0);
    }

    #[test]
    fn a_valid_signature_over_the_exact_bytes_runs_the_function_and_its_step(
        data in data(),
        t in NOW - 300..=NOW + 300,
        fallback in any::<bool>(),
    ) {
        let body = call(&data);
        let signature = key(if fallback { FALLBACK } else { KEY }).sign(&body, t);
        // Discovery with immediate execution: the step runs and is reported (206).
        let (status, handler, step) = with_target(true, |t| t.post(body, Some(&signature)));
        prop_assert_eq!(status, 206);
        prop_assert_eq!(handler, 1);
        prop_assert_eq!(step, 1);
    }
}
