//! The Connect wire messages (docs/protocol.md §13.2), defined from their field numbers with
//! `prost` derives. Every WebSocket frame is a binary [`ConnectMessage`]; its `payload` is
//! one of the other messages, chosen by `kind`. Fields this SDK never reads or writes are
//! left out: protobuf skips unknown fields when decoding.

#![allow(missing_docs, unreachable_pub)]

/// `kind` of a [`ConnectMessage`]: who sends it and what its payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MessageKind {
    /// Gateway → worker, first frame; empty payload.
    GatewayHello = 0,
    /// Worker → gateway: [`WorkerConnectRequestData`].
    WorkerConnect = 1,
    /// Gateway → worker: [`GatewayConnectionReadyData`].
    GatewayConnectionReady = 2,
    /// Gateway → worker: [`GatewayExecutorRequestData`].
    GatewayExecutorRequest = 3,
    /// Worker → gateway: ready for requests (after a manual readiness handshake); empty.
    WorkerReady = 4,
    /// Worker → gateway: [`WorkerRequestAckData`].
    WorkerRequestAck = 5,
    /// Worker → gateway: [`SdkResponse`].
    WorkerReply = 6,
    /// Gateway → worker: [`WorkerReplyAckData`].
    WorkerReplyAck = 7,
    /// Worker → gateway: send no more requests; empty.
    WorkerPause = 8,
    /// Worker → gateway; empty.
    WorkerHeartbeat = 9,
    /// Gateway → worker, the answer to a worker heartbeat; empty.
    GatewayHeartbeat = 10,
    /// Gateway → worker: the gateway is going away, connect elsewhere; empty.
    GatewayClosing = 11,
    /// Worker → gateway: [`WorkerRequestExtendLeaseData`].
    WorkerRequestExtendLease = 12,
    /// Gateway → worker: [`WorkerRequestExtendLeaseAckData`].
    WorkerRequestExtendLeaseAck = 13,
    /// Gateway → worker: the app could not be synced.
    SyncFailed = 14,
    /// Worker → gateway: [`WorkerStatusData`].
    WorkerStatus = 15,
}

/// One WebSocket frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConnectMessage {
    #[prost(enumeration = "MessageKind", tag = "1")]
    pub kind: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

/// `POST /v0/connect/start` body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartRequest {
    /// Gateway groups not to be sent to (one that just said it is closing).
    #[prost(string, repeated, tag = "1")]
    pub exclude_gateways: Vec<String>,
}

/// `POST /v0/connect/start` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartResponse {
    #[prost(string, tag = "1")]
    pub connection_id: String,
    #[prost(string, tag = "2")]
    pub gateway_endpoint: String,
    #[prost(string, tag = "3")]
    pub gateway_group: String,
    #[prost(string, tag = "4")]
    pub session_token: String,
    #[prost(string, tag = "5")]
    pub sync_token: String,
}

/// One app served over a connection.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AppConfiguration {
    #[prost(string, tag = "1")]
    pub app_name: String,
    #[prost(string, optional, tag = "2")]
    pub app_version: Option<String>,
    /// The JSON array of function configs, as a sync sends it (docs/protocol.md §6.4).
    #[prost(bytes = "vec", tag = "4")]
    pub functions: Vec<u8>,
}

/// The tokens from the start answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthData {
    #[prost(string, tag = "1")]
    pub session_token: String,
    #[prost(string, tag = "2")]
    pub sync_token: String,
}

