//! The metadata quorum (KRaft model): the controller nodes run Raft
//! (`openraft`) over the metadata log; the active controller is the Raft
//! leader and the only writer. Brokers follow the committed log through the
//! [`MetadataImage`] it builds.
//!
//! Binding to openraft: [`log_store::LogStore`] is the durable Raft log
//! (fsync before acknowledging), [`state_machine::StateMachine`] applies
//! committed entries to the image and snapshots it, [`network`] carries Raft
//! messages over the controller listener ([`rpc`]).
//!
//! Failover: every voter tracks the [`session`] connections of every node's
//! processes. The active controller moves the partitions of a broker whose
//! process is gone at once (and fences it a moment later); a voter that
//! takes over does the same for those it saw die while it followed; when
//! the Raft leader's own process is gone, the surviving voters elect a
//! successor at once instead of waiting out the leader lease and an
//! election timeout; and until the controller has acted, this node's
//! Metadata answers show no leader rather than a dead one.

pub mod client;
pub mod log_store;
pub mod network;
pub mod rpc;
pub mod session;
pub mod state_machine;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_security::stream::Stream;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};
use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, warn};

use crate::broker_lifecycle::Sessions;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;
use crate::requests::{self, ControllerReply, ControllerRequest, ControllerState};
use log_store::LogStore;
use rpc::{Envelope, QuorumStatus, RpcClient, RpcRequest, RpcResponse, SubmitError, VoterStatus};
use state_machine::StateMachine;

openraft::declare_raft_types!(
    /// Raft types of the metadata quorum: entries carry metadata records.
    pub TypeConfig:
        D = Vec<MetadataRecord>,
        R = (),
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Controller period: fencing checks and the cluster id of a new cluster.
/// (A process seen to die, or a new leadership, wakes it at once.)
const TICK: Duration = Duration::from_millis(250);
/// Raft heartbeat period of the leader. openraft also uses it as the
/// timeout of every AppendEntries, whose follower side includes an fsync:
/// shorter ones fail under load.
const RAFT_HEARTBEAT_MS: u64 = 250;
/// A follower hearing nothing from the leader for its leader lease (openraft
/// makes it `election_timeout_max`) and then a random election timeout in
/// this range calls an election; until the lease ends it refuses votes.
const RAFT_ELECTION_TIMEOUT_MS: (u64, u64) = (800, 1000);
/// After the leader's process died: how long the lowest surviving voter
/// waits for the others to end their leases (see `elect_after_leader_death`),
/// and then between its attempts.
const LEASE_DROP_WAIT: Duration = Duration::from_millis(60);
const ELECTION_RETRY: Duration = Duration::from_millis(300);
const ELECTION_RETRIES: u32 = 6;
/// Longest wait for the quorum to confirm leadership or commit a write.
const QUORUM_WAIT: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("metadata quorum storage in {dir}: {source}")]
    Storage { dir: String, source: std::io::Error },
    #[error("controller.quorum.voters names voters {configured:?}, but the metadata log in {dir} belongs to a quorum of voters {recorded:?}")]
    VotersChanged { configured: Vec<u64>, recorded: Vec<u64>, dir: String },
    #[error("cannot bind the controller listener {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("raft: {0}")]
    Raft(String),
    #[error("{0}")]
    OtherCluster(String),
}

pub struct QuorumConfig {
    pub node_id: i32,
    /// Voter id -> host:port of its controller listener.
    pub voters: BTreeMap<i32, String>,
    /// The controller listener to bind; `None` for a lone in-process voter.
    pub listen: Option<String>,
    pub dir: PathBuf,
    pub session_timeout_ms: i64,
    pub leader_rebalance: requests::LeaderRebalance,
    /// The image to start from when no snapshot exists (an upgraded single-node log).
    pub base_image: Option<MetadataImage>,
    pub guard: Arc<ClusterIdGuard>,
    /// TLS of the controller listener (an SSL controller listener); the
    /// client side is in `guard.client`.
    pub tls: Option<QuorumTls>,
}

