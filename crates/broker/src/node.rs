//! The node's shared context: its config, the way to the controller
//! quorum, the metadata image it follows, the replicas it hosts and the
//! group and transaction coordinators. Handlers receive an `Arc<Node>`. Starting a node is
//! startup.rs; its background work is jobs.rs.

use std::sync::Arc;
use std::time::Duration;

use brook_metadata::controller::ControllerError;
use brook_metadata::quorum::client::ControllerClient;
use brook_metadata::quorum::rpc::SubmitError;
use brook_metadata::quorum::{Quorum, QuorumError};
use brook_metadata::requests::{self, ControllerReply, ControllerRequest, ControllerState};
use brook_metadata::MetadataImage;
use brook_protocol::error_code::{self, ErrorCode};
use brook_storage::cleaner_scheduler::CleanerScheduler;
use brook_storage::{StorageError, TopicPartition};
use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::coordinator::group::GroupCoordinator;
use crate::coordinator::txn::TransactionCoordinator;
use crate::replication::{Partition, ReplicaManager};
use crate::txn_verifier::TxnVerifier;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Quorum(#[from] QuorumError),
    #[error("{0}")]
    Refused(String),
    #[error("io error in {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// How long an admin request waits for the active controller.
pub const CONTROLLER_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Node {
    pub config: BrokerConfig,
    pub controller: ControllerClient,
    pub quorum: Option<Arc<Quorum>>,
    pub(crate) image: watch::Receiver<Arc<MetadataImage>>,
    pub replicas: Arc<ReplicaManager>,
    pub groups: GroupCoordinator,
    /// Asks transaction coordinators about produced transactional batches.
    pub txn_verifier: TxnVerifier,
    pub transactions: Arc<TransactionCoordinator>,
    /// This process's registration: a new one on every start.
    pub incarnation: String,
    /// Producer ids handed to this broker: [next, end).
    pub(crate) producer_ids: Mutex<(i64, i64)>,
    /// Logs whose last cleaning failed, and until when the cleaner skips them.
    pub(crate) cleaner: CleanerScheduler,
    /// Client quotas: measured rates and throttling.
    pub quotas: crate::quota::QuotaManager,
    /// What /metrics exports.
    pub metrics: Arc<crate::metrics::BrokerMetrics>,
}

fn submit_error(e: SubmitError) -> ControllerError {
    match e {
        SubmitError::Refused(e) => e,
        SubmitError::NotController { .. } => {
            ControllerError::new(error_code::NOT_CONTROLLER, "no active controller could be reached")
        }
        SubmitError::Unavailable(why) => ControllerError::new(error_code::REQUEST_TIMED_OUT, why),
    }
}

impl Node {
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    pub fn image_watch(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// Waits until this node's image holds metadata offset `offset`.
    pub async fn wait_for_offset(&self, offset: i64, timeout: Option<Duration>) -> bool {
        let mut watch = self.image.clone();
        let wait = watch.wait_for(|image| image.last_offset >= offset);
        match timeout {
            Some(t) => matches!(tokio::time::timeout(t, wait).await, Ok(Ok(_))),
            None => wait.await.is_ok(),
        }
    }

    /// The partition if this broker leads it; otherwise Kafka's error:
    /// NOT_LEADER_OR_FOLLOWER for a partition that exists (led elsewhere or
    /// offline), UNKNOWN_TOPIC_OR_PARTITION for one that does not.
    pub fn leader_partition(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ErrorCode> {
        self.replicas.leader(tp).ok_or_else(|| {
            if self.image().topic(&tp.topic).is_some_and(|t| t.partitions.contains_key(&tp.partition)) {
                ErrorCode::NOT_LEADER_OR_FOLLOWER
            } else {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            }
        })
    }

    /// Live (unfenced) brokers, for placement and Metadata.
    pub fn live_brokers(&self) -> Vec<i32> {
        self.image().live_brokers()
    }

    /// The controller id clients see (Metadata, DescribeCluster): this
    /// broker, else some live broker. Any broker forwards admin requests to
    /// the active controller (Kafka's KRaft brokers name a random alive
    /// broker), and naming the active controller itself would send admin
    /// clients to a node that may have just died without being fenced yet.
    pub fn controller_id_for_clients(&self, image: &MetadataImage) -> i32 {
        let live = image.live_brokers();
        // Itself only while listed as a live broker, so clients find its address.
        if self.config.is_broker && live.contains(&self.config.node_id) {
            return self.config.node_id;
        }
        live.first().copied().unwrap_or(-1)
    }

    /// Sends a request to the active controller, then waits until this
    /// node's image (and its hosted partitions) reflect it, so the client's
    /// next request to this broker sees the change.
    pub async fn submit(&self, request: ControllerRequest) -> Result<ControllerReply, ControllerError> {
        let (reply, offset) = self.controller.submit(&request, CONTROLLER_TIMEOUT).await.map_err(submit_error)?;
        if !self.wait_for_offset(offset, Some(Duration::from_secs(10))).await {
            warn!(offset, "metadata change committed but not yet seen by this broker");
        }
        if self.config.is_broker {
            self.apply_image();
        }
        Ok(reply)
    }

    /// Carries out a controller request, or with `validate_only` only
    /// decides it against this broker's image (nothing is written).
    pub async fn execute(
        &self,
        request: ControllerRequest,
        validate_only: bool,
    ) -> Result<ControllerReply, ControllerError> {
        if validate_only {
            let mut scratch = ControllerState::default();
            let image = self.image();
            return requests::decide(&mut scratch, &image, &request, now_ms(), self.config.broker_session_timeout_ms)
                .map(|(_, reply)| reply);
        }
        self.submit(request).await
    }

    /// Brings hosted partitions and group ownership in line with the image.
    pub fn apply_image(&self) {
        self.quotas.update(&self.image().client_quotas);
        if let Err(e) = self.replicas.apply_image(&self.image()) {
            warn!(error = %e, "applying metadata to logs failed");
        }
        self.groups.sync_ownership();
        self.transactions.sync_ownership();
    }

    /// A producer id from this broker's block, fetching a new block from the
    /// controller when it runs out.
    pub async fn next_producer_id(&self) -> Result<i64, ControllerError> {
        {
            let mut ids = self.producer_ids.lock();
            if ids.0 < ids.1 {
                ids.0 += 1;
                return Ok(ids.0 - 1);
            }
        }
        match self.submit(ControllerRequest::AllocateProducerIds).await? {
            ControllerReply::ProducerIds { first, count } => {
                let mut ids = self.producer_ids.lock();
                *ids = (first + 1, first + count);
                Ok(first)
            }
            other => Err(ControllerError::new(error_code::UNKNOWN_SERVER_ERROR, format!("unexpected reply {other:?}"))),
        }
    }

    /// Controlled shutdown: tell the controller to fence this broker now, so
    /// its partitions move (or go offline) without waiting for the session.
    pub async fn controlled_shutdown(&self) {
        if !self.config.is_broker {
            return;
        }
        let request = ControllerRequest::BrokerHeartbeat {
            broker_id: self.config.node_id,
            incarnation: self.incarnation.clone(),
            caught_up: true,
            shutting_down: true,
        };
        match self.controller.submit(&request, Duration::from_secs(3)).await {
            Ok(_) => info!("controlled shutdown: fenced by the controller"),
            Err(e) => warn!(error = ?e, "controlled shutdown could not reach the controller"),
        }
    }

    /// Clean shutdown of storage: flush, snapshot, checkpoint, marker.
    pub fn shutdown(&self) -> Result<(), StorageError> {
        self.replicas.log_manager().shutdown()
    }
}
