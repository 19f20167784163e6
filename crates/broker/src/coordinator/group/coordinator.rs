//! The group coordinator's driver: owns every group this broker coordinates,
//! feeds requests and clock ticks into each group's state machine, parks
//! JoinGroup/SyncGroup requests until their action completes them, and
//! writes group metadata and committed offsets to `__consumer_offsets` (and
//! reads them back when the broker starts).
//!
//! Transactional offset commits (TxnOffsetCommit) are written as
//! transactional batches with the producer's id and epoch and stay pending
//! in their group until the transaction's marker reaches the group's
//! `__consumer_offsets` partition: the WriteTxnMarkers handler then calls
//! [`GroupCoordinator::complete_transaction`].
//!
//! A commit is acknowledged only after it is replicated, like an acks=all
//! produce. `__consumer_offsets` is a compacted topic (as in Kafka): the
//! log cleaner keeps the latest record per group and partition key and
//! drops tombstones after `delete.retention.ms`, so it stays bounded by the
//! live state of its groups.
//!
//! Thread-safe: one mutex over the groups (group traffic is light next to
//! produce/fetch, which never touch it).

use brook_protocol::error_code::ErrorCode;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use brook_metadata::requests::ControllerRequest;
use brook_protocol::batch::{build_batch, build_transactional_batch, KeyValue};
use brook_protocol::error_code as ec;
use brook_storage::TopicPartition;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use super::load::OffsetsLogReplay;
use super::state::{Action, CommittedOffset, Group, GroupConfig, GroupState, JoinRequest, JoinResult, Reply};
use super::store;
use crate::clock::now_ms;
use crate::coordinator::state_log;
use crate::replication::TxnVerification;
use crate::replication::{Partition, ReplicaManager};
use brook_metadata::MetadataImage;
use tokio::sync::watch;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Records per batch when one request writes many (group deletion, expiry).
const RECORDS_PER_BATCH: usize = 500;

/// Offsets-related broker settings (Kafka's names).
#[derive(Debug, Clone)]
pub struct OffsetsConfig {
    pub num_partitions: i32,
    pub retention_ms: i64,
    pub metadata_max_bytes: usize,
    pub segment_bytes: i64,
}

struct GroupSlot {
    group: Group,
    joins: HashMap<String, oneshot::Sender<JoinResult>>,
    syncs: HashMap<String, oneshot::Sender<Result<Bytes, ErrorCode>>>,
}

pub struct GroupCoordinator {
    config: GroupConfig,
    offsets: OffsetsConfig,
    groups: Mutex<HashMap<String, GroupSlot>>,
    /// `__consumer_offsets` partitions this broker leads and has loaded:
    /// it coordinates exactly the groups that map to them.
    owned: Mutex<HashSet<i32>>,
    /// Serializes [`GroupCoordinator::sync_ownership`]: two concurrent
    /// syncs could load one partition twice or resurrect a lost one.
    syncing: Mutex<()>,
    /// The coordinator's only ways out: the replicas of `__consumer_offsets`
    /// and the metadata image.
    replicas: Arc<ReplicaManager>,
    image: watch::Receiver<Arc<MetadataImage>>,
}

/// A commit appended to `__consumer_offsets`, to be replicated before it is
/// acknowledged.
pub struct Committing {
    pub partition: Arc<Partition>,
    pub leader_epoch: i32,
    pub last_offset: i64,
}

/// A change to `__consumer_offsets` for the controller.
pub enum OffsetsTopicChange {
    Create(ControllerRequest),
    Compact(ControllerRequest),
}

/// One partition's commit request.
pub struct OffsetCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: CommittedOffset,
}

/// The producer of a transactional offset commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The coordinator's confirmation that the offsets partition is in the
    /// transaction (KIP-890), when the producer had none open there.
    pub verification: Option<TxnVerification>,
}

/// A records append to `__consumer_offsets`: what to wait for (acks=all)
/// and the log offset of each record, in order.
struct Appended {
    committing: Committing,
    record_offsets: Vec<i64>,
}