/// TLS of an SSL controller listener: the server side (controllers only)
/// and the client side every node uses towards controllers (Kafka reuses
/// the listener's `ssl.*` for both).
#[derive(Clone)]
pub struct QuorumTls {
    pub client: Arc<rustls::ClientConfig>,
    pub server: Option<Arc<brook_security::listener_tls::ListenerTls>>,
}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QuorumTls")
    }
}

/// Knows this node's cluster id and stops the node when the quorum says it
/// belongs to another cluster.
pub struct ClusterIdGuard {
    pub client: RpcClient,
    ours: RwLock<Option<String>>,
    reports: Mutex<HashMap<u64, String>>,
    /// Voters that must report another cluster id before this node gives up.
    needed: usize,
    fatal: watch::Sender<Option<String>>,
}

impl ClusterIdGuard {
    pub fn new(ours: Option<String>, needed: usize) -> Arc<ClusterIdGuard> {
        Self::with_tls(ours, needed, None)
    }

    /// A guard whose connections to controllers use TLS with `tls`.
    pub fn with_tls(
        ours: Option<String>,
        needed: usize,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Arc<ClusterIdGuard> {
        let (fatal, _) = watch::channel(None);
        Arc::new(ClusterIdGuard {
            client: RpcClient::new(tls),
            ours: RwLock::new(ours),
            reports: Mutex::new(HashMap::new()),
            needed: needed.max(1),
            fatal,
        })
    }

    pub fn ours(&self) -> Option<String> {
        self.ours.read().clone()
    }

    pub fn set_ours(&self, id: &str) {
        if !id.is_empty() {
            *self.ours.write() = Some(id.to_string());
        }
    }

    /// A voter answered that it belongs to cluster `theirs`.
    pub fn report_mismatch(&self, voter: u64, theirs: &str) {
        let mut reports = self.reports.lock();
        reports.insert(voter, theirs.to_string());
        let agreeing = reports.values().filter(|c| *c == theirs).count();
        if agreeing >= self.needed {
            let ours = self.ours().unwrap_or_default();
            let message = format!(
                "this node's data belongs to cluster id {ours}, but the controller quorum has cluster id {theirs}: refusing to join (point log.dirs at this cluster's data, or at an empty directory)"
            );
            error!("{message}");
            self.fatal.send_replace(Some(message));
        }
    }

    /// Resolves with a message when this node must stop.
    pub fn fatal(&self) -> watch::Receiver<Option<String>> {
        self.fatal.subscribe()
    }
}

struct Controller {
    state: ControllerState,
    /// The Raft term in which `state` was built; a new term resets liveness.
    term: u64,
}

pub struct Quorum {
    node_id: u64,
    /// Every voter's id.
    voters: Vec<i32>,
    raft: Raft<TypeConfig>,
    sm: StateMachine,
    log: LogStore,
    controller: tokio::sync::Mutex<Controller>,
    session_timeout_ms: i64,
    leader_rebalance: requests::LeaderRebalance,
    guard: Arc<ClusterIdGuard>,
    dir: PathBuf,
    /// The session connections this voter holds, by node and incarnation.
    sessions: Mutex<Sessions>,
    next_connection: AtomicU64,
    /// Wakes the controller loop (a process died).
    wake: Notify,
    /// When this voter last took an AppendEntries (the leader's lease).
    last_append: Mutex<Instant>,
    /// An election task for a dead leader is running.
    electing: AtomicBool,
    /// The broker incarnation this node's previous process registered
    /// (from [`OWN_BROKER_FILE`]), until this process's broker registers.
    previous_own_broker: Mutex<Option<String>>,
    /// Partition leaders this node changed while it was the active controller.
    leader_elections: AtomicU64,
}

/// One voter's view of the metadata log, for /metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftView {
    /// The leader this voter knows, or -1.
    pub current_leader: i32,
    pub current_epoch: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
}

