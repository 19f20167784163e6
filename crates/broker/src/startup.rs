//! Starting a node, as Kafka's KRaft broker starts: join or start the
//! quorum, register with the active controller (fenced), catch up on
//! metadata to the offset the controller named, open the logs, and only
//! then heartbeat as caught up (unfenced) and accept clients. An older
//! single-node data directory is upgraded on the way.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_metadata::quorum::client::ControllerClient;
use brook_metadata::quorum::rpc::SubmitError;
use brook_metadata::quorum::state_machine::MetadataUpdate;
use brook_metadata::quorum::{ClusterIdGuard, Quorum, QuorumConfig};
use brook_metadata::requests::ControllerRequest;
use brook_metadata::{topic_config, MetadataImage, MetadataLog};
use brook_protocol::error_code;
use brook_storage::cleaner_scheduler::CleanerScheduler;
use brook_storage::LogManager;
use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::BrokerConfig;
use crate::coordinator::group::GroupCoordinator;
use crate::coordinator::txn::TransactionCoordinator;
use crate::meta_properties::MetaProperties;
use crate::node::{BrokerError, Node};
use crate::replication::ReplicaManager;
use crate::txn_verifier::TxnVerifier;

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

impl Node {
    /// Starts this node's roles. Returns once the broker (if any) is
    /// registered, caught up and has its logs open; it is then ready to serve.
    pub async fn start(config: BrokerConfig) -> Result<Arc<Node>, BrokerError> {
        // A TLS listener whose certificates do not load stops the node here,
        // before it registers, not when it binds.
        if config.is_broker {
            for l in config.client_listeners.iter().filter(|l| l.security_protocol.uses_tls()) {
                let get = |name: &str| config.listener_property(&l.name, name);
                brook_security::listener_tls::ListenerTls::new(l.security_protocol, &get)
                    .map_err(|e| BrokerError::Refused(format!("listener {}: {e}", l.name)))?;
            }
        }
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
        let guard = ClusterIdGuard::with_tls(
            meta.cluster_id.clone(),
            needed,
            config.controller_tls.as_ref().map(|t| t.client.clone()),
        );
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
                tls: config.controller_tls.clone(),
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
        let metrics = crate::metrics::BrokerMetrics::new();
        let replicas = open_logs(&config, &meta, &image.borrow().clone(), metrics.traffic.clone())?;
        let groups =
            GroupCoordinator::new(config.group.clone(), config.offsets.clone(), replicas.clone(), image.clone());
        let transactions =
            TransactionCoordinator::new(config.transactions.clone(), config.node_id, replicas.clone(), image.clone());
        let cleaner = CleanerScheduler::new(config.cleaner, config.cleaner_threads, config.cleaner_enable);
        let txn_verifier = TxnVerifier::new(config.node_id, config.inter_broker_tls.clone());
        let quotas = crate::quota::QuotaManager::new(config.quota_window_num, config.quota_window_ms);
        let broker = Arc::new(Node {
            metrics,
            quotas,
            txn_verifier,
            config,
            controller,
            quorum,
            image,
            replicas,
            groups,
            transactions,
            incarnation,
            producer_ids: Mutex::new((0, 0)),
            cleaner,
        });
        broker.store_cluster_id();
        broker.quotas.update(&broker.image().client_quotas);
        if broker.config.is_broker {
            broker.groups.sync_ownership();
            broker.transactions.sync_ownership();
        }
        Ok(broker)
    }

    pub(crate) async fn register(&self) -> Result<i64, BrokerError> {
        register(&self.controller, &self.config, &self.incarnation).await
    }

    /// Writes the cluster id to meta.properties once it is known.
    pub(crate) fn store_cluster_id(&self) {
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
}

/// BrokerRegistration, retried until the quorum answers. A refusal (a live
/// broker already uses this node.id) or a cluster id mismatch stops the node.
async fn register(controller: &ControllerClient, config: &BrokerConfig, incarnation: &str) -> Result<i64, BrokerError> {
    let request = ControllerRequest::RegisterBroker {
        broker_id: config.node_id,
        incarnation: incarnation.to_string(),
        host: config.advertised.host.clone(),
        port: config.advertised.port,
        endpoints: config
            .client_listeners
            .iter()
            .map(|l| brook_metadata::records::BrokerEndpoint {
                listener: l.name.clone(),
                security_protocol: l.security_protocol.name().to_string(),
                host: l.advertised.host.clone(),
                port: l.advertised.port,
            })
            .collect(),
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
    traffic: Arc<crate::metrics::traffic::TrafficMetrics>,
) -> Result<Arc<ReplicaManager>, BrokerError> {
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
    let replicas = Arc::new(ReplicaManager::new(config.node_id, Arc::new(logs), static_defaults, traffic));
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
