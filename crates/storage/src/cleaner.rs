//! Log compaction, with Kafka's semantics: keep the latest record of each
//! key, never touch the active segment, keep every kept record's offset.
//!
//! One pass over a log:
//! 1. *Plan* (under the log's lock, briefly): the cleanable segments are the
//!    closed ones wholly below the high watermark and older than
//!    `min.compaction.lag.ms`. Those past the cleaner's checkpoint are dirty.
//! 2. *Map* (no lock): key → latest offset over the dirty segments, bounded
//!    by the dedupe buffer (at segment granularity).
//! 3. *Rewrite* (no lock): consecutive segments are grouped (≤ segment.bytes)
//!    and each group is written to one new file under `.cleaning/`, keeping a
//!    record if no later offset has its key. Tombstones get a delete horizon
//!    (now + `delete.retention.ms`, KIP-534) the first time they are cleaned
//!    and are dropped by a pass after it. A batch keeps its base offset and
//!    `lastOffsetDelta`; one whose records all go keeps an empty header if it
//!    is its producer's last batch (idempotence survives cleaning). Batches
//!    of aborted transactions (from the segments' `.txnindex`) are removed
//!    whole and never enter the map.
//!
//!    Transaction markers go as Kafka's (`CleanedTransactionMetadata`,
//!    KIP-534): walking the batches in offset order, the cleaner notes for
//!    each producer whether any batch of its current transaction stays in
//!    the output (an aborted one never does, unless kept as its producer's
//!    last, empty, batch). At the marker, a transaction none of whose
//!    batches stay is empty: its marker is kept by the first pass that sees
//!    it so, which stamps a delete horizon on it as on tombstones, and
//!    dropped by a pass after the horizon (a reader mid-way through the
//!    transaction has `delete.retention.ms` to see where it ends). A marker
//!    of a transaction with a batch left always stays. Beyond Kafka, a
//!    marker at or after the oldest producer snapshot stays too: a rebuild
//!    from that snapshot (a crash whose newest snapshot is unreadable, a
//!    follower's truncation) may start inside its transaction, and must
//!    meet the marker to close it.
//! 4. *Swap* (under the lock): the cleaned segment's `.txnindex` (the
//!    group's aborted-transaction entries whose markers it still holds) is
//!    written as `<base>.<end>.txnswap`, the new file is renamed to
//!    `<base>.<end>.swap`, the group's segments are deleted, the txnswap
//!    becomes `<base>.txnindex`, the swap file `<base>.log`. A crash before
//!    the `.swap` rename leaves the old segments (the `.cleaning/` output
//!    and the txnswap are discarded at open); after it, opening the log
//!    finishes the swap (both in [`crate::compaction_state`], which the log
//!    reads at open without depending on the cleaner). Every state opens to
//!    a log that holds the latest value of every key, and never an aborted
//!    transaction entry whose marker is gone (a read_committed client would
//!    drop that producer's later records, waiting for it).
//!
//! Readers are never blocked for the map or the rewrite; fetches that hold
//! a region of a replaced segment keep reading its (unlinked) file.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_protocol::batch::{self, BatchHeader, Compression, LENGTH_PREFIX_BYTES};
use brook_protocol::records::{self, Record, DELETE_HORIZON_FLAG};
use parking_lot::Mutex;
use tracing::{info, warn};

use crate::compaction_state::{swap_name, txn_swap_name, CleanerState, CLEANING_DIR};
use crate::error::{Result, StorageError};
use crate::file_io::{atomic_write, fsync_dir};
use crate::partition_log::PartitionLog;
use crate::segment::{file_name, Segment};
use crate::txn_index::{self, AbortedTxn};

/// Bytes read from a segment at a time.
const READ_CHUNK: usize = 1 << 20;
/// Estimated memory of one offset-map entry besides its key.
const MAP_ENTRY_OVERHEAD: usize = 48;

/// Bounds on one cleaning pass (Kafka's `log.cleaner.*` broker settings).
#[derive(Debug, Clone, Copy)]
pub struct CleanerSettings {
    /// `log.cleaner.dedupe.buffer.size` (per cleaner thread).
    pub dedupe_buffer_bytes: usize,
    /// `log.cleaner.io.max.bytes.per.second`: read + write rate.
    pub io_max_bytes_per_second: f64,
}