/// One partition's answer to OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    /// `None`: nothing committed (offset -1).
    pub committed: Option<CommittedOffset>,
    /// UNSTABLE_OFFSET_COMMIT when the client asked for stable offsets and
    /// an open transaction holds one for this partition.
    pub error: ErrorCode,
}

/// A group's summary for ListGroups / DescribeGroups.
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    /// (member id, instance id, client id, host, metadata, assignment)
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
}

impl GroupCoordinator {
    pub fn new(
        config: GroupConfig,
        offsets: OffsetsConfig,
        replicas: Arc<ReplicaManager>,
        image: watch::Receiver<Arc<MetadataImage>>,
    ) -> Self {
        GroupCoordinator {
            replicas,
            image,
            config,
            offsets,
            groups: Mutex::new(HashMap::new()),
            owned: Mutex::new(HashSet::new()),
            syncing: Mutex::new(()),
        }
    }

    /// NOT_COORDINATOR unless this broker leads the group's offsets partition.
    pub fn check(&self, group_id: &str) -> Result<(), ErrorCode> {
        if self.owned.lock().contains(&store::partition_for(group_id, self.offsets.num_partitions)) {
            Ok(())
        } else {
            Err(ErrorCode::NOT_COORDINATOR)
        }
    }

    /// Follows leadership of `__consumer_offsets` partitions: loads the
    /// groups of a partition this broker now leads, drops those of one it
    /// no longer leads (their members rediscover the coordinator).
    pub fn sync_ownership(&self) {
        let _one_at_a_time = self.syncing.lock();
        let led: HashSet<i32> = (0..self.offsets.num_partitions)
            .filter(|p| self.replicas.leader(&TopicPartition::new(OFFSETS_TOPIC, *p)).is_some())
            .collect();
        let (gained, lost) = {
            let owned = self.owned.lock();
            (led.difference(&owned).copied().collect::<Vec<_>>(), owned.difference(&led).copied().collect::<Vec<_>>())
        };
        if !lost.is_empty() {
            let mut groups = self.groups.lock();
            let before = groups.len();
            groups.retain(|id, _| !lost.contains(&store::partition_for(id, self.offsets.num_partitions)));
            info!(partitions = ?lost, groups = before - groups.len(), "no longer coordinating groups of these offsets partitions");
            self.owned.lock().retain(|p| !lost.contains(p));
        }
        for p in gained {
            self.load_partition(p);
            self.owned.lock().insert(p);
        }
    }

    pub fn offsets_partitions(&self) -> i32 {
        self.offsets.num_partitions
    }

    /// What the controller must do before groups can be coordinated:
    /// create `__consumer_offsets` (with `offsets.topic.replication.factor`
    /// replicas, failing as Kafka does until that many brokers are live),
    /// or make an older Brook's one compacted. `None` when it is ready.
    pub fn offsets_topic_change(&self, replication_factor: i16) -> Option<OffsetsTopicChange> {
        if let Some(topic) = self.image.borrow().topic(OFFSETS_TOPIC) {
            if topic.configs.get("cleanup.policy").map(String::as_str) == Some("compact") {
                return None;
            }
            // Created by a Brook that rewrote it itself: hand it to the cleaner.
            let mut changes = BTreeMap::new();
            changes.insert("cleanup.policy".to_string(), Some("compact".to_string()));
            return Some(OffsetsTopicChange::Compact(ControllerRequest::AlterTopicConfigs {
                name: OFFSETS_TOPIC.to_string(),
                changes,
                replace_all: false,
            }));
        }
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        configs.insert("retention.ms".to_string(), "-1".to_string());
        configs.insert("segment.bytes".to_string(), self.offsets.segment_bytes.to_string());
        Some(OffsetsTopicChange::Create(ControllerRequest::CreateTopic {
            name: OFFSETS_TOPIC.to_string(),
            num_partitions: self.offsets.num_partitions,
            replication_factor,
            configs,
            assignment: Vec::new(),
            default_partitions: 1,
            default_replication: 1,
        }))
    }

    pub fn offsets_partition(&self, group_id: &str) -> TopicPartition {
        TopicPartition::new(OFFSETS_TOPIC, store::partition_for(group_id, self.offsets.num_partitions))
    }

