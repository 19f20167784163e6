//! All partition logs of this broker across its `log.dirs`: opening them at
//! startup (with recovery after an unclean shutdown), creating and deleting
//! them, and the per-directory checkpoint files (recovery point, log start,
//! high watermark) and clean-shutdown marker.
//!
//! Thread-safe: the map of logs is behind a read-write lock that is held only
//! to look a log up; each log has its own mutex, so partitions never contend.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::file_io::{atomic_write, fsync_dir};
use crate::partition_log::PartitionLog;

pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
/// Kafka's name for the high-watermark checkpoint.
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// The metadata log's directory (`__cluster_metadata-0`) is not a partition log.
pub const METADATA_DIR_PREFIX: &str = "__cluster_metadata";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
    fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
    fn from_dir_name(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        let partition: i32 = partition.parse().ok()?;
        (!topic.is_empty() && partition >= 0).then(|| TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

pub type SharedLog = Arc<Mutex<PartitionLog>>;

struct LogEntry {
    log: SharedLog,
    log_dir: PathBuf,
    topic_id: Option<[u8; 16]>,
}

pub struct LogManager {
    dirs: Vec<PathBuf>,
    logs: RwLock<HashMap<TopicPartition, LogEntry>>,
    /// Serializes checkpoint writers: they share the temp file names.
    checkpoint_lock: Mutex<()>,
}

/// One log's checkpointed offsets, read under its lock at once.
struct Offsets {
    recovery_point: i64,
    log_start: i64,
    high_watermark: i64,
}

/// A log found on disk at startup, for the broker to reconcile with metadata.
#[derive(Debug, Clone)]
pub struct LoadedLog {
    pub partition: TopicPartition,
    pub topic_id: Option<[u8; 16]>,
}

/// A checkpoint's `topic partition offset` entries by partition; a file
/// that does not parse counts as absent (with a warning naming `what`).
fn read_checkpoint(path: &Path, what: &str) -> HashMap<(String, i32), i64> {
    checkpoint::read_offsets(path)
        .unwrap_or_else(|e| {
            warn!(path = %path.display(), error = %e, "ignoring unreadable {what} checkpoint");
            Vec::new()
        })
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect()
}

fn read_topic_id(dir: &Path) -> Option<[u8; 16]> {
    let text = std::fs::read_to_string(dir.join(PARTITION_METADATA_FILE)).ok()?;
    let hex = text.lines().find_map(|l| l.strip_prefix("topic_id: "))?;
    let id = uuid::Uuid::parse_str(hex.trim()).ok()?;
    Some(*id.as_bytes())
}

impl LogManager {
    /// Opens every partition directory under `dirs`. `config_for` gives the
    /// effective config of a topic. Logs are recovered if the directory was
    /// not shut down cleanly. Each log's high watermark is its checkpointed
    /// one, capped at its log end (recovery may have cut a torn tail below
    /// it); with no checkpoint entry (or an unreadable file), its log start:
    /// only the replication layer may then raise it.
    pub fn open(dirs: Vec<PathBuf>, config_for: &dyn Fn(&str) -> LogConfig) -> Result<(LogManager, Vec<LoadedLog>)> {
        let mut logs = HashMap::new();
        let mut loaded = Vec::new();
        for dir in &dirs {
            std::fs::create_dir_all(dir)?;
            let marker = dir.join(CLEAN_SHUTDOWN_FILE);
            let clean = marker.exists();
            // Unreadable recovery points: every segment is recovered.
            let recovery_points = read_checkpoint(&dir.join(RECOVERY_POINT_FILE), "recovery point");
            let log_starts = read_checkpoint(&dir.join(LOG_START_FILE), "log start offset");
            let high_watermarks = read_checkpoint(&dir.join(HIGH_WATERMARK_FILE), "high watermark");
            info!(dir = %dir.display(), clean_shutdown = clean, "loading logs");
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().to_string();
                if !entry.file_type()?.is_dir() || name.starts_with(METADATA_DIR_PREFIX) {
                    continue;
                }
                if name.ends_with("-delete") {
                    std::fs::remove_dir_all(entry.path())?;
                    continue;
                }
                let Some(tp) = TopicPartition::from_dir_name(&name) else {
                    continue;
                };
                let key = (tp.topic.clone(), tp.partition);
                let mut log = PartitionLog::open(
                    &entry.path(),
                    config_for(&tp.topic),
                    recovery_points.get(&key).copied(),
                    log_starts.get(&key).copied(),
                    clean,
                )?;
                // Opened at its log start; clamped to [log start, log end].
                if let Some(hw) = high_watermarks.get(&key) {
                    log.set_high_watermark(*hw);
                }
                let topic_id = read_topic_id(&entry.path());
                loaded.push(LoadedLog { partition: tp.clone(), topic_id });
                logs.insert(tp, LogEntry { log: Arc::new(Mutex::new(log)), log_dir: dir.clone(), topic_id });
            }
            if clean {
                std::fs::remove_file(&marker)?;
                fsync_dir(dir)?;
            }
        }
        let manager = LogManager { dirs, logs: RwLock::new(logs), checkpoint_lock: Mutex::new(()) };
        manager.checkpoint()?;
        Ok((manager, loaded))
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<SharedLog> {
        self.logs.read().get(tp).map(|e| e.log.clone())
    }

    /// Returns the log, creating an empty one (in the least-used dir) if needed.
    pub fn get_or_create(&self, tp: &TopicPartition, topic_id: [u8; 16], config: LogConfig) -> Result<SharedLog> {
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        let mut logs = self.logs.write();
        if let Some(e) = logs.get(tp) {
            return Ok(e.log.clone());
        }
        let log_dir = self
            .dirs
            .iter()
            .min_by_key(|d| logs.values().filter(|e| &e.log_dir == *d).count())
            .cloned()
            .ok_or_else(|| StorageError::Corrupt { path: String::new(), reason: "no log.dirs".into() })?;
        let dir = log_dir.join(tp.dir_name());
        std::fs::create_dir_all(&dir)?;
        let id = uuid::Uuid::from_bytes(topic_id);
        atomic_write(&dir.join(PARTITION_METADATA_FILE), format!("version: 0\ntopic_id: {id}\n").as_bytes())?;
        fsync_dir(&log_dir)?;
        let log = Arc::new(Mutex::new(PartitionLog::open(&dir, config, Some(0), None, false)?));
        logs.insert(tp.clone(), LogEntry { log: log.clone(), log_dir, topic_id: Some(topic_id) });
        Ok(log)
    }

    /// Deletes a partition's log: renamed out of the way first, so a crash
    /// mid-delete leaves a `-delete` directory that the next start removes.
    /// The checkpoints are rewritten without it, so a log created again
    /// under the same name never inherits its offsets after a crash.
    pub fn delete(&self, tp: &TopicPartition) -> Result<()> {
        let Some(entry) = self.logs.write().remove(tp) else {
            return Ok(());
        };
        let dir = {
            let mut log = entry.log.lock();
            log.mark_deleted();
            log.dir().to_path_buf()
        };
        let doomed = entry.log_dir.join(format!("{}.{}-delete", tp.dir_name(), uuid::Uuid::new_v4().simple()));
        std::fs::rename(&dir, &doomed)?;
        fsync_dir(&entry.log_dir)?;
        std::fs::remove_dir_all(&doomed)?;
        if let Err(e) = self.checkpoint() {
            // The log is gone; the next periodic checkpoint drops its entries.
            warn!(partition = %tp, error = %e, "checkpoint after deleting a log failed");
        }
        Ok(())
    }

    pub fn topic_id(&self, tp: &TopicPartition) -> Option<[u8; 16]> {
        self.logs.read().get(tp).and_then(|e| e.topic_id)
    }

    pub fn all(&self) -> Vec<(TopicPartition, SharedLog)> {
        self.logs.read().iter().map(|(tp, e)| (tp.clone(), e.log.clone())).collect()
    }

    /// Writes each dir's recovery-point, log-start and high-watermark
    /// checkpoints (each atomically: temp file, fsync, rename, dir fsync).
    pub fn checkpoint(&self) -> Result<()> {
        self.write_checkpoints(&[
            (RECOVERY_POINT_FILE, |o| o.recovery_point),
            (LOG_START_FILE, |o| o.log_start),
            (HIGH_WATERMARK_FILE, |o| o.high_watermark),
        ])
    }

    /// Writes each dir's high-watermark checkpoint only (Kafka's
    /// `replica.high.watermark.checkpoint.interval.ms`, more often than the
    /// others: a restarted leader serves what it checkpointed).
    pub fn checkpoint_high_watermarks(&self) -> Result<()> {
        self.write_checkpoints(&[(HIGH_WATERMARK_FILE, |o| o.high_watermark)])
    }

    /// Writes the named checkpoint files of every dir, each from one field
    /// of a consistent snapshot of the logs' offsets.
    fn write_checkpoints(&self, files: &[(&str, fn(&Offsets) -> i64)]) -> Result<()> {
        let _guard = self.checkpoint_lock.lock();
        let snapshot: Vec<(PathBuf, TopicPartition, Offsets)> = self
            .logs
            .read()
            .iter()
            .map(|(tp, e)| {
                let log = e.log.lock();
                let offsets = Offsets {
                    recovery_point: log.recovery_point(),
                    log_start: log.log_start_offset(),
                    high_watermark: log.high_watermark(),
                };
                (e.log_dir.clone(), tp.clone(), offsets)
            })
            .collect();
        for dir in &self.dirs {
            for (file, field) in files {
                let entries: Vec<(String, i32, i64)> = snapshot
                    .iter()
                    .filter(|(d, ..)| d == dir)
                    .map(|(_, tp, o)| (tp.topic.clone(), tp.partition, field(o)))
                    .collect();
                checkpoint::write_offsets(&dir.join(file), &entries)?;
            }
        }
        Ok(())
    }

    /// Clean shutdown: close every log, write checkpoints, then the marker.
    pub fn shutdown(&self) -> Result<()> {
        for (tp, log) in self.all() {
            if let Err(e) = log.lock().close() {
                warn!(partition = %tp, error = %e, "failed to close log; next start will recover it");
                return Err(e);
            }
        }
        self.checkpoint()?;
        for dir in &self.dirs {
            atomic_write(&dir.join(CLEAN_SHUTDOWN_FILE), b"")?;
        }
        Ok(())
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}
