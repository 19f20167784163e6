//! The quorum's state machine: the [`MetadataImage`], built by applying
//! committed entries in order. Every applied batch publishes a new image
//! (brokers on this node watch it) and is kept in a bounded ring of recent
//! entries, from which broker-only nodes fetch what they miss. Snapshots are
//! the image's records ([`MetadataImage::to_records`]), written to
//! `snapshot.json` in the metadata directory; a restart starts from there.

use std::collections::VecDeque;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::info;

use super::log_store::write_atomically;
use super::TypeConfig;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

const SNAPSHOT_FILE: &str = "snapshot.json";
/// Entries kept for broker-only nodes that fetch increments.
const RECENT_ENTRIES: usize = 4096;

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<u64, openraft::BasicNode>,
    records: Vec<MetadataRecord>,
}

/// What a broker that has applied up to `after` needs next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MetadataUpdate {
    /// Nothing new.
    UpToDate,
    /// Entries after `after`, in order: (log index, records).
    Entries(Vec<(i64, Vec<MetadataRecord>)>),
    /// The whole image as records, at `last_offset`.
    Snapshot { last_offset: i64, records: Vec<MetadataRecord> },
}

pub(crate) struct Inner {
    dir: PathBuf,
    image: Arc<MetadataImage>,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, openraft::BasicNode>,
    recent: VecDeque<(i64, Vec<MetadataRecord>)>,
    snapshot: Option<(SnapshotMeta<u64, openraft::BasicNode>, Vec<u8>)>,
    publish: watch::Sender<Arc<MetadataImage>>,
}

#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
}

fn sm_error(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

impl StateMachine {
    /// Opens the state machine at its last snapshot, or at `base` (an image
    /// imported from a single-node metadata log) when there is none.
    pub fn open(dir: &Path, base: Option<MetadataImage>) -> std::io::Result<StateMachine> {
        let (image, last_applied, membership, snapshot) = match std::fs::read(dir.join(SNAPSHOT_FILE)) {
            Ok(bytes) => {
                let file: SnapshotFile = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{SNAPSHOT_FILE}: {e}"))
                })?;
                let last = file.meta.last_log_id.map_or(-1, |l| l.index as i64);
                let image = MetadataImage::from_records(&file.records, last);
                info!(last_offset = last, records = file.records.len(), "loaded metadata snapshot");
                (image, file.meta.last_log_id, file.meta.last_membership.clone(), Some((file.meta, bytes)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let image = base.unwrap_or_else(|| MetadataImage { last_offset: -1, ..Default::default() });
                (image, None, StoredMembership::default(), None)
            }
            Err(e) => return Err(e),
        };
        let image = Arc::new(image);
        let (publish, _) = watch::channel(image.clone());
        Ok(StateMachine {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                image,
                last_applied,
                membership,
                recent: VecDeque::new(),
                snapshot,
                publish,
            })),
        })
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.inner.lock().image.clone()
    }

    pub fn watch(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.inner.lock().publish.subscribe()
    }

    /// Voters of the membership in the snapshot or applied log.
    pub fn membership_voters(&self) -> Vec<u64> {
        self.inner.lock().membership.membership().voter_ids().collect()
    }

    /// What a follower at `after` is missing.
    pub fn update_since(&self, after: i64) -> MetadataUpdate {
        let inner = self.inner.lock();
        if after >= inner.image.last_offset {
            return MetadataUpdate::UpToDate;
        }
        match inner.recent.front() {
            // A follower with nothing (after < 0) takes the whole image: it
            // may rest on a base that no entry carries (an upgraded log).
            Some((first, _)) if after >= 0 && *first <= after + 1 => {
                MetadataUpdate::Entries(inner.recent.iter().filter(|(i, _)| *i > after).cloned().collect())
            }
            _ => MetadataUpdate::Snapshot { last_offset: inner.image.last_offset, records: inner.image.to_records() },
        }
    }

    #[allow(clippy::result_large_err)] // openraft's error type
    fn save_snapshot(
        inner: &mut Inner,
        meta: SnapshotMeta<u64, openraft::BasicNode>,
        records: Vec<MetadataRecord>,
    ) -> Result<Vec<u8>, StorageError<u64>> {
        let bytes = serde_json::to_vec(&SnapshotFile { meta: meta.clone(), records }).map_err(sm_error)?;
        write_atomically(&inner.dir, SNAPSHOT_FILE, &bytes).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e)))
        })?;
        inner.snapshot = Some((meta, bytes.clone()));
        Ok(bytes)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let mut inner = self.inner.lock();
        let records = inner.image.to_records();
        let snapshot_id = format!(
            "{}-{}",
            inner.last_applied.map_or(0, |l| l.leader_id.term),
            inner.last_applied.map_or(0, |l| l.index)
        );
        let meta =
            SnapshotMeta { last_log_id: inner.last_applied, last_membership: inner.membership.clone(), snapshot_id };
        let bytes = StateMachine::save_snapshot(&mut inner, meta.clone(), records)?;
        info!(last_offset = inner.image.last_offset, bytes = bytes.len(), "wrote metadata snapshot");
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, openraft::BasicNode>), StorageError<u64>> {
        let inner = self.inner.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock();
        let mut image = (*inner.image).clone();
        let mut out = Vec::new();
        for entry in entries {
            let index = entry.log_id.index as i64;
            let records = match entry.payload {
                EntryPayload::Normal(records) => records,
                EntryPayload::Membership(m) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), m);
                    Vec::new()
                }
                EntryPayload::Blank => Vec::new(),
            };
            for r in &records {
                image.apply(r);
            }
            image.last_offset = index;
            inner.last_applied = Some(entry.log_id);
            inner.recent.push_back((index, records));
            if inner.recent.len() > RECENT_ENTRIES {
                inner.recent.pop_front();
            }
            out.push(());
        }
        let image = Arc::new(image);
        inner.image = image.clone();
        inner.publish.send_replace(image);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let file: SnapshotFile = serde_json::from_slice(snapshot.get_ref()).map_err(sm_error)?;
        let mut inner = self.inner.lock();
        let last = meta.last_log_id.map_or(-1, |l| l.index as i64);
        let image = Arc::new(MetadataImage::from_records(&file.records, last));
        inner.image = image.clone();
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.recent.clear();
        StateMachine::save_snapshot(&mut inner, meta.clone(), file.records)?;
        inner.publish.send_replace(image);
        info!(last_offset = last, "installed metadata snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let inner = self.inner.lock();
        Ok(inner
            .snapshot
            .as_ref()
            .map(|(meta, bytes)| Snapshot { meta: meta.clone(), snapshot: Box::new(Cursor::new(bytes.clone())) }))
    }
}
