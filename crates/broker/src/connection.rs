//! One client connection: read size-prefixed frames, decode the request
//! header, dispatch to the API's handler, write the response. Requests on a
//! connection are handled one at a time, in order, as Kafka does, so
//! responses never need reordering.
//!
//! Bad input never panics: an oversized or malformed frame, an unknown API
//! key, or an unsupported version (other than ApiVersions, which gets Kafka's
//! v0 UNSUPPORTED_VERSION answer) is logged and the connection closed.

use std::sync::Arc;
use std::time::Duration;

use brook_protocol::frame::check_request_size;
use brook_protocol::kafka_protocol::messages::ApiKey;
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use crate::handlers::{self, Response};
use crate::request::{decode_request, DecodeError};
use crate::sendfile::write_chunks;
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
}

pub async fn serve(mut stream: TcpStream, broker: Arc<Node>) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map(|a| a.to_string()).unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let session = Session::plaintext("PLAINTEXT", peer_addr);
    match serve_inner(&mut stream, &broker, &session).await {
        Ok(()) => debug!(%peer, "connection closed by client"),
        Err(ConnectionError::Io(e)) => debug!(%peer, error = %e, "connection closed"),
        Err(e) => warn!(%peer, error = %e, "closing connection"),
    }
}

async fn serve_inner(stream: &mut TcpStream, broker: &Arc<Node>, session: &Session) -> Result<(), ConnectionError> {
    let max_bytes = broker.config.socket_request_max_bytes;
    let idle = Duration::from_millis(broker.config.connections_max_idle_ms);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let Some(size) = fill(stream, &mut buf, 4, idle).await? else { return Ok(()) };
        debug_assert!(size >= 4);
        let frame_size = check_request_size(buf[..4].try_into().unwrap(), max_bytes)?;
        if fill(stream, &mut buf, 4 + frame_size, idle).await?.is_none() {
            return Ok(());
        }
        buf.advance(4);
        let frame = buf.split_to(frame_size).freeze();
        if let Some(response) = handle_frame(broker, session, frame).await? {
            match response {
                Response::Bytes(bytes) => stream.write_all(&bytes).await?,
                Response::Chunks(chunks) => write_chunks(stream, &chunks).await?,
            }
        }
        if buf.capacity() < 4096 {
            buf.reserve(64 * 1024);
        }
    }
}

/// Reads until `buf` holds at least `want` bytes. `None` on a clean EOF at a
/// frame boundary.
async fn fill(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    want: usize,
    idle: Duration,
) -> Result<Option<usize>, ConnectionError> {
    while buf.len() < want {
        buf.reserve(want - buf.len());
        let n = match tokio::time::timeout(idle, stream.read_buf(buf)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnectionError::Idle),
        };
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
    session: &Session,
    frame: Bytes,
) -> Result<Option<Response>, ConnectionError> {
    let request = match decode_request(frame) {
        Ok(request) => request,
        Err(DecodeError::UnsupportedVersion { api_key, version, correlation_id, .. })
            if api_key == ApiKey::ApiVersions as i16 =>
        {
            info!(version, "ApiVersions version not supported; answering with v0 UNSUPPORTED_VERSION");
            return Ok(Some(handlers::api_versions::unsupported_version_response(correlation_id)));
        }
        Err(e) => return Err(e.into()),
    };
    let (api_key, version) = (request.header.request_api_key, request.header.request_api_version);
    let malformed = |reason: String| ConnectionError::Malformed { api_key, version, reason };
    handlers::dispatch(broker, request.key, &request.header, session, request.body).await.map_err(|e| match e {
        handlers::DispatchError::Malformed(reason) => malformed(reason),
        handlers::DispatchError::Close(reason) => ConnectionError::Failed { api_key, reason },
    })
}
