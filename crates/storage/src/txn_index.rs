//! A segment's aborted-transaction index, in Kafka's `.txnindex` format:
//! one 34-byte entry per transaction aborted by a marker in this segment,
//! all big-endian:
//! ```text
//! i16 version=0, i64 producer id, i64 first offset, i64 last offset (the marker),
//! i64 last stable offset (after the abort)
//! ```
//! A read_committed fetch collects the entries overlapping the range it
//! serves, so the client can drop the aborted records. The entries are
//! kept in memory too (an abort is rare next to the data it covers); the
//! file is appended as markers are, and rewritten on truncation.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::file_io::atomic_write;

const ENTRY_BYTES: usize = 34;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.first_offset.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.last_stable_offset.to_be_bytes());
    }

    fn decode(b: &[u8]) -> AbortedTxn {
        let i64_at = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().unwrap());
        AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        }
    }
}

#[derive(Debug)]
pub struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
    /// Open for appends once the first entry is written.
    file: Option<File>,
}

impl TxnIndex {
    /// The index at `path`, loaded if the file exists. A torn last entry
    /// (a crash mid-write) is dropped; replaying the log re-adds it.
    pub fn load(path: PathBuf) -> Result<TxnIndex> {
        let entries = match std::fs::read(&path) {
            Ok(data) => data.chunks_exact(ENTRY_BYTES).map(AbortedTxn::decode).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(TxnIndex { path, entries, file: None })
    }

    pub fn empty(path: PathBuf) -> TxnIndex {
        TxnIndex { path, entries: Vec::new(), file: None }
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub fn append(&mut self, txn: AbortedTxn) -> Result<()> {
        if self.file.is_none() {
            self.file = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        let mut buf = Vec::with_capacity(ENTRY_BYTES);
        txn.encode(&mut buf);
        self.file.as_mut().expect("opened above").write_all(&buf)?;
        self.entries.push(txn);
        Ok(())
    }

    /// Takes `entries` as already written to this index's file (a cleaned
    /// segment's index, installed by the swap).
    pub fn adopt(&mut self, entries: Vec<AbortedTxn>) {
        self.entries = entries;
        self.file = None;
    }

    /// Drops the entries of markers at or after `offset` (log truncation,
    /// or a replay from `offset` that will add them again).
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|t| t.last_offset < offset);
        if self.entries.len() != before {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Adds the entries overlapping [`start`, `upper`) to `out`.
    pub fn collect(&self, start: i64, upper: i64, out: &mut Vec<AbortedTxn>) {
        out.extend(self.entries.iter().filter(|t| t.last_offset >= start && t.first_offset < upper));
    }

    pub fn flush(&mut self) -> Result<()> {
        if let Some(file) = &self.file {
            file.sync_data()?;
        }
        Ok(())
    }

    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
        self.file = None;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rewrite(&mut self) -> Result<()> {
        self.file = None;
        if self.entries.is_empty() {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(());
        }
        Ok(atomic_write(&self.path, &encode_entries(&self.entries))?)
    }
}

/// The file contents of an index holding `entries`.
pub fn encode_entries(entries: &[AbortedTxn]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for t in entries {
        t.encode(&mut buf);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn { producer_id: pid, first_offset: first, last_offset: last, last_stable_offset: last + 1 }
    }

    #[test]
    fn append_load_collect_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut index = TxnIndex::empty(path.clone());
        index.append(txn(1, 0, 5)).unwrap();
        index.append(txn(2, 3, 9)).unwrap();
        index.append(txn(3, 10, 12)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * ENTRY_BYTES as u64);
        let loaded = TxnIndex::load(path.clone()).unwrap();
        assert_eq!(loaded.entries(), index.entries());
        let mut out = Vec::new();
        loaded.collect(6, 11, &mut out);
        assert_eq!(out, vec![txn(2, 3, 9), txn(3, 10, 12)]);
        index.truncate_to(9).unwrap();
        assert_eq!(TxnIndex::load(path.clone()).unwrap().entries(), &[txn(1, 0, 5)]);
        index.append(txn(4, 6, 7)).unwrap();
        assert_eq!(TxnIndex::load(path.clone()).unwrap().entries().len(), 2);
        index.truncate_to(0).unwrap();
        assert!(!path.exists());
        // A torn entry is dropped.
        std::fs::write(&path, [0u8; ENTRY_BYTES + 5]).unwrap();
        assert_eq!(TxnIndex::load(path).unwrap().entries().len(), 1);
    }
}
