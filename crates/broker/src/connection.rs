//! One client connection: read size-prefixed frames, decode the request
//! header, dispatch to the API's handler, write the response. Requests on a
//! connection are handled one at a time, in order, as Kafka does, so
//! responses never need reordering.
//!
//! Bad input never panics: an oversized or malformed frame, an unknown API
//! key, or an unsupported version (other than ApiVersions, which gets Kafka's
//! v0 UNSUPPORTED_VERSION answer) is logged and the connection closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_protocol::error_code::ErrorCode;
use brook_protocol::frame::check_request_size;
use brook_protocol::kafka_protocol::messages::{ApiKey, RequestKind};
use brook_security::stream::Stream;
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use crate::authenticator::{Authenticator, Gate};
use crate::clock::now_ms;
use crate::handlers::{self, Response};
use crate::request::{decode_body, decode_header, DecodeError};
use crate::sendfile::write_chunks_to;
use crate::server::ListenerRuntime;
use crate::session::Session;
use crate::Node;

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] brook_protocol::frame::FrameError),
    #[error("{0}")]
    Request(#[from] DecodeError),
    #[error("malformed request (api {api_key} v{version}): {reason}")]
    Malformed { api_key: i16, version: i16, reason: String },
    #[error("idle for longer than connections.max.idle.ms")]
    Idle,
    #[error("api {api_key}: {reason}")]
    Failed { api_key: i16, reason: String },
    /// SASL: a request before authentication, a failed exchange or an expired session.
    #[error("{0}")]
    Auth(String),
}

pub async fn serve(stream: TcpStream, broker: Arc<Node>, listener: Arc<ListenerRuntime>) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map(|a| a.to_string()).unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let mut session = Session::new(&listener.config.name, listener.config.security_protocol, peer_addr);
    let mut stream = match &listener.tls {
        None => Stream::Plain(stream),
        Some(tls) => match tls.handshake(stream).await {
            Ok((stream, principal)) => {
                if let Some(principal) = principal {
                    debug!(%peer, %principal, listener = %listener.config.name, "TLS client authenticated");
                    session.principal = principal;
                }
                stream
            }
            // A peer that connects and closes at once (a port probe) is no failure.
            Err(e) if e.contains("eof") || e.contains("EOF") => {
                debug!(%peer, listener = %listener.config.name, error = %e, "closed before the TLS handshake");
                return;
            }
            Err(e) => {
                warn!(%peer, listener = %listener.config.name, error = %e, "TLS handshake failed; closing connection");
                return;
            }
        },
    };
    let _counted = broker.metrics.connection_opened(&listener.config.name);
    let auth = crate::authenticator::for_session(&broker, &session);
    match serve_inner(&mut stream, &broker, session, auth).await {
        Ok(()) => debug!(%peer, "connection closed by client"),
        Err(ConnectionError::Io(e)) => debug!(%peer, error = %e, "connection closed"),
        Err(e) => warn!(%peer, error = %e, "closing connection"),
    }
}

async fn serve_inner(
    stream: &mut Stream,
    broker: &Arc<Node>,
    mut session: Session,
    mut auth: Authenticator,
) -> Result<(), ConnectionError> {
    let max_bytes = broker.config.socket_request_max_bytes;
    let idle = Duration::from_millis(broker.config.connections_max_idle_ms);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // When the last read returned: a frame is complete from the read that
    // completed it (request metrics time requests from there).
    let mut last_read = Instant::now();
    loop {
        let Some(size) = fill(stream, &mut buf, 4, idle, &mut last_read).await? else { return Ok(()) };
        debug_assert!(size >= 4);
        let frame_size = check_request_size(buf[..4].try_into().unwrap(), max_bytes)?;
        if fill(stream, &mut buf, 4 + frame_size, idle, &mut last_read).await?.is_none() {
            return Ok(());
        }
        let ready_at = last_read;
        buf.advance(4);
        let frame = buf.split_to(frame_size).freeze();
        if auth.expects_raw_token() {
            let reply = crate::authenticator::raw_exchange(&mut auth, &mut session, &frame, now_ms())
                .map_err(ConnectionError::Auth)?;
            stream.write_all(&reply).await?;
            continue;
        }
        let mut close_after = None;
        let mut started = None;
        let handling = handle_frame(broker, &mut auth, &mut session, frame, &mut close_after, &mut started);
        let (handled, throttle_ms) = crate::quota::throttled(handling).await;
        let record = |started: Option<Started>| {
            if let Some(Started { api_key, at, fetch_from_follower }) = started {
                let (queue, total) = (at.saturating_duration_since(ready_at), ready_at.elapsed());
                match fetch_from_follower {
                    Some(follower) => broker.metrics.requests.record_fetch(follower, queue, total),
                    None => broker.metrics.requests.record(api_key, queue, total),
                }
            }
        };
        let handled = match handled {
            Ok(handled) => handled,
            Err(e) => {
                record(started);
                if let Some((api_key, code)) = closing_error(&e) {
                    broker.metrics.requests.error(api_key, code.code());
                }
                return Err(e);
            }
        };
        if let Some(response) = handled {
            match response {
                Response::Bytes(bytes) => {
                    stream.write_all(&bytes).await?;
                    stream.flush().await?;
                }
                Response::Chunks(chunks) => write_chunks_to(stream, &chunks).await?,
            }
        }
        record(started);
        if let Some(reason) = close_after {
            return Err(ConnectionError::Auth(reason));
        }
        // An over-quota client: its response (carrying throttle_time_ms) is
        // sent at once, then this connection reads nothing more for the
        // throttle time, as Kafka >= 2.0 mutes the channel (KIP-219). A
        // client that honours throttle_time_ms waits anyway; an older one
        // finds its next requests unread, so every client is slowed, and no
        // other connection is.
        if throttle_ms > 0 {
            tokio::time::sleep(Duration::from_millis(throttle_ms as u64)).await;
        }
        if buf.capacity() < 4096 {
            buf.reserve(64 * 1024);
        }
    }
}

