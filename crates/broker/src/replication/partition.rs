//! One hosted replica of a partition, leader or follower: the only owner
//! of its log. Every read, append, truncation and high-watermark change of
//! a replica goes through a method here, which first checks the role and
//! leader epoch under the partition's lock, so a request or a fetch
//! response that raced a leader change is refused instead of acting on the
//! wrong history.
//!
//! - As **leader**, the rules of replication are an [`IsrState`] (pure);
//!   this shell applies what it decides to the log (the high watermark),
//!   completes the watch keys parked requests wait on, and sends ISR
//!   changes towards the controller.
//! - As **follower**, the replica fetcher truncates the log to where it
//!   agrees with the leader, appends the leader's batches as they are, and
//!   takes the leader's high watermark (capped by its own log end).
//!
//! Lock order: the partition's state, then its log.

use brook_metadata::PartitionImage;

use brook_protocol::batch::{BatchHeader, Compression, ControlType};
use brook_protocol::error_code::ErrorCode;
use brook_protocol::records::CodecLevels;
use brook_storage::log_manager::SharedLog;
use brook_storage::producer_state::ProducerEntry;
use brook_storage::txn_index::AbortedTxn;
use brook_storage::{AppendResult, FetchSlice, LogConfig, PartitionLog, StorageError, TopicPartition};
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::isr::{ImageOutcome, IsrState};
use super::txn_guards::TxnGuards;
use crate::metrics::traffic::TopicTraffic;
use crate::purgatory::WatchKey;

/// What the produce path does with a batch before appending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProducePolicy {
    /// `cleanup.policy` has `compact`: records without a key are refused.
    pub compact: bool,
    /// `compression.type` other than `producer`: store batches in this codec.
    pub compression: Option<Compression>,
    pub levels: CodecLevels,
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

/// An ISR change a leader wants the controller to make (AlterPartition).
#[derive(Debug, Clone)]
pub struct IsrChange {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
    /// The ISR it replaces (metrics tell a shrink from an expansion).
    pub from_isr: Vec<i32>,
}

/// A replica's state as /metrics reports it (metrics/cluster.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaSnapshot {
    /// Leading: (ISR size, replica count, min.insync.replicas).
    pub leader: Option<(usize, usize, i32)>,
    pub offsets: LogOffsets,
    pub size_bytes: u64,
}

/// The offsets a client may ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOffsets {
    pub log_start: i64,
    pub high_watermark: i64,
    pub log_end: i64,
}

/// ListOffsets' question (Kafka's special timestamps, or a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    Latest,
    Earliest,
    MaxTimestamp,
    Timestamp(i64),
}

/// What a consumer may read: up to the high watermark, or (read_committed)
/// up to the last stable offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
}

/// Where a follower's next fetch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub leader_epoch: i32,
    pub fetch_offset: i64,
    pub log_start: i64,
}

#[derive(Debug)]
enum Role {
    Leader(IsrState),
    Follower {
        leader: i32,
        needs_truncation: bool,
    },
    /// A replica with no leader in metadata, or one being deleted.
    Offline,
}

#[derive(Debug)]
struct ReplicaState {
    leader_epoch: i32,
    role: Role,
    /// KIP-890 verification guards (see txn_guards.rs).
    txn_guards: TxnGuards,
}

/// A transactional batch's producer, when the partition must ask the
/// transaction coordinator whether the partition is in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnVerification {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub token: u64,
}

pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    node_id: i32,
    log: SharedLog,
    state: Mutex<ReplicaState>,
    /// The topic's produce-time rules, read before any lock is taken.
    policy: RwLock<ProducePolicy>,
    /// Completed when the high watermark moves or the role changes:
    /// acks=all produces, offset commits and consumer fetches wait on it.
    high_watermark_key: WatchKey,
    /// Completed after every leader append or role change: follower
    /// fetches wait on it.
    log_end_key: WatchKey,
    isr_changes: mpsc::UnboundedSender<IsrChange>,
    /// The topic's traffic counters (bytes and messages in and out).
    pub traffic: TopicTraffic,
}

