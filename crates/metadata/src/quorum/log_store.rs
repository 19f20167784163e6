//! The Raft log of the metadata quorum, on disk in the metadata directory:
//!
//! ```text
//! raft.log         entries, appended: [u32 length][u32 crc32c][json entry]
//! raft-state.json  the vote and the last purged log id (temp file, fsync, rename)
//! ```
//! Every append and vote is fsync'd before openraft is told it is durable,
//! so a node never forgets a vote it cast or an entry it acknowledged.
//! Entries live in memory too (the log is bounded by snapshots: entries up
//! to the last snapshot are purged and the file rewritten).
//! A torn or corrupt tail (crash mid-append) is cut at the last whole entry.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, StorageError, StorageIOError, Vote};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::TypeConfig;

const LOG_FILE: &str = "raft.log";
const STATE_FILE: &str = "raft-state.json";

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct PersistentState {
    vote: Option<Vote<u64>>,
    purged: Option<LogId<u64>>,
}

struct Inner {
    dir: PathBuf,
    file: File,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    state: PersistentState,
}

/// Shared handle: the store and its readers see the same entries.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn io_error(verb: fn(AnyError) -> StorageIOError<u64>, e: impl std::error::Error + 'static) -> StorageError<u64> {
    verb(AnyError::new(&e)).into()
}

fn encode(entry: &Entry<TypeConfig>, out: &mut Vec<u8>) {
    let json = serde_json::to_vec(entry).expect("entries serialize");
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&json).to_be_bytes());
    out.extend_from_slice(&json);
}

/// Writes `bytes` to `dir/name` via a temp file, fsync, rename, dir fsync.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

impl LogStore {
    pub fn open(dir: &Path) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let state: PersistentState = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{STATE_FILE}: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PersistentState::default(),
            Err(e) => return Err(e),
        };
        let path = dir.join(LOG_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut entries = BTreeMap::new();
        let mut pos = 0usize;
        let corrupt = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        while pos + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
            let crc = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().unwrap());
            // A record running past the end is a torn append: cut it.
            let Some(json) = bytes.get(pos + 8..pos + 8 + len) else { break };
            if crc32c::crc32c(json) != crc {
                // Only the last record may be torn; damage before acknowledged
                // entries must not silently drop them (Raft relies on them).
                if pos + 8 + len == bytes.len() {
                    break;
                }
                return Err(corrupt(format!("{LOG_FILE}: bad checksum at byte {pos}, with entries after it")));
            }
            let entry = serde_json::from_slice::<Entry<TypeConfig>>(json)
                .map_err(|e| corrupt(format!("{LOG_FILE}: undecodable entry at byte {pos}: {e}")))?;
            entries.insert(entry.log_id.index, entry);
            pos += 8 + len;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if pos < bytes.len() {
            warn!(path = %path.display(), valid = pos, len = bytes.len(), "metadata raft log ends in a torn or corrupt entry; truncating");
            file.set_len(pos as u64)?;
            file.sync_all()?;
        }
        if let Some(purged) = state.purged {
            entries.retain(|i, _| *i > purged.index);
        }
        Ok(LogStore { inner: Arc::new(Mutex::new(Inner { dir: dir.to_path_buf(), file, entries, state })) })
    }

    /// True when this node has never taken part in a quorum.
    pub fn is_empty(&self) -> bool {
        let inner = self.inner.lock();
        inner.entries.is_empty() && inner.state.purged.is_none() && inner.state.vote.is_none()
    }

    /// Appends and fsyncs `entries`; they are readable once this returns Ok.
    fn write_entries(&self, entries: impl IntoIterator<Item = Entry<TypeConfig>>) -> std::io::Result<()> {
        let mut inner = self.inner.lock();
        let mut buf = Vec::new();
        let mut new = Vec::new();
        for e in entries {
            encode(&e, &mut buf);
            new.push(e);
        }
        inner.file.write_all(&buf)?;
        inner.file.sync_data()?;
        for e in new {
            inner.entries.insert(e.log_id.index, e);
        }
        Ok(())
    }

    /// Size of the log file in bytes.
    pub fn file_len(&self) -> u64 {
        self.inner.lock().file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    /// The voter ids of the newest membership entry still in the log.
    pub fn last_membership_voters(&self) -> Option<Vec<u64>> {
        let inner = self.inner.lock();
        inner.entries.values().rev().find_map(|e| match &e.payload {
            openraft::EntryPayload::Membership(m) => Some(m.voter_ids().collect()),
            _ => None,
        })
    }
}

