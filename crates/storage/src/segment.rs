//! One log segment: `<base offset>.log` holding RecordBatch v2 bytes exactly
//! as they travel on the wire, plus its sparse `.index` and `.timeindex`.
//!
//! Appends are positioned writes at the end of the file; reads hand out file
//! regions (the file is shared through an `Arc`, so a region stays readable
//! even if retention deletes the segment meanwhile). Not thread-safe by
//! itself: a `PartitionLog` owns its segments under one lock.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use brook_protocol::batch::{self, BatchHeader, BATCH_HEADER_BYTES, LENGTH_PREFIX_BYTES};
use brook_protocol::fetch_response::FileRegion;

use crate::error::Result;
use crate::file_io::write_all_vectored_at;
use crate::index::{open_rw, OffsetIndex, TimeIndex};
use crate::txn_index::TxnIndex;

/// The files of one segment, by suffix.
pub const SUFFIXES: [&str; 4] = ["log", "index", "timeindex", "txnindex"];

/// Kafka's file name for a segment starting at `base_offset`.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// What one appended batch contributes to the indexes.
#[derive(Debug, Clone, Copy)]
pub struct AppendedBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size_bytes: usize,
}

#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    dir: PathBuf,
    file: Arc<File>,
    size_bytes: u64,
    next_offset: i64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    index_interval_bytes: u64,
    bytes_since_index_entry: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// Wall time of the first append, for `segment.ms` rolling.
    first_append_ms: Option<i64>,
    /// Transactions aborted by markers in this segment.
    txn_index: TxnIndex,
}