fn not_leader() -> ErrorCode {
    ErrorCode::NOT_LEADER_OR_FOLLOWER
}

impl Partition {
    pub(super) fn new(
        node_id: i32,
        tp: TopicPartition,
        topic_id: Uuid,
        log: SharedLog,
        isr_changes: mpsc::UnboundedSender<IsrChange>,
    ) -> Partition {
        let policy = ProducePolicy::of(log.lock().config());
        Partition {
            tp,
            topic_id,
            node_id,
            log,
            state: Mutex::new(ReplicaState { leader_epoch: -1, role: Role::Offline, txn_guards: TxnGuards::default() }),
            policy: RwLock::new(policy),
            high_watermark_key: WatchKey::new(),
            log_end_key: WatchKey::new(),
            isr_changes,
            traffic: TopicTraffic::default(),
        }
    }

    // ---- role changes (driven by metadata images) ----

    /// Leads at `image`'s epoch, or applies its ISR to the leadership this
    /// replica already has.
    pub(super) fn lead(&self, image: &PartitionImage, min_isr: i32, config: LogConfig, now_ms: i64) {
        *self.policy.write() = ProducePolicy::of(&config);
        let mut st = self.state.lock();
        let mut log = self.log.lock();
        if log.config() != &config {
            log.set_config(config);
        }
        if let Role::Leader(isr) = &mut st.role {
            match isr.apply_image(image, min_isr, log.log_end_offset(), now_ms) {
                ImageOutcome::Unchanged => return,
                ImageOutcome::Updated { high_watermark } => {
                    if let Some(hw) = high_watermark {
                        log.set_high_watermark(hw);
                    }
                    drop(log);
                    self.high_watermark_key.complete();
                    return;
                }
                ImageOutcome::NotLeader => {} // a new leadership at a new epoch
            }
        }
        // The log's high watermark is committed data (checkpointed, or taken
        // from the previous leader): start from it, never from the log end,
        // which may hold records the ISR never had.
        let isr = IsrState::new(self.node_id, image, min_isr, log.high_watermark(), log.log_end_offset(), now_ms);
        log.set_high_watermark(isr.high_watermark());
        info!(partition = %self.tp, epoch = image.leader_epoch, isr = ?image.isr, high_watermark = isr.high_watermark(), "leading");
        st.leader_epoch = image.leader_epoch;
        st.role = Role::Leader(isr);
        drop(log);
        drop(st);
        self.role_changed();
    }

    /// Follows `image.leader`; a new leader or epoch means truncating first.
    /// Returns true if the followed leader or epoch changed.
    pub(super) fn follow(&self, image: &PartitionImage, config: LogConfig) -> bool {
        *self.policy.write() = ProducePolicy::of(&config);
        let mut st = self.state.lock();
        {
            let mut log = self.log.lock();
            if log.config() != &config {
                log.set_config(config);
            }
        }
        if matches!(st.role, Role::Follower { leader, .. } if leader == image.leader)
            && st.leader_epoch == image.leader_epoch
        {
            return false;
        }
        info!(partition = %self.tp, leader = image.leader, epoch = image.leader_epoch, "following");
        st.leader_epoch = image.leader_epoch;
        st.role = Role::Follower { leader: image.leader, needs_truncation: true };
        drop(st);
        self.role_changed();
        true
    }

    /// No leader (offline partition), or the replica is going away.
    pub(super) fn go_offline(&self, image_epoch: i32) {
        let mut st = self.state.lock();
        if matches!(st.role, Role::Offline) {
            return;
        }
        info!(partition = %self.tp, "no longer leading or following");
        st.leader_epoch = image_epoch;
        st.role = Role::Offline;
        drop(st);
        self.role_changed();
    }

    /// Parked requests re-check (and answer NOT_LEADER_OR_FOLLOWER).
    fn role_changed(&self) {
        self.high_watermark_key.complete();
        self.log_end_key.complete();
    }

    // ---- what anyone may ask ----

    pub fn produce_policy(&self) -> ProducePolicy {
        *self.policy.read()
    }

