//! Replication: the single way into a replica hosted by this broker.
//!
//! - [`Partition`] (partition.rs): one replica, leader or follower, owning
//!   its log. Handlers, the fetcher and the group coordinator read, append
//!   and truncate only through its methods.
//! - [`IsrState`] (isr.rs): the leader's rules (follower progress, high
//!   watermark, ISR shrink and expand, `min.insync.replicas`) as a pure
//!   state machine with unit tests.
//! - [`ReplicaManager`] (this file): the table of hosted replicas, brought
//!   in line with each metadata image; acks=all waits in the purgatory.
//! - fetcher.rs: one replica fetcher per leader broker, driving followers.
//! - [`txn_guards::TxnGuards`] (txn_guards.rs): a leader's KIP-890
//!   verification guards, pure, with unit tests.
//!
//! Thread-safe: the table is read-locked only for lookups; each partition
//! has its own locks (state, then log). No lock spans partitions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brook_metadata::{topic_config, MetadataImage};
use brook_protocol::error_code::ErrorCode;
use brook_storage::log_manager::SharedLog;
use brook_storage::{LogConfig, LogManager, StorageError, TopicPartition};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, Notify};
use tracing::{info, warn};

use crate::clock::now_ms;
use crate::metrics::traffic::TrafficMetrics;
use crate::purgatory::Purgatory;

pub mod fetcher;
pub mod isr;
pub mod partition;
pub mod txn_guards;

pub use isr::IsrState;
pub use partition::{
    Isolation, IsrChange, LogOffsets, OffsetQuery, Partition, ProducePolicy, ReplicaSnapshot, TxnVerification,
};

pub struct ReplicaManager {
    node_id: i32,
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Followed partitions by leader: the replica fetchers' work lists.
    by_leader: RwLock<BTreeMap<i32, Vec<Arc<Partition>>>>,
    /// Woken when the followed partitions change (fetchers re-plan).
    pub following_changed: Notify,
    static_log_defaults: BTreeMap<String, String>,
    /// Serializes image application and remembers the newest image applied,
    /// so a slow caller with an older image never undoes a newer one.
    applied_offset: Mutex<i64>,
    /// Times a metadata image made this broker leader of a partition it
    /// did not lead (metrics: leader elections as this broker saw them).
    leaderships_taken: AtomicU64,
    isr_changes: mpsc::UnboundedSender<IsrChange>,
    isr_changes_rx: Mutex<Option<mpsc::UnboundedReceiver<IsrChange>>>,
    purgatory: Purgatory,
    /// Per-topic traffic counters, handed to each partition created.
    traffic: Arc<TrafficMetrics>,
}

impl ReplicaManager {
    pub fn new(
        node_id: i32,
        logs: Arc<LogManager>,
        static_log_defaults: BTreeMap<String, String>,
        traffic: Arc<TrafficMetrics>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        ReplicaManager {
            node_id,
            logs,
            partitions: RwLock::new(HashMap::new()),
            by_leader: RwLock::new(BTreeMap::new()),
            following_changed: Notify::new(),
            static_log_defaults,
            applied_offset: Mutex::new(i64::MIN),
            leaderships_taken: AtomicU64::new(0),
            isr_changes: tx,
            isr_changes_rx: Mutex::new(Some(rx)),
            purgatory: Purgatory::new(),
            traffic,
        }
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn purgatory(&self) -> &Purgatory {
        &self.purgatory
    }

    /// A hosted replica, whatever its role.
    pub fn partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().get(tp).cloned()
    }

    /// A replica this broker leads now (its methods check again under its
    /// lock: leadership may move at any time).
    pub fn leader(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partition(tp).filter(|p| p.is_leader())
    }

    /// Every replica this broker leads.
    pub fn leaders(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().filter(|p| p.is_leader()).cloned().collect()
    }

    /// Every hosted replica, whatever its role.
    pub fn hosted(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    /// Leaderships this broker took from metadata images since it started.
    pub fn leaderships_taken(&self) -> u64 {
        self.leaderships_taken.load(Ordering::Relaxed)
    }

    /// Every replica this broker follows from `leader`.
    pub fn followed_from(&self, leader: i32) -> Vec<Arc<Partition>> {
        self.by_leader.read().get(&leader).cloned().unwrap_or_default()
    }

    /// The leaders this broker follows partitions of.
    pub fn followed_leaders(&self) -> Vec<i32> {
        self.by_leader.read().keys().copied().collect()
    }

    /// The ISR changes to send to the controller (taken once).
    pub fn take_isr_changes(&self) -> Option<mpsc::UnboundedReceiver<IsrChange>> {
        self.isr_changes_rx.lock().take()
    }

    /// An ISR change the controller refused or that failed: may be retried.
    pub fn isr_change_failed(&self, tp: &TopicPartition) {
        if let Some(p) = self.partition(tp) {
            p.isr_change_failed();
        }
    }

    /// Followers silent past `replica.lag.time.max.ms` leave the ISR.
    pub fn shrink_isrs(&self, lag_max_ms: i64) {
        let now = now_ms();
        for p in self.partitions.read().values() {
            p.shrink_isr(now, lag_max_ms);
        }
    }

    /// acks=all: waits in the purgatory until the high watermark passes
    /// `last_offset` (appended at `leader_epoch`), or `timeout`
    /// (REQUEST_TIMED_OUT), or the leadership ends (NOT_LEADER_OR_FOLLOWER).
    /// Completed with fewer in-sync replicas than `min.insync.replicas`:
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    pub async fn wait_replicated(
        &self,
        partition: &Partition,
        leader_epoch: i32,
        last_offset: i64,
        timeout: Duration,
    ) -> Result<(), ErrorCode> {
        let deadline = tokio::time::Instant::now() + timeout;
        let keys = [partition.high_watermark_key().clone()];
        match self.purgatory.wait(&keys, deadline, || partition.ack_status(last_offset + 1, leader_epoch)).await {
            Ok(outcome) => outcome,
            Err(()) => Err(ErrorCode::REQUEST_TIMED_OUT),
        }
    }

    fn log_settings(&self, image: &MetadataImage, configs: &BTreeMap<String, String>) -> (LogConfig, i32) {
        let config = topic_config::log_config(configs, &image.broker_configs, &self.static_log_defaults);
        let min_isr = topic_config::effective_value(
            "min.insync.replicas",
            configs,
            &image.broker_configs,
            &self.static_log_defaults,
        )
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1);
        (config, min_isr)
    }

