//! The state machine of one transactional id (Kafka's `TransactionMetadata`
//! and the decisions of its `TransactionCoordinator`): no IO, no clocks, no
//! channels. Each request `prepare`s a [`Transition`] and marks it pending;
//! the driver writes the transition to `__transaction_state` and then
//! [`TxnMetadata::complete`]s it (or [`TxnMetadata::abort_pending`] when the
//! write fails). A pending transition blocks others (CONCURRENT_TRANSACTIONS).
//!
//! Transaction versions: 0/1 bump the producer epoch only in InitProducerId;
//! 2 (KIP-890 part 2, EndTxn v5) bumps it on every commit/abort, writes the
//! markers with the bumped epoch and returns it to the client. An exhausted
//! epoch moves to a fresh producer id once the markers are written.
//!
//! Not thread-safe by itself; the coordinator holds it under a lock.

use std::collections::BTreeSet;

use brook_protocol::error_code::ErrorCode;
use brook_storage::TopicPartition;

pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Kafka's transaction states, with their persisted ids and listed names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

const ALL_STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

impl TxnState {
    /// The `TransactionStatus` byte of `__transaction_state`.
    pub fn id(self) -> i8 {
        ALL_STATES.iter().position(|s| *s == self).unwrap_or(0) as i8
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        ALL_STATES.get(usize::try_from(id).ok()?).copied()
    }

    /// The name DescribeTransactions / ListTransactions show.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        ALL_STATES.iter().copied().find(|s| s.name() == name)
    }

    /// States a transactional id may be expired in (no transaction open).
    pub fn expiration_allowed(self) -> bool {
        matches!(self, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
    }

    fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// The transaction protocol a client speaks (the `transaction.version` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxnVersion(pub i16);

impl TxnVersion {
    pub const V0: TxnVersion = TxnVersion(0);
    pub const V2: TxnVersion = TxnVersion(2);

    /// KIP-890 part 2: every EndTxn bumps the epoch.
    pub fn bumps_epoch_on_end(self) -> bool {
        self.0 >= 2
    }
}

/// Kafka keeps `Short.MaxValue` for the coordinator, so it can always fence.
pub fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// What is persisted of a transactional id: one `__transaction_state` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub producer_id: i64,
    /// The producer id before the last rotation (to recognise retries).
    pub previous_producer_id: i64,
    /// TV2: the producer id the transaction moves to once it completes
    /// (its epoch was exhausted).
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    pub start_ms: i64,
    pub update_ms: i64,
    pub client_version: TxnVersion,
}

/// One transactional id's state, with the transition being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub current: Transition,
    /// The state being written; set by every `prepare`, cleared by
    /// `complete` / `abort_pending`.
    pub pending: Option<TxnState>,
    /// The pending transition is an epoch fence (timeout or a new producer).
    pending_fence: bool,
    /// A fence's write failed: its bumped epoch was never returned, so the
    /// next fence does not bump again (Kafka's `hasFailedEpochFence`).
    failed_epoch_fence: bool,
}

/// What InitProducerId decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// Write this (Empty) transition, then answer with its id and epoch.
    Write(Transition),
    /// An ongoing transaction of the old epoch must be aborted first: write
    /// this PrepareAbort (epoch bumped), send its markers, and answer
    /// CONCURRENT_TRANSACTIONS so the client retries.
    FenceOngoing(Transition),
    /// The epoch is exhausted: call again with a fresh producer id.
    NeedProducerId,
}

/// What EndTxn decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOutcome {
    /// Write this PrepareCommit/PrepareAbort; markers follow.
    Write(Transition),
    /// A retry of a completed EndTxn: success with this producer id and epoch.
    AlreadyDone { producer_id: i64, producer_epoch: i16 },
    /// TV2 with an exhausted epoch: call again with a fresh producer id.
    NeedProducerId,
}

