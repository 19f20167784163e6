//! A broker's way to the active controller: sends a request to the voter it
//! believes leads, follows "not controller" hints, and retries over the
//! voters until a deadline. A broker on a controller node reaches its own
//! voter in-process; a lone embedded voter has no network at all.
//!
//! Registering also opens the broker's [`super::session`] connections to
//! every other voter, held for the life of the process, so the controller
//! learns at once when this process is gone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::rpc::{Envelope, QuorumStatus, RpcRequest, RpcResponse, SubmitError};
use super::state_machine::MetadataUpdate;
use super::{ClusterIdGuard, Quorum};
use crate::requests::{ControllerReply, ControllerRequest};

const RETRY_BACKOFF: Duration = Duration::from_millis(100);
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

enum Op<'a> {
    Submit(&'a ControllerRequest),
    Describe,
}

enum Answer {
    Submitted((ControllerReply, i64)),
    Quorum(QuorumStatus),
}

pub struct ControllerClient {
    local: Option<Arc<Quorum>>,
    voters: BTreeMap<i32, String>,
    guard: Arc<ClusterIdGuard>,
    leader_hint: Mutex<Option<i32>>,
    next: Mutex<usize>,
    /// The broker incarnation whose session connections are held.
    session: Mutex<Option<String>>,
}

impl ControllerClient {
    pub fn new(local: Option<Arc<Quorum>>, voters: BTreeMap<i32, String>, guard: Arc<ClusterIdGuard>) -> Self {
        ControllerClient {
            local,
            voters,
            guard,
            leader_hint: Mutex::new(None),
            next: Mutex::new(0),
            session: Mutex::new(None),
        }
    }

    pub fn guard(&self) -> &Arc<ClusterIdGuard> {
        &self.guard
    }

    /// The active controller as last seen (a hint, not a promise).
    pub fn active_controller(&self) -> Option<i32> {
        if let Some(q) = &self.local {
            if let Some(l) = q.leader() {
                return Some(l);
            }
        }
        *self.leader_hint.lock()
    }

    fn candidate(&self) -> i32 {
        if let Some(l) = self.active_controller() {
            return l;
        }
        let mut next = self.next.lock();
        *next = (*next + 1) % self.voters.len().max(1);
        *self.voters.keys().nth(*next).unwrap_or(&-1)
    }

    async fn call(&self, voter: i32, request: RpcRequest, timeout: Duration) -> Result<RpcResponse, SubmitError> {
        let addr = self.voters.get(&voter).ok_or_else(|| SubmitError::Unavailable(format!("no voter {voter}")))?;
        let envelope = Envelope { cluster_id: self.guard.ours(), request };
        match self.guard.client.call(addr, &envelope, timeout).await {
            Ok(RpcResponse::InconsistentClusterId { ours }) => {
                self.guard.report_mismatch(voter as u64, &ours);
                Err(SubmitError::Unavailable(format!("controller {voter} belongs to cluster {ours}")))
            }
            Ok(r) => Ok(r),
            Err(e) => Err(SubmitError::Unavailable(format!("controller {voter} at {addr}: {e}"))),
        }
    }

    /// One try of `op` at `voter`: in process when it is this node.
    async fn attempt(&self, voter: i32, op: &Op<'_>) -> Result<Answer, SubmitError> {
        if let Some(q) = self.local.as_ref().filter(|q| q.node_id() == voter) {
            return match op {
                Op::Submit(request) => q.submit(request).await.map(Answer::Submitted),
                Op::Describe => q.describe().map(Answer::Quorum),
            };
        }
        let request = match op {
            Op::Submit(request) => RpcRequest::Submit((*request).clone()),
            Op::Describe => RpcRequest::DescribeQuorum,
        };
        match self.call(voter, request, RPC_TIMEOUT).await? {
            RpcResponse::Submit(r) => r.map(Answer::Submitted),
            RpcResponse::Quorum(r) => r.map(Answer::Quorum),
            other => Err(SubmitError::Unavailable(format!("unexpected answer {other:?}"))),
        }
    }

