//! Sparse indexes of one segment, kept in memory and persisted as Kafka's
//! files. Indexes are derived data: after an unclean shutdown, or if a file
//! fails its sanity check, they are rebuilt from the log.
//!
//! `.index` entries, 8 bytes: relative offset u32 BE, file position u32 BE.
//! `.timeindex` entries, 12 bytes: max timestamp so far i64 BE, relative offset u32 BE.
//! Both are strictly increasing in offset (and timestamp) order.
//!
//! Not thread-safe by itself; owned by a `Segment` under its partition lock.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::Result;

/// A persisted array of fixed-size entries with an in-memory copy.
#[derive(Debug)]
struct EntryFile<T> {
    path: PathBuf,
    entries: Vec<T>,
    persisted: usize,
}

trait Entry: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Self;
}

impl<T: Entry> EntryFile<T> {
    fn load(path: PathBuf) -> Result<Option<Self>> {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if data.len() % T::SIZE != 0 {
            return Ok(None);
        }
        let entries: Vec<T> = data.chunks_exact(T::SIZE).map(T::decode).collect();
        let persisted = entries.len();
        Ok(Some(EntryFile { path, entries, persisted }))
    }

    fn empty(path: PathBuf) -> Self {
        EntryFile { path, entries: Vec::new(), persisted: 0 }
    }

    fn flush(&mut self) -> Result<()> {
        let file = OpenOptions::new().create(true).write(true).truncate(false).open(&self.path)?;
        if self.persisted < self.entries.len() {
            let mut buf = Vec::with_capacity((self.entries.len() - self.persisted) * T::SIZE);
            for e in &self.entries[self.persisted..] {
                e.encode(&mut buf);
            }
            file.write_all_at(&buf, (self.persisted * T::SIZE) as u64)?;
        }
        file.set_len((self.entries.len() * T::SIZE) as u64)?;
        file.sync_data()?;
        self.persisted = self.entries.len();
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
        self.persisted = self.persisted.min(len);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes(b[0..4].try_into().unwrap()),
            position: u32::from_be_bytes(b[4..8].try_into().unwrap()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        TimeEntry {
            timestamp: i64::from_be_bytes(b[0..8].try_into().unwrap()),
            relative_offset: u32::from_be_bytes(b[8..12].try_into().unwrap()),
        }
    }
}

/// Sparse map from offset to file position within one segment.
#[derive(Debug)]
pub struct OffsetIndex {
    inner: EntryFile<OffsetEntry>,
}

impl OffsetIndex {
    pub fn empty(path: PathBuf) -> Self {
        OffsetIndex { inner: EntryFile::empty(path) }
    }

    /// Loads the index file if it exists and is consistent with a segment of
    /// `segment_size` bytes; `None` means "rebuild it".
    pub fn load(path: PathBuf, segment_size: u64) -> Result<Option<Self>> {
        let Some(inner) = EntryFile::<OffsetEntry>::load(path)? else {
            return Ok(None);
        };
        let ordered = inner
            .entries
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position);
        let in_bounds = inner.entries.last().is_none_or(|e| (e.position as u64) < segment_size);
        Ok((ordered && in_bounds).then_some(OffsetIndex { inner }))
    }

    pub fn append(&mut self, relative_offset: u32, position: u32) {
        if let Some(last) = self.inner.entries.last() {
            if last.relative_offset >= relative_offset {
                return;
            }
        }
        self.inner.entries.push(OffsetEntry { relative_offset, position });
    }

    /// The last entry whose offset is ≤ `relative_offset`: where to start scanning.
    pub fn lookup(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let entries = &self.inner.entries;
        let idx = entries.partition_point(|e| e.relative_offset <= relative_offset);
        (idx > 0).then(|| entries[idx - 1])
    }

    pub fn last(&self) -> Option<OffsetEntry> {
        self.inner.entries.last().copied()
    }

    /// Drops entries at or beyond file `position` (used when truncating a segment).
    pub fn truncate_to_position(&mut self, position: u32) {
        let keep = self.inner.entries.partition_point(|e| e.position < position);
        self.inner.truncate(keep);
    }