/// The machine the worker runs on.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SystemAttributes {
    #[prost(int32, tag = "1")]
    pub cpu_cores: i32,
    #[prost(int64, tag = "2")]
    pub mem_bytes: i64,
    #[prost(string, tag = "3")]
    pub os: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `WORKER_CONNECT` payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerConnectRequestData {
    #[prost(string, tag = "1")]
    pub connection_id: String,
    #[prost(string, tag = "2")]
    pub instance_id: String,
    #[prost(message, optional, tag = "3")]
    pub auth_data: Option<AuthData>,
    /// JSON object of capabilities.
    #[prost(bytes = "vec", tag = "4")]
    pub capabilities: Vec<u8>,
    #[prost(message, repeated, tag = "5")]
    pub apps: Vec<AppConfiguration>,
    /// The worker sends `WORKER_READY` itself once it can take requests.
    #[prost(bool, tag = "6")]
    pub worker_manual_readiness_ack: bool,
    #[prost(message, optional, tag = "7")]
    pub system_attributes: Option<SystemAttributes>,
    #[prost(string, optional, tag = "8")]
    pub environment: Option<String>,
    #[prost(string, tag = "9")]
    pub framework: String,
    #[prost(string, optional, tag = "10")]
    pub platform: Option<String>,
    #[prost(string, tag = "11")]
    pub sdk_version: String,
    #[prost(string, tag = "12")]
    pub sdk_language: String,
    #[prost(message, optional, tag = "13")]
    pub started_at: Option<Timestamp>,
    #[prost(int64, optional, tag = "14")]
    pub max_worker_concurrency: Option<i64>,
}

/// `GATEWAY_CONNECTION_READY` payload: intervals as Go duration strings.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GatewayConnectionReadyData {
    #[prost(string, tag = "1")]
    pub heartbeat_interval: String,
    #[prost(string, tag = "2")]
    pub extend_lease_interval: String,
    #[prost(string, tag = "3")]
    pub status_interval: String,
}

/// `WORKER_STATUS` payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerStatusData {
    #[prost(string, repeated, tag = "1")]
    pub in_flight_request_ids: Vec<String>,
    #[prost(bool, tag = "2")]
    pub shutdown_requested: bool,
}

/// `GATEWAY_EXECUTOR_REQUEST` payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GatewayExecutorRequestData {
    #[prost(string, tag = "1")]
    pub request_id: String,
    #[prost(string, tag = "2")]
    pub account_id: String,
    #[prost(string, tag = "3")]
    pub env_id: String,
    #[prost(string, tag = "4")]
    pub app_id: String,
    #[prost(string, tag = "5")]
    pub app_name: String,
    #[prost(string, tag = "6")]
    pub function_id: String,
    /// The composite function id (`<app id>-<function id>`).
    #[prost(string, tag = "7")]
    pub function_slug: String,
    #[prost(string, optional, tag = "8")]
    pub step_id: Option<String>,
    /// The call request JSON, as an HTTP call carries it (docs/protocol.md §7.1).
    #[prost(bytes = "vec", tag = "9")]
    pub request_payload: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub system_trace_ctx: Vec<u8>,
    #[prost(bytes = "vec", tag = "11")]
    pub user_trace_ctx: Vec<u8>,
    #[prost(string, tag = "12")]
    pub run_id: String,
    #[prost(string, tag = "13")]
    pub lease_id: String,
    #[prost(string, tag = "14")]
    pub job_id: String,
}

/// `WORKER_REQUEST_ACK` payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerRequestAckData {
    #[prost(string, tag = "1")]
    pub request_id: String,
    #[prost(string, tag = "2")]
    pub account_id: String,
    #[prost(string, tag = "3")]
    pub env_id: String,
    #[prost(string, tag = "4")]
    pub app_id: String,
    #[prost(string, tag = "5")]
    pub function_slug: String,
    #[prost(string, optional, tag = "6")]
    pub step_id: Option<String>,
    #[prost(bytes = "vec", tag = "7")]
    pub system_trace_ctx: Vec<u8>,
    #[prost(bytes = "vec", tag = "8")]
    pub user_trace_ctx: Vec<u8>,
    #[prost(string, tag = "9")]
    pub run_id: String,
}