impl TxnMetadata {
    /// A transactional id seen for the first time: Empty, no epoch yet.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> TxnMetadata {
        TxnMetadata::from_stored(
            transactional_id,
            Transition {
                producer_id,
                previous_producer_id: NO_PRODUCER_ID,
                next_producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                last_producer_epoch: NO_PRODUCER_EPOCH,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                update_ms: now_ms,
                client_version: TxnVersion::V0,
            },
        )
    }

    /// The state as loaded from `__transaction_state`.
    pub fn from_stored(transactional_id: &str, stored: Transition) -> TxnMetadata {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            current: stored,
            pending: None,
            pending_fence: false,
            failed_epoch_fence: false,
        }
    }

    pub fn state(&self) -> TxnState {
        self.current.state
    }

    pub fn producer_id(&self) -> i64 {
        self.current.producer_id
    }

    pub fn producer_epoch(&self) -> i16 {
        self.current.producer_epoch
    }

    fn prepare(&mut self, next: Transition) -> Transition {
        self.pending = Some(next.state);
        next
    }

    /// The written transition takes effect.
    pub fn complete(&mut self, written: Transition) {
        debug_assert_eq!(self.pending, Some(written.state), "completing a transition that was not prepared");
        if written.state.is_prepare() || matches!(written.state, TxnState::CompleteCommit | TxnState::CompleteAbort) {
            self.failed_epoch_fence = false;
        }
        self.current = written;
        self.pending = None;
        self.pending_fence = false;
    }

    /// The write of the pending transition failed: nothing changes.
    pub fn abort_pending(&mut self) {
        if self.pending_fence {
            self.failed_epoch_fence = true;
        }
        self.pending = None;
        self.pending_fence = false;
    }

    /// InitProducerId with a transactional id. `expected` is the client's
    /// current (producer id, epoch), if it has one (KIP-360).
    pub fn init_producer_id(
        &mut self,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Result<InitOutcome, ErrorCode> {
        if self.pending.is_some() {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        let cur = &self.current;
        if let Some((id, epoch)) = expected {
            // Fence unless: no epoch yet (a producer recovering from
            // UNKNOWN_PRODUCER_ID), the same id (the epoch is checked next),
            // or a retry of the call that rotated an exhausted id.
            let valid = cur.producer_epoch == NO_PRODUCER_EPOCH
                || id == cur.producer_id
                || (id == cur.previous_producer_id && epoch_exhausted(epoch));
            if !valid {
                return Err(ErrorCode::PRODUCER_FENCED);
            }
        }
        match cur.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(ErrorCode::CONCURRENT_TRANSACTIONS),
            TxnState::Ongoing => self.prepare_fence_abort(now_ms).map(InitOutcome::FenceOngoing),
            TxnState::Dead | TxnState::PrepareEpochFence => Err(ErrorCode::CONCURRENT_TRANSACTIONS),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let rotate =
                    epoch_exhausted(cur.producer_epoch) && expected.is_none_or(|(_, e)| e == cur.producer_epoch);
                let (producer_id, previous_producer_id, producer_epoch, last_producer_epoch) = if rotate {
                    let Some(fresh) = fresh_producer_id else { return Ok(InitOutcome::NeedProducerId) };
                    let last = if expected.is_some() { cur.producer_epoch } else { NO_PRODUCER_EPOCH };
                    (fresh, cur.producer_id, 0, last)
                } else {
                    let (epoch, last) = match expected {
                        // A new producer (or one without state): bump, forget the last epoch.
                        None => (cur.producer_epoch.saturating_add(1), NO_PRODUCER_EPOCH),
                        Some((_, e)) if cur.producer_epoch == NO_PRODUCER_EPOCH || e == cur.producer_epoch => {
                            (cur.producer_epoch.saturating_add(1), cur.producer_epoch)
                        }
                        // A retry of a bump whose answer was lost.
                        Some((_, e)) if e == cur.last_producer_epoch => (cur.producer_epoch, cur.last_producer_epoch),
                        Some(_) => return Err(ErrorCode::PRODUCER_FENCED),
                    };
                    (cur.producer_id, cur.previous_producer_id, epoch, last)
                };
                let next = Transition {
                    producer_id,
                    previous_producer_id,
                    next_producer_id: NO_PRODUCER_ID,
                    producer_epoch,
                    last_producer_epoch,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    start_ms: -1,
                    update_ms: now_ms,
                    client_version: cur.client_version,
                };
                Ok(InitOutcome::Write(self.prepare(next)))
            }
        }
    }

    /// Aborts the ongoing transaction with a bumped epoch, so its producer
    /// is fenced (a new producer's InitProducerId, or a timeout). The last
    /// epoch is forgotten: the fenced producer's retries are refused.
    pub fn prepare_fence_abort(&mut self, now_ms: i64) -> Result<Transition, ErrorCode> {
        if self.pending.is_some() {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        if self.current.state != TxnState::Ongoing {
            return Err(ErrorCode::INVALID_TXN_STATE);
        }
        let cur = &self.current;
        let epoch = if self.failed_epoch_fence || cur.producer_epoch == i16::MAX {
            cur.producer_epoch
        } else {
            cur.producer_epoch + 1
        };
        let next = Transition {
            producer_epoch: epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            next_producer_id: NO_PRODUCER_ID,
            state: TxnState::PrepareAbort,
            update_ms: now_ms,
            ..cur.clone()
        };
        self.pending_fence = true;
        Ok(self.prepare(next))
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn with the group's offsets
    /// partition). `Ok(None)`: every partition is already in the transaction.
    pub fn add_partitions(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
        version: TxnVersion,
        now_ms: i64,
    ) -> Result<Option<Transition>, ErrorCode> {
        let cur = &self.current;
        if cur.producer_id != producer_id {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if cur.producer_epoch != producer_epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        if self.pending.is_some() || cur.state.is_prepare() {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        if matches!(cur.state, TxnState::Dead | TxnState::PrepareEpochFence) {
            return Err(ErrorCode::INVALID_TXN_STATE);
        }
        if cur.state == TxnState::Ongoing && partitions.is_subset(&cur.partitions) {
            return Ok(None);
        }
        let start_ms = if cur.state == TxnState::Ongoing { cur.start_ms } else { now_ms };
        let next = Transition {
            partitions: cur.partitions.union(partitions).cloned().collect(),
            state: TxnState::Ongoing,
            start_ms,
            update_ms: now_ms,
            client_version: version,
            next_producer_id: NO_PRODUCER_ID,
            ..cur.clone()
        };
        Ok(Some(self.prepare(next)))
    }

    /// AddPartitionsToTxn `verify_only` (KIP-890 part 1, asked by partition
    /// leaders before a transactional produce): NONE for each partition in
    /// the ongoing transaction, TRANSACTION_ABORTABLE for the others.
    pub fn verify_partitions(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let cur = &self.current;
        if cur.producer_id != producer_id {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if cur.producer_epoch != producer_epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        if cur.state.is_prepare() {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        Ok(partitions
            .iter()
            .map(|tp| if cur.partitions.contains(tp) { ErrorCode::NONE } else { ErrorCode::TRANSACTION_ABORTABLE })
            .collect())
    }

    /// EndTxn from the client.
    pub fn end(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        version: TxnVersion,
        fresh_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Result<EndOutcome, ErrorCode> {
        let cur = &self.current;
        let tv2 = version.bumps_epoch_on_end();
        // TV2 retries: this producer's own EndTxn bumped the epoch (the last
        // epoch records it; a fence forgets it), or rotated the producer id.
        let retry_on_bump = tv2
            && producer_id == cur.producer_id
            && i32::from(cur.producer_epoch) == i32::from(producer_epoch) + 1
            && cur.last_producer_epoch == producer_epoch;
        let retry_on_overflow = tv2
            && producer_id != cur.producer_id
            && producer_id == cur.previous_producer_id
            && producer_epoch == i16::MAX - 1
            && cur.producer_epoch == 0;
        if cur.producer_id != producer_id && !retry_on_overflow {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        let same_epoch = producer_epoch == cur.producer_epoch;
        let valid_epoch = if tv2 {
            match cur.state {
                TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
                TxnState::CompleteCommit | TxnState::CompleteAbort => retry_on_bump || retry_on_overflow || same_epoch,
                _ => same_epoch,
            }
        } else {
            same_epoch
        };
        if !valid_epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        if self.pending.is_some() {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        let is_retry = !tv2 || retry_on_bump || retry_on_overflow;
        let done = EndOutcome::AlreadyDone { producer_id: cur.producer_id, producer_epoch: cur.producer_epoch };
        match (cur.state, commit) {
            (TxnState::Ongoing, _) => self.prepare_end(commit, version, fresh_producer_id, false, now_ms),
            (TxnState::CompleteCommit, true) if is_retry => Ok(done),
            (TxnState::CompleteAbort, false) if is_retry => Ok(done),
            // TV2: aborting with no transaction open still bumps the epoch
            // (the client aborts after an abortable error before any send).
            (TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort, false) if tv2 && !is_retry => {
                self.prepare_end(false, version, fresh_producer_id, true, now_ms)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ErrorCode::CONCURRENT_TRANSACTIONS)
            }
            _ => Err(ErrorCode::INVALID_TXN_STATE),
        }
    }

    fn prepare_end(
        &mut self,
        commit: bool,
        version: TxnVersion,
        fresh_producer_id: Option<i64>,
        no_partitions: bool,
        now_ms: i64,
    ) -> Result<EndOutcome, ErrorCode> {
        let cur = &self.current;
        let tv2 = version.bumps_epoch_on_end();
        let next_producer_id = if tv2 && epoch_exhausted(cur.producer_epoch) {
            match fresh_producer_id {
                Some(id) => id,
                None => return Ok(EndOutcome::NeedProducerId),
            }
        } else {
            NO_PRODUCER_ID
        };
        let (producer_epoch, last_producer_epoch) = if tv2 {
            (cur.producer_epoch.saturating_add(1), cur.producer_epoch)
        } else {
            (cur.producer_epoch, cur.last_producer_epoch)
        };
        let next = Transition {
            producer_epoch,
            last_producer_epoch,
            next_producer_id,
            state: if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort },
            start_ms: if no_partitions { now_ms } else { cur.start_ms },
            partitions: if no_partitions { BTreeSet::new() } else { cur.partitions.clone() },
            update_ms: now_ms,
            client_version: version,
            ..cur.clone()
        };
        Ok(EndOutcome::Write(self.prepare(next)))
    }

    /// The markers of a PrepareCommit/PrepareAbort are all written: the
    /// Complete state to persist. A TV2 transaction whose epoch was
    /// exhausted moves to its next producer id, epoch 0.
    pub fn prepare_complete(&mut self, now_ms: i64) -> Result<Transition, ErrorCode> {
        let cur = &self.current;
        if self.pending.is_some() {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        let state = match cur.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return Err(ErrorCode::INVALID_TXN_STATE),
        };
        let (producer_id, previous_producer_id, producer_epoch) = if cur.next_producer_id != NO_PRODUCER_ID {
            (cur.next_producer_id, cur.producer_id, 0)
        } else {
            (cur.producer_id, cur.previous_producer_id, cur.producer_epoch)
        };
        let next = Transition {
            producer_id,
            previous_producer_id,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch,
            state,
            partitions: BTreeSet::new(),
            update_ms: now_ms,
            ..cur.clone()
        };
        Ok(self.prepare(next))
    }

    /// Ongoing for longer than its timeout, with nothing in flight.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.current.state == TxnState::Ongoing
            && self.pending.is_none()
            && self.current.start_ms + i64::from(self.current.timeout_ms) < now_ms
    }

    /// Idle (no open transaction) for `transactional.id.expiration.ms`.
    pub fn expired(&self, now_ms: i64, expiration_ms: i64) -> bool {
        self.current.state.expiration_allowed()
            && self.pending.is_none()
            && self.current.update_ms.saturating_add(expiration_ms) <= now_ms
    }

    /// Marks the id as being expired (its tombstone is being written).
    pub fn prepare_dead(&mut self) -> Result<(), ErrorCode> {
        if self.pending.is_some() || !self.current.state.expiration_allowed() {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        self.pending = Some(TxnState::Dead);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