    /// Rebuilds the groups of one `__consumer_offsets` partition from its
    /// log, open transactions' offsets included (see [`OffsetsLogReplay`]).
    fn load_partition(&self, index: i32) {
        let tp = TopicPartition::new(OFFSETS_TOPIC, index);
        let Some(partition) = self.replicas.leader(&tp) else { return };
        let mut replay = OffsetsLogReplay::new(now_ms());
        if let Err(e) = state_log::for_each_batch(&partition, &mut |batch| replay.apply_batch(batch)) {
            warn!(partition = %tp, error = ?e, "cannot read offsets partition");
            return;
        }
        let records = replay.records();
        let loaded = replay.finish();
        let count = loaded.len();
        let mut groups = self.groups.lock();
        let n = self.offsets.num_partitions;
        groups.retain(|id, _| store::partition_for(id, n) != index);
        for (id, group) in loaded {
            groups.insert(id, GroupSlot { group, joins: HashMap::new(), syncs: HashMap::new() });
        }
        if records > 0 {
            info!(partition = %tp, groups = count, records, "loaded consumer groups");
        }
    }

    /// Drops a group that holds nothing (no members, pending ids or offsets),
    /// so failed requests for random group ids leave no state behind.
    fn prune(groups: &mut HashMap<String, GroupSlot>, group_id: &str) {
        if groups.get(group_id).is_some_and(|s| {
            s.group.members.is_empty()
                && s.group.pending_members.is_empty()
                && s.group.offsets.is_empty()
                && s.group.txn_offsets.no_open_transactions()
                && s.group.state == GroupState::Empty
                && s.joins.is_empty()
        }) {
            groups.remove(group_id);
        }
    }

