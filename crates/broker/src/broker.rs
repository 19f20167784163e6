//! The node's shared state: config, the way to the controller quorum, the
//! metadata image it follows, logs and replicas, group coordinator, plus the
//! background work (retention, flush, checkpoints). Handlers receive an
//! `Arc<Broker>`.
//!
//! Startup follows Kafka's KRaft broker: join or start the quorum, register
//! with the active controller (fenced), catch up on metadata to the offset
//! the controller named, open the logs, and only then heartbeat as caught up
//! (unfenced) and accept clients.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use brook_metadata::controller::ControllerError;
use brook_metadata::quorum::client::ControllerClient;
use brook_metadata::quorum::rpc::SubmitError;
use brook_metadata::quorum::state_machine::MetadataUpdate;
use brook_metadata::quorum::{ClusterIdGuard, Quorum, QuorumConfig, QuorumError};
use brook_metadata::requests::{self, ControllerReply, ControllerRequest, ControllerState};
use brook_metadata::{topic_config, MetadataImage, MetadataLog};
use brook_protocol::error_code;
use brook_storage::{LogManager, StorageError, TopicPartition};
use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::BrokerConfig;
use crate::coordinator::group::GroupCoordinator;
use crate::meta_properties::MetaProperties;
use crate::replica_manager::{Partition, ReplicaManager};

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

pub struct Broker {
    pub config: BrokerConfig,
    pub controller: ControllerClient,
    pub quorum: Option<Arc<Quorum>>,
    image: watch::Receiver<Arc<MetadataImage>>,
    pub replicas: ReplicaManager,
    pub groups: GroupCoordinator,
    /// This process's registration: a new one on every start.
    pub incarnation: String,
    /// Producer ids handed to this broker: [next, end).
    producer_ids: Mutex<(i64, i64)>,
    /// Logs whose last cleaning failed, and until when the cleaner skips them.
    cleaner_backoff: Mutex<std::collections::HashMap<TopicPartition, i64>>,
}

