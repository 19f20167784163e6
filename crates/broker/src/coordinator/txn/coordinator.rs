//! The transaction coordinator's driver (Kafka's `TransactionCoordinator`
//! with its `TransactionStateManager`): owns the transactional ids of the
//! `__transaction_state` partitions this broker leads, feeds requests into
//! each id's state machine, writes each transition to the partition with
//! acks=all before it takes effect, and drives completing transactions:
//! the Prepare state is written (the client is answered), then the markers
//! are sent, then the Complete state is written.
//!
//! The coordinator epoch of a partition is its leader epoch. Leadership is
//! followed from the metadata image ([`TransactionCoordinator::sync_ownership`]):
//! a gained partition is loaded from its log once its high watermark has
//! reached its log end (nothing acknowledged is missed), and its prepared
//! transactions are completed again; a lost one is dropped. Requests for
//! ids of other partitions get NOT_COORDINATOR, and
//! COORDINATOR_LOAD_IN_PROGRESS while loading.
//!
//! Writes and marker rounds run in spawned tasks, so a client that goes
//! away mid-request cannot leave a transition pending forever.
//!
//! Thread-safe: one mutex over the transactional ids (transaction control
//! traffic is light next to produce/fetch, which never take it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use brook_metadata::requests::ControllerRequest;
use brook_metadata::MetadataImage;
use brook_protocol::batch::build_batch;
use brook_protocol::error_code::ErrorCode;
use brook_storage::TopicPartition;
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::markers::{Abandoned, MarkerJob, MarkerSender};
use super::state::{EndOutcome, InitOutcome, Transition, TxnMetadata, TxnState, TxnVersion};
use super::store;
use crate::clock::now_ms;
use crate::coordinator::group::store::partition_for;
use crate::coordinator::state_log;
use crate::replication::ReplicaManager;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// How long a state write waits for its replication (Kafka's request timeout).
const STATE_WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a gained partition checks whether it can be loaded yet.
const LOAD_RETRY: Duration = Duration::from_millis(50);
/// Pauses before writing a Complete state again after a failed write
/// (doubling from the first to the last).
const COMPLETE_RETRY_MIN: Duration = Duration::from_millis(200);
const COMPLETE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Transaction settings (Kafka's names in config.rs).
#[derive(Debug, Clone)]
pub struct TransactionConfig {
    /// `transaction.state.log.num.partitions`
    pub num_partitions: i32,
    /// `transaction.state.log.replication.factor`
    pub replication_factor: i16,
    /// `transaction.state.log.min.isr`
    pub min_isr: i32,
    /// `transaction.state.log.segment.bytes`
    pub segment_bytes: i64,
    /// `transaction.max.timeout.ms`
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    pub abort_timed_out_interval_ms: u64,
    /// `transactional.id.expiration.ms`
    pub id_expiration_ms: i64,
    /// TLS of marker connections to partition leaders (inter-broker listener).
    pub link_tls: crate::broker_link::LinkTls,
}

/// DescribeTransactions' view of one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    pub state: TxnState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_ms: i64,
    pub partitions: BTreeSet<TopicPartition>,
}

/// ListTransactions' view of one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}

pub struct TransactionCoordinator {
    config: TransactionConfig,
    txns: Mutex<HashMap<String, TxnMetadata>>,
    /// Partitions loaded and coordinated, with their coordinator epoch.
    owned: Mutex<HashMap<i32, i32>>,
    /// Partitions led but not loaded yet, with the epoch they will have.
    loading: Mutex<HashMap<i32, i32>>,
    /// Serializes [`TransactionCoordinator::sync_ownership`] and loads.
    syncing: Mutex<()>,
    replicas: Arc<ReplicaManager>,
    image: watch::Receiver<Arc<MetadataImage>>,
    markers: MarkerSender,
    runtime: Handle,
    this: Weak<TransactionCoordinator>,
}

