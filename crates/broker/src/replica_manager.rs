//! Partition replicas hosted by this broker: which partitions we lead, their
//! leader epochs, their logs, the high watermark, and wake-ups for long-poll
//! fetches. The log (storage), the leader epoch (here, from metadata) and the
//! metadata naming the leader (the image) are separate things, so replication
//! can slot in: today every partition has one replica, so the high watermark
//! follows the log end as soon as an append returns.
//!
//! Thread-safe: the partition table is read-locked only for lookups; each
//! partition's log has its own mutex.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use brook_metadata::{topic_config, MetadataImage};
use brook_protocol::error_code;
use brook_storage::log_manager::SharedLog;
use brook_storage::{AppendResult, FetchSlice, LogManager, StorageError, TopicPartition};
use parking_lot::RwLock;
use tokio::sync::Notify;
use tracing::{info, warn};
use uuid::Uuid;

/// One partition this broker hosts.
pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub log: SharedLog,
    leader_epoch: AtomicI32,
    /// Woken after every append, for fetches parked in long poll.
    pub data_arrived: Notify,
    pub min_insync_replicas: AtomicI32,
}

impl Partition {
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Kafka's fencing of a client-supplied `current_leader_epoch` (-1 = none).
    pub fn check_epoch(&self, current_leader_epoch: i32) -> Result<(), i16> {
        let ours = self.leader_epoch();
        if current_leader_epoch < 0 || current_leader_epoch == ours {
            Ok(())
        } else if current_leader_epoch < ours {
            Err(error_code::FENCED_LEADER_EPOCH)
        } else {
            Err(error_code::UNKNOWN_LEADER_EPOCH)
        }
    }
}

pub struct ReplicaManager {
    node_id: i32,
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    static_log_defaults: BTreeMap<String, String>,
    /// Serializes image application and remembers the newest image applied,
    /// so a slow caller with an older image never undoes a newer one.
    applied_offset: parking_lot::Mutex<i64>,
}

/// Outcome of a produce to one partition.
pub type ProduceOutcome = Result<AppendResult, i16>;

impl ReplicaManager {
    pub fn new(node_id: i32, logs: Arc<LogManager>, static_log_defaults: BTreeMap<String, String>) -> Self {
        ReplicaManager {
            node_id,
            logs,
            partitions: RwLock::new(HashMap::new()),
            static_log_defaults,
            applied_offset: parking_lot::Mutex::new(i64::MIN),
        }
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().get(tp).cloned()
    }

    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    /// Brings hosted partitions in line with a metadata image: opens or creates
    /// logs for partitions we lead, applies configs and epochs, and deletes
    /// logs of topics that no longer exist (or were recreated with a new id).
    pub fn apply_image(&self, image: &MetadataImage) -> Result<(), StorageError> {
        let mut applied = self.applied_offset.lock();
        if image.last_offset < *applied {
            return Ok(());
        }
        *applied = image.last_offset;
        let mut wanted = HashMap::new();
        // Partitions this node holds a replica of: their logs are kept even
        // while another broker leads (or nobody does).
        let mut hosted = HashMap::new();
        for topic in image.topics.values() {
            let config = topic_config::log_config(&topic.configs, &image.broker_configs, &self.static_log_defaults);
            let min_isr = topic_config::resolve(&topic.configs, &image.broker_configs, &self.static_log_defaults)
                .into_iter()
                .find(|(d, ..)| d.name == "min.insync.replicas")
                .and_then(|(_, v, _)| v.parse().ok())
                .unwrap_or(1);
            for (index, p) in &topic.partitions {
                if p.replicas.contains(&self.node_id) || p.leader == self.node_id {
                    hosted.insert(TopicPartition::new(topic.name.clone(), *index), topic.id);
                }
                if p.leader == self.node_id {
                    wanted.insert(
                        TopicPartition::new(topic.name.clone(), *index),
                        (topic.id, p.leader_epoch, config.clone(), min_isr),
                    );
                }
            }
        }
        // Logs on disk for partitions we should not have: deleted or recreated topics.
        for (tp, _) in self.logs.all() {
            let keep = hosted
                .get(&tp)
                .is_some_and(|id| self.logs.topic_id(&tp).is_none_or(|on_disk| on_disk == *id.as_bytes()));
            if !keep {
                info!(partition = %tp, "deleting log of a partition no longer in metadata");
                self.partitions.write().remove(&tp);
                self.logs.delete(&tp)?;
            }
        }
        let mut table = self.partitions.write();
        table.retain(|tp, p| {
            let lead = wanted.contains_key(tp);
            if !lead {
                info!(partition = %tp, "no longer the leader");
                // Wake long-polling fetches so they answer NOT_LEADER_OR_FOLLOWER now.
                p.data_arrived.notify_waiters();
            }
            lead
        });
        for (tp, (topic_id, epoch, config, min_isr)) in wanted {
            match table.get(&tp) {
                Some(p) => {
                    p.leader_epoch.store(epoch, Ordering::Release);
                    p.min_insync_replicas.store(min_isr, Ordering::Release);
                    let mut log = p.log.lock();
                    if log.config() != &config {
                        log.set_config(config);
                    }
                }
                None => {
                    let log = self.logs.get_or_create(&tp, *topic_id.as_bytes(), config.clone())?;
                    {
                        let mut guard = log.lock();
                        guard.set_config(config);
                        let end = guard.log_end_offset();
                        guard.set_high_watermark(end);
                    }
                    table.insert(
                        tp.clone(),
                        Arc::new(Partition {
                            tp,
                            topic_id,
                            log,
                            leader_epoch: AtomicI32::new(epoch),
                            data_arrived: Notify::new(),
                            min_insync_replicas: AtomicI32::new(min_isr),
                        }),
                    );
                }
            }
        }
        Ok(())
    }

    /// Appends one partition's produced batch. With a single replica the
    /// high watermark advances at once, so acks=1 and acks=all both answer
    /// after the bytes are in the segment file (page cache or disk, per the
    /// flush settings).
    pub fn append(&self, partition: &Partition, records: &[u8], acks: i16, now_ms: i64) -> ProduceOutcome {
        let isr_size = 1;
        if acks == -1 && partition.min_insync_replicas.load(Ordering::Acquire) > isr_size {
            return Err(error_code::NOT_ENOUGH_REPLICAS);
        }
        let result = {
            let mut log = partition.log.lock();
            let result = log.append_as_leader(records, partition.leader_epoch(), now_ms);
            let end = log.log_end_offset();
            log.set_high_watermark(end);
            result
        };
        match result {
            Ok(r) => {
                if !r.duplicate {
                    partition.data_arrived.notify_waiters();
                }
                Ok(r)
            }
            Err(e) => {
                match &e {
                    StorageError::Io(_) | StorageError::LogOffline => {
                        warn!(partition = %partition.tp, error = %e, "append failed")
                    }
                    _ => tracing::debug!(partition = %partition.tp, error = %e, "produce rejected"),
                }
                Err(e.error_code())
            }
        }
    }

    /// Reads for a consumer fetch.
    pub fn read(
        &self,
        partition: &Partition,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<FetchSlice, StorageError> {
        partition.log.lock().read(offset, max_bytes, min_one_batch)
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.logs
    }
}