/// How long the cleaner leaves a log alone after a failed pass.
const CLEANER_FAILURE_BACKOFF_MS: i64 = 10 * 60 * 1000;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The single-node metadata log of earlier Brook, if this directory holds
/// one: its image is the base the quorum's state machine starts from, until
/// the quorum's first snapshot (which then holds everything) is written.
fn legacy_image(config: &BrokerConfig) -> Result<Option<MetadataImage>, BrokerError> {
    let dir = &config.metadata_dir;
    let legacy = dir.join("__cluster_metadata.log");
    if !legacy.exists() || dir.join("snapshot.json").exists() {
        return Ok(None);
    }
    if config.voters.len() > 1 {
        return Err(BrokerError::Refused(format!(
            "{} is a single-node metadata log; upgrade it as a lone node (no controller.quorum.voters) first",
            legacy.display()
        )));
    }
    let log = MetadataLog::open(dir).map_err(|e| BrokerError::Refused(e.to_string()))?;
    let mut image = (*log.image()).clone();
    // Its partitions name the node that wrote them; under another node.id
    // every log would look foreign (and be deleted).
    if let Some(other) = image
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .flat_map(|p| p.replicas.iter())
        .find(|r| **r != config.node_id)
    {
        return Err(BrokerError::Refused(format!(
            "the single-node metadata log in {} was written by node.id {other}; start it with node.id={other}",
            legacy.display()
        )));
    }
    image.last_offset = -1;
    info!(topics = image.topics.len(), cluster_id = %image.cluster_id, "starting the quorum from the single-node metadata log");
    Ok(Some(image))
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

impl Broker {
    /// Starts this node's roles. Returns once the broker (if any) is
    /// registered, caught up and has its logs open; it is then ready to serve.
    pub async fn start(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| BrokerError::Io { path, source }
        };
        std::fs::create_dir_all(&config.log_dirs[0]).map_err(io(&config.log_dirs[0]))?;
        crate::handlers::configs::note_inert_configs(config.properties.keys().map(String::as_str));
        let mut meta = MetaProperties::load(&config.log_dirs[0]).map_err(io(&config.log_dirs[0]))?;
        if let Some(recorded) = meta.node_id {
            if recorded != config.node_id {
                return Err(BrokerError::Refused(format!(
                    "node.id {} does not match node.id {recorded} recorded in {}; a data directory belongs to one node",
                    config.node_id,
                    config.log_dirs[0].join("meta.properties").display()
                )));
            }
        }
        let base_image = if config.is_controller { legacy_image(&config)? } else { None };
        // A voter whose data says it belonged to a cluster but whose quorum
        // store is gone must not start a new quorum member from nothing: it
        // could help elect a leader that lacks committed metadata.
        let store = &config.metadata_dir;
        let store_empty = !["raft.log", "raft-state.json", "snapshot.json"].iter().any(|f| store.join(f).exists());
        if config.is_controller && store_empty && base_image.is_none() {
            if let Some(cluster) = &meta.cluster_id {
                return Err(BrokerError::Refused(format!(
                    "this node belonged to cluster id {cluster}, but its metadata quorum store in {} is empty; restore it, or point log.dirs at an empty directory to join afresh",
                    store.display()
                )));
            }
        }
        if let Some(id) = base_image.as_ref().map(|i| i.cluster_id.clone()).filter(|c| !c.is_empty()) {
            meta.cluster_id.get_or_insert(id);
        }
        meta.node_id = Some(config.node_id);
        meta.store(&config.log_dirs[0]).map_err(io(&config.log_dirs[0]))?;

        let voters: BTreeMap<i32, String> = if config.voters.is_empty() {
            BTreeMap::from([(config.node_id, String::new())])
        } else {
            config.voters.clone()
        };
        let needed = if config.is_controller { voters.len() / 2 + 1 } else { 1 };
        let guard = ClusterIdGuard::new(meta.cluster_id.clone(), needed);
        let quorum = if config.is_controller {
            let listen = config.controller_listener.as_ref().map(|l| format!("{}:{}", l.host, l.port));
            let quorum = Quorum::start(QuorumConfig {
                node_id: config.node_id,
                voters: voters.clone(),
                listen,
                dir: config.metadata_dir.clone(),
                session_timeout_ms: config.broker_session_timeout_ms,
                leader_rebalance: config.leader_rebalance,
                base_image,
                guard: guard.clone(),
            })
            .await?;
            Some(quorum)
        } else {
            None
        };
        let controller = ControllerClient::new(quorum.clone(), voters.clone(), guard.clone());
        let image = match &quorum {
            Some(q) => q.watch(),
            None => follow_metadata(Arc::new(ControllerClient::new(None, voters, guard.clone())), guard.clone()),
        };
        let incarnation = uuid::Uuid::new_v4().to_string();
        if config.is_broker {
            let offset = register(&controller, &config, &incarnation).await?;
            let mut watch = image.clone();
            let _ = watch.wait_for(|i| i.last_offset >= offset).await;
        }
        let replicas = open_logs(&config, &meta, &image.borrow().clone())?;
        let groups = GroupCoordinator::new(config.group.clone(), config.offsets.clone());
        let broker = Arc::new(Broker {
            config,
            controller,
            quorum,
            image,
            replicas,
            groups,
            incarnation,
            producer_ids: Mutex::new((0, 0)),
            cleaner_backoff: Mutex::new(std::collections::HashMap::new()),
        });
        broker.store_cluster_id();
        if broker.config.is_broker {
            broker.groups.sync_ownership(&broker);
        }
        Ok(broker)
    }

    async fn register(&self) -> Result<i64, BrokerError> {
        register(&self.controller, &self.config, &self.incarnation).await
    }

    /// Writes the cluster id to meta.properties once it is known.
    fn store_cluster_id(&self) {
        let image = self.image();
        if image.cluster_id.is_empty() {
            return;
        }
        let dir = &self.config.log_dirs[0];
        match MetaProperties::load(dir) {
            Ok(mut meta) if meta.cluster_id.is_none() => {
                meta.cluster_id = Some(image.cluster_id.clone());
                if let Err(e) = meta.store(dir) {
                    warn!(error = %e, "cannot write meta.properties");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot read meta.properties"),
        }
        self.controller.guard().set_ours(&image.cluster_id);
    }

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
    pub fn leader_partition(&self, tp: &TopicPartition) -> Result<Arc<Partition>, i16> {
        self.replicas.partition(tp).ok_or_else(|| {
            if self.image().topic(&tp.topic).is_some_and(|t| t.partitions.contains_key(&tp.partition)) {
                error_code::NOT_LEADER_OR_FOLLOWER
            } else {
                error_code::UNKNOWN_TOPIC_OR_PARTITION
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
        if let Err(e) = self.replicas.apply_image(&self.image()) {
            warn!(error = %e, "applying metadata to logs failed");
        }
        self.groups.sync_ownership(self);
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
        let now = now_ms();
        for (tp, log) in self.replicas.all_logs() {
            match log.lock().apply_retention(now, self.config.producer_id_expiration_ms) {
                Ok(0) => {}
                Ok(n) => info!(partition = %tp, segments = n, "retention deleted segments"),
                Err(e) => warn!(partition = %tp, error = %e, "retention failed"),
            }
        }
    }

    /// One round of the log cleaner (`log.cleaner.backoff.ms`): the
    /// compacted logs that are due, dirtiest first (overdue ones before
    /// all), up to `log.cleaner.threads` at once, each on its own thread.
    /// Only logs whose high watermark is known are cleaned (led, or followed
    /// with a fetch answered), so uncommitted records never decide what a
    /// pass removes. A log whose pass failed waits
    /// [`CLEANER_FAILURE_BACKOFF_MS`], so it cannot starve the others.
    pub fn run_cleaner(&self) {
        if !self.config.cleaner_enable {
            return;
        }
        let now = now_ms();
        self.cleaner_backoff.lock().retain(|_, until| *until > now);
        let skipped = self.cleaner_backoff.lock().clone();
        let mut due: Vec<(bool, f64, TopicPartition, brook_storage::log_manager::SharedLog)> = self
            .replicas
            .committed_logs()
            .into_iter()
            .filter(|(tp, _)| !skipped.contains_key(tp))
            .filter_map(|(tp, log)| {
                let c = brook_storage::cleaner::cleanability(&log.lock(), now)?;
                Some((c.forced, c.dirty_ratio, tp, log))
            })
            .collect();
        due.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)));
        due.truncate(self.config.cleaner_threads);
        let settings = self.config.cleaner;
        std::thread::scope(|scope| {
            for (_, ratio, tp, log) in &due {
                scope.spawn(move || match brook_storage::cleaner::clean(log, now, &settings) {
                    Ok(Some(stats)) => info!(
                        partition = %tp,
                        dirty_ratio = format!("{ratio:.3}"),
                        segments = format!("{} -> {}", stats.segments_before, stats.segments_after),
                        bytes = format!("{} -> {}", stats.bytes_before, stats.bytes_after),
                        records_removed = stats.records_removed,
                        cleaned_upto = stats.cleaned_upto,
                        "cleaned log"
                    ),
                    Ok(None) => {}
                    Err(e) => {
                        warn!(partition = %tp, error = %e, "log cleaning failed; retrying in 10 minutes");
                        self.cleaner_backoff.lock().insert(tp.clone(), now + CLEANER_FAILURE_BACKOFF_MS);
                    }
                });
            }
        });
    }

    /// fsync logs whose `flush.ms` has passed.
    pub fn run_flush(&self) {
        let now = now_ms();
        for (tp, log) in self.replicas.all_logs() {
            if let Err(e) = log.lock().flush_if_due(now) {
                warn!(partition = %tp, error = %e, "flush failed; log is offline");
            }
        }
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
                Ok(_) => info!(partition = %change.tp, isr = ?change.new_isr, "ISR changed"),
                Err(e) => {
                    warn!(partition = %change.tp, error = %e.message, "ISR change refused");
                    self.replicas.isr_change_failed(&change.tp);
                }
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

/// BrokerRegistration, retried until the quorum answers. A refusal (a live
/// broker already uses this node.id) or a cluster id mismatch stops the node.
async fn register(controller: &ControllerClient, config: &BrokerConfig, incarnation: &str) -> Result<i64, BrokerError> {
    let request = ControllerRequest::RegisterBroker {
        broker_id: config.node_id,
        incarnation: incarnation.to_string(),
        host: config.advertised.host.clone(),
        port: config.advertised.port,
    };
    let mut fatal = controller.guard().fatal();
    // A restart right after `kill -9` finds its previous incarnation still
    // registered until that session expires (Kafka's broker retries too); a
    // node.id still refused after a whole session is held by a live process.
    let patience =
        Duration::from_millis(config.broker_session_timeout_ms as u64 + 2 * config.broker_heartbeat_interval_ms + 1000);
    let mut first_duplicate: Option<Instant> = None;
    loop {
        if let Some(message) = fatal.borrow_and_update().clone() {
            return Err(BrokerError::Refused(message));
        }
        match controller.submit(&request, Duration::from_secs(5)).await {
            Ok((_, offset)) => {
                info!(node_id = config.node_id, offset, "registered with the controller");
                return Ok(offset);
            }
            Err(SubmitError::Refused(e)) if e.code == error_code::DUPLICATE_BROKER_REGISTRATION => {
                let since = *first_duplicate.get_or_insert_with(Instant::now);
                if since.elapsed() > patience {
                    return Err(BrokerError::Refused(format!(
                        "registration refused (duplicate node.id): {}",
                        e.message
                    )));
                }
                info!(
                    node_id = config.node_id,
                    "node.id still registered by another incarnation; retrying until its session expires"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(SubmitError::Refused(e)) => {
                return Err(BrokerError::Refused(format!("registration refused: {}", e.message)))
            }
            Err(e) => info!(error = ?e, "waiting for the controller quorum"),
        }
    }
}

/// Opens the logs on disk and brings them in line with the (caught-up) image.
fn open_logs(
    config: &BrokerConfig,
    meta: &MetaProperties,
    image: &MetadataImage,
) -> Result<ReplicaManager, BrokerError> {
    if let (Some(ours), false) = (&meta.cluster_id, image.cluster_id.is_empty()) {
        if *ours != image.cluster_id {
            return Err(BrokerError::Refused(format!(
                "this node's data belongs to cluster id {ours}, but the controller quorum has cluster id {}",
                image.cluster_id
            )));
        }
    }
    let static_defaults = config.static_log_defaults();
    let config_for = |topic: &str| {
        let overrides = image.topic(topic).map(|t| t.configs.clone()).unwrap_or_default();
        topic_config::log_config(&overrides, &image.broker_configs, &static_defaults)
    };
    let (logs, loaded) = LogManager::open(config.log_dirs.clone(), &config_for)?;
    if meta.cluster_id.is_none() && image.topics.is_empty() && !loaded.is_empty() {
        // Without metadata every log would look deleted: refuse rather than wipe data.
        return Err(BrokerError::Refused(format!(
            "the metadata in {} is new but log.dirs hold {} partition logs; restore the metadata directory or move the logs away",
            config.metadata_dir.display(),
            loaded.len()
        )));
    }
    info!(logs = loaded.len(), cluster_id = %image.cluster_id, "opened logs");
    let replicas = ReplicaManager::new(config.node_id, Arc::new(logs), static_defaults);
    if config.is_broker {
        replicas.apply_image(image)?;
    }
    Ok(replicas)
}

/// Keeps a broker-only node's image current by long-polling the controllers.
fn follow_metadata(client: Arc<ControllerClient>, guard: Arc<ClusterIdGuard>) -> watch::Receiver<Arc<MetadataImage>> {
    let (tx, rx) = watch::channel(Arc::new(MetadataImage { last_offset: -1, ..Default::default() }));
    tokio::spawn(async move {
        loop {
            let after = tx.borrow().last_offset;
            match client.fetch_metadata(after, Duration::from_secs(5)).await {
                Ok((cluster_id, update)) => {
                    match guard.ours() {
                        Some(ours) if !cluster_id.is_empty() && ours != cluster_id => {
                            guard.report_mismatch(u64::MAX, &cluster_id);
                            return;
                        }
                        _ => guard.set_ours(&cluster_id),
                    }
                    let next = match update {
                        MetadataUpdate::UpToDate => continue,
                        MetadataUpdate::Snapshot { last_offset, records } => {
                            MetadataImage::from_records(&records, last_offset)
                        }
                        MetadataUpdate::Entries(entries) => {
                            let mut image = (**tx.borrow()).clone();
                            for (index, records) in entries {
                                for r in &records {
                                    image.apply(r);
                                }
                                image.last_offset = index;
                            }
                            image
                        }
                    };
                    tx.send_replace(Arc::new(next));
                }
                Err(e) => {
                    tracing::debug!(error = ?e, "metadata fetch failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    rx
}