    fn slot<'a>(groups: &'a mut HashMap<String, GroupSlot>, group_id: &str) -> &'a mut GroupSlot {
        groups.entry(group_id.to_string()).or_insert_with(|| GroupSlot {
            group: Group::new(group_id, now_ms()),
            joins: HashMap::new(),
            syncs: HashMap::new(),
        })
    }

    /// Carries out a state machine's actions: answers parked requests, persists.
    fn run_actions(&self, slot: &mut GroupSlot, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::CompleteJoin { member_id, result } => {
                    if let Some(tx) = slot.joins.remove(&member_id) {
                        let _ = tx.send(result);
                    }
                }
                Action::CompleteSync { member_id, result } => {
                    if let Some(tx) = slot.syncs.remove(&member_id) {
                        let _ = tx.send(result);
                    }
                }
                Action::PersistGroup => {
                    let key = store::group_key(&slot.group.group_id);
                    let value = store::group_value(&slot.group);
                    if let Err(code) = self.append(&slot.group.group_id, vec![(key, Some(value))]) {
                        warn!(group = %slot.group.group_id, %code, "failed to persist group metadata");
                    }
                }
            }
        }
    }

    /// Appends records to the group's `__consumer_offsets` partition.
    fn append(&self, group_id: &str, records: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<(), ErrorCode> {
        self.append_to(&self.offsets_partition(group_id), records, None).map(|_| ())
    }

    /// Appends records as the partition's leader, in batches of at most
    /// [`RECORDS_PER_BATCH`]; transactional batches for `producer`, with no
    /// sequence (-1) as Kafka writes a coordinator's batches.
    fn append_to(
        &self,
        tp: &TopicPartition,
        records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        producer: Option<TxnProducer>,
    ) -> Result<Appended, ErrorCode> {
        let partition = self.replicas.leader(tp).ok_or(ErrorCode::COORDINATOR_NOT_AVAILABLE)?;
        let now = now_ms();
        let mut last_offset = -1;
        let mut leader_epoch = -1;
        let mut record_offsets = Vec::with_capacity(records.len());
        for chunk in records.chunks(RECORDS_PER_BATCH) {
            let refs: Vec<KeyValue<'_>> = chunk.iter().map(|(k, v)| (Some(&k[..]), v.as_deref())).collect();
            let batch = match producer {
                Some(p) => build_transactional_batch(&refs, now, p.producer_id, p.producer_epoch, -1),
                None => build_batch(&refs, now),
            };
            let verification = producer.and_then(|p| p.verification);
            let (appended, epoch) = partition.append_verified(&batch, -1, verification, now)?;
            if appended.duplicate {
                // Only a producer's batch can be taken for a retry; acknowledging
                // it would lose the commit, so fail it instead.
                warn!(partition = %tp, ?producer, "offsets batch taken for a duplicate: not written");
                return Err(ErrorCode::UNKNOWN_SERVER_ERROR);
            }
            record_offsets.extend((0..chunk.len() as i64).map(|i| appended.base_offset + i));
            last_offset = appended.last_offset;
            leader_epoch = epoch;
        }
        Ok(Appended { committing: Committing { partition, leader_epoch, last_offset }, record_offsets })
    }

    /// JoinGroup: may wait until the rebalance completes.
    pub async fn join(&self, group_id: &str, request: JoinRequest) -> JoinResult {
        if let Err(code) = self.check(group_id) {
            return JoinResult::error(code.code(), &request.member_id);
        }
        if group_id.is_empty() {
            return JoinResult::error(ec::INVALID_GROUP_ID, &request.member_id);
        }
        let wait_ms = request.rebalance_timeout_ms.max(request.session_timeout_ms) as u64 + 5_000;
        let parked = {
            let mut groups = self.groups.lock();
            let slot = Self::slot(&mut groups, group_id);
            let (reply, actions) = slot.group.join(request.clone(), now_ms(), &self.config);
            debug!(group = group_id, member = %request.member_id, state = slot.group.state.name(),
                   generation = slot.group.generation, reply = ?reply_kind(&reply), "join");
            match self.settle(slot, reply, actions, |s| &mut s.joins) {
                Ok(result) => {
                    Self::prune(&mut groups, group_id);
                    return result;
                }
                Err(receiver) => receiver,
            }
        };
        wait_parked(parked, wait_ms, JoinResult::error(ec::REBALANCE_IN_PROGRESS, &request.member_id)).await
    }

    /// SyncGroup: followers wait for the leader's assignment.
    #[allow(clippy::too_many_arguments)]
    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Bytes, ErrorCode> {
        self.check(group_id)?;
        let (parked, wait_ms) = {
            let mut groups = self.groups.lock();
            let Some(slot) = groups.get_mut(group_id) else { return Err(ErrorCode::UNKNOWN_MEMBER_ID) };
            let wait_ms = slot.group.members.get(member_id).map_or(0, |m| m.session_timeout_ms as u64) + 5_000;
            let (reply, actions) = slot.group.sync(
                member_id,
                instance_id,
                generation,
                protocol_type,
                protocol_name,
                assignments,
                now_ms(),
            );
            debug!(group = group_id, member = member_id, generation, state = slot.group.state.name(), reply = ?reply_kind(&reply), "sync");
            match self.settle(slot, reply, actions, |s| &mut s.syncs) {
                Ok(result) => return result,
                Err(receiver) => (receiver, wait_ms),
            }
        };
        wait_parked(parked, wait_ms, Err(ErrorCode::REBALANCE_IN_PROGRESS)).await
    }

    /// Answers now, or parks the request: its sender goes into `waiters`
    /// until an action completes it. Runs the state machine's actions either way.
    fn settle<T>(
        &self,
        slot: &mut GroupSlot,
        reply: Reply<T>,
        actions: Vec<Action>,
        waiters: fn(&mut GroupSlot) -> &mut HashMap<String, oneshot::Sender<T>>,
    ) -> std::result::Result<T, oneshot::Receiver<T>> {
        let outcome = match reply {
            Reply::Now(result) => Ok(result),
            Reply::Parked { member_id } => {
                let (tx, rx) = oneshot::channel();
                waiters(slot).insert(member_id, tx);
                Err(rx)
            }
        };
        self.run_actions(slot, actions);
        outcome
    }

    pub fn heartbeat(&self, group_id: &str, member_id: &str, instance_id: Option<&str>, generation: i32) -> i16 {
        if let Err(code) = self.check(group_id) {
            return code.code();
        }
        let mut groups = self.groups.lock();
        match groups.get_mut(group_id) {
            Some(slot) => slot.group.heartbeat(member_id, instance_id, generation, now_ms()),
            None => ec::UNKNOWN_MEMBER_ID,
        }
    }

    /// LeaveGroup for several identities; one error code each.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> Result<Vec<i16>, ErrorCode> {
        self.check(group_id)?;
        let mut groups = self.groups.lock();
        let Some(slot) = groups.get_mut(group_id) else { return Err(ErrorCode::UNKNOWN_MEMBER_ID) };
        let mut actions = Vec::new();
        let now = now_ms();
        let codes = members.iter().map(|(m, i)| slot.group.leave(m, i.as_deref(), now, &mut actions)).collect();
        self.run_actions(slot, actions);
        Ok(codes)
    }

    /// Clock tick for every group: session expiry and rebalance deadlines.
    pub fn tick(&self) {
        let now = now_ms();
        let mut groups = self.groups.lock();
        for slot in groups.values_mut() {
            let before: Vec<String> = slot.group.members.keys().cloned().collect();
            let actions = slot.group.tick(now);
            for gone in before.iter().filter(|m| !slot.group.members.contains_key(*m)) {
                info!(group = %slot.group.group_id, member = %gone, "member removed (session or rebalance timeout)");
            }
            self.run_actions(slot, actions);
        }
    }

    /// OffsetCommit: one error code per partition, and the append that the
    /// caller must see replicated (acks=all) before answering.
    pub fn commit_offsets(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        commits: Vec<OffsetCommit>,
    ) -> (Vec<i16>, Option<Committing>) {
        self.commit(group_id, None, member_id, instance_id, generation, commits)
    }

    /// TxnOffsetCommit: writes the offsets as a transactional batch of
    /// `producer` and holds them pending in the group until
    /// [`GroupCoordinator::complete_transaction`]. One error code per
    /// partition, and the append the caller must see replicated (acks=all)
    /// before answering. Kafka's checks: coordinator, member and generation
    /// (requests with a generation or member id), metadata size; unlike
    /// OffsetCommit, no rebalance or topic check.
    pub fn commit_txn_offsets(
        &self,
        group_id: &str,
        producer: TxnProducer,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        commits: Vec<OffsetCommit>,
    ) -> (Vec<i16>, Option<Committing>) {
        self.commit(group_id, Some(producer), member_id, instance_id, generation, commits)
    }

    /// An offset commit, plain or (with `producer`) transactional.
    fn commit(
        &self,
        group_id: &str,
        producer: Option<TxnProducer>,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        commits: Vec<OffsetCommit>,
    ) -> (Vec<i16>, Option<Committing>) {
        let fail_all = |code: i16| (vec![code; commits.len()], None);
        if group_id.is_empty() {
            return fail_all(ec::INVALID_GROUP_ID);
        }
        if let Err(code) = self.check(group_id) {
            return fail_all(code.code());
        }
        let mut groups = self.groups.lock();
        if !groups.contains_key(group_id) && generation >= 0 {
            return fail_all(ec::ILLEGAL_GENERATION);
        }
        let slot = Self::slot(&mut groups, group_id);
        let valid = match producer {
            None => slot.group.validate_commit(member_id, instance_id, generation),
            Some(_) => slot.group.validate_txn_commit(member_id, instance_id, generation),
        };
        if let Err(code) = valid {
            Self::prune(&mut groups, group_id);
            return fail_all(code.code());
        }
        let mut codes = Vec::with_capacity(commits.len());
        let mut records = Vec::new();
        let mut accepted = Vec::new();
        for c in commits {
            let unknown =
                || self.image.borrow().topic(&c.topic).is_none_or(|t| !t.partitions.contains_key(&c.partition));
            if c.offset.metadata.len() > self.offsets.metadata_max_bytes {
                codes.push(ec::OFFSET_METADATA_TOO_LARGE);
            } else if producer.is_none() && unknown() {
                codes.push(ec::UNKNOWN_TOPIC_OR_PARTITION);
            } else {
                codes.push(ec::NONE);
                records
                    .push((store::offset_key(group_id, &c.topic, c.partition), Some(store::offset_value(&c.offset))));
                accepted.push(c);
            }
        }
        if records.is_empty() {
            Self::prune(&mut groups, group_id);
            return (codes, None);
        }
        let appended = match self.append_to(&self.offsets_partition(group_id), records, producer) {
            Ok(a) => a,
            Err(code) => {
                Self::prune(&mut groups, group_id);
                let code = if producer.is_some() { txn_append_error(code) } else { code }.code();
                return (codes.into_iter().map(|c| if c == ec::NONE { code } else { c }).collect(), None);
            }
        };
        for (c, record_offset) in accepted.into_iter().zip(appended.record_offsets) {
            let key = (c.topic, c.partition);
            match producer {
                None => {
                    slot.group.txn_offsets.on_plain_commit(key.clone(), record_offset);
                    slot.group.offsets.insert(key, c.offset);
                }
                Some(p) => slot.group.txn_offsets.add_pending(p.producer_id, key, c.offset, record_offset),
            }
        }
        if let Some(p) = producer {
            debug!(
                group = group_id,
                producer = p.producer_id,
                epoch = p.producer_epoch,
                last_offset = appended.committing.last_offset,
                "transactional offsets pending"
            );
        }
        drop(groups);
        (codes, Some(appended.committing))
    }

    /// Completes `producer_id`'s transaction in the groups of
    /// `__consumer_offsets` partition `offsets_partition`: on commit their
    /// pending offsets become committed offsets (visible to OffsetFetch,
    /// unless a plain commit written after them is newer); on abort they are
    /// dropped. Returns how many groups held offsets of that transaction.
    ///
    /// Call it after the COMMIT/ABORT marker for `producer_id` has been
    /// written (and replicated) to that partition, on its leader. Cheap and
    /// synchronous (one lock, no IO); a marker for a producer with nothing
    /// pending, or for a partition this broker does not coordinate, does
    /// nothing. Idempotent: a second call finds nothing pending.
    pub fn complete_transaction(&self, offsets_partition: i32, producer_id: i64, commit: bool) -> usize {
        let n = self.offsets.num_partitions;
        let mut groups = self.groups.lock();
        let mut completed = Vec::new();
        for (id, slot) in groups.iter_mut() {
            if store::partition_for(id, n) != offsets_partition || !slot.group.txn_offsets.has_pending_from(producer_id)
            {
                continue;
            }
            let done = slot.group.txn_offsets.complete(producer_id, commit, &mut slot.group.offsets);
            debug!(group = %id, producer = producer_id, commit, materialized = done.materialized,
                   dropped = done.dropped, "transactional offsets completed");
            completed.push(id.clone());
        }
        for id in &completed {
            Self::prune(&mut groups, id);
        }
        completed.len()
    }

    /// OffsetFetch for one group. `None` topics = every committed partition.
    /// With `require_stable` (v7+), a partition an open transaction holds an
    /// offset for answers UNSTABLE_OFFSET_COMMIT, so the consumer retries;
    /// without it, the last committed offset.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, i32)>>,
        require_stable: bool,
    ) -> Vec<FetchedOffset> {
        let groups = self.groups.lock();
        let group = groups.get(group_id).map(|s| &s.group);
        let answer = |topic: String, partition: i32, committed: Option<CommittedOffset>| {
            let key = (topic, partition);
            let unstable = require_stable && group.is_some_and(|g| g.txn_offsets.has_pending(&key));
            let (topic, partition) = key;
            if unstable {
                FetchedOffset { topic, partition, committed: None, error: ErrorCode::UNSTABLE_OFFSET_COMMIT }
            } else {
                FetchedOffset { topic, partition, committed, error: ErrorCode::NONE }
            }
        };
        match wanted {
            Some(list) => list
                .into_iter()
                .map(|(t, p)| {
                    let found = group.and_then(|g| g.offsets.get(&(t.clone(), p))).cloned();
                    answer(t, p, found)
                })
                .collect(),
            None => group
                .map(|g| g.offsets.iter().map(|((t, p), c)| answer(t.clone(), *p, Some(c.clone()))).collect())
                .unwrap_or_default(),
        }
    }

    /// Every committed offset of the groups this broker coordinates:
    /// (group, topic, partition, offset). For metrics (consumer lag).
    pub fn committed_offsets(&self) -> Vec<(String, String, i32, i64)> {
        let groups = self.groups.lock();
        groups
            .iter()
            .flat_map(|(id, slot)| {
                slot.group.offsets.iter().map(move |((t, p), c)| (id.clone(), t.clone(), *p, c.offset))
            })
            .collect()
    }

    pub fn list(&self) -> Vec<GroupDescription> {
        let groups = self.groups.lock();
        let mut out: Vec<GroupDescription> = groups.values().map(|s| describe(&s.group)).collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        self.groups.lock().get(group_id).map(|s| describe(&s.group))
    }

    /// DeleteGroups: only empty groups; tombstones for metadata and offsets.
    pub fn delete_group(&self, group_id: &str) -> i16 {
        if let Err(code) = self.check(group_id) {
            return code.code();
        }
        let mut groups = self.groups.lock();
        let Some(slot) = groups.get(group_id) else { return ec::GROUP_ID_NOT_FOUND };
        if !slot.group.members.is_empty() {
            return ec::NON_EMPTY_GROUP;
        }
        // Tombstones also for partitions only open transactions hold an
        // offset for, so a reload drops those pending offsets too (Kafka).
        let mut keys: Vec<&(String, i32)> = slot.group.offsets.keys().collect();
        let pending = slot.group.txn_offsets.pending_keys();
        keys.extend(pending.iter().filter(|k| !slot.group.offsets.contains_key(*k)));
        let mut records: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            keys.into_iter().map(|(t, p)| (store::offset_key(group_id, t, *p), None)).collect();
        records.push((store::group_key(group_id), None));
        if let Err(code) = self.append(group_id, records) {
            return code.code();
        }
        groups.remove(group_id);
        info!(group = group_id, "deleted group");
        ec::NONE
    }

    /// OffsetDelete: removes committed offsets of partitions the group does
    /// not consume (any, when the group is empty).
    pub fn delete_offsets(&self, group_id: &str, partitions: &[(String, i32)]) -> Result<Vec<i16>, ErrorCode> {
        self.check(group_id)?;
        let mut groups = self.groups.lock();
        let Some(slot) = groups.get_mut(group_id) else { return Err(ErrorCode::GROUP_ID_NOT_FOUND) };
        let subscribed = subscribed_topics(&slot.group);
        let mut codes = Vec::new();
        let mut records = Vec::new();
        for (t, p) in partitions {
            if !slot.group.members.is_empty() && subscribed.iter().any(|s| s == t) {
                codes.push(ec::GROUP_SUBSCRIBED_TO_TOPIC);
            } else {
                codes.push(ec::NONE);
                let key = (t.clone(), *p);
                if slot.group.offsets.contains_key(&key) || slot.group.txn_offsets.has_pending(&key) {
                    records.push((store::offset_key(group_id, t, *p), None));
                }
            }
        }
        if !records.is_empty() {
            self.append(group_id, records)?;
            for ((t, p), code) in partitions.iter().zip(&codes) {
                if *code == ec::NONE {
                    let key = (t.clone(), *p);
                    slot.group.offsets.remove(&key);
                    slot.group.txn_offsets.on_tombstone(&key);
                }
            }
        }
        Ok(codes)
    }

    /// Expires offsets of groups that have been empty longer than
    /// `offsets.retention.minutes` (Kafka 2.1+ semantics).
    pub fn expire_offsets(&self) {
        let now = now_ms();
        let retention = self.offsets.retention_ms;
        let mut groups = self.groups.lock();
        let mut dead = Vec::new();
        for (id, slot) in groups.iter_mut() {
            if slot.group.state != GroupState::Empty {
                continue;
            }
            let since = slot.group.state_since_ms;
            let expired: Vec<(String, i32)> = slot
                .group
                .offsets
                .iter()
                .filter(|(k, c)| {
                    // Kept while an open transaction holds an offset for it (Kafka).
                    now - since.max(c.commit_timestamp_ms) >= retention && !slot.group.txn_offsets.has_pending(k)
                })
                .map(|(k, _)| k.clone())
                .collect();
            if expired.is_empty() {
                continue;
            }
            let mut records: Vec<(Vec<u8>, Option<Vec<u8>>)> =
                expired.iter().map(|(t, p)| (store::offset_key(id, t, *p), None)).collect();
            let now_empty = expired.len() == slot.group.offsets.len() && slot.group.txn_offsets.no_open_transactions();
            if now_empty {
                records.push((store::group_key(id), None));
            }
            if self.append(id, records).is_ok() {
                for k in &expired {
                    slot.group.offsets.remove(k);
                    slot.group.txn_offsets.on_tombstone(k);
                }
                info!(group = %id, partitions = expired.len(), "expired committed offsets");
                if now_empty {
                    dead.push(id.clone());
                }
            }
        }
        for id in dead {
            groups.remove(&id);
        }
    }
}