    pub fn clear(&mut self) {
        self.inner.truncate(0);
    }

    pub fn len(&self) -> usize {
        self.inner.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.entries.is_empty()
    }

    pub fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    /// Points the index at a new file (its segment moved); written on the next flush.
    pub fn set_path(&mut self, path: PathBuf) {
        self.inner.path = path;
        self.inner.persisted = 0;
    }
}

/// Sparse map from timestamp to offset within one segment.
#[derive(Debug)]
pub struct TimeIndex {
    inner: EntryFile<TimeEntry>,
}

impl TimeIndex {
    pub fn empty(path: PathBuf) -> Self {
        TimeIndex { inner: EntryFile::empty(path) }
    }

    pub fn load(path: PathBuf) -> Result<Option<Self>> {
        let Some(inner) = EntryFile::<TimeEntry>::load(path)? else {
            return Ok(None);
        };
        let ordered = inner
            .entries
            .windows(2)
            .all(|w| w[0].timestamp < w[1].timestamp && w[0].relative_offset < w[1].relative_offset);
        Ok(ordered.then_some(TimeIndex { inner }))
    }

    /// Records that offsets from `relative_offset` on have timestamps ≥ `timestamp`
    /// only if it raises the maximum seen so far.
    pub fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        if let Some(last) = self.inner.entries.last() {
            if timestamp <= last.timestamp || relative_offset <= last.relative_offset {
                return;
            }
        }
        self.inner.entries.push(TimeEntry { timestamp, relative_offset });
    }

    /// The last entry with timestamp < `timestamp`: batches before its offset
    /// cannot hold a record at or after `timestamp`.
    pub fn lookup(&self, timestamp: i64) -> Option<TimeEntry> {
        let entries = &self.inner.entries;
        let idx = entries.partition_point(|e| e.timestamp < timestamp);
        (idx > 0).then(|| entries[idx - 1])
    }

    pub fn truncate_to_offset(&mut self, relative_offset: u32) {
        let keep = self.inner.entries.partition_point(|e| e.relative_offset < relative_offset);
        self.inner.truncate(keep);
    }

    pub fn clear(&mut self) {
        self.inner.truncate(0);
    }

    pub fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    /// Points the index at a new file (its segment moved); written on the next flush.
    pub fn set_path(&mut self, path: PathBuf) {
        self.inner.path = path;
        self.inner.persisted = 0;
    }
}

/// Opens (creating if needed) a file for reading and positioned writing.
pub fn open_rw(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).read(true).write(true).truncate(false).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::empty(path.clone());
        index.append(0, 0);
        index.append(10, 4096);
        index.append(20, 8192);
        index.append(20, 9000); // not increasing: ignored
        assert_eq!(index.lookup(0).unwrap().position, 0);
        assert_eq!(index.lookup(15).unwrap().position, 4096);
        assert_eq!(index.lookup(25).unwrap().position, 8192);
        index.flush().unwrap();
        let loaded = OffsetIndex::load(path.clone(), 10_000).unwrap().unwrap();
        assert_eq!(loaded.len(), 3);
        assert!(OffsetIndex::load(path, 100).unwrap().is_none(), "position beyond segment size");
    }

    #[test]
    fn offset_truncate_rewrites_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::empty(path.clone());
        for i in 0..5 {
            index.append(i * 10, i * 100);
        }
        index.flush().unwrap();
        index.truncate_to_position(250);
        index.flush().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * 8);
    }

    #[test]
    fn time_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TimeIndex::empty(dir.path().join("0.timeindex"));
        index.maybe_append(100, 0);
        index.maybe_append(90, 5); // not a new maximum
        index.maybe_append(200, 10);
        assert!(index.lookup(100).is_none());
        assert_eq!(index.lookup(150).unwrap().relative_offset, 0);
        assert_eq!(index.lookup(201).unwrap().relative_offset, 10);
    }
}