    /// Runs `op` against candidate voters until it stops saying "not
    /// controller" or the deadline passes.
    async fn with_leader(&self, timeout: Duration, op: Op<'_>) -> Result<Answer, SubmitError> {
        let deadline = Instant::now() + timeout;
        let mut last = SubmitError::Unavailable("no controller answered".into());
        while Instant::now() < deadline {
            let voter = self.candidate();
            let left = deadline.saturating_duration_since(Instant::now());
            let outcome = tokio::time::timeout(left, self.attempt(voter, &op)).await.unwrap_or_else(|_| {
                Err(SubmitError::Unavailable(format!("controller {voter} did not answer in time")))
            });
            match outcome {
                Ok(v) => {
                    *self.leader_hint.lock() = Some(voter);
                    return Ok(v);
                }
                Err(SubmitError::NotController { leader: Some(l) }) if l as i32 != voter => {
                    *self.leader_hint.lock() = Some(l as i32);
                    last = SubmitError::NotController { leader: Some(l) };
                    continue;
                }
                Err(SubmitError::Refused(e)) => return Err(SubmitError::Refused(e)),
                Err(e) => {
                    *self.leader_hint.lock() = None;
                    last = e;
                }
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
        Err(last)
    }

    /// Holds session connections for this broker incarnation to every voter
    /// but this node's own (once per incarnation; a process has one).
    fn hold_sessions(&self, broker_id: i32, incarnation: &str) {
        let mut held = self.session.lock();
        if held.as_deref() == Some(incarnation) {
            return;
        }
        *held = Some(incarnation.to_string());
        if let Some(q) = self.local.as_ref().filter(|q| q.node_id() == broker_id) {
            q.note_own_broker(incarnation);
        }
        let local = self.local.as_ref().map(|q| q.node_id());
        let others = self.voters.iter().filter(|(id, _)| Some(**id) != local).map(|(k, v)| (*k, v.clone())).collect();
        super::session::hold_all(broker_id, incarnation, others, self.guard.clone());
    }

    /// Sends `request` to the active controller.
    pub async fn submit(
        &self,
        request: &ControllerRequest,
        timeout: Duration,
    ) -> Result<(ControllerReply, i64), SubmitError> {
        if let ControllerRequest::RegisterBroker { broker_id, incarnation, .. } = request {
            self.hold_sessions(*broker_id, incarnation);
        }
        match self.with_leader(timeout, Op::Submit(request)).await? {
            Answer::Submitted(r) => Ok(r),
            Answer::Quorum(_) => Err(SubmitError::Unavailable("unexpected answer".into())),
        }
    }

    /// DescribeQuorum from the active controller.
    pub async fn describe_quorum(&self, timeout: Duration) -> Result<QuorumStatus, SubmitError> {
        match self.with_leader(timeout, Op::Describe).await? {
            Answer::Quorum(q) => Ok(q),
            Answer::Submitted(_) => Err(SubmitError::Unavailable("unexpected answer".into())),
        }
    }

    /// Long-polls a controller for metadata after `after` (broker-only nodes).
    pub async fn fetch_metadata(
        &self,
        after: i64,
        max_wait: Duration,
    ) -> Result<(String, MetadataUpdate), SubmitError> {
        let voter = self.candidate();
        let request = RpcRequest::FetchMetadata { after, max_wait_ms: max_wait.as_millis() as u64 };
        match self.call(voter, request, max_wait + RPC_TIMEOUT).await {
            Ok(RpcResponse::Metadata { cluster_id, update }) => Ok((cluster_id, update)),
            Ok(other) => Err(SubmitError::Unavailable(format!("unexpected answer {other:?}"))),
            Err(e) => {
                *self.leader_hint.lock() = None;
                Err(e)
            }
        }
    }
}
