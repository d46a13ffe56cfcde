//! Streamed call responses (docs/protocol.md §7.11): `201` at once, a space every keep-alive
//! interval while the run goes on, then the real answer as one JSON envelope.
//!
//! The run's future is polled by the response body itself, not by a spawned task: when the
//! executor (or a proxy) drops the connection, the body is dropped and the run with it,
//! exactly as a plain call whose connection drops (the server drops the handler's future).
//! No run goes on unobserved, and no runtime handle is needed.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::*;
use crate::core::response::stream_envelope;

/// What a streamed call writes while its run goes on.
const KEEP_ALIVE: &[u8] = b" ";

/// The body of a response from [`Endpoint::handle_streaming`]: the whole answer at once, or,
/// for a streamed call, keep-alive spaces then the envelope. Implements
/// [`http_body::Body`], so any hyper-based server can send it.
pub struct StreamingBody {
    state: State,
}

enum State {
    /// A plain answer, sent in one frame.
    Full(Option<Bytes>),
    /// A streamed call still running.
    Streaming {
        /// The call, signed like a plain answer; it runs only while the body is polled.
        call: Pin<Box<dyn Future<Output = Response<Vec<u8>>> + Send>>,
        /// When the next space is due.
        keep_alive: Pin<Box<Sleep>>,
        interval: Duration,
    },
    /// The envelope was sent.
    Done,
}

impl fmt::Debug for StreamingBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Full(_) => "full",
            State::Streaming { .. } => "streaming",
            State::Done => "done",
        };
        f.debug_struct("StreamingBody")
            .field("state", &state)
            .finish()
    }
}

impl StreamingBody {
    fn full(bytes: Vec<u8>) -> Self {
        StreamingBody {
            state: State::Full(Some(Bytes::from(bytes))),
        }
    }

    /// Whether this body is a keep-alive stream (a streamed call) rather than a plain
    /// answer.
    pub fn is_streaming(&self) -> bool {
        matches!(self.state, State::Streaming { .. })
    }
}

impl Body for StreamingBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match &mut this.state {
            State::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            State::Streaming {
                call,
                keep_alive,
                interval,
            } => {
                // The run first: when it has finished, its answer goes out now, not after
                // one more space.
                if let Poll::Ready(res) = call.as_mut().poll(cx) {
                    this.state = State::Done;
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(stream_envelope(&res))))));
                }
                if keep_alive.as_mut().poll(cx).is_ready() {
                    // From now, not from the missed deadline: a late poll sends one space,
                    // not a burst.
                    let next = Instant::now() + *interval;
                    keep_alive.as_mut().reset(next);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEP_ALIVE)))));
                }
                Poll::Pending
            }
            State::Done => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done | State::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            State::Full(None) | State::Done => SizeHint::with_exact(0),
            State::Streaming { .. } => SizeHint::default(),
        }
    }
}

impl Endpoint {
    /// Handles one request to the serve path, streaming call requests when streaming is on
    /// ([`EndpointBuilder::streaming`], `INNGEST_STREAMING`; docs/protocol.md §7.11).
    ///
    /// A call (`POST` with a valid signature, or none needed, and no `probe`) is answered
    /// `201` at once with the SDK headers; the body then carries a space every
    /// [`EndpointBuilder::streaming_interval`] while the run goes on, and ends with
    /// `{"status", "headers", "body"}`: exactly the status, headers (signature included)
    /// and body [`Endpoint::handle`] would have answered. Everything else — `GET`, `PUT`,
    /// probes, refused signatures, bodies over the cap, or any request while streaming is
    /// off — is answered as [`Endpoint::handle`] answers it, in one frame.
    ///
    /// The run goes on only while the body is polled: a dropped connection cancels it, as
    /// it would cancel a plain call.
    pub async fn handle_streaming(&self, request: Request<Bytes>) -> Response<StreamingBody> {
        let key = match self.stream_key(&request) {
            Some(key) => key,
            None => return self.handle(request).await.map(StreamingBody::full),
        };
        let endpoint = self.clone();
        let (parts, body) = request.into_parts();
        let call = Box::pin(async move {
            let query = Query::parse(parts.uri.query());
            let trace = crate::trace_context::IncomingTrace::from_headers(&parts.headers);
            let res = endpoint.execute(&query, &body, trace).await;
            // docs/protocol.md §7.11: signed like a plain answer, over the same body bytes;
            // the signature travels in the envelope's headers.
            endpoint.sign(res, key.as_ref())
        });
        let interval = self.inner.streaming_interval;
        let mut res = json_response(StatusCode::CREATED, Vec::new()).map(|_| StreamingBody {
            state: State::Streaming {
                call,
                keep_alive: Box::pin(tokio::time::sleep(interval)),
                interval,
            },
        });
        // The body's length is unknown, and the status and headers the executor applies
        // are the envelope's: the `201` carries only what identifies the SDK.
        res.headers_mut().remove(headers::REQ_VERSION);
        res
    }

    /// Whether a request streams, with the key that signs its answer: `None` when it is
    /// answered plainly (docs/protocol.md §7.11).
    fn stream_key(&self, request: &Request<Bytes>) -> Option<Option<SigningKey>> {
        if !self.inner.streaming
            || request.method() != Method::POST
            || request.body().len() > self.inner.max_body_bytes
            || Query::parse(request.uri().query()).probe.is_some()
        {
            return None;
        }
        match self.authenticate(request.headers(), request.body()) {
            Auth::Valid(key) => Some(Some(key.clone())),
            Auth::Unsigned => Some(None),
            // Refused as a plain `401` by `handle`, which logs it.
            Auth::Invalid(_) => None,
        }
    }
}