impl Inner {
    fn save_state(&self) -> std::io::Result<()> {
        write_atomically(&self.dir, STATE_FILE, &serde_json::to_vec(&self.state).expect("state serializes"))
    }

    /// Rewrites the log file with the entries in memory (after truncate or purge).
    fn rewrite(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for e in self.entries.values() {
            encode(e, &mut buf);
        }
        write_atomically(&self.dir, LOG_FILE, &buf)?;
        self.file = OpenOptions::new().append(true).open(self.dir.join(LOG_FILE))?;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        Ok(self.inner.lock().entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.inner.lock();
        let last = inner.entries.values().next_back().map(|e| e.log_id).or(inner.state.purged);
        Ok(LogState { last_purged_log_id: inner.state.purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock();
        inner.state.vote = Some(*vote);
        inner.save_state().map_err(|e| io_error(StorageIOError::write_vote, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.inner.lock().state.vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        match self.write_entries(entries) {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = io_error(StorageIOError::write_logs, std::io::Error::new(e.kind(), e.to_string()));
                callback.log_io_completed(Err(e));
                Err(err)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock();
        inner.entries.retain(|i, _| *i < log_id.index);
        inner.rewrite().map_err(|e| io_error(StorageIOError::write_logs, e))
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock();
        // Record the purge first: a crash before the rewrite leaves stale
        // entries in the file, which open() drops.
        inner.state.purged = Some(log_id);
        inner.save_state().map_err(|e| io_error(StorageIOError::write_logs, e))?;
        inner.entries.retain(|i, _| *i > log_id.index);
        inner.rewrite().map_err(|e| io_error(StorageIOError::write_logs, e))
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::{StoreBuilder, Suite};
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::quorum::state_machine::StateMachine;
    use crate::records::MetadataRecord;

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
            let dir = tempfile::tempdir().expect("tempdir");
            let log = LogStore::open(dir.path()).expect("log store");
            let sm = StateMachine::open(dir.path(), None).expect("state machine");
            Ok((dir, log, sm))
        }
    }

    /// openraft's own conformance suite for log storage and state machines.
    #[test]
    fn openraft_storage_suite() {
        Suite::test_all(Builder).unwrap();
    }

    fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(vec![MetadataRecord::BrokerConfig {
                name: format!("k{index}"),
                value: Some("v".into()),
            }]),
        }
    }

    #[tokio::test]
    async fn survives_reopen_torn_tail_truncate_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open(dir.path()).unwrap();
        assert!(store.is_empty());
        store.write_entries((1..=5).map(|i| entry(1, i))).unwrap();
        store.save_vote(&Vote::new(1, 1)).await.unwrap();
        drop(store);

        // A torn append after the good entries is cut away on open.
        let mut f = OpenOptions::new().append(true).open(dir.path().join(LOG_FILE)).unwrap();
        f.write_all(&[0, 0, 0, 50, 1, 2, 3]).unwrap();
        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(1, 1)));
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id.map(|l| l.index), Some(5));

        // Conflict truncation and purge are durable too.
        store.truncate(LogId::new(CommittedLeaderId::new(1, 1), 4)).await.unwrap();
        store.write_entries([entry(2, 4)]).unwrap();
        store.purge(LogId::new(CommittedLeaderId::new(1, 1), 2)).await.unwrap();
        drop(store);
        let mut store = LogStore::open(dir.path()).unwrap();
        let entries = store.try_get_log_entries(0..100).await.unwrap();
        let ids: Vec<(u64, u64)> = entries.iter().map(|e| (e.log_id.leader_id.term, e.log_id.index)).collect();
        assert_eq!(ids, vec![(1, 3), (2, 4)]);
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(2));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(4));
        drop(store);

        // Damage before the last entry is not a torn append: refuse to open
        // rather than silently forget acknowledged entries.
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[12] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(LogStore::open(dir.path()).is_err());
    }
}