/// Why a log wants cleaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cleanability {
    pub dirty_ratio: f64,
    /// `max.compaction.lag.ms` passed, or a tombstone's or transaction
    /// marker's delete horizon is due.
    pub forced: bool,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    /// Transaction markers removed (their transactions were empty and
    /// their delete horizon had passed).
    pub markers_removed: u64,
    pub cleaned_upto: i64,
}

/// Closed segments wholly below the last stable offset (the high
/// watermark, or the start of an open transaction, whose records may yet
/// be aborted) and older than `min.compaction.lag.ms`, in offset order.
fn cleanable_segments(log: &PartitionLog, now_ms: i64) -> Vec<&Segment> {
    let active = log.segments.keys().next_back().copied();
    let lag_cutoff = now_ms.saturating_sub(log.config.min_compaction_lag_ms);
    log.segments
        .values()
        .take_while(|s| Some(s.base_offset()) != active && s.next_offset() <= log.last_stable_offset())
        .take_while(|s| log.config.min_compaction_lag_ms <= 0 || s.max_timestamp() <= lag_cutoff)
        .collect()
}

/// Whether the log should be cleaned now, and how dirty it is.
pub fn cleanability(log: &PartitionLog, now_ms: i64) -> Option<Cleanability> {
    if !log.config.compact || log.offline {
        return None;
    }
    let segments = cleanable_segments(log, now_ms);
    let dirty: Vec<&&Segment> = segments.iter().filter(|s| s.next_offset() > log.cleaner.cleaned_upto).collect();
    let dirty_bytes: u64 = dirty.iter().map(|s| s.size_bytes()).sum();
    let total: u64 = segments.iter().map(|s| s.size_bytes()).sum();
    let horizon_due = log.cleaner.tombstone_horizon.is_some_and(|h| now_ms >= h) && total > 0;
    if dirty_bytes == 0 && !horizon_due {
        return None;
    }
    let overdue = dirty.first().is_some_and(|s| {
        s.header_at(0).ok().flatten().is_some_and(|h| {
            now_ms.saturating_sub(h.base_timestamp.min(h.max_timestamp)) > log.config.max_compaction_lag_ms
        })
    });
    let dirty_ratio = if total == 0 { 0.0 } else { dirty_bytes as f64 / total as f64 };
    let forced = horizon_due || overdue;
    (forced || (dirty_bytes > 0 && dirty_ratio >= log.config.min_cleanable_dirty_ratio))
        .then_some(Cleanability { dirty_ratio, forced })
}

#[derive(Clone)]
struct SegmentView {
    base: i64,
    next_offset: i64,
    size: u64,
    file: Arc<File>,
}

struct Plan {
    dir: std::path::PathBuf,
    index_interval_bytes: u64,
    segment_bytes: u64,
    delete_retention_ms: i64,
    levels: records::CodecLevels,
    state: CleanerState,
    truncations: u64,
    segments: Vec<SegmentView>,
    producer_last_offsets: HashMap<i64, i64>,
    aborted: AbortedRanges,
    /// Markers at or above this offset stay (the oldest producer snapshot).
    marker_floor: i64,
}

/// The aborted transactions of the cleanable section: producer id →
/// (first offset, marker offset) of each.
#[derive(Default)]
struct AbortedRanges {
    by_producer: HashMap<i64, Vec<(i64, i64)>>,
}

impl AbortedRanges {
    /// From every segment: a marker may lie past the cleanable section.
    fn collect<'a>(segments: impl Iterator<Item = &'a Segment>) -> AbortedRanges {
        let mut ranges = AbortedRanges::default();
        for segment in segments {
            for t in segment.txn_index().entries() {
                ranges.by_producer.entry(t.producer_id).or_default().push((t.first_offset, t.last_offset));
            }
        }
        ranges
    }

    /// Whether `header` is a data batch of an aborted transaction.
    fn contains(&self, header: &BatchHeader) -> bool {
        header.is_transactional()
            && !header.is_control()
            && self
                .by_producer
                .get(&header.producer_id)
                .is_some_and(|ranges| ranges.iter().any(|(first, last)| (*first..*last).contains(&header.base_offset)))
    }
}