/// `WORKER_REQUEST_EXTEND_LEASE` payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerRequestExtendLeaseData {
    #[prost(string, tag = "1")]
    pub request_id: String,
    #[prost(string, tag = "2")]
    pub account_id: String,
    #[prost(string, tag = "3")]
    pub env_id: String,
    #[prost(string, tag = "4")]
    pub app_id: String,
    #[prost(string, tag = "5")]
    pub function_slug: String,
    #[prost(string, optional, tag = "6")]
    pub step_id: Option<String>,
    #[prost(bytes = "vec", tag = "7")]
    pub system_trace_ctx: Vec<u8>,
    #[prost(bytes = "vec", tag = "8")]
    pub user_trace_ctx: Vec<u8>,
    #[prost(string, tag = "9")]
    pub run_id: String,
    #[prost(string, tag = "10")]
    pub lease_id: String,
}

/// `WORKER_REQUEST_EXTEND_LEASE_ACK` payload: no `new_lease_id` means the lease is gone.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerRequestExtendLeaseAckData {
    #[prost(string, tag = "1")]
    pub request_id: String,
    #[prost(string, tag = "2")]
    pub account_id: String,
    #[prost(string, tag = "3")]
    pub env_id: String,
    #[prost(string, tag = "4")]
    pub app_id: String,
    #[prost(string, tag = "5")]
    pub function_slug: String,
    #[prost(string, optional, tag = "6")]
    pub new_lease_id: Option<String>,
}

/// `status` of an [`SdkResponse`]: the HTTP status of the same answer, as an enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SdkResponseStatus {
    /// `206`: steps to schedule, the run goes on.
    NotCompleted = 0,
    /// `200`: the function returned.
    Done = 1,
    /// `500` (and any other status): an error.
    Error = 2,
}

/// `WORKER_REPLY` payload, and the body of `POST /v0/connect/flush`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SdkResponse {
    #[prost(string, tag = "1")]
    pub request_id: String,
    #[prost(string, tag = "2")]
    pub account_id: String,
    #[prost(string, tag = "3")]
    pub env_id: String,
    #[prost(string, tag = "4")]
    pub app_id: String,
    #[prost(enumeration = "SdkResponseStatus", tag = "5")]
    pub status: i32,
    /// The response body an HTTP call would carry.
    #[prost(bytes = "vec", tag = "6")]
    pub body: Vec<u8>,
    #[prost(bool, tag = "7")]
    pub no_retry: bool,
    #[prost(string, optional, tag = "8")]
    pub retry_after: Option<String>,
    #[prost(string, tag = "9")]
    pub sdk_version: String,
    #[prost(uint32, tag = "10")]
    pub request_version: u32,
    #[prost(bytes = "vec", tag = "11")]
    pub system_trace_ctx: Vec<u8>,
    #[prost(bytes = "vec", tag = "12")]
    pub user_trace_ctx: Vec<u8>,
    #[prost(string, tag = "13")]
    pub run_id: String,
}

/// `WORKER_REPLY_ACK` payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerReplyAckData {
    #[prost(string, tag = "1")]
    pub request_id: String,
}

/// `POST /v0/connect/flush` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FlushResponse {
    #[prost(string, tag = "1")]
    pub request_id: String,
}

/// Which executor request a message is about: the fields the ack, the lease extensions and
/// the reply repeat from the [`GatewayExecutorRequestData`] (each message at its own field
/// numbers, so this is not a wire message itself). The `From` conversions fill a message's
/// copy of them; the other fields keep their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestIdentity {
    pub request_id: String,
    pub account_id: String,
    pub env_id: String,
    pub app_id: String,
    pub function_slug: String,
    pub step_id: Option<String>,
    pub system_trace_ctx: Vec<u8>,
    pub user_trace_ctx: Vec<u8>,
    pub run_id: String,
}

