//! Partition replicas hosted by this broker, as Kafka's ISR model runs them.
//!
//! - A partition this broker **leads** is a [`Partition`]: produce appends
//!   to it, followers fetch from it, and it tracks each follower's log end
//!   offset. Its high watermark (HW) is the smallest log end among the
//!   in-sync replicas (ISR); consumers read below it and acks=all produces
//!   complete when it passes them. ISR changes (a follower caught up, or
//!   silent past `replica.lag.time.max.ms`) are proposed to the controller
//!   (AlterPartition with the partition epoch) and take effect when the
//!   metadata image carries them.
//! - A partition this broker **follows** is a [`FollowedPartition`]: the
//!   replica fetcher truncates it to the leader's history, then copies the
//!   leader's batches into it as they are (same offsets, same epochs).
//!
//! Thread-safe: the tables are read-locked only for lookups; each
//! partition's log has its own mutex; leader state another.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use brook_metadata::{topic_config, MetadataImage, PartitionImage};
use brook_protocol::error_code;
use brook_storage::log_manager::SharedLog;
use brook_storage::{AppendResult, FetchSlice, LogConfig, LogManager, StorageError, TopicPartition};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, info, warn};
use uuid::Uuid;

/// A follower's progress as its fetches show it.
#[derive(Debug, Clone, Copy)]
struct FollowerProgress {
    /// Its log end offset (the offset it fetches from); -1 until it fetches.
    log_end_offset: i64,
    /// Last time it had everything the leader had.
    last_caught_up_ms: i64,
}

/// Replica set and ISR of a partition this broker leads.
#[derive(Debug)]
struct LeaderState {
    replicas: Vec<i32>,
    isr: Vec<i32>,
    partition_epoch: i32,
    followers: HashMap<i32, FollowerProgress>,
    /// An ISR change sent to the controller and not yet in metadata.
    pending_isr: Option<Vec<i32>>,
}

/// One partition this broker leads.
pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub log: SharedLog,
    leader_epoch: AtomicI32,
    /// False once another broker leads (parked requests then give up).
    leading: AtomicBool,
    /// Woken after every append and every high-watermark advance, for
    /// fetches in long poll and acks=all produces in purgatory.
    pub data_arrived: Notify,
    pub min_insync_replicas: AtomicI32,
    /// The topic's produce-time rules, read before the log's lock is taken.
    policy: parking_lot::RwLock<ProducePolicy>,
    state: Mutex<LeaderState>,
}

/// What the produce path does with a batch before appending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProducePolicy {
    /// `cleanup.policy` has `compact`: records without a key are refused.
    pub compact: bool,
    /// `compression.type` other than `producer`: store batches in this codec.
    pub compression: Option<brook_protocol::batch::Compression>,
    pub levels: brook_protocol::records::CodecLevels,
    /// `max.message.bytes`, checked on the batch as produced (Kafka does not
    /// check it again after recompression).
    pub max_message_bytes: usize,
}

impl ProducePolicy {
    fn of(config: &LogConfig) -> ProducePolicy {
        ProducePolicy {
            compact: config.compact,
            compression: config.compression,
            levels: config.compression_levels,
            max_message_bytes: config.max_message_bytes,
        }
    }
}

impl Partition {
    pub fn produce_policy(&self) -> ProducePolicy {
        *self.policy.read()
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    pub fn isr(&self) -> Vec<i32> {
        self.state.lock().isr.clone()
    }

    /// Kafka's fencing of a client-supplied `current_leader_epoch` (-1 = none).
    pub fn check_epoch(&self, current_leader_epoch: i32) -> Result<(), i16> {
        let ours = self.leader_epoch();
        if current_leader_epoch < 0 || current_leader_epoch == ours {
            Ok(())
        } else if current_leader_epoch < ours {
            Err(error_code::FENCED_LEADER_EPOCH)
        } else {
            Err(error_code::UNKNOWN_LEADER_EPOCH)
        }
    }

    /// Raises the HW to the smallest log end in the ISR (never lowers it).
    /// Returns true if it moved.
    fn maybe_advance_hw(&self, node_id: i32, state: &LeaderState) -> bool {
        advance_hw(node_id, state, &mut self.log.lock())
    }
}

/// The HW step with the log already locked (lock order: state, then log).
fn advance_hw(node_id: i32, state: &LeaderState, log: &mut brook_storage::PartitionLog) -> bool {
    let mut hw = log.log_end_offset();
    for member in state.isr.iter().filter(|m| **m != node_id) {
        match state.followers.get(member) {
            Some(f) if f.log_end_offset >= 0 => hw = hw.min(f.log_end_offset),
            _ => return false, // a member we have not heard from yet holds the HW
        }
    }
    if hw > log.high_watermark() {
        log.set_high_watermark(hw);
        return true;
    }
    false
}

/// One partition this broker follows.
pub struct FollowedPartition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub log: SharedLog,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Set when this replica (re)starts following: its log must first be cut
    /// to where its history and the leader's agree (OffsetForLeaderEpoch).
    pub needs_truncation: AtomicBool,
}