impl TransactionCoordinator {
    /// Must be called inside the tokio runtime that will run its tasks.
    pub fn new(
        config: TransactionConfig,
        node_id: i32,
        replicas: Arc<ReplicaManager>,
        image: watch::Receiver<Arc<MetadataImage>>,
    ) -> Arc<TransactionCoordinator> {
        let markers = MarkerSender::new(node_id, image.clone(), config.link_tls.clone());
        Arc::new_cyclic(|this| TransactionCoordinator {
            config,
            txns: Mutex::new(HashMap::new()),
            owned: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            syncing: Mutex::new(()),
            replicas,
            markers,
            image,
            runtime: Handle::current(),
            this: this.clone(),
        })
    }

    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_of(&self, transactional_id: &str) -> i32 {
        partition_for(transactional_id, self.config.num_partitions)
    }

    fn state_partition(&self, index: i32) -> TopicPartition {
        TopicPartition::new(TRANSACTION_STATE_TOPIC, index)
    }

    fn arc(&self) -> Arc<TransactionCoordinator> {
        self.this.upgrade().expect("the coordinator outlives its own calls")
    }

    /// The coordinator epoch for an id, or NOT_COORDINATOR /
    /// COORDINATOR_LOAD_IN_PROGRESS.
    pub fn coordinator_epoch(&self, transactional_id: &str) -> Result<i32, ErrorCode> {
        let p = self.partition_of(transactional_id);
        if let Some(epoch) = self.owned.lock().get(&p) {
            return Ok(*epoch);
        }
        if self.loading.lock().contains_key(&p) {
            return Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
        }
        Err(ErrorCode::NOT_COORDINATOR)
    }

    /// The broker coordinating `transactional_id` in `image` (the leader of
    /// its `__transaction_state` partition), for partition leaders that ask
    /// it whether a partition is in a transaction.
    pub fn locate(&self, image: &MetadataImage, transactional_id: &str) -> Option<i32> {
        let partition = image.topic(TRANSACTION_STATE_TOPIC)?.partitions.get(&self.partition_of(transactional_id))?;
        (partition.leader >= 0).then_some(partition.leader)
    }

    fn still_owner(&self, partition: i32, epoch: i32) -> bool {
        self.owned.lock().get(&partition) == Some(&epoch)
    }

    /// The request that creates `__transaction_state`, if it does not exist:
    /// compacted, with Kafka's settings (see [`state_topic_replication`]).
    pub fn state_topic_request(&self, live_brokers: usize) -> Option<ControllerRequest> {
        if self.image.borrow().topic(TRANSACTION_STATE_TOPIC).is_some() {
            return None;
        }
        let (replication_factor, min_isr) = state_topic_replication(&self.config, live_brokers);
        if replication_factor < self.config.replication_factor {
            warn!(
                configured = self.config.replication_factor,
                replication_factor, "{TRANSACTION_STATE_TOPIC}: fewer live brokers than its replication factor"
            );
        }
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        configs.insert("min.insync.replicas".to_string(), min_isr.to_string());
        configs.insert("segment.bytes".to_string(), self.config.segment_bytes.to_string());
        configs.insert("unclean.leader.election.enable".to_string(), "false".to_string());
        Some(ControllerRequest::CreateTopic {
            name: TRANSACTION_STATE_TOPIC.to_string(),
            num_partitions: self.config.num_partitions,
            replication_factor,
            configs,
            assignment: Vec::new(),
            default_partitions: 1,
            default_replication: 1,
        })
    }

    // ---- ownership ----

    /// Follows leadership of `__transaction_state`: drops the ids of
    /// partitions no longer led (or led at a new epoch), loads those newly led.
    pub fn sync_ownership(&self) {
        let _one_at_a_time = self.syncing.lock();
        let led: HashMap<i32, i32> = (0..self.config.num_partitions)
            .filter_map(|p| self.replicas.leader(&self.state_partition(p)).map(|part| (p, part.leader_epoch())))
            .collect();
        let lost: Vec<i32> = self.owned.lock().iter().filter(|(p, e)| led.get(p) != Some(e)).map(|(p, _)| *p).collect();
        if !lost.is_empty() {
            self.owned.lock().retain(|p, _| !lost.contains(p));
            let mut txns = self.txns.lock();
            let before = txns.len();
            txns.retain(|id, _| !lost.contains(&self.partition_of(id)));
            info!(partitions = ?lost, transactional_ids = before - txns.len(), "no longer coordinating these transaction state partitions");
        }
        self.loading.lock().retain(|p, e| led.get(p) == Some(e));
        // Snapshots, never both locks at once (try_load takes loading, then owned).
        let owned: Vec<i32> = self.owned.lock().keys().copied().collect();
        let loading: Vec<i32> = self.loading.lock().keys().copied().collect();
        let gained: Vec<(i32, i32)> =
            led.iter().filter(|(p, _)| !owned.contains(p) && !loading.contains(p)).map(|(p, e)| (*p, *e)).collect();
        for (p, epoch) in gained {
            self.loading.lock().insert(p, epoch);
            if !self.try_load(p, epoch) {
                self.retry_load(p, epoch);
            }
        }
    }