    /// Brings hosted replicas in line with a metadata image: leads what it
    /// names this broker leader of, follows the rest of its replicas,
    /// applies configs, epochs and ISR, and deletes logs of partitions it no
    /// longer hosts (deleted or recreated topics, replicas moved away).
    pub fn apply_image(&self, image: &MetadataImage) -> Result<(), StorageError> {
        let mut applied = self.applied_offset.lock();
        if image.last_offset < *applied {
            return Ok(());
        }
        *applied = image.last_offset;
        let now = now_ms();
        let mut hosted = HashSet::new();
        let mut follow_changed = false;
        for topic in image.topics.values() {
            let (config, min_isr) = self.log_settings(image, &topic.configs);
            for (index, img) in &topic.partitions {
                if !img.replicas.contains(&self.node_id) && img.leader != self.node_id {
                    continue;
                }
                let tp = TopicPartition::new(topic.name.clone(), *index);
                hosted.insert(tp.clone());
                if self.logs.topic_id(&tp).is_some_and(|on_disk| on_disk != *topic.id.as_bytes()) {
                    // A recreated topic: the old replica and log go first.
                    info!(partition = %tp, "deleting the log of an earlier topic of this name");
                    follow_changed |= self.remove(&tp);
                    self.logs.delete(&tp)?;
                }
                let partition = match self.partition(&tp) {
                    Some(p) => p,
                    None => {
                        let log = self.logs.get_or_create(&tp, *topic.id.as_bytes(), config.clone())?;
                        let mut p = Partition::new(self.node_id, tp.clone(), topic.id, log, self.isr_changes.clone());
                        p.traffic = self.traffic.topic(&tp.topic);
                        let p = Arc::new(p);
                        self.partitions.write().insert(tp.clone(), p.clone());
                        p
                    }
                };
                let was_following = partition.followed_leader();
                if img.leader == self.node_id {
                    if !partition.is_leader() {
                        self.leaderships_taken.fetch_add(1, Ordering::Relaxed);
                    }
                    partition.lead(img, min_isr, config.clone(), now);
                } else if img.leader >= 0 {
                    follow_changed |= partition.follow(img, config.clone());
                } else {
                    partition.go_offline(img.leader_epoch);
                }
                follow_changed |= was_following != partition.followed_leader();
            }
        }
        // Replicas and logs on disk of partitions this broker should not have.
        let doomed: Vec<TopicPartition> =
            self.logs.all().into_iter().map(|(tp, _)| tp).filter(|tp| !hosted.contains(tp)).collect();
        for tp in doomed {
            info!(partition = %tp, "deleting log of a partition this broker no longer hosts");
            follow_changed |= self.remove(&tp);
            self.logs.delete(&tp)?;
        }
        if follow_changed {
            let mut by_leader: BTreeMap<i32, Vec<Arc<Partition>>> = BTreeMap::new();
            for p in self.partitions.read().values() {
                if let Some(leader) = p.followed_leader() {
                    by_leader.entry(leader).or_default().push(p.clone());
                }
            }
            *self.by_leader.write() = by_leader;
            self.following_changed.notify_waiters();
        }
        Ok(())
    }

    /// Drops a replica from the table; parked requests on it give up.
    fn remove(&self, tp: &TopicPartition) -> bool {
        let mut partitions = self.partitions.write();
        match partitions.remove(tp) {
            Some(p) => {
                // The topic's last replica here: its traffic series go.
                if !partitions.keys().any(|other| other.topic == tp.topic) {
                    self.traffic.forget_topic(&tp.topic);
                }
                drop(partitions);
                p.go_offline(-1);
                true
            }
            None => false,
        }
    }

    // ---- jobs over every hosted log ----

    /// Retention for every hosted log, led or followed.
    pub fn run_retention(&self, now_ms: i64, producer_id_expiration_ms: i64) {
        for (tp, log) in self.logs.all() {
            match log.lock().apply_retention(now_ms, producer_id_expiration_ms) {
                Ok(0) => {}
                Ok(n) => info!(partition = %tp, segments = n, "retention deleted segments"),
                Err(e) => warn!(partition = %tp, error = %e, "retention failed"),
            }
        }
    }

    /// fsync logs whose `flush.ms` has passed.
    pub fn flush_due(&self, now_ms: i64) {
        for (tp, log) in self.logs.all() {
            if let Err(e) = log.lock().flush_if_due(now_ms) {
                warn!(partition = %tp, error = %e, "flush failed; log is offline");
            }
        }
    }

    /// The log cleaner's candidates: every hosted replica's log. Its high
    /// watermark is committed data whatever the role (checkpointed, set by
    /// this leader's ISR, or taken from the leader), so a pass never
    /// decides on records that may yet be truncated.
    pub fn cleanable_logs(&self) -> Vec<(TopicPartition, SharedLog)> {
        self.partitions.read().values().map(|p| (p.tp.clone(), p.log().clone())).collect()
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.logs
    }
}
