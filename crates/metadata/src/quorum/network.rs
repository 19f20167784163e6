//! openraft's network bound to the controller listener's RPC: each Raft
//! message is one [`RpcRequest`] to the target voter's address.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::BasicNode;

use super::rpc::{Envelope, RpcRequest, RpcResponse};
use super::{ClusterIdGuard, TypeConfig};

pub struct NetworkFactory {
    pub guard: Arc<ClusterIdGuard>,
    /// Addresses from controller.quorum.voters: the static voter list is the
    /// source of truth for where a voter listens (as in Kafka), not the
    /// address recorded in the log's membership.
    pub voters: std::collections::BTreeMap<i32, String>,
}

pub struct Network {
    target: u64,
    addr: String,
    guard: Arc<ClusterIdGuard>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Network {
        let addr = self.voters.get(&(target as i32)).cloned().unwrap_or_else(|| node.addr.clone());
        Network { target, addr, guard: self.guard.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failure(String);

impl Network {
    async fn send<E: std::error::Error>(
        &self,
        request: RpcRequest,
        option: &RPCOption,
    ) -> Result<RpcResponse, RPCError<u64, BasicNode, E>> {
        let envelope = Envelope { cluster_id: self.guard.ours(), request };
        let timeout = option.hard_ttl().max(Duration::from_millis(200));
        match self.guard.client.call(&self.addr, &envelope, timeout).await {
            Ok(RpcResponse::InconsistentClusterId { ours }) => {
                self.guard.report_mismatch(self.target, &ours);
                Err(RPCError::Unreachable(Unreachable::new(&Failure(format!(
                    "voter {} belongs to cluster {ours}",
                    self.target
                )))))
            }
            Ok(r) => Ok(r),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }
}

fn unexpected<E: std::error::Error>(r: RpcResponse) -> RPCError<u64, BasicNode, E> {
    RPCError::Network(NetworkError::new(&Failure(format!("unexpected response {r:?}"))))
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.send(RpcRequest::AppendEntries(rpc), &option).await? {
            RpcResponse::AppendEntries(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>> {
        match self.send(RpcRequest::InstallSnapshot(rpc), &option).await? {
            RpcResponse::InstallSnapshot(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.send(RpcRequest::Vote(rpc), &option).await? {
            RpcResponse::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(other)),
        }
    }
}
