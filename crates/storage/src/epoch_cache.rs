//! Leader epoch cache of one partition: the start offset of each leader
//! epoch, persisted as `leader-epoch-checkpoint` (Kafka's format). Answers
//! OffsetForLeaderEpoch and, later, lets a new follower truncate divergent
//! history.

use std::path::PathBuf;

use crate::checkpoint;
use crate::error::{Result, StorageError};

pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

#[derive(Debug)]
pub struct LeaderEpochCache {
    path: PathBuf,
    /// (epoch, start offset), both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    pub fn load(path: PathBuf) -> Result<Self> {
        let mut entries = Vec::new();
        for fields in checkpoint::read_lines(&path)? {
            let parsed = match fields.as_slice() {
                [e, o] => e.parse().ok().zip(o.parse().ok()),
                _ => None,
            };
            entries.push(parsed.ok_or_else(|| StorageError::Corrupt {
                path: path.display().to_string(),
                reason: "bad epoch line".into(),
            })?);
        }
        Ok(LeaderEpochCache { path, entries })
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// Records that `epoch` starts at `start_offset`, if it is newer. Returns
    /// whether the cache changed (the caller persists it).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || self.latest_epoch().is_some_and(|e| e >= epoch) {
            return false;
        }
        self.entries.push((epoch, start_offset));
        true
    }

    /// Removes epochs starting at or after `offset`.
    pub fn truncate_from_end(&mut self, offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start < offset);
        before != self.entries.len()
    }

    /// Kafka's OffsetForLeaderEpoch answer: the largest epoch ≤ `epoch` and
    /// the offset where the next epoch starts (or `log_end_offset`).
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> (i32, i64) {
        match self.entries.iter().rposition(|(e, _)| *e <= epoch) {
            None => (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
            Some(i) => {
                let end = self.entries.get(i + 1).map_or(log_end_offset, |(_, start)| *start);
                (self.entries[i].0, end)
            }
        }
    }

    pub fn persist(&self) -> Result<()> {
        let lines: Vec<String> = self.entries.iter().map(|(e, o)| format!("{e} {o}")).collect();
        checkpoint::write_lines(&self.path, &lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path().join("leader-epoch-checkpoint")).unwrap();
        assert!(cache.assign(0, 0));
        assert!(!cache.assign(0, 5));
        assert!(cache.assign(2, 10));
        assert_eq!(cache.end_offset_for(0, 20), (0, 10));
        assert_eq!(cache.end_offset_for(1, 20), (0, 10));
        assert_eq!(cache.end_offset_for(2, 20), (2, 20));
        cache.persist().unwrap();
        let loaded = LeaderEpochCache::load(dir.path().join("leader-epoch-checkpoint")).unwrap();
        assert_eq!(loaded.entries(), &[(0, 0), (2, 10)]);
        cache.truncate_from_end(10);
        assert_eq!(cache.latest_epoch(), Some(0));
    }
}
