//! Producer state of one partition, as in Kafka's `ProducerStateManager`:
//! for each producer id, its epoch, the metadata of its last five batches
//! (duplicate detection), the coordinator epoch of its last transaction
//! marker and the first offset of its open transaction, if any. The open
//! transactions, plus the completed ones whose marker the high watermark
//! has not yet passed, bound the partition's last stable offset. Pure logic
//! plus a snapshot codec; the partition log persists snapshots and rebuilds
//! the rest by replaying the log.
//!
//! Snapshot file `<offset, 20 digits>.snapshot`, all big-endian:
//! ```text
//! "BRPS" u16 version=2  u32 entry count
//! per entry: i64 producer id, i16 epoch, i64 last timestamp, i32 coordinator epoch,
//!            i64 open transaction's first offset (-1: none), i64 last offset,
//!            u8 batch count,
//!            per batch: i32 first seq, i32 last seq, i64 first offset, i64 last offset
//! u32 CRC-32C of everything before it
//! ```
//! Version 1 (no coordinator epoch, open transaction or last offset) is
//! still read.

use std::collections::{BTreeMap, HashMap, VecDeque};

use brook_protocol::batch::{BatchHeader, ControlType};

use crate::error::StorageError;

/// Batches remembered per producer for duplicate detection (Kafka: 5).
pub const MAX_REMEMBERED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub last_timestamp: i64,
    pub batches: VecDeque<BatchMetadata>,
    /// Coordinator epoch of the last marker written for this producer (-1: none).
    pub coordinator_epoch: i32,
    /// First offset of the producer's open transaction on this partition.
    pub current_txn_first_offset: Option<i64>,
    /// The last offset this producer wrote (data or marker): retention expiry.
    pub last_offset: i64,
}

impl ProducerEntry {
    fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            last_timestamp: -1,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            current_txn_first_offset: None,
            last_offset: -1,
        }
    }

    /// A new epoch restarts the sequence (Kafka's maybeUpdateProducerEpoch).
    fn take_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }

    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }
}

/// Outcome of checking a batch against the producer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not idempotent, or the next in sequence: append it.
    Append,
    /// Already appended: acknowledge with the original offsets, do not append.
    Duplicate(BatchMetadata),
}

/// A transaction a marker ended on this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset → producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Completed transactions whose marker is at or above the high
    /// watermark: first offset → marker offset. Their records stay
    /// unstable until the marker is replicated (Kafka's unreplicatedTxns).
    unreplicated: BTreeMap<i64, i64>,
}

fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer, by id (DescribeProducers).
    pub fn entries(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(id, e)| (*id, e))
    }

    /// Whether `producer_id` has an open transaction on this partition.
    pub fn in_transaction(&self, producer_id: i64) -> bool {
        self.producers.get(&producer_id).is_some_and(|e| e.current_txn_first_offset.is_some())
    }

    /// The first offset a read_committed consumer may not read past yet:
    /// the start of the oldest open or not-yet-replicated transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.keys().next().copied();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first offset of the oldest open transaction.
    pub fn first_open_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// The high watermark moved: completed transactions whose marker is
    /// now below it are stable.
    pub fn on_high_watermark(&mut self, high_watermark: i64) {
        self.unreplicated.retain(|_, marker| *marker >= high_watermark);
    }

    /// Kafka's epoch, sequence and transaction rules for a produced batch.
    pub fn check(&self, batch: &BatchHeader) -> Result<SequenceCheck, StorageError> {
        if !batch.has_producer_id() {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // Unknown producer (new, or its state expired): any sequence is accepted.
            return Ok(SequenceCheck::Append);
        };
        if batch.producer_epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                current: entry.epoch,
                found: batch.producer_epoch,
            });
        }
        if entry.current_txn_first_offset.is_some() && !batch.is_transactional() {
            return Err(StorageError::InvalidTxnState {
                producer_id: batch.producer_id,
                reason: "a non-transactional write while its transaction is open",
            });
        }
        if batch.base_sequence < 0 {
            // No sequence: a coordinator's write (transactional offset
            // commits), fenced by epoch only, as Kafka's COORDINATOR origin.
            return Ok(SequenceCheck::Append);
        }
        if batch.producer_epoch > entry.epoch {
            if batch.base_sequence != 0 {
                return Err(StorageError::OutOfOrderSequence {
                    producer_id: batch.producer_id,
                    expected: 0,
                    found: batch.base_sequence,
                });
            }
            return Ok(SequenceCheck::Append);
        }
        let last_seq = batch.last_sequence();
        if let Some(dup) = entry.batches.iter().find(|b| b.first_seq == batch.base_sequence && b.last_seq == last_seq) {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        let expected = entry.batches.back().map_or(0, |b| next_sequence(b.last_seq));
        if batch.base_sequence != expected {
            return Err(StorageError::OutOfOrderSequence {
                producer_id: batch.producer_id,
                expected,
                found: batch.base_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Kafka's rules for a transaction marker written by a coordinator: a
    /// producer epoch older than the partition's is fenced, and so is an
    /// older coordinator epoch (a deposed coordinator).
    pub fn check_marker(&self, producer_id: i64, epoch: i16, coordinator_epoch: i32) -> Result<(), StorageError> {
        let Some(entry) = self.producers.get(&producer_id) else { return Ok(()) };
        if epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch { producer_id, current: entry.epoch, found: epoch });
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(StorageError::CoordinatorFenced {
                producer_id,
                current: entry.coordinator_epoch,
                found: coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Records an appended data batch (with its assigned offsets). A
    /// transactional batch opens the producer's transaction here if none is.
    pub fn update(&mut self, batch: &BatchHeader) {
        if !batch.has_producer_id() {
            return;
        }
        let entry = self.producers.entry(batch.producer_id).or_insert_with(|| ProducerEntry::new(batch.producer_epoch));
        entry.take_epoch(batch.producer_epoch);
        entry.last_timestamp = entry.last_timestamp.max(batch.max_timestamp);
        entry.last_offset = batch.last_offset();
        if batch.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(batch.base_offset);
            self.ongoing.insert(batch.base_offset, batch.producer_id);
        }
        if batch.base_sequence < 0 {
            return; // transactional offset commits carry no sequence
        }
        if entry.batches.len() == MAX_REMEMBERED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: batch.base_sequence,
            last_seq: batch.last_sequence(),
            first_offset: batch.base_offset,
            last_offset: batch.last_offset(),
        });
    }

    /// Records an appended marker: it ends the producer's open transaction
    /// here, if it has one, and returns it.
    pub fn update_marker(
        &mut self,
        marker: &BatchHeader,
        kind: ControlType,
        coordinator_epoch: i32,
    ) -> Option<CompletedTxn> {
        let entry =
            self.producers.entry(marker.producer_id).or_insert_with(|| ProducerEntry::new(marker.producer_epoch));
        entry.take_epoch(marker.producer_epoch);
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp = entry.last_timestamp.max(marker.max_timestamp);
        entry.last_offset = marker.base_offset;
        let first_offset = entry.current_txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        self.unreplicated.insert(first_offset, marker.base_offset);
        Some(CompletedTxn {
            producer_id: marker.producer_id,
            first_offset,
            last_offset: marker.base_offset,
            aborted: kind == ControlType::Abort,
        })
    }

    /// Each producer's last appended offset: the cleaner keeps those batches'
    /// headers even when it removes all their records.
    pub fn last_offsets(&self) -> HashMap<i64, i64> {
        self.producers.iter().filter_map(|(id, e)| Some((*id, e.batches.back()?.last_offset))).collect()
    }

    /// Forgets producers whose last write is before `log_start_offset`
    /// (retention removed their data) or older than `expire_before_ms`,
    /// unless their transaction is still open.
    pub fn expire(&mut self, log_start_offset: i64, expire_before_ms: i64) {
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || (e.last_offset >= log_start_offset && e.last_timestamp >= expire_before_ms)
        });
    }

    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.producers.len() * 84);
        out.extend_from_slice(b"BRPS");
        out.extend_from_slice(&2u16.to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let e = &self.producers[&id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&e.last_timestamp.to_be_bytes());
            out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            out.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            out.extend_from_slice(&e.last_offset.to_be_bytes());
            out.push(e.batches.len() as u8);
            for b in &e.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decodes a snapshot; `None` if it is truncated or fails its CRC.
    pub fn decode_snapshot(data: &[u8]) -> Option<ProducerStateManager> {
        if data.len() < 14 || &data[0..4] != b"BRPS" {
            return None;
        }
        let (body, crc) = data.split_at(data.len() - 4);
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = Reader { data: body, at: 4 };
        let version = r.u16()?;
        if version != 1 && version != 2 {
            return None;
        }
        let count = r.u32()?;
        let mut state = ProducerStateManager::new();
        for _ in 0..count {
            let id = r.i64()?;
            let mut entry = ProducerEntry::new(r.u16()? as i16);
            entry.last_timestamp = r.i64()?;
            if version >= 2 {
                entry.coordinator_epoch = r.u32()? as i32;
                entry.current_txn_first_offset = Some(r.i64()?).filter(|o| *o >= 0);
                entry.last_offset = r.i64()?;
            }
            let n = r.u8()?;
            for _ in 0..n {
                entry.batches.push_back(BatchMetadata {
                    first_seq: r.u32()? as i32,
                    last_seq: r.u32()? as i32,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            if version == 1 {
                entry.last_offset = entry.batches.back().map_or(-1, |b| b.last_offset);
            }
            if let Some(first) = entry.current_txn_first_offset {
                state.ongoing.insert(first, id);
            }
            state.producers.insert(id, entry);
        }
        Some(state)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.data.get(self.at..self.at + N)?;
        self.at += N;
        bytes.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_protocol::batch::{
        build_batch_with_producer, build_control_batch, build_transactional_batch, BatchHeader, KeyValue,
    };

    fn header(pid: i64, epoch: i16, seq: i32, records: usize, base_offset: i64) -> BatchHeader {
        let recs: Vec<KeyValue<'_>> = vec![(None, Some(b"v")); records];
        let mut h = BatchHeader::parse(&build_batch_with_producer(&recs, 1, pid, epoch, seq)).unwrap();
        h.base_offset = base_offset;
        h
    }

    #[test]
    fn sequence_rules() {
        let mut state = ProducerStateManager::new();
        let first = header(7, 0, 0, 3, 0);
        assert_eq!(state.check(&first).unwrap(), SequenceCheck::Append);
        state.update(&first);
        // Duplicate of the first batch.
        assert!(
            matches!(state.check(&header(7, 0, 0, 3, 99)).unwrap(), SequenceCheck::Duplicate(b) if b.first_offset == 0)
        );
        // Gap.
        assert!(matches!(
            state.check(&header(7, 0, 5, 1, 3)),
            Err(StorageError::OutOfOrderSequence { expected: 3, .. })
        ));
        // Next in sequence.
        let second = header(7, 0, 3, 2, 3);
        assert_eq!(state.check(&second).unwrap(), SequenceCheck::Append);
        state.update(&second);
        // Stale epoch after a bump.
        let bumped = header(7, 1, 0, 1, 5);
        assert_eq!(state.check(&bumped).unwrap(), SequenceCheck::Append);
        state.update(&bumped);
        assert!(matches!(state.check(&header(7, 0, 5, 1, 6)), Err(StorageError::InvalidProducerEpoch { .. })));
        // New epoch must start at 0.
        assert!(matches!(state.check(&header(7, 2, 4, 1, 6)), Err(StorageError::OutOfOrderSequence { .. })));
    }

    #[test]
    fn snapshot_round_trip_and_crc() {
        let mut state = ProducerStateManager::new();
        for i in 0..7 {
            state.update(&header(1, 0, i, 1, i as i64));
        }
        state.update(&header(2, 3, 0, 2, 10));
        let bytes = state.encode_snapshot();
        let decoded = ProducerStateManager::decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded, state);
        assert_eq!(decoded.entry(1).unwrap().batches.len(), MAX_REMEMBERED_BATCHES);
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert!(ProducerStateManager::decode_snapshot(&bad).is_none());
        assert!(ProducerStateManager::decode_snapshot(&bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn expire_keeps_open_transactions() {
        let mut state = ProducerStateManager::new();
        state.update(&header(1, 0, 0, 1, 0));
        state.update(&txn_header(2, 0, 0, 1, 1));
        state.expire(5, 0);
        assert!(state.entry(1).is_none());
        assert!(state.in_transaction(2));
    }

    fn txn_header(pid: i64, epoch: i16, seq: i32, records: usize, base_offset: i64) -> BatchHeader {
        let recs: Vec<KeyValue<'_>> = vec![(None, Some(b"v")); records];
        let mut h = BatchHeader::parse(&build_transactional_batch(&recs, 1, pid, epoch, seq)).unwrap();
        h.base_offset = base_offset;
        h
    }

    fn marker(
        pid: i64,
        epoch: i16,
        kind: ControlType,
        coordinator_epoch: i32,
        offset: i64,
    ) -> (BatchHeader, ControlType, i32) {
        let mut h = BatchHeader::parse(&build_control_batch(kind, pid, epoch, coordinator_epoch, 1)).unwrap();
        h.base_offset = offset;
        (h, kind, coordinator_epoch)
    }

    #[test]
    fn transactions_bound_the_first_unstable_offset() {
        let mut state = ProducerStateManager::new();
        state.update(&header(9, 0, 0, 2, 0)); // idempotent, not transactional
        assert_eq!(state.first_unstable_offset(), None);
        state.update(&txn_header(1, 0, 0, 2, 2));
        state.update(&txn_header(2, 0, 0, 1, 4));
        state.update(&txn_header(1, 0, 2, 1, 5)); // same transaction: first offset stays
        assert_eq!(state.first_unstable_offset(), Some(2));
        assert!(state.in_transaction(1));
        // A non-transactional write while the transaction is open is refused.
        assert!(matches!(state.check(&header(1, 0, 3, 1, 6)), Err(StorageError::InvalidTxnState { .. })));

        let (m, kind, ce) = marker(1, 0, ControlType::Abort, 3, 6);
        let done = state.update_marker(&m, kind, ce).unwrap();
        assert_eq!(done, CompletedTxn { producer_id: 1, first_offset: 2, last_offset: 6, aborted: true });
        assert!(!state.in_transaction(1));
        // Not replicated yet: still unstable from 2.
        assert_eq!(state.first_unstable_offset(), Some(2));
        state.on_high_watermark(7);
        assert_eq!(state.first_unstable_offset(), Some(4));
        // A retried marker ends nothing.
        let (m, kind, ce) = marker(1, 0, ControlType::Abort, 3, 7);
        assert_eq!(state.update_marker(&m, kind, ce), None);
        // Fencing: older producer epoch, older coordinator epoch.
        assert!(matches!(state.check_marker(1, -1, 3), Err(StorageError::InvalidProducerEpoch { .. })));
        assert!(matches!(state.check_marker(1, 0, 2), Err(StorageError::CoordinatorFenced { .. })));
        assert!(state.check_marker(1, 1, 3).is_ok());
        // Batches without a sequence (a coordinator's writes) are fenced by epoch only.
        let coordinator_write = txn_header(1, 0, -1, 1, 7);
        assert_eq!(state.check(&coordinator_write).unwrap(), SequenceCheck::Append);
        state.update(&coordinator_write);
        assert_eq!(state.check(&txn_header(1, 0, -1, 1, 8)).unwrap(), SequenceCheck::Append);
        assert!(state.in_transaction(1));
        assert!(matches!(state.check(&txn_header(1, -1, -1, 1, 8)), Err(StorageError::InvalidProducerEpoch { .. })));
        let (m, kind, ce) = marker(1, 0, ControlType::Commit, 3, 8);
        state.update_marker(&m, kind, ce);
        // A commit marker with a bumped epoch (transaction version 2) restarts the sequence.
        let (m, kind, ce) = marker(2, 1, ControlType::Commit, 3, 8);
        assert!(!state.update_marker(&m, kind, ce).unwrap().aborted);
        assert_eq!(state.check(&txn_header(2, 1, 0, 1, 9)).unwrap(), SequenceCheck::Append);
        state.on_high_watermark(9);
        assert_eq!(state.first_unstable_offset(), None);
    }

    #[test]
    fn snapshot_keeps_open_transactions_and_reads_version_1() {
        let mut state = ProducerStateManager::new();
        state.update(&txn_header(4, 2, 0, 3, 10));
        let (m, kind, ce) = marker(5, 0, ControlType::Commit, 7, 20);
        state.update_marker(&m, kind, ce);
        state.on_high_watermark(100);
        let decoded = ProducerStateManager::decode_snapshot(&state.encode_snapshot()).unwrap();
        assert_eq!(decoded, state);
        assert_eq!(decoded.first_unstable_offset(), Some(10));
        assert_eq!(decoded.entry(5).unwrap().coordinator_epoch, 7);

        // A version-1 snapshot: one producer, one batch.
        let mut v1 = b"BRPS".to_vec();
        v1.extend_from_slice(&1u16.to_be_bytes());
        v1.extend_from_slice(&1u32.to_be_bytes());
        v1.extend_from_slice(&3i64.to_be_bytes());
        v1.extend_from_slice(&0i16.to_be_bytes());
        v1.extend_from_slice(&5i64.to_be_bytes());
        v1.push(1);
        for v in [0i32, 1] {
            v1.extend_from_slice(&v.to_be_bytes());
        }
        for v in [40i64, 41] {
            v1.extend_from_slice(&v.to_be_bytes());
        }
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_be_bytes());
        let old = ProducerStateManager::decode_snapshot(&v1).unwrap();
        let entry = old.entry(3).unwrap();
        assert_eq!((entry.last_offset, entry.coordinator_epoch, entry.current_txn_first_offset), (41, -1, None));
    }
}
