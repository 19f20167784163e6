//! The controller listener's wire format: length-prefixed JSON frames,
//! one request then one response, over plain TCP. It carries Raft's own
//! messages between voters and the broker-to-controller requests
//! (registration, heartbeats, forwarded admin requests, metadata fetches).
//! Every request names the sender's cluster id, so a node from another
//! cluster is refused before it can touch this cluster's log.
//!
//! A connection that starts with [`RpcRequest::Session`] is a session
//! connection instead ([`super::session`]): one answer, then only pings from
//! the node, until its process ends.

use std::collections::HashMap;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use brook_security::stream::Stream;

use super::state_machine::MetadataUpdate;
use super::TypeConfig;
use crate::controller::ControllerError;
use crate::requests::{ControllerReply, ControllerRequest};

/// Largest frame accepted (snapshots of big clusters are the largest).
pub const MAX_FRAME: usize = 256 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub cluster_id: Option<String>,
    pub request: RpcRequest,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    Submit(ControllerRequest),
    FetchMetadata {
        after: i64,
        max_wait_ms: u64,
    },
    DescribeQuorum,
    /// Opens a session connection for this process of `node_id`
    /// (`incarnation`: its broker registration's, or its controller's).
    Session {
        node_id: i32,
        incarnation: String,
    },
    /// Keeps a session connection's path in use; never answered.
    Ping,
}

/// Why the active controller did not carry out a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SubmitError {
    /// This node is not the active controller; `leader` if it knows who is.
    NotController { leader: Option<u64> },
    /// The controller refused it (a Kafka error code for the client).
    Refused(ControllerError),
    /// The quorum could not commit (lost leadership, shutting down, ...).
    Unavailable(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VoterStatus {
    pub id: i32,
    pub log_end_offset: i64,
    /// How far behind the leader's log end (0 for the leader).
    pub lag: i64,
}

/// The quorum as the active controller sees it (Kafka's DescribeQuorum).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuorumStatus {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<VoterStatus>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcResponse {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Submit(Result<(ControllerReply, i64), SubmitError>),
    Metadata {
        cluster_id: String,
        update: MetadataUpdate,
    },
    Quorum(Result<QuorumStatus, SubmitError>),
    /// The receiver belongs to another cluster.
    InconsistentClusterId {
        ours: String,
    },
    /// The receiver has no controller role.
    NotAController,
    /// The voter holds the session connection.
    SessionOpened,
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("bad frame: {0}")]
    Codec(String),
}

pub async fn read_frame<T: for<'de> Deserialize<'de>>(
    stream: &mut (impl AsyncRead + Unpin),
) -> Result<Option<T>, RpcError> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(RpcError::Codec(format!("frame of {len} bytes exceeds {MAX_FRAME}")));
    }
    // Grow with the data actually received, not with the claimed length.
    let mut body = Vec::with_capacity(len.min(64 * 1024));
    let read = (&mut *stream).take(len as u64).read_to_end(&mut body).await?;
    if read < len {
        return Err(RpcError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    serde_json::from_slice(&body).map(Some).map_err(|e| RpcError::Codec(e.to_string()))
}

pub async fn write_frame<T: Serialize>(stream: &mut (impl AsyncWrite + Unpin), value: &T) -> Result<(), RpcError> {
    let body = serde_json::to_vec(value).map_err(|e| RpcError::Codec(e.to_string()))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    stream.write_all(&buf).await?;
    stream.flush().await?;
    Ok(())
}

/// Idle connections per address, reused request after request.
#[derive(Default)]
pub struct RpcClient {
    idle: Mutex<HashMap<String, Vec<Stream>>>,
    /// TLS towards an SSL controller listener.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl RpcClient {
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>) -> RpcClient {
        RpcClient { idle: Mutex::new(HashMap::new()), tls }
    }

    /// Connects to a controller listener (TLS when configured).
    pub async fn connect(&self, addr: &str, timeout: Duration) -> std::io::Result<Stream> {
        Stream::connect(addr, self.tls.as_ref(), timeout).await
    }

    /// One request, one response, within `timeout`. A connection that failed
    /// is dropped; a good one goes back to the pool.
    pub async fn call(&self, addr: &str, envelope: &Envelope, timeout: Duration) -> Result<RpcResponse, RpcError> {
        let pooled = self.idle.lock().get_mut(addr).and_then(|v| v.pop());
        let attempt = async {
            let mut stream = match pooled {
                Some(s) => s,
                None => self.connect(addr, timeout).await?,
            };
            write_frame(&mut stream, envelope).await?;
            let response = read_frame::<RpcResponse>(&mut stream)
                .await?
                .ok_or_else(|| RpcError::Io(std::io::ErrorKind::UnexpectedEof.into()))?;
            Ok::<_, RpcError>((stream, response))
        };
        let (stream, response) = tokio::time::timeout(timeout, attempt).await.map_err(|_| RpcError::Timeout)??;
        let mut idle = self.idle.lock();
        let pool = idle.entry(addr.to_string()).or_default();
        if pool.len() < 4 {
            pool.push(stream);
        }
        Ok(response)
    }
}
