//! Idempotent-producer state of one partition: for each producer id, its
//! epoch and the metadata of its last five batches, as in Kafka's
//! `ProducerStateManager`. Pure logic plus a snapshot codec; the partition
//! log persists snapshots and rebuilds the rest by scanning batch headers.
//!
//! Snapshot file `<offset, 20 digits>.snapshot`, all big-endian:
//! ```text
//! "BRPS" u16 version=1  u32 entry count
//! per entry: i64 producer id, i16 epoch, i64 last timestamp, u8 batch count,
//!            per batch: i32 first seq, i32 last seq, i64 first offset, i64 last offset
//! u32 CRC-32C of everything before it
//! ```

use std::collections::{HashMap, VecDeque};

use brook_protocol::batch::BatchHeader;

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
}

/// Outcome of checking a batch against the producer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not idempotent, or the next in sequence: append it.
    Append,
    /// Already appended: acknowledge with the original offsets, do not append.
    Duplicate(BatchMetadata),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
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

    /// Kafka's epoch and sequence rules for an incoming batch.
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

    /// Records an appended batch (with its assigned offsets).
    pub fn update(&mut self, batch: &BatchHeader) {
        if !batch.has_producer_id() {
            return;
        }
        let entry = self.producers.entry(batch.producer_id).or_insert_with(|| ProducerEntry {
            epoch: batch.producer_epoch,
            last_timestamp: -1,
            batches: VecDeque::new(),
        });
        if batch.producer_epoch != entry.epoch {
            entry.epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = entry.last_timestamp.max(batch.max_timestamp);
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

    /// Each producer's last appended offset: the cleaner keeps those batches'
    /// headers even when it removes all their records.
    pub fn last_offsets(&self) -> HashMap<i64, i64> {
        self.producers.iter().filter_map(|(id, e)| Some((*id, e.batches.back()?.last_offset))).collect()
    }

    /// Forgets producers whose last write is before `log_start_offset`
    /// (retention removed their data) or older than `expire_before_ms`.
    pub fn expire(&mut self, log_start_offset: i64, expire_before_ms: i64) {
        self.producers.retain(|_, e| {
            let last_offset = e.batches.back().map_or(-1, |b| b.last_offset);
            last_offset >= log_start_offset && e.last_timestamp >= expire_before_ms
        });
    }

    /// Drops batches at or after `offset` (log truncation).
    pub fn truncate_to(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.producers.len() * 64);
        out.extend_from_slice(b"BRPS");
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let e = &self.producers[&id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&e.last_timestamp.to_be_bytes());
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
        if r.u16()? != 1 {
            return None;
        }
        let count = r.u32()?;
        let mut producers = HashMap::new();
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.u16()? as i16;
            let last_timestamp = r.i64()?;
            let n = r.u8()?;
            let mut batches = VecDeque::new();
            for _ in 0..n {
                batches.push_back(BatchMetadata {
                    first_seq: r.u32()? as i32,
                    last_seq: r.u32()? as i32,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            producers.insert(id, ProducerEntry { epoch, last_timestamp, batches });
        }
        Some(ProducerStateManager { producers })
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
    use brook_protocol::batch::{build_batch_with_producer, BatchHeader};

    fn header(pid: i64, epoch: i16, seq: i32, records: usize, base_offset: i64) -> BatchHeader {
        let recs: Vec<(Option<&[u8]>, Option<&[u8]>)> = vec![(None, Some(b"v")); records];
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
    fn truncate_and_expire() {
        let mut state = ProducerStateManager::new();
        state.update(&header(1, 0, 0, 1, 0));
        state.update(&header(1, 0, 1, 1, 5));
        state.truncate_to(5);
        assert_eq!(state.entry(1).unwrap().batches.len(), 1);
        state.expire(1, 0);
        assert!(state.is_empty());
    }
}