    /// Loads a partition if its log is committed to its end. `false`: not yet.
    fn try_load(&self, index: i32, epoch: i32) -> bool {
        if self.loading.lock().get(&index) != Some(&epoch) {
            return true; // lost meanwhile: nothing to do
        }
        let tp = self.state_partition(index);
        let Some(partition) = self.replicas.leader(&tp).filter(|p| p.leader_epoch() == epoch) else {
            self.loading.lock().remove(&index);
            return true;
        };
        let offsets = partition.offsets();
        if offsets.high_watermark < offsets.log_end {
            debug!(partition = %tp, hw = offsets.high_watermark, log_end = offsets.log_end, "waiting for the high watermark before loading");
            return false;
        }
        let records = match state_log::read_records(&partition) {
            Ok(r) => r,
            Err(code) => {
                warn!(partition = %tp, %code, "cannot read the transaction state partition; will retry");
                return false;
            }
        };
        let mut latest: HashMap<String, Transition> = HashMap::new();
        let mut count = 0usize;
        for (key, value) in records {
            match store::decode(&key, value.as_deref()) {
                Some((id, Some(t))) => {
                    latest.insert(id, t);
                }
                Some((id, None)) => {
                    latest.remove(&id);
                }
                None => {
                    warn!(partition = %tp, "skipping a malformed transaction state record");
                    continue;
                }
            }
            count += 1;
        }
        let mut resume = Vec::new();
        {
            let mut txns = self.txns.lock();
            for (id, t) in latest {
                let mut txn = TxnMetadata::from_stored(&id, t);
                if matches!(txn.state(), TxnState::PrepareCommit | TxnState::PrepareAbort) {
                    let job = marker_job(&txn, epoch);
                    if let Ok(complete) = txn.prepare_complete(now_ms()) {
                        resume.push((job, complete));
                    }
                }
                txns.insert(id, txn);
            }
        }
        let claimed = {
            let mut loading = self.loading.lock();
            let still_led = loading.get(&index) == Some(&epoch);
            if still_led {
                loading.remove(&index);
                self.owned.lock().insert(index, epoch);
            }
            still_led
        };
        if !claimed {
            // Lost while loading: forget what was loaded.
            self.txns.lock().retain(|id, _| self.partition_of(id) != index);
            return true;
        }
        info!(partition = %tp, coordinator_epoch = epoch, records = count, completing = resume.len(), "loaded transaction state");
        for (job, complete) in resume {
            self.runtime.spawn(self.arc().finish(job, complete));
        }
        true
    }

    fn retry_load(&self, index: i32, epoch: i32) {
        let this = self.arc();
        self.runtime.spawn(async move {
            loop {
                tokio::time::sleep(LOAD_RETRY).await;
                let c = this.clone();
                let attempt = move || {
                    // Loads run one at a time, as in sync_ownership.
                    let _one_at_a_time = c.syncing.lock();
                    c.try_load(index, epoch)
                };
                if tokio::task::spawn_blocking(attempt).await.unwrap_or(true) {
                    return;
                }
            }
        });
    }

    // ---- writes ----