fn plan(log: &PartitionLog, now_ms: i64) -> Option<Plan> {
    cleanability(log, now_ms)?;
    let segments: Vec<SegmentView> = cleanable_segments(log, now_ms)
        .into_iter()
        .map(|s| SegmentView {
            base: s.base_offset(),
            next_offset: s.next_offset(),
            size: s.size_bytes(),
            file: s.file().clone(),
        })
        .collect();
    Some(Plan {
        dir: log.dir.clone(),
        index_interval_bytes: log.config.index_interval_bytes,
        segment_bytes: log.config.segment_bytes,
        delete_retention_ms: log.config.delete_retention_ms,
        levels: log.config.compression_levels,
        state: log.cleaner,
        truncations: log.truncations,
        aborted: AbortedRanges::collect(log.segments.values()),
        segments,
        producer_last_offsets: log.producers().last_offsets(),
        // No snapshot: a rebuild replays from the log start, where every
        // transaction begins (or was wholly compacted away).
        marker_floor: match log.snapshot_offsets() {
            Ok(offsets) => offsets.first().copied().unwrap_or(i64::MAX),
            Err(_) => i64::MIN,
        },
    })
}

/// Rate limit on the cleaner's IO.
struct Throttle {
    limit: f64,
    started: Instant,
    bytes: u64,
}

impl Throttle {
    fn account(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
        if !(self.limit.is_finite() && self.limit > 0.0) {
            return;
        }
        let due = Duration::from_secs_f64(self.bytes as f64 / self.limit);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

fn corrupt(view: &SegmentView, dir: &Path, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        path: dir.join(file_name(view.base, "log")).display().to_string(),
        reason: reason.to_string(),
    }
}

/// Calls `f` with every batch of a segment, read in chunks.
fn for_each_batch(
    view: &SegmentView,
    dir: &Path,
    throttle: &mut Throttle,
    f: &mut dyn FnMut(&[u8], &BatchHeader) -> Result<()>,
) -> Result<()> {
    let mut position = 0u64;
    let mut buf = Vec::new();
    while position < view.size {
        let want = (view.size - position).min(READ_CHUNK as u64) as usize;
        buf.resize(want, 0);
        view.file.read_exact_at(&mut buf, position)?;
        let mut at = 0usize;
        while at + LENGTH_PREFIX_BYTES <= buf.len() {
            let size = batch::batch_size(&buf[at..]).ok_or_else(|| corrupt(view, dir, "bad batch length"))?;
            if at + size > buf.len() {
                break;
            }
            let bytes = &buf[at..at + size];
            let header = batch::validate_stored(bytes).map_err(|e| corrupt(view, dir, e))?;
            f(bytes, &header)?;
            at += size;
        }
        if at == 0 {
            // One batch larger than a chunk: read it whole.
            let size = batch::batch_size(&buf).ok_or_else(|| corrupt(view, dir, "bad batch length"))?;
            if position + size as u64 > view.size {
                return Err(corrupt(view, dir, "torn batch"));
            }
            let mut big = vec![0u8; size];
            view.file.read_exact_at(&mut big, position)?;
            let header = batch::validate_stored(&big).map_err(|e| corrupt(view, dir, e))?;
            f(&big, &header)?;
            at = size;
        }
        position += at as u64;
        throttle.account(at);
    }
    Ok(())
}

fn records_of<'a>(bytes: &'a [u8], header: &BatchHeader) -> Result<(std::borrow::Cow<'a, [u8]>, i32)> {
    let payload = records::payload(bytes, header)
        .map_err(|e| StorageError::Corrupt { path: String::new(), reason: e.to_string() })?;
    Ok((payload, header.record_count))
}

/// Key → offset of its latest record in the dirty section.
struct OffsetMap<'a> {
    latest: HashMap<Vec<u8>, i64>,
    bytes: usize,
    /// Aborted records never shadow a committed value of their key.
    aborted: &'a AbortedRanges,
}

impl OffsetMap<'_> {
    fn add_batch(&mut self, bytes: &[u8], header: &BatchHeader) -> Result<()> {
        if header.is_control() || header.record_count == 0 || self.aborted.contains(header) {
            return Ok(());
        }
        let (payload, count) = records_of(bytes, header)?;
        let parsed = records::parse_records(&payload, count)
            .map_err(|e| StorageError::Corrupt { path: String::new(), reason: e.to_string() })?;
        for record in parsed {
            if let Some(key) = record.key {
                let offset = header.base_offset + record.offset_delta as i64;
                if self.latest.insert(key.to_vec(), offset).is_none() {
                    self.bytes += key.len() + MAP_ENTRY_OVERHEAD;
                }
            }
        }
        Ok(())
    }
}

