//! The log of one partition: an ordered set of segments, the last one
//! active, plus the partition's producer state and leader epoch cache.
//!
//! Offsets: `log_start_offset` ≤ `high_watermark` ≤ `log_end_offset`. The
//! log never decides the high watermark itself: whoever owns replication
//! (the broker's replica manager) sets it. An opened log starts with its
//! high watermark at its log start, as Kafka's: the owner raises it, e.g.
//! to the checkpointed value ([`crate::LogManager`] does). The log only
//! moves it to keep the invariant (truncation lowers it, a higher log start
//! raises it). Not thread-safe: the owner keeps it under one lock per
//! partition, never a global one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use brook_protocol::batch::{self, BatchHeader, ControlType, BATCH_HEADER_BYTES};
use brook_protocol::fetch_response::FileRegion;
use tracing::{info, warn};

use crate::compaction_state::{self, CleanerState};
use crate::config::{LogConfig, TimestampType};
use crate::epoch_cache::LeaderEpochCache;
use crate::error::{Result, StorageError};
use crate::file_io::atomic_write;
use crate::producer_state::{CompletedTxn, ProducerStateManager, SequenceCheck};
use crate::segment::{file_name, AppendedBatch, Segment};
use crate::txn_index::AbortedTxn;

/// Snapshots of producer state kept per partition.
const SNAPSHOTS_KEPT: usize = 2;

type FlushObserver = Box<dyn Fn(std::time::Duration) + Send + Sync>;

/// Told how long each successful [`PartitionLog::flush`] took (the
/// broker's LogFlushStats metric). Process-wide: set once, by the first
/// broker of the process.
static FLUSH_OBSERVER: std::sync::OnceLock<FlushObserver> = std::sync::OnceLock::new();

/// Installs the flush observer; false if one was already installed.
pub fn set_flush_observer(observer: FlushObserver) -> bool {
    FLUSH_OBSERVER.set(observer).is_ok()
}

/// Result of a leader append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's timestamp for LogAppendTime topics, else -1.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// The batch was a retry of one already in the log; nothing was written.
    pub duplicate: bool,
    pub record_count: i32,
}

/// What a fetch reads: a region of one segment plus the partition's offsets.
#[derive(Debug, Clone)]
pub struct FetchSlice {
    pub region: Option<FileRegion>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// How the log was opened; logged and used by tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryStats {
    pub segments_recovered: usize,
    pub bytes_truncated: u64,
    pub segments_deleted: usize,
}

#[derive(Debug)]
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    log_end_offset: i64,
    pub(crate) high_watermark: i64,
    recovery_point: i64,
    producers: ProducerStateManager,
    epochs: LeaderEpochCache,
    unflushed_records: i64,
    first_unflushed_ms: Option<i64>,
    /// Set after a failed fsync: the log refuses writes (never retry fsync).
    pub(crate) offline: bool,
    recovery: RecoveryStats,
    /// Compaction progress (persisted in `cleaner-state`).
    pub(crate) cleaner: CleanerState,
    /// Bumped by every truncation: a cleaning pass planned before one is void.
    pub(crate) truncations: u64,
}