/// An ISR change a leader wants the controller to make.
#[derive(Debug, Clone)]
pub struct IsrChange {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

pub struct ReplicaManager {
    node_id: i32,
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    following: RwLock<HashMap<TopicPartition, Arc<FollowedPartition>>>,
    /// Partitions whose high watermark this process took from a leader's
    /// fetch response: safe to start leading with.
    followed_once: Mutex<std::collections::HashSet<TopicPartition>>,
    /// Woken when the set of followed partitions changes (fetchers re-plan).
    pub following_changed: Notify,
    static_log_defaults: BTreeMap<String, String>,
    /// Serializes image application and remembers the newest image applied,
    /// so a slow caller with an older image never undoes a newer one.
    applied_offset: parking_lot::Mutex<i64>,
    isr_changes: mpsc::UnboundedSender<IsrChange>,
    isr_changes_rx: Mutex<Option<mpsc::UnboundedReceiver<IsrChange>>>,
}

/// Outcome of a produce to one partition.
pub type ProduceOutcome = Result<AppendResult, i16>;

fn now_ms() -> i64 {
    crate::broker::now_ms()
}

impl ReplicaManager {
    pub fn new(node_id: i32, logs: Arc<LogManager>, static_log_defaults: BTreeMap<String, String>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        ReplicaManager {
            node_id,
            logs,
            partitions: RwLock::new(HashMap::new()),
            following: RwLock::new(HashMap::new()),
            followed_once: Mutex::new(std::collections::HashSet::new()),
            following_changed: Notify::new(),
            static_log_defaults,
            applied_offset: parking_lot::Mutex::new(i64::MIN),
            isr_changes: tx,
            isr_changes_rx: Mutex::new(Some(rx)),
        }
    }

    /// A follower's high watermark now comes from its leader.
    pub fn high_watermark_known(&self, tp: &TopicPartition) {
        let mut known = self.followed_once.lock();
        if !known.contains(tp) {
            known.insert(tp.clone());
        }
    }

    /// The ISR changes to send to the controller (taken once, by the broker).
    pub fn take_isr_changes(&self) -> Option<mpsc::UnboundedReceiver<IsrChange>> {
        self.isr_changes_rx.lock().take()
    }

    /// A partition this broker leads.
    pub fn partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().get(tp).cloned()
    }

    /// Every partition this broker leads.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    /// Every partition this broker follows from `leader`.
    pub fn followed_from(&self, leader: i32) -> Vec<Arc<FollowedPartition>> {
        self.following.read().values().filter(|f| f.leader == leader).cloned().collect()
    }

    /// The leaders this broker follows partitions of.
    pub fn followed_leaders(&self) -> Vec<i32> {
        let mut leaders: Vec<i32> = self.following.read().values().map(|f| f.leader).collect();
        leaders.sort_unstable();
        leaders.dedup();
        leaders
    }

    /// Every hosted log, led or followed (retention, flush).
    pub fn all_logs(&self) -> Vec<(TopicPartition, SharedLog)> {
        self.logs.all()
    }