/// What the filter made of one batch.
enum Filtered {
    Unchanged,
    Removed,
    Rewritten(Vec<u8>),
}

struct FilterContext<'a> {
    map: &'a OffsetMap<'a>,
    now_ms: i64,
    delete_retention_ms: i64,
    levels: records::CodecLevels,
    producer_last_offsets: &'a HashMap<i64, i64>,
    /// Earliest delete horizon among the tombstones and markers kept.
    min_horizon: Option<i64>,
    records_removed: u64,
    /// Producer id → whether a batch of its transaction in progress (in
    /// the walk's offset order) stays in the output.
    txn_retained: HashMap<i64, bool>,
    /// See [`Plan::marker_floor`].
    marker_floor: i64,
    /// Offsets of the markers kept: their `.txnindex` entries stay.
    kept_markers: HashSet<i64>,
    markers_removed: u64,
}

impl FilterContext<'_> {
    fn keeps(&self, record: &Record<'_>, offset: i64, horizon: Option<i64>) -> bool {
        let Some(key) = record.key else { return false };
        if self.map.latest.get(key).is_some_and(|latest| *latest > offset) {
            return false;
        }
        record.value.is_some() || horizon.is_none_or(|h| self.now_ms < h)
    }

    fn note_horizon(&mut self, horizon: i64) {
        self.min_horizon = Some(self.min_horizon.map_or(horizon, |h| h.min(horizon)));
    }

    /// A batch none of whose records stay: gone, or an empty header if it
    /// is its producer's last batch (its sequence stays known).
    fn remove_all(&self, header: &BatchHeader) -> Result<Filtered> {
        let producers_last = header.has_producer_id()
            && self.producer_last_offsets.get(&header.producer_id) == Some(&header.last_offset());
        if !producers_last {
            return Ok(Filtered::Removed);
        }
        let mut out = *header;
        out.record_count = 0;
        out.attributes &= !0x07;
        let empty = records::write_batch(&out, Compression::None, &[])
            .map_err(|e| StorageError::Corrupt { path: String::new(), reason: e.to_string() })?;
        Ok(Filtered::Rewritten(empty))
    }

    /// Filters one batch; batches must come in offset order from the log start.
    fn filter(&mut self, bytes: &[u8], header: &BatchHeader) -> Result<Filtered> {
        if header.is_control() {
            return self.filter_marker(bytes, header);
        }
        let filtered = self.filter_data(bytes, header)?;
        if header.is_transactional() {
            let stays = !matches!(filtered, Filtered::Removed);
            *self.txn_retained.entry(header.producer_id).or_default() |= stays;
        }
        Ok(filtered)
    }

    /// A transaction marker: kept while a batch of its transaction stays;
    /// else stamped with a delete horizon, and removed once it passed.
    fn filter_marker(&mut self, bytes: &[u8], header: &BatchHeader) -> Result<Filtered> {
        let retained = self.txn_retained.remove(&header.producer_id).unwrap_or(false);
        let readable = batch::parse_control_batch(bytes).is_some();
        let discardable = readable && !retained && header.base_offset < self.marker_floor;
        let horizon = (header.attributes & DELETE_HORIZON_FLAG != 0).then_some(header.base_timestamp);
        let filtered = match (discardable, horizon) {
            (false, _) => Filtered::Unchanged,
            (true, Some(h)) if self.now_ms >= h => {
                self.markers_removed += 1;
                return Ok(Filtered::Removed);
            }
            (true, Some(h)) => {
                self.note_horizon(h);
                Filtered::Unchanged
            }
            (true, None) => {
                let new_horizon = self.now_ms.saturating_add(self.delete_retention_ms);
                let (payload, count) = records_of(bytes, header)?;
                let parsed = records::parse_records(&payload, count)
                    .map_err(|e| StorageError::Corrupt { path: String::new(), reason: e.to_string() })?;
                let mut body = Vec::with_capacity(payload.len() + 8);
                for r in &parsed {
                    let timestamp = header.base_timestamp.saturating_add(r.timestamp_delta);
                    records::encode_record(&mut body, r, timestamp.saturating_sub(new_horizon));
                }
                let mut out = *header;
                out.attributes |= DELETE_HORIZON_FLAG;
                out.base_timestamp = new_horizon;
                let stamped = records::write_batch(&out, Compression::None, &body)
                    .map_err(|e| StorageError::Corrupt { path: String::new(), reason: e.to_string() })?;
                self.note_horizon(new_horizon);
                Filtered::Rewritten(stamped)
            }
        };
        self.kept_markers.insert(header.base_offset);
        Ok(filtered)
    }

    fn filter_data(&mut self, bytes: &[u8], header: &BatchHeader) -> Result<Filtered> {
        if header.record_count == 0 {
            return Ok(Filtered::Unchanged);
        }
        if self.map.aborted.contains(header) {
            self.records_removed += header.record_count as u64;
            return self.remove_all(header);
        }
        let (payload, count) = records_of(bytes, header)?;
        let parsed = records::parse_records(&payload, count)
            .map_err(|e| StorageError::Corrupt { path: String::new(), reason: e.to_string() })?;
        let horizon = (header.attributes & DELETE_HORIZON_FLAG != 0).then_some(header.base_timestamp);
        let kept: Vec<&Record<'_>> =
            parsed.iter().filter(|r| self.keeps(r, header.base_offset + r.offset_delta as i64, horizon)).collect();
        self.records_removed += (parsed.len() - kept.len()) as u64;
        let has_tombstones = kept.iter().any(|r| r.value.is_none());
        if kept.len() == parsed.len() && !(has_tombstones && horizon.is_none()) {
            if let (true, Some(h)) = (has_tombstones, horizon) {
                self.note_horizon(h);
            }
            return Ok(Filtered::Unchanged);
        }
        let mut out = *header;
        out.record_count = kept.len() as i32;
        if kept.is_empty() {
            return self.remove_all(header);
        }
        // Timestamps are the record's own; the base may become the delete horizon.
        let timestamp = |r: &Record<'_>| header.base_timestamp.saturating_add(r.timestamp_delta);
        if !header.is_log_append_time() {
            out.max_timestamp = kept.iter().map(|r| timestamp(r)).max().unwrap_or(header.max_timestamp);
        }
        let mut body = Vec::with_capacity(payload.len());
        if has_tombstones && horizon.is_none() {
            let new_horizon = self.now_ms.saturating_add(self.delete_retention_ms);
            out.attributes |= DELETE_HORIZON_FLAG;
            out.base_timestamp = new_horizon;
            for r in &kept {
                records::encode_record(&mut body, r, timestamp(r).saturating_sub(new_horizon));
            }
            self.note_horizon(new_horizon);
        } else {
            for r in &kept {
                body.extend_from_slice(r.raw);
            }
            if let (true, Some(h)) = (has_tombstones, horizon) {
                self.note_horizon(h);
            }
        }
        let codec = header.compression().map_err(StorageError::from)?;
        let rebuilt = records::write_batch_with(&out, codec, &body, self.levels)
            .map_err(|e| StorageError::Corrupt { path: String::new(), reason: e.to_string() })?;
        Ok(Filtered::Rewritten(rebuilt))
    }
}