fn parse_base_offset(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    (stem.len() == 20).then(|| stem.parse().ok()).flatten()
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`. `recovery_point` is the offset
    /// below which data is known flushed; `None` after an unclean shutdown
    /// with no checkpoint means "recover everything". The high watermark
    /// starts at the log start: nothing is known committed until the owner
    /// says so ([`Self::set_high_watermark`]).
    pub fn open(
        dir: &Path,
        config: LogConfig,
        recovery_point: Option<i64>,
        checkpointed_log_start: Option<i64>,
        clean_shutdown: bool,
    ) -> Result<PartitionLog> {
        std::fs::create_dir_all(dir)?;
        compaction_state::finish_interrupted_swaps(dir)?;
        let cleaner_state = CleanerState::load(dir)?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp") || name.ends_with(".deleted") {
                let _ = std::fs::remove_file(dir.join(&name));
            } else if let Some(base) = parse_base_offset(&name, ".log") {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let recovery_point = if clean_shutdown { i64::MAX } else { recovery_point.unwrap_or(-1) };
        // Recover from the segment holding the recovery point onwards.
        let first_to_recover = bases.iter().rev().find(|b| **b <= recovery_point).copied().unwrap_or(i64::MIN);
        let mut segments = BTreeMap::new();
        let mut stats = RecoveryStats::default();
        let mut previous_end = i64::MIN;
        let mut cut = false;
        for base in bases {
            if cut || base < previous_end {
                // After a truncated segment, or overlapping: later data is not trustworthy.
                for suffix in crate::segment::SUFFIXES {
                    let _ = std::fs::remove_file(dir.join(file_name(base, suffix)));
                }
                stats.segments_deleted += 1;
                continue;
            }
            let recover = base >= first_to_recover;
            let (segment, truncated) =
                Segment::open(dir, base, config.index_interval_bytes, recover, cleaner_state.gaps_below, &mut |_| {})?;
            if recover {
                stats.segments_recovered += 1;
            }
            if truncated > 0 {
                warn!(dir = %dir.display(), base, truncated, "truncated invalid tail of segment during recovery");
                stats.bytes_truncated += truncated;
                cut = true;
            }
            previous_end = segment.next_offset();
            segments.insert(base, segment);
        }
        let start = checkpointed_log_start.unwrap_or(0).max(segments.keys().next().copied().unwrap_or(0));
        if segments.is_empty() {
            segments.insert(start, Segment::create(dir, start, config.index_interval_bytes)?);
        }
        let log_end_offset = segments.values().next_back().map(Segment::next_offset).unwrap();
        let log_start_offset = start.min(log_end_offset);
        let mut epochs = LeaderEpochCache::load(dir.join("leader-epoch-checkpoint"))?;
        if epochs.truncate_from_end(log_end_offset) {
            epochs.persist()?;
        }
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            log_end_offset,
            high_watermark: log_start_offset,
            recovery_point: log_end_offset,
            producers: ProducerStateManager::new(),
            epochs,
            unflushed_records: 0,
            first_unflushed_ms: None,
            offline: false,
            recovery: stats,
            cleaner: cleaner_state,
            truncations: 0,
        };
        log.rebuild_producer_state()?;
        if stats.segments_recovered > 0 {
            info!(dir = %dir.display(), ?stats, log_end_offset, "recovered log");
            log.flush()?;
        }
        Ok(log)
    }

    /// Loads the newest valid producer snapshot at or below the log end and
    /// replays batch headers after it (also re-learning leader epochs).
    fn rebuild_producer_state(&mut self) -> Result<()> {
        let mut snapshots = self.snapshot_offsets()?;
        let mut from = self.log_start_offset;
        while let Some(offset) = snapshots.pop() {
            let path = self.dir.join(file_name(offset, "snapshot"));
            if offset > self.log_end_offset {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if let Some(state) = std::fs::read(&path).ok().and_then(|d| ProducerStateManager::decode_snapshot(&d)) {
                self.producers = state;
                from = offset.max(self.log_start_offset);
                break;
            }
            warn!(path = %path.display(), "ignoring invalid producer snapshot");
        }
        // The replay re-adds the aborted transactions it meets.
        for segment in self.segments.values_mut().filter(|s| s.next_offset() > from) {
            segment.txn_index_mut().truncate_to(from)?;
        }
        let mut batches = Vec::new();
        for (base, segment) in &self.segments {
            if segment.next_offset() > from {
                segment.for_each_header_at(from, &mut |h, position| batches.push((*base, *h, position)))?;
            }
        }
        let mut epochs_changed = false;
        for (base, header, position) in batches.iter().filter(|(_, h, _)| h.last_offset() >= from) {
            if header.is_control() {
                let bytes = self.segments[base].read_batch(*position, header)?;
                self.replay_marker(header, &bytes)?;
            } else {
                self.producers.update(header);
            }
            epochs_changed |= self.epochs.assign(header.partition_leader_epoch, header.base_offset);
        }
        self.producers.on_high_watermark(self.high_watermark);
        if epochs_changed {
            self.epochs.persist()?;
        }
        Ok(())
    }

    /// Applies a marker found in the log (replayed or replicated) to the
    /// producer state; an abort goes into its segment's transaction index.
    fn replay_marker(&mut self, header: &BatchHeader, batch: &[u8]) -> Result<()> {
        let Some((kind, coordinator_epoch)) = batch::parse_control_batch(batch) else {
            warn!(dir = %self.dir.display(), offset = header.base_offset, "ignoring an unreadable control batch");
            return Ok(());
        };
        if let Some(done) = self.producers.update_marker(header, kind, coordinator_epoch) {
            self.index_if_aborted(done)?;
        }
        Ok(())
    }

    /// Records an aborted transaction in the index of the segment holding its marker.
    fn index_if_aborted(&mut self, done: CompletedTxn) -> Result<()> {
        if !done.aborted {
            return Ok(());
        }
        // As Kafka: the stable offset once this transaction is done.
        let last_stable_offset = self.producers.first_open_offset().unwrap_or(done.last_offset + 1);
        let Some((_, segment)) = self.segments.range_mut(..=done.last_offset).next_back() else { return Ok(()) };
        segment.txn_index_mut().append(AbortedTxn {
            producer_id: done.producer_id,
            first_offset: done.first_offset,
            last_offset: done.last_offset,
            last_stable_offset,
        })
    }

    pub(crate) fn snapshot_offsets(&self) -> Result<Vec<i64>> {
        let mut offsets = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().to_string();
            if let Some(offset) = parse_base_offset(&name, ".snapshot") {
                offsets.push(offset);
            }
        }
        offsets.sort_unstable();
        Ok(offsets)
    }

    /// Writes a producer-state snapshot at the current log end and prunes old ones.
    pub fn take_producer_snapshot(&mut self) -> Result<()> {
        let path = self.dir.join(file_name(self.log_end_offset, "snapshot"));
        atomic_write(&path, &self.producers.encode_snapshot())?;
        let offsets = self.snapshot_offsets()?;
        let keep_from = offsets.len().saturating_sub(SNAPSHOTS_KEPT);
        for offset in &offsets[..keep_from] {
            let _ = std::fs::remove_file(self.dir.join(file_name(*offset, "snapshot")));
        }
        Ok(())
    }

    fn active(&mut self) -> &mut Segment {
        self.segments.values_mut().next_back().expect("a log always has an active segment")
    }

    /// Validates one produced batch, assigns its offsets and appends it.
    /// Produce v3+ carries exactly one batch per partition.
    pub fn append_as_leader(&mut self, records: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendResult> {
        if self.offline {
            return Err(StorageError::LogOffline);
        }
        let ranges = batch::split_batches(records)?;
        if ranges.len() != 1 {
            return Err(
                batch::BatchError::InconsistentCount { count: ranges.len() as i32, last_offset_delta: -1 }.into()
            );
        }
        let batch = records;
        // Recompressed by the broker, a batch is checked again here, as Kafka
        // re-validates sizes that may have changed.
        let mut header = batch::validate(batch, self.config.max_message_bytes)?;
        if header.is_control() {
            return Err(StorageError::ControlBatchFromClient);
        }
        if let SequenceCheck::Duplicate(original) = self.producers.check(&header)? {
            return Ok(AppendResult {
                base_offset: original.first_offset,
                last_offset: original.last_offset,
                log_append_time_ms: -1,
                log_start_offset: self.log_start_offset,
                duplicate: true,
                record_count: header.record_count,
            });
        }
        if self.config.timestamp_type == TimestampType::CreateTime
            && header.max_timestamp > now_ms.saturating_add(self.config.timestamp_after_max_ms)
        {
            return Err(StorageError::InvalidTimestamp {
                timestamp: header.max_timestamp,
                max_ahead_ms: self.config.timestamp_after_max_ms,
            });
        }
        if batch.len() as u64 > self.config.segment_bytes {
            return Err(StorageError::RecordListTooLarge {
                size: batch.len(),
                segment_bytes: self.config.segment_bytes,
            });
        }
        header.base_offset = self.log_end_offset;
        header.partition_leader_epoch = leader_epoch;
        let last_offset = header.last_offset();

        // Rewrite the header in a stack copy; the payload is written as is.
        let mut head = [0u8; BATCH_HEADER_BYTES];
        head.copy_from_slice(&batch[..BATCH_HEADER_BYTES]);
        batch::assign_offset(&mut head, header.base_offset, leader_epoch);
        let log_append_time_ms = if self.config.timestamp_type == TimestampType::LogAppendTime {
            batch::set_log_append_time(&mut head, &batch[BATCH_HEADER_BYTES..], now_ms);
            header.max_timestamp = now_ms;
            header.attributes |= 0x08;
            now_ms
        } else {
            -1
        };

        self.maybe_roll(batch.len(), last_offset, now_ms)?;
        let appended = AppendedBatch {
            base_offset: header.base_offset,
            last_offset,
            max_timestamp: header.max_timestamp,
            size_bytes: batch.len(),
        };
        self.active().append(&[&head, &batch[BATCH_HEADER_BYTES..]], &[appended], now_ms)?;
        self.log_end_offset = last_offset + 1;
        self.producers.update(&header);
        if self.epochs.assign(leader_epoch, header.base_offset) {
            self.epochs.persist()?;
        }
        self.unflushed_records += header.record_count as i64;
        self.first_unflushed_ms.get_or_insert(now_ms);
        if self.unflushed_records >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(AppendResult {
            base_offset: header.base_offset,
            last_offset,
            log_append_time_ms,
            log_start_offset: self.log_start_offset,
            duplicate: false,
            record_count: header.record_count,
        })
    }

    /// Writes a transaction marker as leader (WriteTxnMarkers): checks the
    /// producer and coordinator epochs, then ends the producer's open
    /// transaction here with a control batch. A producer with no open
    /// transaction here gets nothing written (a retried marker, or a
    /// partition the transaction never wrote to): `Ok(None)`. Otherwise
    /// the marker's offset.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        kind: ControlType,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<Option<i64>> {
        if self.offline {
            return Err(StorageError::LogOffline);
        }
        self.producers.check_marker(producer_id, producer_epoch, coordinator_epoch)?;
        if !self.producers.in_transaction(producer_id) {
            return Ok(None);
        }
        let mut marker = batch::build_control_batch(kind, producer_id, producer_epoch, coordinator_epoch, now_ms);
        let offset = self.log_end_offset;
        batch::assign_offset(&mut marker, offset, leader_epoch);
        let mut header = BatchHeader::parse(&marker)?;
        header.base_offset = offset;
        self.maybe_roll(marker.len(), offset, now_ms)?;
        let appended =
            AppendedBatch { base_offset: offset, last_offset: offset, max_timestamp: now_ms, size_bytes: marker.len() };
        self.active().append(&[&marker], &[appended], now_ms)?;
        self.log_end_offset = offset + 1;
        if let Some(done) = self.producers.update_marker(&header, kind, coordinator_epoch) {
            self.index_if_aborted(done)?;
        }
        if self.epochs.assign(leader_epoch, offset) {
            self.epochs.persist()?;
        }
        self.unflushed_records += 1;
        self.first_unflushed_ms.get_or_insert(now_ms);
        if self.unflushed_records >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(Some(offset))
    }

    /// Appends batches replicated from the leader as they are: the leader's
    /// offsets and leader epochs, each batch's CRC checked. Rebuilds producer
    /// state (so a retried batch is still deduplicated after a failover) and
    /// the leader-epoch cache. A trailing partial batch (a size-limited fetch)
    /// is ignored. Batches may skip offsets where the leader's log was
    /// compacted. Returns the number of batches appended.
    pub fn append_as_follower(&mut self, records: &[u8], now_ms: i64) -> Result<usize> {
        if self.offline {
            return Err(StorageError::LogOffline);
        }
        self.accept_replicated_gaps(records)?;
        // Consecutive batches that fit the active segment go down in one
        // write: a fetch of many small batches costs one syscall, not one
        // per batch. `group` holds them, `group_start` where they begin.
        let mut group: Vec<(AppendedBatch, BatchHeader)> = Vec::new();
        let mut group_start = 0usize;
        let mut next_offset = self.log_end_offset;
        let mut position = 0usize;
        let mut appended = 0usize;
        while position < records.len() {
            let rest = &records[position..];
            let Some(size) = batch::batch_size(rest).filter(|s| *s <= rest.len()) else { break };
            let batch = &rest[..size];
            let header = batch::validate_stored(batch)?;
            let empty = group.is_empty() && self.log_end_offset == self.log_start_offset;
            if empty && header.base_offset < self.log_end_offset && header.last_offset() >= self.log_end_offset {
                // Restarted at a leader's log start inside a batch: the batch is
                // the unit, so this replica starts at its base.
                self.truncate_fully_and_start_at(header.base_offset)?;
                next_offset = self.log_end_offset;
            }
            if header.base_offset < next_offset {
                return Err(StorageError::NonContiguous { expected: next_offset, found: header.base_offset });
            }
            let last_offset = header.last_offset();
            let pending = position - group_start;
            if !group.is_empty() && self.must_roll(size, pending, last_offset, now_ms) {
                self.append_replicated(&records[group_start..position], &group, now_ms)?;
                group.clear();
                group_start = position;
            }
            if group.is_empty() {
                self.maybe_roll(size, last_offset, now_ms)?;
            }
            let entry = AppendedBatch {
                base_offset: header.base_offset,
                last_offset,
                max_timestamp: header.max_timestamp,
                size_bytes: size,
            };
            group.push((entry, header));
            next_offset = last_offset + 1;
            position += size;
            appended += 1;
        }
        if !group.is_empty() {
            self.append_replicated(&records[group_start..position], &group, now_ms)?;
        }
        if self.unflushed_records >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(appended)
    }

    /// Writes consecutive replicated batches (`bytes`) to the active
    /// segment at once, then takes their offsets, producer state and epochs.
    fn append_replicated(&mut self, bytes: &[u8], batches: &[(AppendedBatch, BatchHeader)], now_ms: i64) -> Result<()> {
        let entries: Vec<AppendedBatch> = batches.iter().map(|(e, _)| *e).collect();
        self.active().append(&[bytes], &entries, now_ms)?;
        let mut position = 0usize;
        for (entry, header) in batches {
            self.log_end_offset = entry.last_offset + 1;
            if header.is_control() {
                self.replay_marker(header, &bytes[position..position + entry.size_bytes])?;
            } else {
                self.producers.update(header);
            }
            position += entry.size_bytes;
            if self.epochs.assign(header.partition_leader_epoch, header.base_offset) {
                self.epochs.persist()?;
            }
            self.unflushed_records += header.record_count as i64;
        }
        self.first_unflushed_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Before appending replicated batches: if they skip offsets (the
    /// leader compacted them away), recovery must accept those gaps, so
    /// `gaps_below` covers the whole chunk (one state write per fetch).
    fn accept_replicated_gaps(&mut self, records: &[u8]) -> Result<()> {
        let mut expected = self.log_end_offset;
        let mut gapped_until = None;
        let mut rest = records;
        while let Some(size) = batch::batch_size(rest).filter(|s| *s <= rest.len()) {
            let Ok(header) = BatchHeader::parse(rest) else { break };
            if header.base_offset > expected || gapped_until.is_some() {
                gapped_until = Some(header.last_offset() + 1);
            }
            expected = header.last_offset() + 1;
            rest = &rest[size..];
        }
        match gapped_until {
            Some(end) if end > self.cleaner.gaps_below => {
                self.cleaner.gaps_below = end;
                self.cleaner.persist(&self.dir)
            }
            _ => Ok(()),
        }
    }

    /// Rolls to a new segment if `bytes` more would not fit or the active
    /// segment is older than `segment.ms` (for a compacted log, also
    /// `max.compaction.lag.ms`, as Kafka: the active segment is never cleaned).
    fn maybe_roll(&mut self, bytes: usize, last_offset: i64, now_ms: i64) -> Result<()> {
        if self.must_roll(bytes, 0, last_offset, now_ms) {
            self.roll()?;
        }
        Ok(())
    }

    /// Whether `bytes` more ending at `last_offset` need a new segment.
    /// `pending`: bytes already bound for the active segment but not yet
    /// written (they count as its content: it is not empty).
    fn must_roll(&mut self, bytes: usize, pending: usize, last_offset: i64, now_ms: i64) -> bool {
        let segment_bytes = self.config.segment_bytes;
        let segment_ms = if self.config.compact {
            self.config.segment_ms.min(self.config.max_compaction_lag_ms)
        } else {
            self.config.segment_ms
        };
        let active = self.active();
        let too_old =
            !active.is_empty() && active.first_append_ms().is_some_and(|t| now_ms.saturating_sub(t) >= segment_ms);
        let size = active.size_bytes() + (pending + bytes) as u64;
        let overflow = (!active.is_empty() || pending > 0)
            && (size > segment_bytes || size > u32::MAX as u64 || last_offset - active.base_offset() > u32::MAX as i64);
        too_old || overflow
    }

    /// Closes the active segment (flushing it) and starts a new one at the log end.
    pub fn roll(&mut self) -> Result<()> {
        let end = self.log_end_offset;
        if self.active().is_empty() {
            return Ok(());
        }
        self.flush()?;
        let segment = Segment::create(&self.dir, end, self.config.index_interval_bytes)?;
        self.segments.insert(end, segment);
        self.take_producer_snapshot()?;
        Ok(())
    }

    /// fsync the active segment and indexes; the recovery point moves to the log end.
    /// A failed fsync takes the log offline: it is never retried.
    pub fn flush(&mut self) -> Result<()> {
        if self.offline {
            return Err(StorageError::LogOffline);
        }
        let started = FLUSH_OBSERVER.get().map(|o| (o, std::time::Instant::now()));
        if let Err(e) = self.active().flush() {
            self.offline = true;
            return Err(e);
        }
        if let Some((observer, started)) = started {
            observer(started.elapsed());
        }
        self.recovery_point = self.log_end_offset;
        self.unflushed_records = 0;
        self.first_unflushed_ms = None;
        Ok(())
    }

    /// Flushes if `flush.ms` has passed since the oldest unflushed append.
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<bool> {
        match self.first_unflushed_ms {
            Some(t) if now_ms.saturating_sub(t) >= self.config.flush_ms => self.flush().map(|_| true),
            _ => Ok(false),
        }
    }

    /// Flush, snapshot producer state and persist epochs: for a clean shutdown.
    pub fn close(&mut self) -> Result<()> {
        self.flush()?;
        self.take_producer_snapshot()?;
        self.epochs.persist()
    }

    /// Reads from `offset`: up to `max_bytes` (at least one whole batch) below
    /// the high watermark. An offset outside [log start, log end] is out of range.
    ///
    /// A consumer is never answered with only record-less batches (those
    /// compaction leaves to keep producer state): the read starts after
    /// them, since some clients (KafkaJS) cannot move past a response
    /// holding no record. Followers get them ([`Self::read_for_replica`]).
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<FetchSlice> {
        self.read_for_consumer(offset, max_bytes, min_one_batch, self.high_watermark)
    }

    /// A read_committed consumer's read: below the last stable offset, with
    /// the aborted transactions overlapping what it may read, so the client
    /// can drop their records.
    pub fn read_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<(FetchSlice, Vec<AbortedTxn>)> {
        let lso = self.last_stable_offset();
        let slice = self.read_for_consumer(offset, max_bytes, min_one_batch, lso)?;
        let mut aborted = Vec::new();
        if slice.region.is_some() {
            let floor = self.segments.range(..=offset).next_back().map_or(i64::MIN, |(b, _)| *b);
            for segment in self.segments.range(floor..).map(|(_, s)| s) {
                segment.txn_index().collect(offset, lso, &mut aborted);
            }
            aborted.sort_by_key(|t| t.first_offset);
        }
        Ok((slice, aborted))
    }

    fn read_for_consumer(&self, offset: i64, max_bytes: usize, min_one_batch: bool, bound: i64) -> Result<FetchSlice> {
        let mut offset = offset;
        loop {
            let (slice, first) = self.read_below(offset, max_bytes, min_one_batch, bound)?;
            match first {
                Some(h) if h.record_count == 0 && h.last_offset() + 1 < bound => {
                    offset = offset.max(h.last_offset() + 1)
                }
                _ => return Ok(slice),
            }
        }
    }

    /// Kafka's last stable offset: a read_committed consumer reads below
    /// it. The high watermark, or the start of the oldest transaction still
    /// open (or whose marker is not yet replicated), whichever is lower.
    pub fn last_stable_offset(&self) -> i64 {
        // Never below the log start: retention may have removed the start
        // of a transaction that is still open.
        let unstable =
            self.producers.first_unstable_offset().map_or(self.high_watermark, |o| o.min(self.high_watermark));
        unstable.max(self.log_start_offset)
    }

    /// Reads for a follower replica: up to the log end, not the high
    /// watermark (the follower's fetch is what advances the watermark).
    pub fn read_for_replica(&self, offset: i64, max_bytes: usize) -> Result<FetchSlice> {
        Ok(self.read_below(offset, max_bytes, true, self.log_end_offset)?.0)
    }

    fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        bound: i64,
    ) -> Result<(FetchSlice, Option<BatchHeader>)> {
        let mut slice = FetchSlice {
            region: None,
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset(),
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
        };
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.log_end_offset,
            });
        }
        if offset >= bound {
            return Ok((slice, None));
        }
        // The segment holding the offset answers alone: if its batch does not fit
        // (without min_one_batch) the answer is "nothing", never a later segment's
        // data, which would skip records. Only an offset past a segment's end
        // (a gap, e.g. before the next segment's base) moves on.
        let floor = self.segments.range(..=offset).next_back().map_or(i64::MIN, |(b, _)| *b);
        for segment in self.segments.range(floor..).map(|(_, s)| s) {
            if offset >= segment.next_offset() {
                continue;
            }
            let read = segment.read(offset.max(segment.base_offset()), max_bytes, bound, min_one_batch)?;
            let first = read.as_ref().map(|(_, h)| *h);
            slice.region = read.map(|(r, _)| r);
            return Ok((slice, first));
        }
        Ok((slice, None))
    }

    /// Kafka's ListOffsets by timestamp: the first offset whose record has a
    /// timestamp ≥ `timestamp`, with that timestamp. Batch headers narrow the
    /// search; only the one matching batch is decoded (decompressed if needed).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let (start, end) = (self.log_start_offset, self.high_watermark);
        for segment in self.segments.values().filter(|s| s.next_offset() > start) {
            if let Some(found) = segment.find_offset_by_timestamp(timestamp, start, end)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Kafka's ListOffsets MAX_TIMESTAMP: (offset, timestamp) of the record with
    /// the largest timestamp, or None for an empty log.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let best = self.segments.values().filter(|s| !s.is_empty()).max_by_key(|s| s.max_timestamp());
        let Some(segment) = best else { return Ok(None) };
        let (ts, last_offset) = (segment.max_timestamp(), segment.offset_of_max_timestamp());
        // Refine to the exact record within the batch.
        if let Some((position, header)) = segment.find_batch(last_offset)? {
            let records = batch::record_timestamps(&segment.read_batch(position, &header)?);
            if let Some((delta, _)) = records.iter().find(|(_, t)| *t == ts) {
                return Ok(Some((header.base_offset + *delta as i64, ts)));
            }
        }
        Ok(Some((last_offset, ts)))
    }

    /// DeleteRecords: moves the log start offset to `offset` (≤ high watermark;
    /// -1 means the high watermark) and deletes segments wholly below it.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let target = if offset == -1 { self.high_watermark } else { offset };
        if target < 0 || target > self.high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.high_watermark,
            });
        }
        if target > self.log_start_offset {
            self.raise_log_start(target);
            self.delete_segments_below_log_start()?;
        }
        Ok(self.log_start_offset)
    }

    /// Moves the log start up to `offset`, and the high watermark with it
    /// if it was below (as Kafka's updateLogStartOffset): retention may
    /// delete up to a segment boundary past the watermark when the offsets
    /// between are a compacted gap.
    fn raise_log_start(&mut self, offset: i64) {
        self.log_start_offset = self.log_start_offset.max(offset);
        self.high_watermark = self.high_watermark.max(self.log_start_offset);
        self.producers.on_high_watermark(self.high_watermark);
    }

    fn delete_segments_below_log_start(&mut self) -> Result<usize> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut deleted = 0;
        // A segment can go when the next one starts at or below the log start.
        for pair in bases.windows(2) {
            if pair[1] <= self.log_start_offset {
                self.delete_segment(pair[0])?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn delete_segment(&mut self, base: i64) -> Result<()> {
        if let Some(segment) = self.segments.remove(&base) {
            segment.delete_files()?;
        }
        Ok(())
    }

    /// Applies `retention.ms` and `retention.bytes`; returns segments deleted.
    pub fn apply_retention(&mut self, now_ms: i64, producer_expiration_ms: i64) -> Result<usize> {
        let mut deleted = 0;
        if self.config.delete && self.config.retention_ms >= 0 {
            let cutoff = now_ms.saturating_sub(self.config.retention_ms);
            let active = self.segments.keys().next_back().copied();
            let expired: Vec<i64> = self
                .segments
                .values()
                .take_while(|s| {
                    // An empty closed segment is one compaction emptied: nothing to keep.
                    if s.is_empty() {
                        return Some(s.base_offset()) != active;
                    }
                    s.retention_timestamp_ms() < cutoff && s.next_offset() <= self.high_watermark
                })
                .map(Segment::base_offset)
                .collect();
            if expired.last() == self.segments.keys().next_back() {
                self.roll()?; // the active segment expired: start a fresh one first
            }
            for base in expired {
                self.delete_segment(base)?;
                deleted += 1;
            }
        }
        if self.config.delete && self.config.retention_bytes >= 0 {
            let mut total: u64 = self.segments.values().map(Segment::size_bytes).sum();
            let candidates: Vec<(i64, u64, i64)> =
                self.segments.values().map(|s| (s.base_offset(), s.size_bytes(), s.next_offset())).collect();
            for (base, size, next) in &candidates[..candidates.len() - 1] {
                if total - size < self.config.retention_bytes as u64 || *next > self.high_watermark {
                    break;
                }
                self.delete_segment(*base)?;
                total -= size;
                deleted += 1;
            }
        }
        deleted += self.delete_segments_below_log_start()?;
        let first_base = *self.segments.keys().next().unwrap();
        self.raise_log_start(first_base);
        self.producers.expire(self.log_start_offset, now_ms - producer_expiration_ms);
        Ok(deleted)
    }

    /// Removes everything at or after `offset` (a batch boundary): for a
    /// follower whose history diverged from the leader's.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        if offset >= self.log_end_offset {
            return Ok(());
        }
        let offset = offset.max(self.log_start_offset);
        let doomed: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).filter(|b| *b > offset).collect();
        for base in doomed {
            self.delete_segment(base)?;
        }
        if self.segments.is_empty() {
            self.segments.insert(offset, Segment::create(&self.dir, offset, self.config.index_interval_bytes)?);
        }
        self.active().truncate_to(offset)?;
        if self.active().next_offset() < offset {
            // The cut fell in a compacted gap at the end of a segment: a new
            // segment at the cut keeps the log end there after a restart.
            self.flush()?;
            self.segments.insert(offset, Segment::create(&self.dir, offset, self.config.index_interval_bytes)?);
        }
        self.truncations += 1;
        self.log_end_offset = offset;
        self.high_watermark = self.high_watermark.min(offset);
        self.recovery_point = self.recovery_point.min(offset);
        self.cleaner.cleaned_upto = self.cleaner.cleaned_upto.min(offset);
        // Snapshots of the discarded history must not be loaded after a crash.
        for snapshot in self.snapshot_offsets()?.into_iter().filter(|o| *o > offset) {
            let _ = std::fs::remove_file(self.dir.join(file_name(snapshot, "snapshot")));
        }
        if self.epochs.truncate_from_end(offset) {
            self.epochs.persist()?;
        }
        // A cut marker reopens its transaction: the producer state is
        // rebuilt from the last snapshot below the cut, as Kafka does.
        self.producers = ProducerStateManager::new();
        self.rebuild_producer_state()
    }

    /// Empties the log and restarts it at `offset`: for a follower whose
    /// position is below the leader's log start (retention deleted what it
    /// lacks), as Kafka's truncateFullyAndStartAt.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        for base in bases {
            self.delete_segment(base)?;
        }
        for snapshot in self.snapshot_offsets()? {
            let _ = std::fs::remove_file(self.dir.join(file_name(snapshot, "snapshot")));
        }
        self.segments.insert(offset, Segment::create(&self.dir, offset, self.config.index_interval_bytes)?);
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.high_watermark = offset;
        self.recovery_point = offset;
        self.cleaner.cleaned_upto = offset;
        self.truncations += 1;
        self.producers = ProducerStateManager::new();
        if self.epochs.truncate_from_end(0) {
            self.epochs.persist()?;
        }
        Ok(())
    }

    /// OffsetForLeaderEpoch.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset)
    }

    /// Takes the log out of service (its partition was deleted or moved):
    /// writes and a running cleaning pass stop.
    pub fn mark_deleted(&mut self) {
        self.offline = true;
    }

    pub fn set_high_watermark(&mut self, offset: i64) {
        self.high_watermark = offset.clamp(self.log_start_offset, self.log_end_offset);
        self.producers.on_high_watermark(self.high_watermark);
    }
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size_bytes).sum()
    }
    pub fn recovery_stats(&self) -> RecoveryStats {
        self.recovery
    }
    pub fn producers(&self) -> &ProducerStateManager {
        &self.producers
    }
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }
    /// Header of the batch containing `offset` (tests and tools).
    pub fn batch_header(&self, offset: i64) -> Result<Option<BatchHeader>> {
        let floor = self.segments.range(..=offset).next_back();
        match floor {
            Some((_, s)) => Ok(s.find_batch(offset)?.map(|(_, h)| h)),
            None => Ok(None),
        }
    }
}