    /// Appends one state record and waits until it is replicated (acks=all),
    /// while this broker coordinates the id at `epoch`.
    async fn write(&self, transactional_id: &str, epoch: i32, value: Option<&Transition>) -> Result<(), ErrorCode> {
        let index = self.partition_of(transactional_id);
        if !self.still_owner(index, epoch) {
            return Err(ErrorCode::NOT_COORDINATOR);
        }
        let partition = self
            .replicas
            .leader(&self.state_partition(index))
            .filter(|p| p.leader_epoch() == epoch)
            .ok_or(ErrorCode::NOT_COORDINATOR)?;
        let key = store::key(transactional_id);
        let value = value.map(store::value);
        let now = now_ms();
        let batch = build_batch(&[(Some(&key[..]), value.as_deref())], now);
        let (appended, leader_epoch) = partition.append_as_leader(&batch, -1, now).map_err(write_error)?;
        self.replicas
            .wait_replicated(&partition, leader_epoch, appended.last_offset, STATE_WRITE_TIMEOUT)
            .await
            .map_err(write_error)?;
        if leader_epoch != epoch || !self.still_owner(index, epoch) {
            return Err(ErrorCode::NOT_COORDINATOR);
        }
        Ok(())
    }

    /// Writes a prepared transition; it takes effect if the write succeeds
    /// and is dropped if it fails.
    async fn persist(&self, transactional_id: &str, epoch: i32, transition: Transition) -> Result<(), ErrorCode> {
        let result = self.write(transactional_id, epoch, Some(&transition)).await;
        let mut txns = self.txns.lock();
        if let Some(txn) = txns.get_mut(transactional_id).filter(|t| t.pending == Some(transition.state)) {
            match result {
                Ok(()) => txn.complete(transition),
                Err(_) => txn.abort_pending(),
            }
        }
        result
    }

    /// [`Self::persist`] in its own task: finishes even if the caller is dropped.
    async fn persist_detached(
        &self,
        transactional_id: &str,
        epoch: i32,
        transition: Transition,
    ) -> Result<(), ErrorCode> {
        let this = self.arc();
        let id = transactional_id.to_string();
        detached(&self.runtime, async move { this.persist(&id, epoch, transition).await }).await
    }

    /// Writes a PrepareCommit/PrepareAbort, then starts its markers and
    /// returns the Complete state they lead to.
    async fn end_with(
        self: Arc<Self>,
        transactional_id: String,
        epoch: i32,
        prepare: Transition,
    ) -> Result<Transition, ErrorCode> {
        self.persist(&transactional_id, epoch, prepare).await?;
        let (job, complete) = {
            let mut txns = self.txns.lock();
            let txn = txns.get_mut(&transactional_id).ok_or(ErrorCode::NOT_COORDINATOR)?;
            let job = marker_job(txn, epoch);
            (job, txn.prepare_complete(now_ms())?)
        };
        self.runtime.spawn(self.clone().finish(job, complete.clone()));
        Ok(complete)
    }