/// Consecutive segments cleaned into one file: total size within
/// `segment.bytes` and offsets within the 32-bit relative index range.
fn group_segments(segments: &[SegmentView], segment_bytes: u64) -> Vec<Vec<SegmentView>> {
    let mut groups: Vec<Vec<SegmentView>> = Vec::new();
    for s in segments {
        let fits = groups.last().is_some_and(|g| {
            let size: u64 = g.iter().map(|x| x.size).sum();
            size + s.size <= segment_bytes && s.next_offset - g[0].base <= u32::MAX as i64
        });
        if fits {
            groups.last_mut().unwrap().push(s.clone());
        } else {
            groups.push(vec![s.clone()]);
        }
    }
    groups
}

/// Cleans one log if it is due. Returns what the pass did, or `None` when
/// there was nothing to do. Blocking file IO: run it on a cleaner thread.
pub fn clean(log: &Mutex<PartitionLog>, now_ms: i64, settings: &CleanerSettings) -> Result<Option<CleanStats>> {
    let Some(plan) = plan(&log.lock(), now_ms) else { return Ok(None) };
    let mut throttle = Throttle { limit: settings.io_max_bytes_per_second, started: Instant::now(), bytes: 0 };
    let dir = plan.dir.clone();

    // Map the dirty section, whole segments at a time, within the buffer.
    let mut map = OffsetMap { latest: HashMap::new(), bytes: 0, aborted: &plan.aborted };
    let mut mapped_end = plan.state.cleaned_upto;
    for view in plan.segments.iter().filter(|s| s.next_offset > plan.state.cleaned_upto) {
        if map.bytes >= settings.dedupe_buffer_bytes && mapped_end > plan.state.cleaned_upto {
            break;
        }
        for_each_batch(view, &dir, &mut throttle, &mut |bytes, header| map.add_batch(bytes, header))?;
        mapped_end = view.next_offset;
    }
    let horizon_due = plan.state.tombstone_horizon.is_some_and(|h| now_ms >= h);
    let to_clean: Vec<SegmentView> = plan
        .segments
        .iter()
        .filter(|s| s.base < mapped_end || (horizon_due && s.next_offset <= plan.state.cleaned_upto))
        .cloned()
        .collect();
    let mut stats = CleanStats {
        segments_before: to_clean.len(),
        bytes_before: to_clean.iter().map(|s| s.size).sum(),
        ..Default::default()
    };
    let new_state = CleanerState {
        cleaned_upto: mapped_end.max(plan.state.cleaned_upto),
        gaps_below: plan.state.gaps_below.max(mapped_end).max(to_clean.last().map_or(0, |s| s.next_offset)),
        tombstone_horizon: None,
    };
    // Recovery must accept the gaps before any cleaned segment is swapped in.
    if new_state.gaps_below > plan.state.gaps_below {
        let mut locked = log.lock();
        if locked.offline || locked.truncations != plan.truncations {
            return Ok(None);
        }
        locked.cleaner.gaps_below = locked.cleaner.gaps_below.max(new_state.gaps_below);
        locked.cleaner.persist(&dir)?;
    }

    let mut filter = FilterContext {
        map: &map,
        now_ms,
        delete_retention_ms: plan.delete_retention_ms,
        levels: plan.levels,
        producer_last_offsets: &plan.producer_last_offsets,
        min_horizon: None,
        records_removed: 0,
        txn_retained: HashMap::new(),
        marker_floor: plan.marker_floor,
        kept_markers: HashSet::new(),
        markers_removed: 0,
    };
    let cleaning_dir = dir.join(CLEANING_DIR);
    // Never create the partition directory itself: a deleted partition's is gone.
    match std::fs::create_dir(&cleaning_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e.into()),
        _ => {}
    }
    for group in group_segments(&to_clean, plan.segment_bytes) {
        let base = group[0].base;
        let out_path = cleaning_dir.join(file_name(base, "log"));
        let mut out = std::io::BufWriter::with_capacity(READ_CHUNK, File::create(&out_path)?);
        let mut changed = false;
        let mut written = 0u64;
        for view in &group {
            for_each_batch(view, &dir, &mut throttle, &mut |bytes, header| {
                let kept = match filter.filter(bytes, header)? {
                    Filtered::Unchanged => bytes.to_vec(),
                    Filtered::Removed => {
                        changed = true;
                        return Ok(());
                    }
                    Filtered::Rewritten(b) => {
                        changed = true;
                        b
                    }
                };
                out.write_all(&kept)?;
                written += kept.len() as u64;
                Ok(())
            })?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if !changed {
            drop(file);
            std::fs::remove_file(&out_path)?;
            stats.segments_after += group.len();
            stats.bytes_after += written;
            continue;
        }
        file.sync_all()?;
        drop(file);
        throttle.account(written as usize);
        // Index the new segment before taking the lock (a full CRC scan).
        let (segment, truncated) =
            Segment::open(&cleaning_dir, base, plan.index_interval_bytes, true, new_state.gaps_below, &mut |_| {})?;
        if truncated > 0 {
            return Err(StorageError::Corrupt {
                path: out_path.display().to_string(),
                reason: "cleaned segment failed its own check".into(),
            });
        }
        if swap_in(log, &dir, &group, segment, &out_path, &filter.kept_markers, plan.truncations)? {
            stats.segments_after += usize::from(written > 0);
            stats.bytes_after += written;
        } else {
            info!(dir = %dir.display(), base, "log changed under the cleaner (truncated or retention); pass abandoned");
            let _ = std::fs::remove_dir_all(&cleaning_dir);
            return Ok(None);
        }
    }
    let _ = std::fs::remove_dir_all(&cleaning_dir);
    stats.records_removed = filter.records_removed;
    stats.markers_removed = filter.markers_removed;
    stats.cleaned_upto = new_state.cleaned_upto;
    let mut locked = log.lock();
    if locked.offline || locked.truncations != plan.truncations {
        return Ok(None);
    }
    locked.cleaner.cleaned_upto = locked.cleaner.cleaned_upto.max(new_state.cleaned_upto);
    locked.cleaner.tombstone_horizon = filter.min_horizon;
    locked.cleaner.persist(&dir)?;
    Ok(Some(stats))
}