/// How many of `records` give an existing partition a new leader (a
/// leaderless partition counts when it gets one; losing its leader does not).
pub fn leader_changes(image: &MetadataImage, records: &[MetadataRecord]) -> u64 {
    records
        .iter()
        .filter(|r| match r {
            MetadataRecord::Partition { topic_id, partition, leader, .. } => {
                let current = uuid::Uuid::parse_str(topic_id)
                    .ok()
                    .and_then(|id| image.topic_by_id(&id))
                    .and_then(|t| t.partitions.get(partition));
                *leader >= 0 && current.is_some_and(|p| p.leader != *leader)
            }
            _ => false,
        })
        .count() as u64
}

/// How a controller process's session incarnation starts.
const CONTROLLER_INCARNATION: &str = "controller-";

/// In the quorum's directory: the incarnation this node's broker registers
/// with, so the node's next process knows that one is gone.
const OWN_BROKER_FILE: &str = "broker-incarnation";

/// Asks every other voter, briefly, which cluster it belongs to; answers
/// naming another cluster are reported to the guard (which decides by
/// majority). Unreachable voters are skipped: startup must not depend on them.
async fn probe_voters(config: &QuorumConfig) {
    let probes = config.voters.iter().filter(|(id, _)| **id != config.node_id).map(|(id, addr)| {
        let envelope = Envelope { cluster_id: config.guard.ours(), request: RpcRequest::DescribeQuorum };
        let guard = config.guard.clone();
        async move {
            if let Ok(RpcResponse::InconsistentClusterId { ours }) =
                guard.client.call(addr, &envelope, Duration::from_secs(2)).await
            {
                guard.report_mismatch(*id as u64, &ours);
            }
        }
    });
    // The probes borrow the config: run them on this task, concurrently.
    futures::future::join_all(probes).await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn not_controller<E>(e: RaftError<u64, E>, forward: impl Fn(&E) -> Option<Option<u64>>) -> SubmitError
where
    E: std::error::Error,
{
    match &e {
        RaftError::APIError(api) => match forward(api) {
            Some(leader) => SubmitError::NotController { leader },
            None => SubmitError::Unavailable(e.to_string()),
        },
        RaftError::Fatal(_) => SubmitError::Unavailable(e.to_string()),
    }
}

impl Quorum {
    pub async fn start(config: QuorumConfig) -> Result<Arc<Quorum>, QuorumError> {
        let storage = |source| QuorumError::Storage { dir: config.dir.display().to_string(), source };
        let log = LogStore::open(&config.dir).map_err(storage)?;
        let sm = StateMachine::open(&config.dir, config.base_image.clone()).map_err(storage)?;
        let configured: Vec<u64> = config.voters.keys().map(|v| *v as u64).collect();
        let recorded = log.last_membership_voters().unwrap_or_else(|| sm.membership_voters());
        if !recorded.is_empty() && recorded != configured {
            return Err(QuorumError::VotersChanged { configured, recorded, dir: config.dir.display().to_string() });
        }
        let raft_config = openraft::Config {
            cluster_name: "brook-metadata".into(),
            // Replication RPCs include the follower's fsync: the election
            // timeout (1.8-2 s without a heartbeat, lease included) leaves
            // room for it. A dead leader is replaced sooner: see
            // `elect_after_leader_death`.
            heartbeat_interval: RAFT_HEARTBEAT_MS,
            election_timeout_min: RAFT_ELECTION_TIMEOUT_MS.0,
            election_timeout_max: RAFT_ELECTION_TIMEOUT_MS.1,
            install_snapshot_timeout: 10_000,
            snapshot_max_chunk_size: 1024 * 1024,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(500),
            max_in_snapshot_log_to_keep: 100,
            purge_batch_size: 1,
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        // A node that knows its cluster asks the other voters first, so a data
        // dir of another cluster is refused before Raft touches it (a vote).
        if config.guard.ours().is_some() && config.voters.len() > 1 {
            probe_voters(&config).await;
            if let Some(message) = config.guard.fatal().borrow().clone() {
                return Err(QuorumError::OtherCluster(message));
            }
        }
        let fresh = log.is_empty();
        let network = network::NetworkFactory { guard: config.guard.clone(), voters: config.voters.clone() };
        let raft = Raft::new(config.node_id as u64, Arc::new(raft_config), network, log.clone(), sm.clone())
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        if fresh {
            let members: BTreeMap<u64, BasicNode> =
                config.voters.iter().map(|(id, addr)| (*id as u64, BasicNode { addr: addr.clone() })).collect();
            if let Err(e) = raft.initialize(members).await {
                debug!(error = %e, "quorum already initialized");
            }
            info!(voters = ?configured, "initialized a new metadata quorum");
        }
        if config.voters.len() == 1 && !fresh {
            // A lone voter need not wait out an election timeout on restart.
            if let Err(e) = raft.trigger().elect().await {
                debug!(error = %e, "could not trigger an election");
            }
        }
        let quorum = Arc::new(Quorum {
            node_id: config.node_id as u64,
            voters: config.voters.keys().copied().collect(),
            raft,
            sm,
            log,
            controller: tokio::sync::Mutex::new(Controller { state: ControllerState::default(), term: 0 }),
            session_timeout_ms: config.session_timeout_ms,
            leader_rebalance: config.leader_rebalance,
            guard: config.guard.clone(),
            dir: config.dir.clone(),
            sessions: Mutex::new(Sessions::default()),
            next_connection: AtomicU64::new(1),
            wake: Notify::new(),
            last_append: Mutex::new(Instant::now()),
            electing: AtomicBool::new(false),
            previous_own_broker: Mutex::new(
                std::fs::read_to_string(config.dir.join(OWN_BROKER_FILE))
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            ),
            leader_elections: AtomicU64::new(0),
        });
        quorum.guard.set_ours(&quorum.sm.image().cluster_id);
        if let Some(addr) = &config.listen {
            let listener =
                TcpListener::bind(addr).await.map_err(|source| QuorumError::Bind { addr: addr.clone(), source })?;
            info!(%addr, "controller listener bound");
            let tls = config.tls.as_ref().and_then(|t| t.server.clone());
            tokio::spawn(quorum.clone().serve(listener, tls));
        }
        tokio::spawn(quorum.clone().run_controller());
        if config.listen.is_some() {
            // This controller process's sessions with the other voters, so
            // they learn at once when it is gone.
            let others: BTreeMap<i32, String> =
                config.voters.iter().filter(|(id, _)| **id != config.node_id).map(|(k, v)| (*k, v.clone())).collect();
            if !others.is_empty() {
                let incarnation = format!("{CONTROLLER_INCARNATION}{}", uuid::Uuid::new_v4());
                session::hold_all(config.node_id, &incarnation, others, config.guard.clone());
            }
        }
        Ok(quorum)
    }

    pub fn node_id(&self) -> i32 {
        self.node_id as i32
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.sm.image()
    }

    pub fn watch(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.sm.watch()
    }

    /// The active controller as this voter knows it.
    pub fn leader(&self) -> Option<i32> {
        self.raft.metrics().borrow().current_leader.map(|l| l as i32)
    }

    /// This voter's own view of the Raft log (Kafka's `raft-metrics`):
    /// read from openraft's metrics watch, no IO.
    pub fn raft_view(&self) -> RaftView {
        let m = self.raft.metrics().borrow().clone();
        RaftView {
            current_leader: m.current_leader.map_or(-1, |l| l as i32),
            current_epoch: m.current_term as i64,
            // Committed entries: openraft applies what it commits, so the
            // last applied index is this voter's high watermark.
            high_watermark: m.last_applied.map_or(-1, |l| l.index as i64),
            log_end_offset: m.last_log_index.map_or(-1, |i| i as i64),
        }
    }

    /// Bytes on disk of the Raft log file.
    pub fn log_bytes(&self) -> u64 {
        self.log.file_len()
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// `image` as this node's broker should describe it to clients: see
    /// [`crate::broker_lifecycle::hide_gone_leaders`].
    pub fn client_image(&self, image: Arc<MetadataImage>) -> Arc<MetadataImage> {
        match crate::broker_lifecycle::hide_gone_leaders(&image, &self.sessions.lock()) {
            Some(shown) => Arc::new(shown),
            None => image,
        }
    }

    /// This node's broker registers as `incarnation` (in this process). The
    /// incarnation its previous process registered with, as recorded in
    /// this quorum's directory, is gone: this voter knows it even though it
    /// never saw that process's sessions close (it is that node's next
    /// process), so if it leads, the restarted broker need not wait out the
    /// old session. Two live processes never share a quorum directory.
    pub fn note_own_broker(&self, incarnation: &str) {
        if let Some(previous) = self.previous_own_broker.lock().take() {
            if previous != incarnation {
                info!(node = self.node_id, %previous, "this node's previous process is gone");
                self.sessions.lock().gone(self.node_id as i32, &previous, now_ms());
            }
        }
        let path = self.dir.join(OWN_BROKER_FILE);
        let tmp = self.dir.join(format!("{OWN_BROKER_FILE}.tmp"));
        if let Err(e) = std::fs::write(&tmp, incarnation).and_then(|()| std::fs::rename(&tmp, &path)) {
            warn!(path = %path.display(), error = %e, "cannot record this broker's incarnation");
        }
    }

    /// Makes sure this node is the leader with every committed entry applied;
    /// a leadership new to the controller starts broker liveness afresh.
    async fn lead(&self, controller: &mut Controller) -> Result<(), SubmitError> {
        let linearizable = tokio::time::timeout(QUORUM_WAIT, self.raft.ensure_linearizable())
            .await
            .map_err(|_| SubmitError::Unavailable("no quorum confirmed this leader in time".into()))?;
        linearizable.map_err(|e| {
            not_controller(e, |api| match api {
                CheckIsLeaderError::ForwardToLeader(f) => Some(f.leader_id),
                CheckIsLeaderError::QuorumNotEnough(_) => None,
            })
        })?;
        // A write that timed out may still commit: decide only once every
        // entry in this leader's log is applied, or two decisions could be
        // made from the same image (a producer-id block handed out twice).
        let last = self.raft.metrics().borrow().last_log_index;
        if let Some(last) = last {
            self.raft
                .wait(Some(QUORUM_WAIT))
                .applied_index_at_least(Some(last), "controller decision")
                .await
                .map_err(|_| SubmitError::Unavailable("earlier metadata writes are not committed yet".into()))?;
        }
        let term = self.raft.metrics().borrow().current_term;
        if controller.term != term {
            info!(term, "became the active controller");
            controller.term = term;
            controller.state.liveness.reset(&self.sm.image(), now_ms());
        }
        Ok(())
    }

    async fn write(&self, records: Vec<MetadataRecord>) -> Result<i64, SubmitError> {
        // Every earlier write is applied (see `lead`): the image is the state these records change.
        let elections = leader_changes(&self.sm.image(), &records);
        // A leader cut off from its quorum never commits; give up rather
        // than hold the controller (and every request behind it).
        let written = tokio::time::timeout(QUORUM_WAIT, self.raft.client_write(records))
            .await
            .map_err(|_| SubmitError::Unavailable("the metadata quorum did not commit in time".into()))?;
        let response = written.map_err(|e| {
            not_controller(e, |api| match api {
                ClientWriteError::ForwardToLeader(f) => Some(f.leader_id),
                ClientWriteError::ChangeMembershipError(_) => None,
            })
        })?;
        self.leader_elections.fetch_add(elections, Ordering::Relaxed);
        Ok(response.log_id.index as i64)
    }

    /// Partition leaders this node changed as the active controller since it
    /// started (Kafka's ControllerStats leader elections).
    pub fn leader_elections(&self) -> u64 {
        self.leader_elections.load(Ordering::Relaxed)
    }

    /// Carries out a broker's request as the active controller. Returns the
    /// reply and the metadata offset that holds its effect.
    pub async fn submit(&self, request: &ControllerRequest) -> Result<(ControllerReply, i64), SubmitError> {
        let mut controller = self.controller.lock().await;
        self.lead(&mut controller).await?;
        let image = self.sm.image();
        controller.state.sessions = self.sessions.lock().clone();
        let (mut records, reply) =
            requests::decide(&mut controller.state, &image, request, now_ms(), self.session_timeout_ms)
                .map_err(SubmitError::Refused)?;
        for r in &records {
            if let MetadataRecord::FenceBroker { broker_id } = r {
                info!(broker = broker_id, "fencing broker: replaced by a new incarnation, or shutting down");
            }
        }
        if image.cluster_id.is_empty() {
            // A new cluster gets its id with its first write.
            records.insert(0, requests::new_cluster_record());
        }
        if records.is_empty() {
            return Ok((reply, image.last_offset));
        }
        let offset = self.write(records).await?;
        Ok((reply, offset))
    }

    async fn run_controller(self: Arc<Self>) {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut image_watch = self.sm.watch();
        let mut metrics = self.raft.metrics();
        let mut leading = (false, 0);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = self.wake.notified() => {}
                changed = metrics.changed() => {
                    if changed.is_err() { return; }
                    // A new leadership acts at once, not at the next tick.
                    let now = {
                        let m = metrics.borrow_and_update();
                        (m.state == ServerState::Leader, m.current_term)
                    };
                    if now == leading { continue; }
                    leading = now;
                    if !now.0 { continue; }
                }
                changed = image_watch.changed() => {
                    if changed.is_err() { return; }
                    let id = image_watch.borrow_and_update().cluster_id.clone();
                    self.guard.set_ours(&id);
                    continue;
                }
            }
            let is_leader = {
                let m = self.raft.metrics();
                let m = m.borrow();
                m.state == ServerState::Leader
            };
            if !is_leader {
                continue;
            }
            let mut controller = self.controller.lock().await;
            if self.lead(&mut controller).await.is_err() {
                continue;
            }
            let image = self.sm.image();
            controller.state.sessions = self.sessions.lock().clone();
            let records =
                requests::tick(&mut controller.state, &image, now_ms(), self.session_timeout_ms, self.leader_rebalance);
            if records.is_empty() {
                continue;
            }
            for r in &records {
                match r {
                    MetadataRecord::FenceBroker { broker_id } => {
                        let gone = image
                            .brokers
                            .get(broker_id)
                            .is_some_and(|b| controller.state.sessions.is_dead(b.id, &b.incarnation));
                        if gone {
                            info!(broker = broker_id, "fencing broker: its process is gone (session connection closed)")
                        } else {
                            info!(broker = broker_id, "fencing broker: session expired")
                        }
                    }
                    MetadataRecord::Cluster { cluster_id } => info!(%cluster_id, "new cluster"),
                    MetadataRecord::Partition { topic_id, partition, leader, leader_epoch, .. } => {
                        info!(%topic_id, partition, leader, leader_epoch, "partition leader change")
                    }
                    _ => {}
                }
            }
            if let Err(e) = self.write(records).await {
                warn!(error = ?e, "controller tick could not commit");
            }
        }
    }

    /// DescribeQuorum, answered by the leader.
    pub fn describe(&self) -> Result<QuorumStatus, SubmitError> {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.node_id) {
            return Err(SubmitError::NotController { leader: m.current_leader });
        }
        let leader_end = m.last_log_index.map_or(-1, |i| i as i64);
        let voters = m
            .membership_config
            .membership()
            .voter_ids()
            .map(|id| {
                let end = if id == self.node_id {
                    leader_end
                } else {
                    m.replication.as_ref().and_then(|r| r.get(&id).cloned().flatten()).map_or(-1, |l| l.index as i64)
                };
                VoterStatus { id: id as i32, log_end_offset: end, lag: (leader_end - end).max(0) }
            })
            .collect();
        Ok(QuorumStatus {
            leader_id: self.node_id as i32,
            leader_epoch: m.current_term as i32,
            high_watermark: m.last_applied.map_or(-1, |l| l.index as i64),
            voters,
        })
    }

    /// Waits up to `max_wait` for entries after `after`, then answers.
    pub async fn fetch_metadata(&self, after: i64, max_wait: Duration) -> state_machine::MetadataUpdate {
        let mut watch = self.sm.watch();
        let _ = tokio::time::timeout(max_wait, watch.wait_for(|image| image.last_offset > after)).await;
        self.sm.update_since(after)
    }

    async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<Arc<brook_security::listener_tls::ListenerTls>>,
    ) {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "controller listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let quorum = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let mut stream = match tls {
                    None => Stream::Plain(tcp),
                    Some(tls) => match tls.handshake(tcp).await {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            warn!(%peer, error = %e, "TLS handshake failed on the controller listener; closing");
                            return;
                        }
                    },
                };
                loop {
                    let envelope = match rpc::read_frame::<Envelope>(&mut stream).await {
                        Ok(Some(e)) => e,
                        Ok(None) => return,
                        Err(e) => {
                            warn!(%peer, error = %e, "closing controller connection");
                            return;
                        }
                    };
                    if let RpcRequest::Session { node_id, incarnation } = envelope.request {
                        quorum.hold_session(stream, envelope.cluster_id, node_id, incarnation).await;
                        return;
                    }
                    let response = quorum.handle(envelope).await;
                    if rpc::write_frame(&mut stream, &response).await.is_err() {
                        return;
                    }
                }
            });
        }
    }

    async fn handle(&self, envelope: Envelope) -> RpcResponse {
        if let (Some(theirs), Some(ours)) = (&envelope.cluster_id, self.guard.ours()) {
            if *theirs != ours {
                warn!(theirs = %theirs, ours = %ours, "refusing a request from a node of another cluster");
                return RpcResponse::InconsistentClusterId { ours };
            }
        }
        match envelope.request {
            RpcRequest::AppendEntries(r) => {
                *self.last_append.lock() = Instant::now();
                RpcResponse::AppendEntries(self.raft.append_entries(r).await)
            }
            RpcRequest::Vote(r) => RpcResponse::Vote(self.raft.vote(r).await),
            RpcRequest::InstallSnapshot(r) => RpcResponse::InstallSnapshot(self.raft.install_snapshot(r).await),
            RpcRequest::Submit(request) => RpcResponse::Submit(self.submit(&request).await),
            RpcRequest::FetchMetadata { after, max_wait_ms } => {
                let update = self.fetch_metadata(after, Duration::from_millis(max_wait_ms.min(30_000))).await;
                RpcResponse::Metadata { cluster_id: self.sm.image().cluster_id.clone(), update }
            }
            RpcRequest::DescribeQuorum => RpcResponse::Quorum(self.describe()),
            // Only meaningful first on a connection (see `serve`).
            RpcRequest::Session { .. } | RpcRequest::Ping => RpcResponse::NotAController,
        }
    }

    /// Holds a session connection of (`node_id`, `incarnation`) until it
    /// ends; a close by the peer means that process is gone.
    async fn hold_session(
        self: &Arc<Self>,
        mut stream: Stream,
        cluster_id: Option<String>,
        node_id: i32,
        incarnation: String,
    ) {
        if let (Some(theirs), Some(ours)) = (&cluster_id, self.guard.ours()) {
            if *theirs != ours {
                let _ = rpc::write_frame(&mut stream, &RpcResponse::InconsistentClusterId { ours }).await;
                return;
            }
        }
        let connection = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.sessions.lock().opened(node_id, &incarnation, connection, now_ms());
        debug!(node = node_id, %incarnation, connection, "session connection opened");
        let _ = rpc::write_frame(&mut stream, &RpcResponse::SessionOpened).await;
        match session::drain(&mut stream).await {
            session::Closed::ByPeer => self.session_closed(node_id, &incarnation, connection),
            session::Closed::Other(e) => {
                warn!(node = node_id, %incarnation, error = %e, "dropping a session connection (no evidence of a death)")
            }
        }
    }

    fn session_closed(self: &Arc<Self>, node_id: i32, incarnation: &str, connection: u64) {
        if !self.sessions.lock().closed(node_id, incarnation, connection, now_ms()) {
            return;
        }
        info!(node = node_id, %incarnation, "session closed: that process is gone");
        self.wake.notify_one();
        // A node runs one controller process at a time: if the Raft leader
        // is that node, the leader's process is the one gone (a restarted
        // process of the node is a new voter, not the leader).
        let m = self.raft.metrics().borrow().clone();
        if incarnation.starts_with(CONTROLLER_INCARNATION)
            && m.current_leader == Some(node_id as u64)
            && m.state != ServerState::Leader
            && !self.electing.swap(true, Ordering::SeqCst)
        {
            let quorum = self.clone();
            tokio::spawn(async move {
                quorum.elect_after_leader_death(node_id as u64).await;
                quorum.electing.store(false, Ordering::SeqCst);
            });
        }
    }

    /// The Raft leader's process is gone: elect a successor now instead of
    /// after the leader lease and an election timeout (1.8-2 s).
    ///
    /// openraft's voters refuse votes while the lease of a leader they
    /// follow runs (a committed vote), but not while they are candidates
    /// themselves (an uncommitted vote). So every surviving voter but one
    /// calls an election at once, which ends its lease, and the surviving
    /// voter with the lowest id calls one [`LEASE_DROP_WAIT`] later, twice, so
    /// that its term is above theirs: they grant it (if its log is as long
    /// as theirs; otherwise their own candidacies run their normal course).
    /// Every voter decides alike from its own view, and none of this happens
    /// while the leader's process runs: its session connection closed.
    async fn elect_after_leader_death(&self, dead: u64) {
        let died = Instant::now();
        let me = self.node_id as i32;
        let live: Vec<i32> = {
            let sessions = self.sessions.lock();
            self.voters.iter().copied().filter(|v| *v as u64 != dead && (*v == me || !sessions.node_down(*v))).collect()
        };
        let Some(rank) = live.iter().position(|v| *v == me) else { return };
        if rank > 0 {
            if self.raft.metrics().borrow().current_leader == Some(dead) {
                info!(leader = dead, "calling an election to end the lease of the gone active controller");
                if let Err(e) = self.raft.trigger().elect().await {
                    warn!(error = %e, "could not call an election");
                }
            }
            return;
        }
        tokio::time::sleep(LEASE_DROP_WAIT).await;
        for attempt in 0..ELECTION_RETRIES {
            let m = self.raft.metrics().borrow().clone();
            // Still no leader (a candidacy of its own has no committed vote).
            let waiting = m.current_leader.is_none_or(|l| l == dead);
            // The node's next process may resume the same leadership (its
            // vote is on disk): heard from since, nothing to do.
            let heard = *self.last_append.lock() > died + Duration::from_millis(50);
            if m.state == ServerState::Leader || !waiting || heard {
                return;
            }
            info!(leader = dead, attempt, "calling an election: the active controller's process is gone");
            for _ in 0..if attempt == 0 { 2 } else { 1 } {
                if let Err(e) = self.raft.trigger().elect().await {
                    warn!(error = %e, "could not call an election");
                    return;
                }
            }
            tokio::time::sleep(ELECTION_RETRY).await;
        }
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            warn!(error = %e, "raft shutdown failed");
        }
    }
}

#[cfg(test)]
mod leader_change_tests {
    use super::*;

    fn partition(topic_id: &str, partition: i32, leader: i32) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id: topic_id.into(),
            partition,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        }
    }

    #[test]
    fn counts_only_new_leaders_of_existing_partitions() {
        let id = uuid::Uuid::new_v4().to_string();
        let mut image = MetadataImage::default();
        image.apply(&MetadataRecord::Topic { name: "t".into(), topic_id: id.clone() });
        image.apply(&partition(&id, 0, 1));
        image.apply(&partition(&id, 1, -1));
        let records = vec![
            partition(&id, 0, 1), // same leader (an ISR change): no election
            partition(&id, 0, 2), // moved: one
            partition(&id, 1, 2), // a leaderless partition gets one: one
            partition(&id, 2, 1), // a new partition: not an election
            MetadataRecord::FenceBroker { broker_id: 1 },
        ];
        assert_eq!(leader_changes(&image, &records), 2);
        assert_eq!(leader_changes(&image, &[partition(&id, 0, -1)]), 0);
    }
}