    /// Sends the markers, then writes the Complete state (retrying while
    /// this broker coordinates the id: the transaction must not stay open).
    async fn finish(self: Arc<Self>, job: MarkerJob, complete: Transition) {
        let id = job.transactional_id.clone();
        let index = self.partition_of(&id);
        let epoch = job.coordinator_epoch;
        match self.markers.send(&job, || self.still_owner(index, epoch)).await {
            Ok(()) => {}
            Err(Abandoned::NotCoordinator) => return,
            Err(Abandoned::Fenced) => {
                // Kafka's choice: stop; the transaction stays prepared
                // until a coordinator loads it again.
                if let Some(txn) = self.txns.lock().get_mut(&id).filter(|t| t.pending == Some(complete.state)) {
                    txn.abort_pending();
                }
                return;
            }
        }
        let mut backoff = COMPLETE_RETRY_MIN;
        loop {
            match self.write(&id, epoch, Some(&complete)).await {
                Ok(()) => {
                    if let Some(txn) = self.txns.lock().get_mut(&id).filter(|t| t.pending == Some(complete.state)) {
                        txn.complete(complete.clone());
                    }
                    info!(transactional_id = %id, producer_id = job.producer_id, state = complete.state.name(), partitions = job.partitions.len(), "transaction completed");
                    return;
                }
                Err(ErrorCode::NOT_COORDINATOR) => return,
                Err(code) => {
                    warn!(transactional_id = %id, %code, "writing the completed transaction failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(COMPLETE_RETRY_MAX);
                    if !self.still_owner(index, epoch) {
                        return;
                    }
                }
            }
        }
    }

    /// Runs `f` on the id's state machine, under the lock, while this
    /// broker coordinates it at `epoch`.
    fn with_txn<T>(
        &self,
        transactional_id: &str,
        epoch: i32,
        f: impl FnOnce(&mut TxnMetadata) -> Result<T, ErrorCode>,
    ) -> Result<T, ErrorCode> {
        let mut txns = self.txns.lock();
        if !self.still_owner(self.partition_of(transactional_id), epoch) {
            return Err(ErrorCode::NOT_COORDINATOR);
        }
        f(txns.get_mut(transactional_id).ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?)
    }

    // ---- requests ----

    /// InitProducerId with a transactional id: its producer id and epoch.
    /// `allocate` hands out a new producer id (from the controller).
    pub async fn init_producer_id<F, Fut>(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        allocate: F,
    ) -> Result<(i64, i16), ErrorCode>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<i64, ErrorCode>>,
    {
        if transactional_id.is_empty() {
            return Err(ErrorCode::INVALID_REQUEST);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT);
        }
        let epoch = self.coordinator_epoch(transactional_id)?;
        let mut fresh = None;
        loop {
            let outcome = {
                let mut txns = self.txns.lock();
                if !self.still_owner(self.partition_of(transactional_id), epoch) {
                    return Err(ErrorCode::NOT_COORDINATOR);
                }
                let now = now_ms();
                match (txns.get_mut(transactional_id), fresh.take()) {
                    (Some(txn), fresh) => txn.init_producer_id(timeout_ms, expected, fresh, now)?,
                    (None, Some(producer_id)) => txns
                        .entry(transactional_id.to_string())
                        .or_insert_with(|| TxnMetadata::new(transactional_id, producer_id, timeout_ms, now))
                        .init_producer_id(timeout_ms, expected, None, now)?,
                    (None, None) => InitOutcome::NeedProducerId,
                }
            };
            match outcome {
                InitOutcome::NeedProducerId => fresh = Some(allocate().await?),
                InitOutcome::Write(t) => {
                    let answer = (t.producer_id, t.producer_epoch);
                    self.persist_detached(transactional_id, epoch, t).await?;
                    info!(
                        transactional_id,
                        producer_id = answer.0,
                        producer_epoch = answer.1,
                        "initialized transactional producer"
                    );
                    return Ok(answer);
                }
                InitOutcome::FenceOngoing(t) => {
                    info!(transactional_id, "aborting the previous producer's open transaction");
                    let run = self.arc().end_with(transactional_id.to_string(), epoch, t);
                    detached(&self.runtime, run).await?;
                    return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
                }
            }
        }
    }