/// When a request's handler started, for the request metrics.
struct Started {
    api_key: i16,
    at: Instant,
    /// For a Fetch: whether a follower replica sent it.
    fetch_from_follower: Option<bool>,
}

/// The API and Kafka error a closed connection counts as in the request
/// metrics: requests that could not be decoded. Others are either counted
/// from their response already (an acks=0 produce's error) or no request's.
fn closing_error(e: &ConnectionError) -> Option<(i16, ErrorCode)> {
    match e {
        ConnectionError::Request(DecodeError::Short(_)) => Some((-1, ErrorCode::INVALID_REQUEST)),
        ConnectionError::Request(DecodeError::UnknownApi(api_key)) => Some((*api_key, ErrorCode::INVALID_REQUEST)),
        ConnectionError::Request(DecodeError::UnsupportedVersion { api_key, .. }) => {
            Some((*api_key, ErrorCode::UNSUPPORTED_VERSION))
        }
        ConnectionError::Request(DecodeError::Malformed { api_key, .. })
        | ConnectionError::Malformed { api_key, .. } => Some((*api_key, ErrorCode::INVALID_REQUEST)),
        _ => None,
    }
}

/// Reads until `buf` holds at least `want` bytes, noting in `last_read` when
/// a read returned. `None` on a clean EOF at a frame boundary.
async fn fill(
    stream: &mut Stream,
    buf: &mut BytesMut,
    want: usize,
    idle: Duration,
    last_read: &mut Instant,
) -> Result<Option<usize>, ConnectionError> {
    while buf.len() < want {
        buf.reserve(want - buf.len());
        let n = match tokio::time::timeout(idle, stream.read_buf(buf)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnectionError::Idle),
        };
        *last_read = Instant::now();
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof inside a frame").into());
        }
    }
    Ok(Some(buf.len()))
}

async fn handle_frame(
    broker: &Arc<Node>,
    auth: &mut Authenticator,
    session: &mut Session,
    mut frame: Bytes,
    close_after: &mut Option<String>,
    started: &mut Option<Started>,
) -> Result<Option<Response>, ConnectionError> {
    let (key, header) = match decode_header(&mut frame) {
        Ok(decoded) => decoded,
        Err(DecodeError::UnsupportedVersion { api_key, version, correlation_id, .. })
            if api_key == ApiKey::ApiVersions as i16 =>
        {
            info!(version, "ApiVersions version not supported; answering with v0 UNSUPPORTED_VERSION");
            *started = Some(Started { api_key, at: Instant::now(), fetch_from_follower: None });
            broker.metrics.requests.error(api_key, ErrorCode::UNSUPPORTED_VERSION.code());
            return Ok(Some(handlers::api_versions::unsupported_version_response(correlation_id)));
        }
        Err(e) => return Err(e.into()),
    };
    let (api_key, version) = (header.request_api_key, header.request_api_version);
    let malformed = |reason: String| ConnectionError::Malformed { api_key, version, reason };
    let gate = auth.gate(key, now_ms());
    if let Gate::Close(reason) = gate {
        return Err(ConnectionError::Auth(reason));
    }
    // The body's size on the wire: what producer_byte_rate counts.
    let request_bytes = frame.len();
    let body = decode_body(key, version, &mut frame)?;
    // Kafka times a fetch also as FetchFollower (a replica id) or FetchConsumer.
    let fetch_from_follower = match &body {
        RequestKind::Fetch(f) if version >= 15 => Some(f.replica_state.replica_id.0 >= 0),
        RequestKind::Fetch(f) => Some(f.replica_id.0 >= 0),
        _ => None,
    };
    *started = Some(Started { api_key, at: Instant::now(), fetch_from_follower });
    if let Gate::Handshake | Gate::Authenticate = gate {
        let (response, close) =
            crate::authenticator::answer(auth, session, key, &header, body, now_ms()).map_err(malformed)?;
        *close_after = close;
        return Ok(Some(response));
    }
    handlers::dispatch(broker, key, &header, session, body, request_bytes).await.map_err(|e| match e {
        handlers::DispatchError::Malformed(reason) => malformed(reason),
        handlers::DispatchError::Close(reason) => ConnectionError::Failed { api_key, reason },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_for_undecodable_requests_count_as_kafka_errors() {
        let unsupported =
            DecodeError::UnsupportedVersion { api_key: 3, version: 99, min: 0, max: 12, correlation_id: 1 };
        assert_eq!(closing_error(&unsupported.into()), Some((3, ErrorCode::UNSUPPORTED_VERSION)));
        let malformed = ConnectionError::Malformed { api_key: 0, version: 9, reason: "x".into() };
        assert_eq!(closing_error(&malformed), Some((0, ErrorCode::INVALID_REQUEST)));
        assert_eq!(closing_error(&DecodeError::Short(3).into()), Some((-1, ErrorCode::INVALID_REQUEST)));
        // An acks=0 produce's failure was counted from its response.
        let failed = ConnectionError::Failed { api_key: 0, reason: "x".into() };
        assert_eq!(closing_error(&failed), None);
        assert_eq!(closing_error(&ConnectionError::Idle), None);
    }
}