impl From<&GatewayExecutorRequestData> for RequestIdentity {
    fn from(request: &GatewayExecutorRequestData) -> Self {
        RequestIdentity {
            request_id: request.request_id.clone(),
            account_id: request.account_id.clone(),
            env_id: request.env_id.clone(),
            app_id: request.app_id.clone(),
            function_slug: request.function_slug.clone(),
            step_id: request.step_id.clone(),
            system_trace_ctx: request.system_trace_ctx.clone(),
            user_trace_ctx: request.user_trace_ctx.clone(),
            run_id: request.run_id.clone(),
        }
    }
}

/// `From<RequestIdentity>` for messages that repeat these identity fields; their other
/// fields keep their defaults (the caller sets them after the conversion).
macro_rules! from_identity {
    ($($message:ident),+ => $fields:tt) => {
        $(from_identity!(@one $message $fields);)+
    };
    (@one $message:ident { $($field:ident),* $(,)? }) => {
        impl From<RequestIdentity> for $message {
            #[allow(clippy::needless_update, reason = "the ack sets every field")]
            fn from(id: RequestIdentity) -> Self {
                $message {
                    $($field: id.$field,)*
                    ..$message::default()
                }
            }
        }
    };
}

// The lease extension also carries `lease_id`.
from_identity!(WorkerRequestAckData, WorkerRequestExtendLeaseData => {
    request_id, account_id, env_id, app_id, function_slug, step_id, system_trace_ctx,
    user_trace_ctx, run_id,
});
// The reply carries no function slug nor step id; its outcome (status, body, retry
// fields, versions) is set after the conversion.
from_identity!(SdkResponse => {
    request_id, account_id, env_id, app_id, system_trace_ctx, user_trace_ctx, run_id,
});

/// Encodes a frame of `kind` carrying `payload`.
pub fn frame(kind: MessageKind, payload: &impl prost::Message) -> Vec<u8> {
    prost::Message::encode_to_vec(&ConnectMessage {
        kind: kind as i32,
        payload: payload.encode_to_vec(),
    })
}

