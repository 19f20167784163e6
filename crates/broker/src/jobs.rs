//! The node's background work: heartbeats to the controller, following
//! metadata images, the replica fetchers, ISR changes, and the periodic
//! storage and group jobs (retention, flush, log cleaning, checkpoints,
//! group deadlines, offset expiry, transaction timeouts, ISR shrink).

use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_metadata::quorum::rpc::SubmitError;
use brook_metadata::requests::{ControllerReply, ControllerRequest};
use brook_protocol::error_code;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::clock::now_ms;
use crate::node::Node;
use crate::replication::fetcher::{self, FetcherContext};

/// Resolution of group session timeouts and rebalance deadlines.
const GROUP_TICK_MS: u64 = 100;

/// Runs `work` every `period_ms` on a blocking thread (storage work is
/// blocking file IO: keep it off the async workers).
fn every(period_ms: u64, node: &Arc<Node>, tasks: &mut JoinSet<()>, work: fn(&Node)) {
    let node = node.clone();
    tasks.spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(period_ms.max(1)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            let n = node.clone();
            if tokio::task::spawn_blocking(move || work(&n)).await.is_err() {
                error!("periodic task panicked");
            }
        }
    });
}

/// Starts every background job of a broker node on `tasks`.
pub fn spawn_all(node: &Arc<Node>, tasks: &mut JoinSet<()>) {
    let c = &node.config;
    every(c.retention_check_interval_ms, node, tasks, Node::run_retention);
    every(c.flush_scheduler_interval_ms, node, tasks, Node::run_flush);
    every(c.cleaner_backoff_ms, node, tasks, Node::run_cleaner);
    every(c.checkpoint_interval_ms, node, tasks, Node::checkpoint);
    every(c.high_watermark_checkpoint_interval_ms, node, tasks, Node::checkpoint_high_watermarks);
    every(GROUP_TICK_MS, node, tasks, Node::tick_groups);
    every(c.offsets_retention_check_interval_ms, node, tasks, Node::expire_offsets);
    every(c.transactions.abort_timed_out_interval_ms, node, tasks, Node::abort_timed_out_transactions);
    every(c.replica_lag_time_max_ms as u64 / 2, node, tasks, Node::shrink_isrs);
    tasks.spawn(node.clone().run_heartbeats());
    tasks.spawn(node.clone().run_isr_changes());
    tasks.spawn(fetcher::run(FetcherContext {
        node_id: c.node_id,
        replicas: node.replicas.clone(),
        image: node.image_watch(),
        settings: c.replica_fetch,
        tls: c.inter_broker_tls.clone(),
    }));
    tasks.spawn(node.clone().follow_images());
}

impl Node {
    /// Heartbeats to the active controller until `stop`; re-registers if the
    /// controller no longer knows this incarnation.
    pub async fn run_heartbeats(self: Arc<Self>) {
        let interval = Duration::from_millis(self.config.broker_heartbeat_interval_ms);
        let mut fenced = true;
        loop {
            let request = ControllerRequest::BrokerHeartbeat {
                broker_id: self.config.node_id,
                incarnation: self.incarnation.clone(),
                caught_up: true,
                shutting_down: false,
            };
            let started = Instant::now();
            match self.controller.submit(&request, interval.max(Duration::from_secs(1))).await {
                Ok((ControllerReply::Heartbeat(reply), _)) => {
                    if fenced != reply.fenced {
                        info!(fenced = reply.fenced, "broker fencing state changed");
                        fenced = reply.fenced;
                    }
                }
                Ok(_) => {}
                Err(SubmitError::Refused(e)) if e.code == error_code::BROKER_ID_NOT_REGISTERED => {
                    warn!("the controller no longer knows this broker; registering again");
                    if let Err(e) = self.register().await {
                        warn!(error = %e, "re-registration failed");
                    }
                }
                Err(e) => warn!(error = ?e, "heartbeat failed"),
            }
            tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
        }
    }

    /// Applies every new image to hosted partitions and groups.
    pub async fn follow_images(self: Arc<Self>) {
        let mut watch = self.image.clone();
        while watch.changed().await.is_ok() {
            watch.borrow_and_update();
            let b = self.clone();
            if tokio::task::spawn_blocking(move || {
                b.store_cluster_id();
                b.apply_image()
            })
            .await
            .is_err()
            {
                warn!("applying metadata panicked");
            }
        }
    }

    /// Retention for every hosted log, led or followed
    /// (`log.retention.check.interval.ms`).
    pub fn run_retention(&self) {
        self.replicas.run_retention(now_ms(), self.config.producer_id_expiration_ms);
    }

    /// One round of the log cleaner (`log.cleaner.backoff.ms`). Every
    /// hosted log's high watermark is committed data (checkpointed, set by
    /// its leader's ISR, or taken from the leader), so any may be cleaned;
    /// storage picks which and when.
    pub fn run_cleaner(&self) {
        self.cleaner.run_once(self.replicas.cleanable_logs(), now_ms());
    }

    /// fsync logs whose `flush.ms` has passed.
    pub fn run_flush(&self) {
        self.replicas.flush_due(now_ms());
    }

    /// Followers silent past `replica.lag.time.max.ms` leave the ISR.
    pub fn shrink_isrs(&self) {
        self.replicas.shrink_isrs(self.config.replica_lag_time_max_ms);
    }

    /// Sends the leaders' ISR changes to the controller (AlterPartition),
    /// one at a time; the new ISR takes effect when metadata carries it.
    pub async fn run_isr_changes(self: Arc<Self>) {
        let Some(mut changes) = self.replicas.take_isr_changes() else { return };
        while let Some(change) = changes.recv().await {
            let request = ControllerRequest::AlterPartition {
                topic_id: change.topic_id.to_string(),
                partition: change.tp.partition,
                leader: self.config.node_id,
                leader_epoch: change.leader_epoch,
                partition_epoch: change.partition_epoch,
                new_isr: change.new_isr.clone(),
            };
            match self.submit(request).await {
                Ok(_) => {
                    info!(partition = %change.tp, isr = ?change.new_isr, "ISR changed");
                    // Counted once accepted (Kafka marks its rates on the AlterPartition answer).
                    self.metrics.cluster.isr_changed(change.from_isr.len(), change.new_isr.len());
                }
                Err(e) => {
                    warn!(partition = %change.tp, error = %e.message, "ISR change refused");
                    self.replicas.isr_change_failed(&change.tp);
                }
            }
        }
    }

    /// Group session expiry and rebalance deadlines.
    pub fn tick_groups(&self) {
        self.groups.tick();
    }

    /// `offsets.retention.minutes` for empty groups.
    pub fn expire_offsets(&self) {
        self.groups.expire_offsets();
    }

    /// Transactions open past their timeout are aborted; idle
    /// transactional ids past `transactional.id.expiration.ms` forgotten.
    pub fn abort_timed_out_transactions(&self) {
        self.transactions.abort_timed_out();
        self.transactions.expire_ids();
    }

    /// Recovery points, log starts and high watermarks
    /// (`log.flush.offset.checkpoint.interval.ms`).
    pub fn checkpoint(&self) {
        if let Err(e) = self.replicas.log_manager().checkpoint() {
            warn!(error = %e, "checkpoint failed");
        }
    }

    /// High watermarks alone (`replica.high.watermark.checkpoint.interval.ms`).
    pub fn checkpoint_high_watermarks(&self) {
        if let Err(e) = self.replicas.log_manager().checkpoint_high_watermarks() {
            warn!(error = %e, "high-watermark checkpoint failed");
        }
    }
}
