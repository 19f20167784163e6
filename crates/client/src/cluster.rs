//! What the client knows about the cluster: broker addresses, a connection
//! per broker, and a metadata cache (topics → partitions → leader), refreshed
//! on demand and after NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION and
//! friends.
//!
//! Thread-safe; shared by producer, consumer and admin through an `Arc`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::RwLock;

use crate::connection::BrokerConnection;
use crate::error::{ClientError, Result};

/// Settings shared by every client type.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of one or more brokers.
    pub bootstrap_servers: Vec<String>,
    pub client_id: String,
    pub request_timeout: Duration,
    /// Backoff before retrying a retriable error (`retry.backoff.ms`).
    pub retry_backoff: Duration,
    /// SASL login for every broker connection (`security.protocol=SASL_*`).
    pub sasl: Option<brook_security::sasl::client_config::SaslClientConfig>,
    /// TLS for every broker connection (`security.protocol=SSL`); see
    /// `brook_security::client_properties`.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// The process's default SASL login (the CLI's `--command-config`): every
/// `ClientConfig::new` starts with it.
static DEFAULT_SASL: std::sync::OnceLock<brook_security::sasl::client_config::SaslClientConfig> =
    std::sync::OnceLock::new();

/// Sets the SASL login every later `ClientConfig::new` uses (once per process).
pub fn set_default_sasl(sasl: brook_security::sasl::client_config::SaslClientConfig) {
    let _ = DEFAULT_SASL.set(sasl);
}

/// The process's default client TLS (the CLI's `--command-config`): every
/// `ClientConfig::new` starts with it, so each command need not carry it.
static DEFAULT_TLS: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();

/// Sets the TLS every later `ClientConfig::new` uses (once per process).
pub fn set_default_tls(tls: std::sync::Arc<rustls::ClientConfig>) {
    let _ = DEFAULT_TLS.set(tls);
}

impl ClientConfig {
    pub fn new(bootstrap: &str) -> ClientConfig {
        ClientConfig {
            bootstrap_servers: bootstrap.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            client_id: "brook-client".to_string(),
            request_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
            sasl: DEFAULT_SASL.get().cloned(),
            tls: DEFAULT_TLS.get().cloned(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TopicMetadata {
    pub name: String,
    pub id: [u8; 16],
    pub error_code: i16,
    pub is_internal: bool,
    /// partition → (leader node, leader epoch, replicas, isr)
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Debug, Clone, Default)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error_code: i16,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub cluster_id: Option<String>,
    pub controller: i32,
    pub brokers: HashMap<i32, String>,
    pub topics: HashMap<String, TopicMetadata>,
}

pub struct Cluster {
    pub config: ClientConfig,
    connections: tokio::sync::Mutex<HashMap<String, Arc<BrokerConnection>>>,
    metadata: RwLock<Snapshot>,
}

impl Cluster {
    pub fn new(config: ClientConfig) -> Result<Arc<Cluster>> {
        if config.bootstrap_servers.is_empty() {
            return Err(ClientError::InvalidArgument("no bootstrap servers".into()));
        }
        Ok(Arc::new(Cluster {
            config,
            connections: tokio::sync::Mutex::new(HashMap::new()),
            metadata: RwLock::new(Snapshot::default()),
        }))
    }

    /// A live connection to `addr`, reconnecting if the old one closed.
    pub async fn connection_to(&self, addr: &str) -> Result<Arc<BrokerConnection>> {
        if let Some(c) = self.connections.lock().await.get(addr) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        // Connect without holding the map: one dead broker must not stall the others.
        let conn = BrokerConnection::connect_tls(
            addr,
            &self.config.client_id,
            self.config.request_timeout,
            self.config.tls.as_ref(),
        )
        .await?;
        if let Some(sasl) = &self.config.sasl {
            crate::sasl::authenticate(&conn, sasl).await?;
        }
        let mut conns = self.connections.lock().await;
        match conns.get(addr) {
            Some(existing) if !existing.is_closed() => Ok(existing.clone()),
            _ => {
                conns.insert(addr.to_string(), conn.clone());
                Ok(conn)
            }
        }
    }

    /// A connection to any reachable broker (known brokers, then bootstrap).
    pub async fn any_connection(&self) -> Result<Arc<BrokerConnection>> {
        let mut candidates: Vec<String> = self.metadata.read().brokers.values().cloned().collect();
        candidates.extend(self.config.bootstrap_servers.iter().cloned());
        let mut last = None;
        for addr in candidates {
            match self.connection_to(&addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ClientError::InvalidArgument("no brokers".into())))
    }

    pub async fn connection_to_node(&self, node: i32) -> Result<Arc<BrokerConnection>> {
        let addr = self.metadata.read().brokers.get(&node).cloned();
        match addr {
            Some(addr) => self.connection_to(&addr).await,
            None => {
                self.refresh(&[]).await?;
                let addr = self.metadata.read().brokers.get(&node).cloned();
                self.connection_to(&addr.ok_or_else(|| ClientError::Protocol(format!("unknown broker {node}")))?).await
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.metadata.read().clone()
    }

    pub fn topic(&self, name: &str) -> Option<TopicMetadata> {
        self.metadata.read().topics.get(name).cloned()
    }

    /// Refreshes metadata for `topics` (all topics if empty). Auto-creation is off.
    pub async fn refresh(&self, topics: &[String]) -> Result<Snapshot> {
        let request = MetadataRequest::default()
            .with_topics(if topics.is_empty() {
                None
            } else {
                Some(
                    topics
                        .iter()
                        .map(|t| {
                            MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                        })
                        .collect(),
                )
            })
            .with_allow_auto_topic_creation(false);
        let conn = self.any_connection().await?;
        let response = conn.send(12, &request).await?;
        let mut snapshot = self.metadata.read().clone();
        snapshot.cluster_id = response.cluster_id.map(|c| c.to_string());
        snapshot.controller = response.controller_id.0;
        for b in &response.brokers {
            snapshot.brokers.insert(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
        }
        if topics.is_empty() {
            snapshot.topics.clear();
        }
        for t in response.topics {
            let name = t.name.map(|n| n.to_string()).unwrap_or_default();
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|r| r.0).collect(),
                    isr: p.isr_nodes.iter().map(|r| r.0).collect(),
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            let meta = TopicMetadata {
                name: name.clone(),
                id: *t.topic_id.as_bytes(),
                error_code: t.error_code,
                is_internal: t.is_internal,
                partitions,
            };
            if t.error_code == 0 {
                snapshot.topics.insert(name, meta);
            } else {
                snapshot.topics.remove(&name);
            }
        }
        *self.metadata.write() = snapshot.clone();
        Ok(snapshot)
    }

    /// Metadata of one topic, fetching it if unknown. Errors if it does not exist.
    pub async fn topic_or_fetch(&self, name: &str) -> Result<TopicMetadata> {
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        self.refresh(&[name.to_string()]).await?;
        self.topic(name).ok_or_else(|| ClientError::from_code(3, format!("topic '{name}'")))
    }

    /// The leader of a partition, if known.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let meta = self.metadata.read();
        let t = meta.topics.get(topic)?;
        t.partitions.iter().find(|p| p.partition == partition).map(|p| p.leader).filter(|l| *l >= 0)
    }
}