/// The error a TxnOffsetCommit client understands for a failed append
/// (Kafka's mapping in `GroupMetadataManager.storeOffsets`): leadership
/// loss sends it to the new coordinator, a stale epoch fences it.
fn txn_append_error(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        | ErrorCode::NOT_ENOUGH_REPLICAS
        | ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND => ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::KAFKA_STORAGE_ERROR => ErrorCode::NOT_COORDINATOR,
        ErrorCode::MESSAGE_TOO_LARGE | ErrorCode::RECORD_LIST_TOO_LARGE => ErrorCode::INVALID_COMMIT_OFFSET_SIZE,
        ErrorCode::INVALID_PRODUCER_EPOCH => ErrorCode::PRODUCER_FENCED,
        other => other,
    }
}

/// Waits for a parked request's answer; a superseded or expired wait gets `timed_out`.
async fn wait_parked<T>(receiver: oneshot::Receiver<T>, wait_ms: u64, timed_out: T) -> T {
    match tokio::time::timeout(Duration::from_millis(wait_ms), receiver).await {
        Ok(Ok(result)) => result,
        _ => timed_out,
    }
}

fn reply_kind<T: std::fmt::Debug>(reply: &Reply<T>) -> String {
    match reply {
        Reply::Now(r) => format!("{r:?}").chars().take(120).collect(),
        Reply::Parked { .. } => "parked".to_string(),
    }
}