    /// Logs whose high watermark is known to be committed data: those this
    /// broker leads, and those it follows once a leader's fetch response set
    /// their watermark (the log cleaner's candidates).
    pub fn committed_logs(&self) -> Vec<(TopicPartition, SharedLog)> {
        let mut logs: Vec<(TopicPartition, SharedLog)> =
            self.partitions.read().values().map(|p| (p.tp.clone(), p.log.clone())).collect();
        let known = self.followed_once.lock().clone();
        logs.extend(
            self.following.read().values().filter(|f| known.contains(&f.tp)).map(|f| (f.tp.clone(), f.log.clone())),
        );
        logs
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

    /// Brings hosted partitions in line with a metadata image: leads what it
    /// names this broker leader of, follows the rest of its replicas, applies
    /// configs, epochs and ISR, and deletes logs of partitions it no longer
    /// hosts (deleted or recreated topics, replicas moved away).
    pub fn apply_image(&self, image: &MetadataImage) -> Result<(), StorageError> {
        let mut applied = self.applied_offset.lock();
        if image.last_offset < *applied {
            return Ok(());
        }
        *applied = image.last_offset;
        let mut lead: HashMap<TopicPartition, (Uuid, PartitionImage, LogConfig, i32)> = HashMap::new();
        let mut follow: HashMap<TopicPartition, (Uuid, PartitionImage, LogConfig)> = HashMap::new();
        let mut hosted = HashMap::new();
        for topic in image.topics.values() {
            let (config, min_isr) = self.log_settings(image, &topic.configs);
            for (index, p) in &topic.partitions {
                let tp = TopicPartition::new(topic.name.clone(), *index);
                if !p.replicas.contains(&self.node_id) && p.leader != self.node_id {
                    continue;
                }
                hosted.insert(tp.clone(), topic.id);
                if p.leader == self.node_id {
                    lead.insert(tp, (topic.id, p.clone(), config.clone(), min_isr));
                } else if p.leader >= 0 {
                    follow.insert(tp, (topic.id, p.clone(), config.clone()));
                }
            }
        }
        // Logs on disk for partitions we should not have.
        for (tp, _) in self.logs.all() {
            let keep = hosted
                .get(&tp)
                .is_some_and(|id| self.logs.topic_id(&tp).is_none_or(|on_disk| on_disk == *id.as_bytes()));
            if !keep {
                info!(partition = %tp, "deleting log of a partition this broker no longer hosts");
                if let Some(p) = self.partitions.write().remove(&tp) {
                    p.leading.store(false, Ordering::Release);
                    p.data_arrived.notify_waiters();
                }
                self.following.write().remove(&tp);
                self.logs.delete(&tp)?;
            }
        }
        self.apply_leaders(lead)?;
        self.apply_followers(follow)?;
        Ok(())
    }

    fn apply_leaders(
        &self,
        lead: HashMap<TopicPartition, (Uuid, PartitionImage, LogConfig, i32)>,
    ) -> Result<(), StorageError> {
        let mut table = self.partitions.write();
        table.retain(|tp, p| {
            let keep = lead.get(tp).is_some_and(|(_, img, ..)| img.leader_epoch == p.leader_epoch());
            if !keep {
                info!(partition = %tp, "no longer the leader at this epoch");
                p.leading.store(false, Ordering::Release);
                // Wake parked fetches and produces so they answer now.
                p.data_arrived.notify_waiters();
            }
            keep
        });
        let now = now_ms();
        for (tp, (topic_id, img, config, min_isr)) in lead {
            if let Some(p) = table.get(&tp) {
                p.min_insync_replicas.store(min_isr, Ordering::Release);
                *p.policy.write() = ProducePolicy::of(&config);
                {
                    let mut log = p.log.lock();
                    if log.config() != &config {
                        log.set_config(config);
                    }
                }
                let mut st = p.state.lock();
                if st.partition_epoch != img.partition_epoch {
                    st.partition_epoch = img.partition_epoch;
                    st.isr = img.isr.clone();
                    st.replicas = img.replicas.clone();
                    st.pending_isr = None;
                    for r in &st.replicas.clone() {
                        st.followers
                            .entry(*r)
                            .or_insert(FollowerProgress { log_end_offset: -1, last_caught_up_ms: now });
                    }
                    if p.maybe_advance_hw(self.node_id, &st) {
                        p.data_arrived.notify_waiters();
                    }
                }
                continue;
            }
            self.following.write().remove(&tp);
            let log = self.logs.get_or_create(&tp, *topic_id.as_bytes(), config.clone())?;
            let policy = ProducePolicy::of(&config);
            {
                let mut guard = log.lock();
                guard.set_config(config);
                // A log opened by this process has its high watermark at its
                // end, which may hold records the ISR never had: with other
                // replicas in sync, start from the log start and let their
                // fetches raise it (the recovery stops at the end, not at the
                // true watermark).
                if img.isr.iter().any(|r| *r != self.node_id) && !self.followed_once.lock().contains(&tp) {
                    let start = guard.log_start_offset();
                    guard.set_high_watermark(start);
                }
            }
            // Followers get a full lag window from the moment we lead.
            let followers = img
                .replicas
                .iter()
                .filter(|r| **r != self.node_id)
                .map(|r| (*r, FollowerProgress { log_end_offset: -1, last_caught_up_ms: now }))
                .collect();
            let partition = Arc::new(Partition {
                tp: tp.clone(),
                topic_id,
                log,
                leader_epoch: AtomicI32::new(img.leader_epoch),
                leading: AtomicBool::new(true),
                data_arrived: Notify::new(),
                min_insync_replicas: AtomicI32::new(min_isr),
                policy: parking_lot::RwLock::new(policy),
                state: Mutex::new(LeaderState {
                    replicas: img.replicas.clone(),
                    isr: img.isr.clone(),
                    partition_epoch: img.partition_epoch,
                    followers,
                    pending_isr: None,
                }),
            });
            {
                let st = partition.state.lock();
                partition.maybe_advance_hw(self.node_id, &st);
            }
            info!(partition = %tp, epoch = img.leader_epoch, isr = ?img.isr, "leading");
            table.insert(tp, partition);
        }
        Ok(())
    }

    fn apply_followers(
        &self,
        follow: HashMap<TopicPartition, (Uuid, PartitionImage, LogConfig)>,
    ) -> Result<(), StorageError> {
        let mut changed = false;
        {
            let mut following = self.following.write();
            following.retain(|tp, f| {
                let keep = follow
                    .get(tp)
                    .is_some_and(|(_, img, _)| img.leader == f.leader && img.leader_epoch == f.leader_epoch);
                changed |= !keep;
                keep
            });
            for (tp, (topic_id, img, config)) in follow {
                if following.contains_key(&tp) {
                    continue;
                }
                let log = self.logs.get_or_create(&tp, *topic_id.as_bytes(), config.clone())?;
                log.lock().set_config(config);
                info!(partition = %tp, leader = img.leader, epoch = img.leader_epoch, "following");
                following.insert(
                    tp.clone(),
                    Arc::new(FollowedPartition {
                        tp,
                        topic_id,
                        log,
                        leader: img.leader,
                        leader_epoch: img.leader_epoch,
                        needs_truncation: AtomicBool::new(true),
                    }),
                );
                changed = true;
            }
        }
        if changed {
            self.following_changed.notify_waiters();
        }
        Ok(())
    }

    /// Appends one partition's produced batch as leader. acks=all needs at
    /// least `min.insync.replicas` in the ISR before the append
    /// (NOT_ENOUGH_REPLICAS); the caller then waits for the high watermark
    /// ([`ReplicaManager::wait_replicated`]). With the ISR only this broker,
    /// the high watermark moves at once.
    pub fn append(&self, partition: &Partition, records: &[u8], acks: i16, now_ms: i64) -> ProduceOutcome {
        // One pass under both locks: check the ISR, append, raise the HW (at
        // once when the ISR is only this broker).
        let result = {
            let st = partition.state.lock();
            if acks == -1 && (st.isr.len() as i32) < partition.min_insync_replicas.load(Ordering::Acquire) {
                return Err(error_code::NOT_ENOUGH_REPLICAS);
            }
            let mut log = partition.log.lock();
            let result = log.append_as_leader(records, partition.leader_epoch(), now_ms);
            if result.as_ref().is_ok_and(|r| !r.duplicate) {
                advance_hw(self.node_id, &st, &mut log);
            }
            result
        };
        match result {
            Ok(r) => {
                if !r.duplicate {
                    partition.data_arrived.notify_waiters();
                }
                Ok(r)
            }
            Err(e) => {
                match &e {
                    StorageError::Io(_) | StorageError::LogOffline => {
                        warn!(partition = %partition.tp, error = %e, "append failed")
                    }
                    _ => debug!(partition = %partition.tp, error = %e, "produce rejected"),
                }
                Err(e.error_code())
            }
        }
    }

    /// acks=all purgatory: waits until the high watermark passes
    /// `last_offset`, or `timeout` (REQUEST_TIMED_OUT), or this broker stops
    /// leading (NOT_LEADER_OR_FOLLOWER). Completed with fewer in-sync
    /// replicas than `min.insync.replicas`: NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    pub async fn wait_replicated(
        &self,
        partition: &Partition,
        last_offset: i64,
        timeout: std::time::Duration,
    ) -> Result<(), i16> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = partition.data_arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !partition.is_leading() {
                return Err(error_code::NOT_LEADER_OR_FOLLOWER);
            }
            if partition.log.lock().high_watermark() > last_offset {
                let isr = partition.state.lock().isr.len() as i32;
                if isr < partition.min_insync_replicas.load(Ordering::Acquire) {
                    return Err(error_code::NOT_ENOUGH_REPLICAS_AFTER_APPEND);
                }
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(error_code::REQUEST_TIMED_OUT);
            }
        }
    }

    /// Reads for a consumer fetch (below the high watermark).
    pub fn read(
        &self,
        partition: &Partition,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<FetchSlice, StorageError> {
        partition.log.lock().read(offset, max_bytes, min_one_batch)
    }

    /// A follower's fetch: records its progress (which may advance the high
    /// watermark or let it rejoin the ISR), then reads up to the log end.
    pub fn read_for_follower(
        &self,
        partition: &Partition,
        follower: i32,
        fetch_offset: i64,
        max_bytes: usize,
    ) -> Result<FetchSlice, i16> {
        let now = now_ms();
        let mut st = partition.state.lock();
        if !st.replicas.contains(&follower) {
            return Err(error_code::NOT_LEADER_OR_FOLLOWER);
        }
        let leader_end = partition.log.lock().log_end_offset();
        if fetch_offset > leader_end {
            return Err(error_code::OFFSET_OUT_OF_RANGE);
        }
        let progress =
            st.followers.entry(follower).or_insert(FollowerProgress { log_end_offset: -1, last_caught_up_ms: now });
        progress.log_end_offset = fetch_offset;
        if fetch_offset >= leader_end {
            progress.last_caught_up_ms = now;
        }
        if partition.maybe_advance_hw(self.node_id, &st) {
            partition.data_arrived.notify_waiters();
        }
        // Back in the ISR once it has everything below the high watermark.
        let hw = partition.log.lock().high_watermark();
        if !st.isr.contains(&follower) && st.pending_isr.is_none() && fetch_offset >= hw {
            let mut new_isr = st.isr.clone();
            new_isr.push(follower);
            self.propose_isr(partition, &mut st, new_isr);
        }
        drop(st);
        partition.log.lock().read_for_replica(fetch_offset, max_bytes).map_err(|e| e.error_code())
    }

    fn propose_isr(&self, partition: &Partition, st: &mut LeaderState, new_isr: Vec<i32>) {
        info!(partition = %partition.tp, from = ?st.isr, to = ?new_isr, "proposing ISR change");
        st.pending_isr = Some(new_isr.clone());
        let _ = self.isr_changes.send(IsrChange {
            tp: partition.tp.clone(),
            topic_id: partition.topic_id,
            leader_epoch: partition.leader_epoch(),
            partition_epoch: st.partition_epoch,
            new_isr,
        });
    }

    /// An ISR change the controller refused or that failed: may be retried.
    pub fn isr_change_failed(&self, tp: &TopicPartition) {
        if let Some(p) = self.partition(tp) {
            p.state.lock().pending_isr = None;
        }
    }

    /// Shrinks the ISR of led partitions: followers not caught up within
    /// `replica.lag.time.max.ms` leave it.
    pub fn shrink_isrs(&self, lag_max_ms: i64) {
        let now = now_ms();
        for p in self.partitions() {
            let mut st = p.state.lock();
            if st.pending_isr.is_some() {
                continue;
            }
            let lagging: Vec<i32> = st
                .isr
                .iter()
                .copied()
                .filter(|m| *m != self.node_id)
                .filter(|m| st.followers.get(m).is_none_or(|f| now - f.last_caught_up_ms > lag_max_ms))
                .collect();
            if lagging.is_empty() {
                continue;
            }
            warn!(partition = %p.tp, lagging = ?lagging, "followers fell out of sync");
            let new_isr: Vec<i32> = st.isr.iter().copied().filter(|m| !lagging.contains(m)).collect();
            self.propose_isr(&p, &mut st, new_isr);
        }
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.logs
    }
}