/// Replaces `group` by `segment` (already written and indexed under
/// `.cleaning/`), crash-safely. False if the log changed meanwhile
/// (truncated, deleted, retention). An IO error once the swap has begun
/// takes the log offline: only a restart, which finishes the swap from the
/// files, may touch it again.
fn swap_in(
    log: &Mutex<PartitionLog>,
    dir: &Path,
    group: &[SegmentView],
    segment: Segment,
    cleaned: &Path,
    kept_markers: &HashSet<i64>,
    truncations: u64,
) -> Result<bool> {
    let mut log = log.lock();
    if log.offline || log.truncations != truncations {
        return Ok(false);
    }
    let active = log.segments.keys().next_back().copied();
    let intact = group.iter().all(|v| {
        Some(v.base) != active
            && log.segments.get(&v.base).is_some_and(|s| Arc::ptr_eq(s.file(), &v.file) && s.size_bytes() == v.size)
    });
    if !intact {
        return Ok(false);
    }
    let base = group[0].base;
    let end = group.last().map_or(base, |v| v.next_offset);
    // The cleaned segment holds the group's kept markers: it takes their
    // aborted-transaction entries, and only theirs.
    let aborted: Vec<AbortedTxn> = group
        .iter()
        .filter_map(|v| log.segments.get(&v.base))
        .flat_map(|s| s.txn_index().entries().iter().copied())
        .filter(|t| kept_markers.contains(&t.last_offset))
        .collect();
    let txn_swap = dir.join(txn_swap_name(base, end));
    atomic_write(&txn_swap, &txn_index::encode_entries(&aborted))?;
    let swap = dir.join(swap_name(base, end));
    std::fs::rename(cleaned, &swap)?;
    let result = finish_swap(&mut log, dir, group, segment, (&swap, &txn_swap), aborted, base);
    if let Err(e) = &result {
        warn!(dir = %dir.display(), base, error = %e, "swapping in a cleaned segment failed; log offline until restart");
        log.offline = true;
    }
    result.map(|_| true)
}

fn finish_swap(
    log: &mut PartitionLog,
    dir: &Path,
    group: &[SegmentView],
    mut segment: Segment,
    (swap, txn_swap): (&Path, &Path),
    aborted: Vec<AbortedTxn>,
    base: i64,
) -> Result<()> {
    fsync_dir(dir)?;
    for v in group {
        if let Some(old) = log.segments.remove(&v.base) {
            old.delete_files()?;
        }
    }
    // The index before the log: see `compaction_state::finish_interrupted_swaps`.
    if aborted.is_empty() {
        std::fs::remove_file(txn_swap)?;
    } else {
        std::fs::rename(txn_swap, dir.join(file_name(base, "txnindex")))?;
    }
    // The log's first segment stays, even empty: compaction never moves the
    // log start offset (a restart derives it from the first segment).
    let first = log.segments.keys().next().is_none_or(|b| *b > base);
    if segment.is_empty() && !first {
        std::fs::remove_file(swap)?;
    } else {
        std::fs::rename(swap, dir.join(file_name(base, "log")))?;
        segment.move_to(dir);
        segment.txn_index_mut().adopt(aborted);
        segment.flush()?;
        log.segments.insert(base, segment);
    }
    fsync_dir(dir)?;
    Ok(())
}