    /// AddPartitionsToTxn (also AddOffsetsToTxn: its group's offsets partition).
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: BTreeSet<TopicPartition>,
        version: TxnVersion,
    ) -> Result<(), ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::INVALID_REQUEST);
        }
        let epoch = self.coordinator_epoch(transactional_id)?;
        let prepared = self.with_txn(transactional_id, epoch, |txn| {
            txn.add_partitions(producer_id, producer_epoch, &partitions, version, now_ms())
        })?;
        match prepared {
            None => Ok(()),
            Some(t) => self.persist_detached(transactional_id, epoch, t).await,
        }
    }

    /// AddPartitionsToTxn `verify_only`: per partition, NONE if it is in
    /// the ongoing transaction of this producer id and epoch, else
    /// TRANSACTION_ABORTABLE; or one error for all.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::INVALID_REQUEST);
        }
        let epoch = self.coordinator_epoch(transactional_id)?;
        self.with_txn(transactional_id, epoch, |txn| txn.verify_partitions(producer_id, producer_epoch, partitions))
    }

    /// EndTxn: the producer id and epoch the client continues with (TV2
    /// bumps the epoch, or moves to a new id when it is exhausted).
    pub async fn end_txn<F, Fut>(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        version: TxnVersion,
        allocate: F,
    ) -> Result<(i64, i16), ErrorCode>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<i64, ErrorCode>>,
    {
        if transactional_id.is_empty() {
            return Err(ErrorCode::INVALID_REQUEST);
        }
        let epoch = self.coordinator_epoch(transactional_id)?;
        let mut fresh = None;
        loop {
            let outcome = self.with_txn(transactional_id, epoch, |txn| {
                txn.end(producer_id, producer_epoch, commit, version, fresh.take(), now_ms())
            })?;
            match outcome {
                EndOutcome::NeedProducerId => fresh = Some(allocate().await?),
                EndOutcome::AlreadyDone { producer_id, producer_epoch } => return Ok((producer_id, producer_epoch)),
                EndOutcome::Write(t) => {
                    let run = self.arc().end_with(transactional_id.to_string(), epoch, t);
                    let complete = detached(&self.runtime, run).await?;
                    return Ok((complete.producer_id, complete.producer_epoch));
                }
            }
        }
    }

    pub fn describe(&self, transactional_id: &str) -> Result<TxnDescription, ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::INVALID_REQUEST);
        }
        self.coordinator_epoch(transactional_id)?;
        let txns = self.txns.lock();
        let txn = txns
            .get(transactional_id)
            .filter(|t| t.state() != TxnState::Dead && t.pending != Some(TxnState::Dead))
            .ok_or(ErrorCode::TRANSACTIONAL_ID_NOT_FOUND)?;
        let t = &txn.current;
        Ok(TxnDescription {
            state: t.state,
            producer_id: t.producer_id,
            producer_epoch: t.producer_epoch,
            timeout_ms: t.timeout_ms,
            start_ms: t.start_ms,
            partitions: t.partitions.clone(),
        })
    }

    /// Whether some led partition is still being loaded.
    pub fn is_loading(&self) -> bool {
        !self.loading.lock().is_empty()
    }

    /// The ids this broker coordinates, filtered by state and producer id
    /// (an empty filter matches all) and, when `open_longer_than_ms` >= 0,
    /// by a transaction start more than that long before `now_ms` (Kafka's
    /// duration filter).
    pub fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        open_longer_than_ms: i64,
        now_ms: i64,
    ) -> Vec<TxnListing> {
        let txns = self.txns.lock();
        let mut out: Vec<TxnListing> = txns
            .iter()
            .filter(|(_, t)| t.state() != TxnState::Dead)
            .filter(|(_, t)| open_longer_than_ms < 0 || now_ms - t.current.start_ms > open_longer_than_ms)
            .filter(|(_, t)| states.is_empty() || states.contains(&t.state()))
            .filter(|(_, t)| producer_ids.is_empty() || producer_ids.contains(&t.producer_id()))
            .map(|(id, t)| TxnListing { transactional_id: id.clone(), producer_id: t.producer_id(), state: t.state() })
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    // ---- periodic work ----

    /// Aborts (with an epoch bump, fencing their producer) transactions open
    /// longer than their timeout, so no partition's LSO waits for them.
    pub fn abort_timed_out(&self) {
        let now = now_ms();
        let owned = self.owned.lock().clone();
        let fences: Vec<(String, i32, Transition)> = {
            let mut txns = self.txns.lock();
            txns.iter_mut()
                .filter(|(_, t)| t.timed_out(now))
                .filter_map(|(id, t)| {
                    let epoch = *owned.get(&self.partition_of(id))?;
                    t.prepare_fence_abort(now).ok().map(|fence| (id.clone(), epoch, fence))
                })
                .collect()
        };
        for (id, epoch, fence) in fences {
            info!(transactional_id = %id, producer_id = fence.producer_id, "aborting a timed-out transaction");
            let run = self.arc().end_with(id.clone(), epoch, fence);
            self.runtime.spawn(async move {
                if let Err(code) = run.await {
                    warn!(transactional_id = %id, %code, "aborting a timed-out transaction failed");
                }
            });
        }
    }

    /// Forgets ids idle for `transactional.id.expiration.ms` (a tombstone
    /// in `__transaction_state`).
    pub fn expire_ids(&self) {
        let now = now_ms();
        let owned = self.owned.lock().clone();
        let expiring: Vec<(String, i32)> = {
            let mut txns = self.txns.lock();
            txns.iter_mut()
                .filter(|(_, t)| t.expired(now, self.config.id_expiration_ms))
                .filter_map(|(id, t)| {
                    let epoch = *owned.get(&self.partition_of(id))?;
                    t.prepare_dead().ok().map(|()| (id.clone(), epoch))
                })
                .collect()
        };
        for (id, epoch) in expiring {
            let this = self.arc();
            self.runtime.spawn(async move {
                let result = this.write(&id, epoch, None).await;
                let mut txns = this.txns.lock();
                match result {
                    Ok(()) => {
                        if txns.get(&id).is_some_and(|t| t.pending == Some(TxnState::Dead)) {
                            txns.remove(&id);
                            info!(transactional_id = %id, "expired idle transactional id");
                        }
                    }
                    Err(code) => {
                        debug!(transactional_id = %id, %code, "expiring a transactional id failed");
                        if let Some(t) = txns.get_mut(&id).filter(|t| t.pending == Some(TxnState::Dead)) {
                            t.abort_pending();
                        }
                    }
                }
            });
        }
    }
}