/// Encodes a frame of `kind` with an empty payload.
pub fn empty_frame(kind: MessageKind) -> Vec<u8> {
    prost::Message::encode_to_vec(&ConnectMessage {
        kind: kind as i32,
        payload: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn a_frame_is_kind_then_payload_bytes() {
        // Field 1 varint 9, field 2 length 0 (omitted: proto3 default).
        assert_eq!(empty_frame(MessageKind::WorkerHeartbeat), vec![0x08, 0x09]);
        // GATEWAY_HELLO is kind 0, the default: an empty frame is zero bytes.
        assert!(empty_frame(MessageKind::GatewayHello).is_empty());
        let bytes = frame(
            MessageKind::WorkerReplyAck,
            &WorkerReplyAckData {
                request_id: "r".into(),
            },
        );
        assert_eq!(bytes, vec![0x08, 0x07, 0x12, 0x03, 0x0a, 0x01, b'r']);
        let decoded = ConnectMessage::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded.kind(), MessageKind::WorkerReplyAck);
        let ack = WorkerReplyAckData::decode(decoded.payload.as_slice()).expect("payload");
        assert_eq!(ack.request_id, "r");
    }

    #[test]
    fn an_unknown_kind_decodes_and_reads_as_the_default() {
        let bytes = [0x08, 0x63];
        let decoded = ConnectMessage::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded.kind, 99);
        assert!(MessageKind::try_from(decoded.kind).is_err());
    }

    #[test]
    fn executor_request_fields_sit_at_their_numbers() {
        // Hand-encoded: request_id(1)="a", function_slug(7)="app-f", step_id(8)="step",
        // request_payload(9)="{}", lease_id(13)="L", job_id(14)="j", plus an unknown field 99.
        let mut bytes = vec![0x0a, 0x01, b'a'];
        bytes.extend([0x3a, 0x05, b'a', b'p', b'p', b'-', b'f']);
        bytes.extend([0x42, 0x04, b's', b't', b'e', b'p']);
        bytes.extend([0x4a, 0x02, b'{', b'}']);
        bytes.extend([0x6a, 0x01, b'L']);
        bytes.extend([0x72, 0x01, b'j']);
        bytes.extend([0x98, 0x06, 0x01]);
        let req = GatewayExecutorRequestData::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(req.request_id, "a");
        assert_eq!(req.function_slug, "app-f");
        assert_eq!(req.step_id.as_deref(), Some("step"));
        assert_eq!(req.request_payload, b"{}");
        assert_eq!(req.lease_id, "L");
        assert_eq!(req.job_id, "j");
    }

    #[test]
    fn sdk_response_status_and_body_are_at_5_and_6() {
        let res = SdkResponse {
            request_id: "r".into(),
            status: SdkResponseStatus::Done as i32,
            body: b"1".to_vec(),
            request_version: 2,
            ..SdkResponse::default()
        };
        assert_eq!(
            res.encode_to_vec(),
            vec![0x0a, 0x01, b'r', 0x28, 0x01, 0x32, 0x01, b'1', 0x50, 0x02]
        );
    }

    #[test]
    fn the_identity_of_a_request_fills_the_ack_the_extension_and_the_reply() {
        let request = GatewayExecutorRequestData {
            request_id: "r".into(),
            account_id: "a".into(),
            env_id: "e".into(),
            app_id: "p".into(),
            app_name: "name".into(),
            function_slug: "p-f".into(),
            step_id: Some("s".into()),
            system_trace_ctx: b"sys".to_vec(),
            user_trace_ctx: b"usr".to_vec(),
            run_id: "run".into(),
            lease_id: "L".into(),
            ..GatewayExecutorRequestData::default()
        };
        let id = RequestIdentity::from(&request);
        let ack = WorkerRequestAckData::from(id.clone());
        assert_eq!(
            ack,
            WorkerRequestAckData {
                request_id: "r".into(),
                account_id: "a".into(),
                env_id: "e".into(),
                app_id: "p".into(),
                function_slug: "p-f".into(),
                step_id: Some("s".into()),
                system_trace_ctx: b"sys".to_vec(),
                user_trace_ctx: b"usr".to_vec(),
                run_id: "run".into(),
            }
        );
        // The extension has the ack's fields at the same numbers, then lease_id (10).
        let extend = WorkerRequestExtendLeaseData {
            lease_id: "L2".into(),
            ..id.clone().into()
        };
        let mut expected = ack.encode_to_vec();
        expected.extend([0x52, 0x02, b'L', b'2']);
        assert_eq!(extend.encode_to_vec(), expected);
        let reply = SdkResponse::from(id);
        assert_eq!(
            (reply.request_id.as_str(), reply.account_id.as_str()),
            ("r", "a")
        );
        assert_eq!((reply.env_id.as_str(), reply.app_id.as_str()), ("e", "p"));
        assert_eq!(reply.system_trace_ctx, b"sys");
        assert_eq!(reply.user_trace_ctx, b"usr");
        assert_eq!(reply.run_id, "run");
        assert!(reply.body.is_empty() && reply.sdk_version.is_empty());
    }

    #[test]
    fn worker_connect_round_trips_with_optional_fields() {
        let msg = WorkerConnectRequestData {
            connection_id: "c".into(),
            instance_id: "i".into(),
            auth_data: Some(AuthData {
                session_token: "s".into(),
                sync_token: "t".into(),
            }),
            capabilities: br#"{"connect":"v1"}"#.to_vec(),
            apps: vec![AppConfiguration {
                app_name: "app".into(),
                app_version: None,
                functions: b"[]".to_vec(),
            }],
            worker_manual_readiness_ack: true,
            max_worker_concurrency: Some(4),
            ..WorkerConnectRequestData::default()
        };
        let back = WorkerConnectRequestData::decode(msg.encode_to_vec().as_slice()).expect("rt");
        assert_eq!(back, msg);
        // max_worker_concurrency is field 14, varint: tag byte 0x70.
        assert!(msg.encode_to_vec().ends_with(&[0x70, 0x04]));
    }
}