fn describe(group: &Group) -> GroupDescription {
    let protocol = group.protocol.clone().unwrap_or_default();
    GroupDescription {
        group_id: group.group_id.clone(),
        state: group.state,
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        protocol: protocol.clone(),
        members: group
            .members
            .values()
            .map(|m| {
                (
                    m.member_id.clone(),
                    m.instance_id.clone(),
                    m.client_id.clone(),
                    m.client_host.clone(),
                    m.metadata(&protocol),
                    m.assignment.clone(),
                )
            })
            .collect(),
    }
}

/// Topics in the members' consumer-protocol subscriptions.
fn subscribed_topics(group: &Group) -> Vec<String> {
    if group.protocol_type.as_deref() != Some("consumer") {
        return Vec::new();
    }
    let protocol = group.protocol.clone().unwrap_or_default();
    group.members.values().flat_map(|m| subscription_topics(m.metadata(&protocol))).collect()
}

/// The topics of one member's consumer-protocol subscription (JoinGroup
/// metadata, a client's bytes: fuzzed by fuzz/group_subscription); none
/// if it does not decode.
pub fn subscription_topics(mut metadata: bytes::Bytes) -> Vec<String> {
    use brook_protocol::kafka_protocol::messages::ConsumerProtocolSubscription;
    use brook_protocol::kafka_protocol::protocol::Decodable;
    if metadata.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([metadata[0], metadata[1]]);
    metadata = metadata.slice(2..);
    match ConsumerProtocolSubscription::decode(&mut metadata, version.clamp(0, 3)) {
        Ok(sub) => sub.topics.iter().map(|t| t.to_string()).collect(),
        Err(_) => Vec::new(),
    }
}