/// `__transaction_state`'s replication factor and min ISR: the configured
/// ones, at most as many replicas as there are live brokers (so a lone
/// broker with Kafka's default of 3 still has transactions), and a min ISR
/// no larger than the replication factor.
pub fn state_topic_replication(config: &TransactionConfig, live_brokers: usize) -> (i16, i32) {
    let live = i16::try_from(live_brokers.max(1)).unwrap_or(i16::MAX);
    let replication_factor = config.replication_factor.min(live);
    (replication_factor, config.min_isr.clamp(1, i32::from(replication_factor)))
}

fn marker_job(txn: &TxnMetadata, coordinator_epoch: i32) -> MarkerJob {
    MarkerJob {
        transactional_id: txn.transactional_id.clone(),
        producer_id: txn.producer_id(),
        producer_epoch: txn.producer_epoch(),
        commit: txn.state() == TxnState::PrepareCommit,
        coordinator_epoch,
        partitions: txn.current.partitions.clone(),
    }
}

/// Kafka's mapping of a failed state write to what the client sees.
fn write_error(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        | ErrorCode::NOT_ENOUGH_REPLICAS
        | ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
        | ErrorCode::REQUEST_TIMED_OUT => ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::KAFKA_STORAGE_ERROR => ErrorCode::NOT_COORDINATOR,
        ErrorCode::MESSAGE_TOO_LARGE | ErrorCode::RECORD_LIST_TOO_LARGE => ErrorCode::UNKNOWN_SERVER_ERROR,
        other => other,
    }
}

/// Runs `work` in its own task and waits for it.
async fn detached<T: Send + 'static>(
    runtime: &Handle,
    work: impl Future<Output = Result<T, ErrorCode>> + Send + 'static,
) -> Result<T, ErrorCode> {
    runtime.spawn(work).await.unwrap_or(Err(ErrorCode::UNKNOWN_SERVER_ERROR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(replication_factor: i16, min_isr: i32) -> TransactionConfig {
        TransactionConfig {
            num_partitions: 50,
            replication_factor,
            min_isr,
            segment_bytes: 1 << 20,
            max_timeout_ms: 900_000,
            abort_timed_out_interval_ms: 10_000,
            id_expiration_ms: 604_800_000,
            link_tls: Default::default(),
        }
    }

    #[test]
    fn state_topic_replication_is_capped_by_live_brokers() {
        assert_eq!(state_topic_replication(&config(3, 2), 5), (3, 2));
        assert_eq!(state_topic_replication(&config(3, 2), 3), (3, 2));
        assert_eq!(state_topic_replication(&config(3, 2), 2), (2, 2));
        assert_eq!(state_topic_replication(&config(3, 2), 1), (1, 1));
        assert_eq!(state_topic_replication(&config(3, 2), 0), (1, 1));
        assert_eq!(state_topic_replication(&config(1, 2), 3), (1, 1));
    }

    #[test]
    fn failed_writes_map_to_kafkas_coordinator_errors() {
        assert_eq!(write_error(ErrorCode::NOT_ENOUGH_REPLICAS), ErrorCode::COORDINATOR_NOT_AVAILABLE);
        assert_eq!(write_error(ErrorCode::REQUEST_TIMED_OUT), ErrorCode::COORDINATOR_NOT_AVAILABLE);
        assert_eq!(write_error(ErrorCode::NOT_LEADER_OR_FOLLOWER), ErrorCode::NOT_COORDINATOR);
        assert_eq!(write_error(ErrorCode::MESSAGE_TOO_LARGE), ErrorCode::UNKNOWN_SERVER_ERROR);
        assert_eq!(write_error(ErrorCode::INVALID_TXN_STATE), ErrorCode::INVALID_TXN_STATE);
    }
}