    pub fn leader_epoch(&self) -> i32 {
        self.state.lock().leader_epoch
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.state.lock().role, Role::Leader(_))
    }

    /// The leader this replica follows, if it follows one.
    pub fn followed_leader(&self) -> Option<i32> {
        match self.state.lock().role {
            Role::Follower { leader, .. } => Some(leader),
            _ => None,
        }
    }

    pub fn isr(&self) -> Vec<i32> {
        match &self.state.lock().role {
            Role::Leader(isr) => isr.isr().to_vec(),
            _ => Vec::new(),
        }
    }

    pub fn high_watermark_key(&self) -> &WatchKey {
        &self.high_watermark_key
    }

    pub fn log_end_key(&self) -> &WatchKey {
        &self.log_end_key
    }

    /// Role, ISR and log figures in one look (state lock, then log lock;
    /// in-memory only).
    pub fn snapshot(&self) -> ReplicaSnapshot {
        let st = self.state.lock();
        let leader = match &st.role {
            Role::Leader(isr) => Some((isr.isr().len(), isr.replicas().len(), isr.min_isr())),
            _ => None,
        };
        let log = self.log.lock();
        ReplicaSnapshot {
            leader,
            offsets: LogOffsets {
                log_start: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                log_end: log.log_end_offset(),
            },
            size_bytes: log.size_bytes(),
        }
    }

    pub fn offsets(&self) -> LogOffsets {
        let log = self.log.lock();
        LogOffsets {
            log_start: log.log_start_offset(),
            high_watermark: log.high_watermark(),
            log_end: log.log_end_offset(),
        }
    }

    /// Kafka's fencing of a client-supplied `current_leader_epoch` (-1 = none).
    pub fn check_epoch(&self, current_leader_epoch: i32) -> Result<(), ErrorCode> {
        let ours = self.leader_epoch();
        if current_leader_epoch < 0 || current_leader_epoch == ours {
            Ok(())
        } else if current_leader_epoch < ours {
            Err(ErrorCode::FENCED_LEADER_EPOCH)
        } else {
            Err(ErrorCode::UNKNOWN_LEADER_EPOCH)
        }
    }

    /// The leader's state, or NOT_LEADER_OR_FOLLOWER.
    fn leading(st: &mut ReplicaState) -> Result<&mut IsrState, ErrorCode> {
        match &mut st.role {
            Role::Leader(isr) => Ok(isr),
            _ => Err(not_leader()),
        }
    }

    // ---- leader: produce ----

    /// Appends a produced batch as leader: checks the ISR for acks=all
    /// (NOT_ENOUGH_REPLICAS), appends, and raises the high watermark (at
    /// once when the ISR is only this broker), in one pass under the locks.
    /// Returns the append and the leader epoch it was made at.
    pub fn append_as_leader(&self, records: &[u8], acks: i16, now_ms: i64) -> Result<(AppendResult, i32), ErrorCode> {
        self.append_verified(records, acks, None, now_ms)
    }

    /// As [`Self::append_as_leader`], for a transactional batch whose
    /// producer's coordinator confirmed the partition is in its transaction
    /// (`verified`, from [`Self::txn_verification_needed`]).
    pub fn append_verified(
        &self,
        records: &[u8],
        acks: i16,
        verified: Option<TxnVerification>,
        now_ms: i64,
    ) -> Result<(AppendResult, i32), ErrorCode> {
        let mut st = self.state.lock();
        let epoch = st.leader_epoch;
        let guard = verified.map(|v| (v.producer_id, st.txn_guards.holds(v.producer_id, v.token)));
        let isr = Self::leading(&mut st)?;
        isr.check_produce(acks)?;
        let mut log = self.log.lock();
        if let Some((producer_id, guard_holds)) = guard {
            // The coordinator said yes; unless a marker ended the
            // transaction since (guard void) and no batch reopened it.
            if !guard_holds && !log.producers().in_transaction(producer_id) {
                return Err(ErrorCode::INVALID_TXN_STATE);
            }
        }
        let result = match log.append_as_leader(records, epoch, now_ms) {
            Ok(r) => r,
            Err(e) => {
                match &e {
                    StorageError::Io(_) | StorageError::LogOffline => {
                        warn!(partition = %self.tp, error = %e, "append failed")
                    }
                    _ => debug!(partition = %self.tp, error = %e, "produce rejected"),
                }
                return Err(e.error_code());
            }
        };
        if result.duplicate {
            return Ok((result, epoch));
        }
        let advanced = Self::advance_after_append(isr, &mut log);
        if let Some(v) = verified {
            st.txn_guards.clear(v.producer_id);
        }
        drop(log);
        drop(st);
        self.wake_after_append(advanced);
        self.traffic.produced(records.len(), result.record_count);
        Ok((result, epoch))
    }

    /// Under the locks, after a leader append: the ISR rules may move the
    /// high watermark (at once when the ISR is only this broker).
    fn advance_after_append(isr: &mut IsrState, log: &mut PartitionLog) -> bool {
        let advanced = isr.on_leader_append(log.log_end_offset());
        if let Some(hw) = advanced {
            log.set_high_watermark(hw);
        }
        advanced.is_some()
    }

    /// With the locks released: followers wait on the log end, acks=all
    /// and consumers on the high watermark.
    fn wake_after_append(&self, high_watermark_advanced: bool) {
        self.log_end_key.complete();
        if high_watermark_advanced {
            self.high_watermark_key.complete();
        }
    }

    /// KIP-890 part 1: a transactional batch from a producer with no open
    /// transaction here must be confirmed by its coordinator before it is
    /// appended. Returns the guard to append with, or `None` when no check
    /// is needed (not transactional, or the transaction is open here).
    pub fn txn_verification_needed(&self, records: &[u8]) -> Option<TxnVerification> {
        let header = BatchHeader::parse(records).ok()?;
        if !header.is_transactional() || !header.has_producer_id() {
            return None;
        }
        self.begin_txn_verification(header.producer_id, header.producer_epoch)
    }

    /// As [`Self::txn_verification_needed`], for a producer's write the
    /// broker itself makes (a transactional offset commit).
    pub fn begin_txn_verification(&self, producer_id: i64, producer_epoch: i16) -> Option<TxnVerification> {
        if self.log.lock().producers().in_transaction(producer_id) {
            return None;
        }
        let token = self.state.lock().txn_guards.begin(producer_id);
        Some(TxnVerification { producer_id, producer_epoch, token })
    }

    /// Writes a transaction marker as leader (WriteTxnMarkers). Returns the
    /// leader epoch and the offset the high watermark must pass before the
    /// marker is acknowledged: past the marker, or, when nothing was
    /// written (a retry, or no open transaction here), past everything
    /// already in the log.
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        kind: ControlType,
        now_ms: i64,
    ) -> Result<(i32, i64), ErrorCode> {
        let mut st = self.state.lock();
        let epoch = st.leader_epoch;
        st.txn_guards.clear(producer_id);
        let isr = Self::leading(&mut st)?;
        let mut log = self.log.lock();
        let written =
            log.append_marker(producer_id, producer_epoch, coordinator_epoch, kind, epoch, now_ms).map_err(|e| {
                debug!(partition = %self.tp, producer_id, error = %e, "transaction marker refused");
                e.error_code()
            })?;
        let Some(offset) = written else { return Ok((epoch, log.log_end_offset() - 1)) };
        let advanced = Self::advance_after_append(isr, &mut log);
        drop(log);
        drop(st);
        self.wake_after_append(advanced);
        Ok((epoch, offset))
    }

    /// DescribeProducers: every producer's state here, by id.
    pub fn producers(&self) -> Result<Vec<(i64, ProducerEntry)>, ErrorCode> {
        let mut st = self.state.lock();
        Self::leading(&mut st)?;
        let log = self.log.lock();
        Ok(log.producers().entries().map(|(id, e)| (id, e.clone())).collect())
    }

    /// Whether an acks=all append made at `leader_epoch` and ending below
    /// `required_offset` is replicated: `None` while it waits; an error if
    /// this replica no longer leads at that epoch.
    pub fn ack_status(&self, required_offset: i64, leader_epoch: i32) -> Option<Result<(), ErrorCode>> {
        let mut st = self.state.lock();
        if st.leader_epoch != leader_epoch {
            return Some(Err(not_leader()));
        }
        match Self::leading(&mut st) {
            Ok(isr) => isr.ack_status(required_offset),
            Err(code) => Some(Err(code)),
        }
    }

    // ---- leader: reads ----

    /// A consumer's read, below the high watermark.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<FetchSlice, ErrorCode> {
        let mut st = self.state.lock();
        Self::leading(&mut st)?;
        let log = self.log.lock();
        drop(st);
        log.read(offset, max_bytes, min_one_batch).map_err(|e| e.error_code())
    }

    /// A read_committed consumer's read, below the last stable offset,
    /// with the aborted transactions of what it may read.
    pub fn read_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<(FetchSlice, Vec<AbortedTxn>), ErrorCode> {
        let mut st = self.state.lock();
        Self::leading(&mut st)?;
        let log = self.log.lock();
        drop(st);
        log.read_committed(offset, max_bytes, min_one_batch).map_err(|e| e.error_code())
    }

    /// A follower's fetch: records its progress (which may advance the
    /// high watermark or let it rejoin the ISR), then reads up to the log end.
    pub fn read_for_follower(
        &self,
        follower: i32,
        fetch_offset: i64,
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<FetchSlice, ErrorCode> {
        let mut st = self.state.lock();
        let leader_epoch = st.leader_epoch;
        let isr = Self::leading(&mut st)?;
        let mut log = self.log.lock();
        let decision = isr.on_follower_fetch(follower, fetch_offset, log.log_end_offset(), now_ms)?;
        if let Some(hw) = decision.high_watermark {
            log.set_high_watermark(hw);
        }
        if let Some(new_isr) = decision.propose {
            self.propose_isr(leader_epoch, isr.partition_epoch(), isr.isr(), new_isr);
        }
        let read = log.read_for_replica(fetch_offset, max_bytes).map_err(|e| e.error_code());
        drop(log);
        drop(st);
        if decision.high_watermark.is_some() {
            self.high_watermark_key.complete();
        }
        read
    }

    /// ListOffsets as leader. A time is found below the high watermark
    /// only. For a consumer (`from_client`), while the watermark lags the
    /// start of this leader's epoch, the latest offset and a time not found
    /// below the watermark are OFFSET_NOT_AVAILABLE, as in Kafka: the
    /// answer could go back before one already given.
    pub fn list_offset(
        &self,
        query: OffsetQuery,
        isolation: Isolation,
        from_client: bool,
    ) -> Result<Option<(i64, i64)>, ErrorCode> {
        let mut st = self.state.lock();
        let lagging = from_client && Self::leading(&mut st)?.watermark_lags_epoch_start();
        let log = self.log.lock();
        drop(st);
        // As Kafka: what the isolation level may read bounds every answer.
        let readable = match isolation {
            Isolation::ReadUncommitted => log.high_watermark(),
            Isolation::ReadCommitted => log.last_stable_offset(),
        };
        let by_time = match query {
            OffsetQuery::Latest if lagging => return Err(ErrorCode::OFFSET_NOT_AVAILABLE),
            OffsetQuery::Latest => return Ok(Some((readable, -1))),
            OffsetQuery::Earliest => return Ok(Some((log.log_start_offset(), -1))),
            OffsetQuery::MaxTimestamp => log.max_timestamp(),
            OffsetQuery::Timestamp(ts) => log.offset_for_timestamp(ts),
        };
        match by_time.map_err(|e| e.error_code())? {
            Some((offset, timestamp)) if offset < readable => Ok(Some((offset, timestamp))),
            _ if lagging => Err(ErrorCode::OFFSET_NOT_AVAILABLE),
            _ => Ok(None),
        }
    }

    /// OffsetForLeaderEpoch: the largest epoch ≤ `epoch` and its end offset.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.log.lock().end_offset_for_epoch(epoch)
    }

    /// DeleteRecords: moves the log start up to `offset` (-1: the high
    /// watermark). Returns the new log start.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, ErrorCode> {
        let mut st = self.state.lock();
        Self::leading(&mut st)?;
        let mut log = self.log.lock();
        drop(st);
        log.delete_records_before(offset).map_err(|e| e.error_code())
    }

    // ---- leader: ISR ----

    fn propose_isr(&self, leader_epoch: i32, partition_epoch: i32, from: &[i32], new_isr: Vec<i32>) {
        info!(partition = %self.tp, from = ?from, to = ?new_isr, "proposing ISR change");
        let _ = self.isr_changes.send(IsrChange {
            tp: self.tp.clone(),
            topic_id: self.topic_id,
            leader_epoch,
            partition_epoch,
            new_isr,
            from_isr: from.to_vec(),
        });
    }

    /// Followers not caught up within `lag_max_ms` leave the ISR.
    pub(super) fn shrink_isr(&self, now_ms: i64, lag_max_ms: i64) {
        let mut st = self.state.lock();
        let leader_epoch = st.leader_epoch;
        let Role::Leader(isr) = &mut st.role else { return };
        if let Some(new_isr) = isr.shrink(now_ms, lag_max_ms) {
            warn!(partition = %self.tp, isr = ?isr.isr(), to = ?new_isr, "followers fell out of sync");
            self.propose_isr(leader_epoch, isr.partition_epoch(), isr.isr(), new_isr);
        }
    }

    pub(super) fn isr_change_failed(&self) {
        if let Role::Leader(isr) = &mut self.state.lock().role {
            isr.isr_change_failed();
        }
    }

    // ---- follower ----

    /// The epoch to ask the leader about before fetching (KIP-101), with
    /// the current leader epoch; `None` when no truncation is needed (a
    /// replica without epochs starts where it is).
    pub fn truncation_request(&self) -> Option<(i32, i32)> {
        let mut st = self.state.lock();
        let current = st.leader_epoch;
        let Role::Follower { needs_truncation, .. } = &mut st.role else { return None };
        if !*needs_truncation {
            return None;
        }
        match self.log.lock().latest_epoch() {
            Some(epoch) => Some((epoch, current)),
            None => {
                *needs_truncation = false;
                None
            }
        }
    }

    /// Cuts the log to where it agrees with the leader: the leader's end
    /// for the largest epoch it has ≤ ours (`leader_end`), bounded by our
    /// own end for that epoch (our history after it diverges).
    pub fn truncate_to_leader(&self, leader_epoch: i32, epoch: i32, leader_end: i64) {
        let mut st = self.state.lock();
        if st.leader_epoch != leader_epoch {
            return;
        }
        let Role::Follower { needs_truncation, .. } = &mut st.role else { return };
        let mut log = self.log.lock();
        let (_, ours) = log.end_offset_for_epoch(epoch);
        let cut = leader_end.min(ours).min(log.log_end_offset());
        if cut >= 0 && cut < log.log_end_offset() {
            info!(partition = %self.tp, from = log.log_end_offset(), to = cut, "truncating divergent history");
            if let Err(e) = log.truncate_to(cut) {
                warn!(partition = %self.tp, error = %e, "truncation failed");
                return;
            }
        }
        *needs_truncation = false;
    }

    /// Where the next fetch from the leader starts, if this replica follows
    /// `leader` and is ready to fetch.
    pub fn fetch_position(&self, leader: i32) -> Option<FetchPosition> {
        let st = self.state.lock();
        match st.role {
            Role::Follower { leader: l, needs_truncation: false } if l == leader => {
                let log = self.log.lock();
                Some(FetchPosition {
                    leader_epoch: st.leader_epoch,
                    fetch_offset: log.log_end_offset(),
                    log_start: log.log_start_offset(),
                })
            }
            _ => None,
        }
    }

    /// The leader's answer to a fetch made at `position`: its batches as
    /// they are (same offsets, same epochs), then its high watermark capped
    /// by this replica's log end. Ignored if the role or epoch changed
    /// since the fetch was sent, or the log moved.
    pub fn append_from_leader(&self, position: FetchPosition, records: &[u8], leader_high_watermark: i64, now_ms: i64) {
        let mut st = self.state.lock();
        if st.leader_epoch != position.leader_epoch {
            return;
        }
        let Role::Follower { needs_truncation, .. } = &mut st.role else { return };
        let mut log = self.log.lock();
        if log.log_end_offset() != position.fetch_offset {
            return; // truncated or restarted meanwhile; the next fetch asks again
        }
        if !records.is_empty() {
            if let Err(e) = log.append_as_follower(records, now_ms) {
                warn!(partition = %self.tp, error = %e, "cannot append replicated batches; truncating again");
                *needs_truncation = true;
                return;
            }
            self.traffic.replicated_in(records.len());
        }
        let hw = leader_high_watermark.min(log.log_end_offset());
        if hw > log.high_watermark() {
            log.set_high_watermark(hw);
        }
    }

    /// Retention on the leader deleted what this replica lacks: start over
    /// at the leader's log start.
    pub fn restart_at(&self, position: FetchPosition, leader_log_start: i64) {
        let st = self.state.lock();
        if st.leader_epoch != position.leader_epoch || !matches!(st.role, Role::Follower { .. }) {
            return;
        }
        let mut log = self.log.lock();
        if log.log_end_offset() >= leader_log_start {
            return;
        }
        info!(partition = %self.tp, from = log.log_end_offset(), to = leader_log_start, "restarting the replica at the leader's log start");
        if let Err(e) = log.truncate_fully_and_start_at(leader_log_start) {
            warn!(partition = %self.tp, error = %e, "cannot restart the replica");
        }
    }

    // ---- housekeeping (jobs) ----

    pub(super) fn log(&self) -> &SharedLog {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_protocol::batch::build_transactional_batch;
    use brook_storage::LogManager;

    /// A leader replica of `t-0` on node 1, alone in its ISR, in a temporary directory.
    fn leader(dir: &std::path::Path) -> Partition {
        let (logs, _) = LogManager::open(vec![dir.to_path_buf()], &|_| LogConfig::default()).expect("open logs");
        let tp = TopicPartition::new("t", 0);
        let log = logs.get_or_create(&tp, [1; 16], LogConfig::default()).expect("log");
        let (isr_changes, _) = mpsc::unbounded_channel();
        let partition = Partition::new(1, tp, Uuid::from_bytes([1; 16]), log, isr_changes);
        let image = PartitionImage {
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        };
        partition.lead(&image, 1, LogConfig::default(), 0);
        partition
    }

    #[test]
    fn pipelined_transactional_batches_of_one_producer_are_both_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let partition = leader(dir.path());
        let value: &[u8] = b"v";
        let first = build_transactional_batch(&[(None, Some(value))], 0, 42, 3, 0);
        let second = build_transactional_batch(&[(None, Some(value))], 0, 42, 3, 1);
        // Both requests ask the coordinator before either is appended.
        let first_verified = partition.txn_verification_needed(&first).expect("first needs verification");
        let second_verified = partition.txn_verification_needed(&second).expect("second needs verification");
        assert!(partition.append_verified(&first, -1, Some(first_verified), 0).is_ok());
        // The transaction is open in the log now: no verification needed.
        assert_eq!(partition.txn_verification_needed(&second), None);
        assert!(partition.append_verified(&second, -1, Some(second_verified), 0).is_ok());
    }

    #[test]
    fn a_marker_during_verification_refuses_the_late_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let partition = leader(dir.path());
        let value: &[u8] = b"v";
        let batch = build_transactional_batch(&[(None, Some(value))], 0, 42, 3, 0);
        let verified = partition.txn_verification_needed(&batch).expect("needs verification");
        partition.append_marker(42, 3, 0, ControlType::Abort, 0).expect("marker");
        assert_eq!(partition.append_verified(&batch, -1, Some(verified), 0).err(), Some(ErrorCode::INVALID_TXN_STATE));
    }
}