impl Segment {
    /// Creates a new, empty segment file.
    pub fn create(dir: &Path, base_offset: i64, index_interval_bytes: u64) -> Result<Segment> {
        let file = open_rw(&dir.join(file_name(base_offset, "log")))?;
        file.set_len(0)?;
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            file: Arc::new(file),
            size_bytes: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::empty(dir.join(file_name(base_offset, "index"))),
            time_index: TimeIndex::empty(dir.join(file_name(base_offset, "timeindex"))),
            index_interval_bytes,
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            first_append_ms: None,
            txn_index: TxnIndex::empty(dir.join(file_name(base_offset, "txnindex"))),
        })
    }

    /// Opens an existing segment. With `recover`, or when an index file is
    /// missing or inconsistent, every batch is read, CRC-checked and the
    /// indexes rebuilt; an invalid tail is truncated. Offsets must be dense,
    /// except below `gaps_below` (what compaction has rewritten). `on_batch`
    /// sees every valid batch header found by a full scan (for producer-state
    /// and epoch rebuild). Returns the segment and the number of bytes truncated.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        recover: bool,
        gaps_below: i64,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(Segment, u64)> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let file = open_rw(&log_path)?;
        let size_bytes = file.metadata()?.len();
        let index_path = dir.join(file_name(base_offset, "index"));
        let time_path = dir.join(file_name(base_offset, "timeindex"));
        let indexes = if recover {
            None
        } else {
            OffsetIndex::load(index_path.clone(), size_bytes)?.zip(TimeIndex::load(time_path.clone())?)
        };
        let mut segment = Segment {
            base_offset,
            dir: dir.to_path_buf(),
            file: Arc::new(file),
            size_bytes,
            next_offset: base_offset,
            offset_index: OffsetIndex::empty(index_path),
            time_index: TimeIndex::empty(time_path),
            index_interval_bytes,
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            first_append_ms: None,
            txn_index: TxnIndex::load(dir.join(file_name(base_offset, "txnindex")))?,
        };
        match indexes {
            Some((offset_index, time_index)) => {
                segment.offset_index = offset_index;
                segment.time_index = time_index;
                segment.load_tail_state()?;
                Ok((segment, 0))
            }
            None => {
                let truncated = segment.recover(gaps_below, on_batch)?;
                Ok((segment, truncated))
            }
        }
    }

    /// After loading trusted indexes: find the next offset and max timestamp
    /// by scanning batch headers from the last index entry to the end.
    fn load_tail_state(&mut self) -> Result<()> {
        if let Some(last) = self.time_index.lookup(i64::MAX) {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = self.base_offset + last.relative_offset as i64;
        }
        let start = self.offset_index.last().map_or(0, |e| e.position as u64);
        let mut position = start;
        while let Some(header) = self.header_at(position)? {
            self.note_batch(&header);
            position += header.size_bytes() as u64;
        }
        if position != self.size_bytes {
            // A torn tail behind a clean index: trust the log, cut the tail.
            self.truncate_file(position)?;
        }
        Ok(())
    }

    fn note_batch(&mut self, header: &BatchHeader) {
        self.next_offset = header.last_offset() + 1;
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.last_offset();
        }
        if self.first_append_ms.is_none() && header.max_timestamp >= 0 {
            self.first_append_ms = Some(header.max_timestamp);
        }
    }

    /// Full scan: CRC-check every batch, rebuild indexes, cut the first
    /// invalid or torn batch and everything after it.
    fn recover(&mut self, gaps_below: i64, on_batch: &mut dyn FnMut(&BatchHeader)) -> Result<u64> {
        self.offset_index.clear();
        self.time_index.clear();
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.bytes_since_index_entry = 0;
        let mut position = 0u64;
        let mut buf = Vec::new();
        let mut previous_last_offset = self.base_offset - 1;
        loop {
            let Some(header) = self.header_at(position)? else {
                break;
            };
            buf.resize(header.size_bytes(), 0);
            if self.file.read_exact_at(&mut buf, position).is_err() {
                break;
            }
            let Ok(valid) = batch::validate_stored(&buf) else {
                break;
            };
            // Brook assigns offsets densely and the CRC does not cover baseOffset:
            // a batch that does not start right after the previous one is corrupt,
            // unless compaction removed the records between them.
            let dense = valid.base_offset == previous_last_offset + 1;
            let compacted_gap = valid.base_offset > previous_last_offset && valid.base_offset < gaps_below;
            if !dense && !compacted_gap {
                break;
            }
            previous_last_offset = valid.last_offset();
            self.index_batch(&valid, position);
            self.note_batch(&valid);
            on_batch(&valid);
            position += valid.size_bytes() as u64;
        }
        let truncated = self.size_bytes - position;
        if truncated > 0 {
            self.truncate_file(position)?;
        }
        Ok(truncated)
    }

    fn truncate_file(&mut self, position: u64) -> Result<()> {
        self.file.set_len(position)?;
        self.size_bytes = position;
        Ok(())
    }

    /// Reads the batch header at `position`, or `None` at the end of the file
    /// or if the bytes there are not a plausible batch header.
    pub fn header_at(&self, position: u64) -> Result<Option<BatchHeader>> {
        if position + BATCH_HEADER_BYTES as u64 > self.size_bytes {
            return Ok(None);
        }
        let mut buf = [0u8; BATCH_HEADER_BYTES];
        self.file.read_exact_at(&mut buf, position)?;
        match BatchHeader::parse(&buf) {
            Ok(h) if position + h.size_bytes() as u64 <= self.size_bytes => Ok(Some(h)),
            _ => Ok(None),
        }
    }

    fn index_batch(&mut self, batch: &BatchHeader, position: u64) {
        let appended = AppendedBatch {
            base_offset: batch.base_offset,
            last_offset: batch.last_offset(),
            max_timestamp: batch.max_timestamp,
            size_bytes: batch.size_bytes(),
        };
        self.index_appended(&appended, position);
    }

    fn index_appended(&mut self, batch: &AppendedBatch, position: u64) {
        if self.offset_index.is_empty() || self.bytes_since_index_entry >= self.index_interval_bytes {
            let relative = (batch.base_offset - self.base_offset) as u32;
            self.offset_index.append(relative, position as u32);
            let (max_ts, max_ts_offset) = if batch.max_timestamp > self.max_timestamp {
                (batch.max_timestamp, batch.last_offset)
            } else {
                (self.max_timestamp, self.offset_of_max_timestamp)
            };
            self.time_index.maybe_append(max_ts, (max_ts_offset - self.base_offset) as u32);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += batch.size_bytes as u64;
    }

    /// Appends already-validated, offset-assigned batches given as byte slices
    /// (`slices` concatenated are exactly the batches described by `batches`).
    pub fn append(&mut self, slices: &[&[u8]], batches: &[AppendedBatch], now_ms: i64) -> Result<()> {
        let total: usize = slices.iter().map(|s| s.len()).sum();
        write_all_vectored_at(&self.file, slices, self.size_bytes)?;
        let mut position = self.size_bytes;
        for batch in batches {
            self.index_appended(batch, position);
            position += batch.size_bytes as u64;
            self.next_offset = batch.last_offset + 1;
            if batch.max_timestamp > self.max_timestamp {
                self.max_timestamp = batch.max_timestamp;
                self.offset_of_max_timestamp = batch.last_offset;
            }
        }
        debug_assert_eq!(position, self.size_bytes + total as u64);
        self.size_bytes += total as u64;
        self.first_append_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Position and header of the batch containing `offset`, if in this segment.
    pub fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        if offset < self.base_offset || offset >= self.next_offset {
            return Ok(None);
        }
        let relative = (offset - self.base_offset) as u32;
        let mut position = self.offset_index.lookup(relative).map_or(0, |e| e.position as u64);
        while let Some(header) = self.header_at(position)? {
            if header.last_offset() >= offset {
                return Ok(Some((position, header)));
            }
            position += header.size_bytes() as u64;
        }
        Ok(None)
    }

    /// File position where `offset` starts, or the end of the segment if the
    /// offset is at or past its next offset. `offset` must be a batch boundary.
    pub fn position_of(&self, offset: i64) -> Result<u64> {
        Ok(self.find_batch(offset)?.map_or(self.size_bytes, |(position, _)| position))
    }

    /// A region starting at the batch containing `offset`, holding at most
    /// `max_bytes` but always the whole first batch, and nothing at or past
    /// `end_offset` (the high watermark). Without `min_one_batch`, a first
    /// batch larger than `max_bytes` yields nothing. May end in a partial batch, as
    /// Kafka's does; clients drop it and fetch it again. Also returns the
    /// header of the region's first batch.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        end_offset: i64,
        min_one_batch: bool,
    ) -> Result<Option<(FileRegion, BatchHeader)>> {
        let Some((start, first)) = self.find_batch(offset)? else {
            return Ok(None);
        };
        if first.base_offset >= end_offset || (!min_one_batch && first.size_bytes() > max_bytes) {
            return Ok(None);
        }
        let end = if end_offset >= self.next_offset { self.size_bytes } else { self.position_of(end_offset)? };
        let available = (end - start) as usize;
        let length = available.min(max_bytes.max(first.size_bytes()));
        Ok(Some((FileRegion { file: self.file.clone(), position: start, length }, first)))
    }

    /// (offset, timestamp) of the first record at or after `min_offset` and
    /// below `end_offset` whose timestamp is ≥ `timestamp`. The time index
    /// and batch headers narrow the search; only candidate batches are
    /// decoded (decompressed if needed).
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        min_offset: i64,
        end_offset: i64,
    ) -> Result<Option<(i64, i64)>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let indexed =
            self.time_index.lookup(timestamp).map_or(self.base_offset, |e| self.base_offset + e.relative_offset as i64);
        let mut position = self.find_batch(indexed.max(min_offset))?.map_or(0, |(p, _)| p);
        while let Some(header) = self.header_at(position)? {
            if header.base_offset >= end_offset {
                break;
            }
            if header.max_timestamp >= timestamp && header.last_offset() >= min_offset {
                let records = batch::record_timestamps(&self.read_batch(position, &header)?);
                let found = records
                    .iter()
                    .map(|(delta, ts)| (header.base_offset + *delta as i64, *ts))
                    .find(|(offset, ts)| *ts >= timestamp && *offset >= min_offset && *offset < end_offset);
                if found.is_some() {
                    return Ok(found);
                }
            }
            position += header.size_bytes() as u64;
        }
        Ok(None)
    }

    /// Reads a whole batch into memory (for record-level timestamp search).
    pub fn read_batch(&self, position: u64, header: &BatchHeader) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; header.size_bytes()];
        self.file.read_exact_at(&mut buf, position)?;
        Ok(buf)
    }

    /// Calls `f` with every batch header from `from_offset` on (no CRC check).
    pub fn for_each_header(&self, from_offset: i64, f: &mut dyn FnMut(&BatchHeader)) -> Result<()> {
        self.for_each_header_at(from_offset, &mut |h, _| f(h))
    }

    /// As [`Self::for_each_header`], with each batch's file position.
    pub fn for_each_header_at(&self, from_offset: i64, f: &mut dyn FnMut(&BatchHeader, u64)) -> Result<()> {
        let mut position = if from_offset <= self.base_offset { 0 } else { self.position_of(from_offset)? };
        while let Some(header) = self.header_at(position)? {
            f(&header, position);
            position += header.size_bytes() as u64;
        }
        Ok(())
    }

    /// Removes every batch at or after `offset` (a batch boundary).
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        if offset >= self.next_offset {
            return Ok(());
        }
        let position = self.position_of(offset)?;
        self.truncate_file(position)?;
        self.offset_index.truncate_to_position(position as u32);
        self.time_index.truncate_to_offset((offset.max(self.base_offset) - self.base_offset) as u32);
        // Recompute the tail state from what remains (in a compacted segment
        // the last batch left may end before `offset`).
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        let mut headers = Vec::new();
        self.for_each_header(self.base_offset, &mut |h| headers.push(*h))?;
        for h in &headers {
            self.note_batch(h);
        }
        self.bytes_since_index_entry = self.index_interval_bytes;
        self.txn_index.truncate_to(offset)
    }

    /// fsync the log data and persist the indexes (with a final time entry).
    pub fn flush(&mut self) -> Result<()> {
        self.file.sync_data()?;
        if self.max_timestamp >= 0 {
            self.time_index.maybe_append(self.max_timestamp, (self.offset_of_max_timestamp - self.base_offset) as u32);
        }
        self.offset_index.flush()?;
        self.time_index.flush()?;
        self.txn_index.flush()
    }

    /// Deletes the segment's files. Open regions keep the data readable.
    pub fn delete_files(&self) -> Result<()> {
        for suffix in SUFFIXES {
            match std::fs::remove_file(self.dir.join(file_name(self.base_offset, suffix))) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    /// The segment's data file (the cleaner reads it without the log's lock).
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }
    /// Moves the segment's identity to `dir` after its data file was renamed
    /// there (a cleaned segment); its indexes are written there on flush.
    pub fn move_to(&mut self, dir: &Path) {
        self.dir = dir.to_path_buf();
        self.offset_index.set_path(dir.join(file_name(self.base_offset, "index")));
        self.time_index.set_path(dir.join(file_name(self.base_offset, "timeindex")));
        self.txn_index.set_path(dir.join(file_name(self.base_offset, "txnindex")));
    }
    pub fn txn_index(&self) -> &TxnIndex {
        &self.txn_index
    }
    pub fn txn_index_mut(&mut self) -> &mut TxnIndex {
        &mut self.txn_index
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    pub fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    /// What `retention.ms` compares: the newest record timestamp, or the
    /// file's modification time when records carry none (Kafka's fallback).
    pub fn retention_timestamp_ms(&self) -> i64 {
        if self.max_timestamp >= 0 {
            return self.max_timestamp;
        }
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(i64::MAX, |d| d.as_millis() as i64)
    }
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    pub fn first_append_ms(&self) -> Option<i64> {
        self.first_append_ms
    }
    /// Offset-index lookups need ≥ 12 bytes of header to size a batch.
    pub const MIN_BATCH_BYTES: usize = LENGTH_PREFIX_BYTES;
}
