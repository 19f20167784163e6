//! Session connections: how a voter learns at once that a node's process
//! is gone, without guessing from silence.
//!
//! Every process holds one TCP connection to each controller voter (other
//! than its own) for as long as it runs: a broker from its registration on,
//! keyed by its registration incarnation; a controller from its start, keyed
//! by an incarnation of its own. The node sends a [`RpcRequest::Session`]
//! hello, then a [`RpcRequest::Ping`] every [`PING_INTERVAL`]; the voter
//! answers the hello once and never writes again.
//!
//! The node never closes a session connection itself while it runs: no
//! timeout applies once the hello is written, a stopped voter only makes
//! the pings wait. So when the voter reads end-of-stream or a reset, the
//! kernel closed the connection for a process that ended (`kill -9`, crash,
//! exit; the host answering for a dead process). A stopped (SIGSTOP) or
//! slow process keeps its connection open, and a network partition carries
//! no close at all: those wait for the session timeout as before. A voter
//! read error of any other kind (a timeout, a bad frame) proves nothing and
//! is ignored. A node whose connection broke reconnects (a newer connection
//! of the same incarnation supersedes the old one, see
//! [`crate::broker_lifecycle::Sessions`]).
//!
//! Probing a broker's advertised listener was the alternative: a refused
//! connection is weaker evidence (a load balancer, a Service without ready
//! endpoints or a REJECT firewall rule refuse too, while the process lives;
//! and the port names no incarnation).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use brook_security::stream::Stream;
use tracing::{debug, info};

use super::rpc::{read_frame, write_frame, Envelope, RpcError, RpcRequest, RpcResponse};
use super::ClusterIdGuard;

/// How often a node writes on its session connections (a voter host that
/// rebooted answers with a reset, so the node reconnects).
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Holds a session connection of (`node_id`, `incarnation`) to each voter
/// in `voters`, reconnecting whenever one ends, for the life of the process.
pub fn hold_all(node_id: i32, incarnation: &str, voters: BTreeMap<i32, String>, guard: Arc<ClusterIdGuard>) {
    for (voter, addr) in voters {
        let incarnation = incarnation.to_string();
        let guard = guard.clone();
        tokio::spawn(async move {
            let mut backoff = RECONNECT_MIN;
            loop {
                let started = tokio::time::Instant::now();
                match hold(node_id, &incarnation, &addr, &guard).await {
                    Ended::Mismatch(theirs) => {
                        guard.report_mismatch(voter as u64, &theirs);
                        backoff = RECONNECT_MAX;
                    }
                    Ended::Error(e) => {
                        debug!(voter, %addr, error = %e, "session connection ended");
                        if started.elapsed() > RECONNECT_MAX * 2 {
                            backoff = RECONNECT_MIN;
                        }
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_MAX);
            }
        });
    }
}

enum Ended {
    Mismatch(String),
    Error(String),
}

async fn hold(node_id: i32, incarnation: &str, addr: &str, guard: &ClusterIdGuard) -> Ended {
    // Only the connect has a deadline: nothing reached the voter yet.
    let stream = match guard.client.connect(addr, CONNECT_TIMEOUT).await {
        Ok(s) => s,
        Err(e) => return Ended::Error(e.to_string()),
    };
    let (mut rd, mut wr) = tokio::io::split(stream);
    let hello = Envelope {
        cluster_id: guard.ours(),
        request: RpcRequest::Session { node_id, incarnation: incarnation.to_string() },
    };
    if let Err(e) = write_frame(&mut wr, &hello).await {
        return Ended::Error(e.to_string());
    }
    // From here on the connection ends only by the voter, by an error on
    // it, or with this process.
    let answers = async {
        loop {
            match read_frame::<RpcResponse>(&mut rd).await {
                Ok(Some(RpcResponse::SessionOpened)) => {
                    info!(node_id, %addr, "session connection to controller voter open")
                }
                Ok(Some(RpcResponse::InconsistentClusterId { ours })) => return Ended::Mismatch(ours),
                Ok(Some(other)) => debug!(?other, "unexpected answer on a session connection"),
                Ok(None) => return Ended::Error("closed by the voter".into()),
                Err(e) => return Ended::Error(e.to_string()),
            }
        }
    };
    let pings = async {
        loop {
            tokio::time::sleep(PING_INTERVAL).await;
            let ping = Envelope { cluster_id: guard.ours(), request: RpcRequest::Ping };
            if let Err(e) = write_frame(&mut wr, &ping).await {
                return Ended::Error(e.to_string());
            }
        }
    };
    tokio::select! {
        ended = answers => ended,
        ended = pings => ended,
    }
}

/// How a voter's read on a session connection ended.
pub enum Closed {
    /// End of stream or reset: the peer's kernel closed it.
    ByPeer,
    /// Anything else (bad frame, timeout): no evidence of a death.
    Other(String),
}

/// Voter side: reads pings until the connection ends, and says how.
pub async fn drain(stream: &mut Stream) -> Closed {
    loop {
        match read_frame::<Envelope>(stream).await {
            Ok(Some(_)) => {}
            Ok(None) => return Closed::ByPeer,
            Err(RpcError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                return Closed::ByPeer
            }
            Err(e) => return Closed::Other(e.to_string()),
        }
    }
}
