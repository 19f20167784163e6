//! The broker's shared state: config, metadata log, logs and replicas, plus
//! the background work (retention, flush, checkpoints). Handlers receive an
//! `Arc<Broker>`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use brook_metadata::controller::ControllerError;
use brook_metadata::log::MetadataError;
use brook_metadata::{topic_config, MetadataImage, MetadataLog, MetadataRecord};
use brook_protocol::error_code;
use brook_storage::{LogManager, StorageError};
use tracing::{info, warn};

use crate::config::BrokerConfig;
use crate::coordinator::group::GroupCoordinator;
use crate::replica_manager::ReplicaManager;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("the metadata log in {dir} is new but log.dirs hold {logs} partition logs; restore metadata.log.dir or move the logs away")]
    MissingMetadata { logs: usize, dir: String },
}

pub struct Broker {
    pub config: BrokerConfig,
    pub metadata: MetadataLog,
    pub replicas: ReplicaManager,
    pub groups: GroupCoordinator,
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Broker {
    /// Opens the metadata log and every log on disk, recovering as needed,
    /// and reconciles the logs with metadata.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        let metadata = MetadataLog::open(&config.metadata_dir)?;
        let fresh_metadata = metadata.image().cluster_id.is_empty();
        if fresh_metadata {
            let cluster_id = uuid::Uuid::new_v4().simple().to_string()[..22].to_string();
            metadata
                .commit_with(|_| Ok::<_, ()>((vec![MetadataRecord::Cluster { cluster_id }], ())))?
                .expect("infallible");
        }
        let image = metadata.image();
        let static_defaults = config.static_log_defaults();
        let config_for = |topic: &str| {
            let overrides = image.topic(topic).map(|t| t.configs.clone()).unwrap_or_default();
            topic_config::log_config(&overrides, &image.broker_configs, &static_defaults)
        };
        let (logs, loaded) = LogManager::open(config.log_dirs.clone(), &config_for)?;
        if fresh_metadata && !loaded.is_empty() {
            // Without metadata every log would look deleted: refuse rather than wipe data.
            return Err(BrokerError::MissingMetadata {
                logs: loaded.len(),
                dir: config.metadata_dir.display().to_string(),
            });
        }
        info!(logs = loaded.len(), cluster_id = %image.cluster_id, "opened logs");
        let replicas = ReplicaManager::new(config.node_id, Arc::new(logs), static_defaults);
        replicas.apply_image(&image)?;
        let groups = GroupCoordinator::new(config.group.clone(), config.offsets.clone());
        let broker = Broker { config, metadata, replicas, groups };
        broker.groups.load(&broker);
        Ok(Arc::new(broker))
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// Brokers that can host replicas (this single node, until the cluster lands).
    pub fn live_brokers(&self) -> Vec<i32> {
        vec![self.config.node_id]
    }

    /// Runs a controller decision against the latest image, commits its
    /// records and applies the new image to hosted partitions.
    pub fn commit<T>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T), ControllerError>,
    ) -> Result<T, ControllerError> {
        let result = self.metadata.commit_with(decide).map_err(|e| {
            warn!(error = %e, "metadata commit failed");
            ControllerError::new(error_code::UNKNOWN_SERVER_ERROR, e.to_string())
        })??;
        // Read the image afresh: apply_image ignores it if a newer one was applied.
        if let Err(e) = self.replicas.apply_image(&self.image()) {
            warn!(error = %e, "applying metadata to logs failed");
            return Err(ControllerError::new(error_code::KAFKA_STORAGE_ERROR, e.to_string()));
        }
        Ok(result)
    }

    /// Retention for every hosted log (`log.retention.check.interval.ms`).
    pub fn run_retention(&self) {
        let now = now_ms();
        for p in self.replicas.partitions() {
            match p.log.lock().apply_retention(now, self.config.producer_id_expiration_ms) {
                Ok(0) => {}
                Ok(n) => info!(partition = %p.tp, segments = n, "retention deleted segments"),
                Err(e) => warn!(partition = %p.tp, error = %e, "retention failed"),
            }
        }
    }

    /// fsync logs whose `flush.ms` has passed.
    pub fn run_flush(&self) {
        let now = now_ms();
        for p in self.replicas.partitions() {
            if let Err(e) = p.log.lock().flush_if_due(now) {
                warn!(partition = %p.tp, error = %e, "flush failed; log is offline");
            }
        }
    }

    /// Group session expiry and rebalance deadlines.
    pub fn tick_groups(&self) {
        self.groups.tick(self);
    }

    /// `offsets.retention.minutes` for empty groups.
    pub fn expire_offsets(&self) {
        self.groups.expire_offsets(self);
    }

    pub fn checkpoint(&self) {
        if let Err(e) = self.replicas.log_manager().checkpoint() {
            warn!(error = %e, "checkpoint failed");
        }
    }

    /// Clean shutdown of storage: flush, snapshot, checkpoint, marker.
    pub fn shutdown(&self) -> Result<(), StorageError> {
        self.replicas.log_manager().shutdown()
    }
}
