//! Metadata records: the only way metadata changes. Serialized as JSON, one
//! record per line of the metadata log.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum MetadataRecord {
    /// The cluster's identity, written once when the log is created.
    Cluster {
        cluster_id: String,
    },
    Topic {
        name: String,
        topic_id: String,
    },
    Partition {
        topic_id: String,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        /// Bumped on every change of this partition's state (AlterPartition fencing).
        #[serde(default)]
        partition_epoch: i32,
        /// An ongoing reassignment: replicas being added and removed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        adding_replicas: Vec<i32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removing_replicas: Vec<i32>,
    },
    /// A broker joined (or rejoined, with a new incarnation). It starts
    /// fenced until it has caught up on metadata.
    RegisterBroker {
        broker_id: i32,
        incarnation: String,
        host: String,
        port: u16,
        fenced: bool,
        /// Every listener of the broker (`host`/`port` is the inter-broker
        /// one). Absent in records written before named listeners.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        endpoints: Vec<BrokerEndpoint>,
    },
    FenceBroker {
        broker_id: i32,
    },
    UnfenceBroker {
        broker_id: i32,
    },
    RemoveTopic {
        topic_id: String,
    },
    /// `value: None` removes an override.
    TopicConfig {
        topic: String,
        name: String,
        value: Option<String>,
    },
    BrokerConfig {
        name: String,
        value: Option<String>,
    },
    /// Producer ids below `next_producer_id` have been handed out.
    ProducerIds {
        next_producer_id: i64,
    },
    /// A user's SCRAM credential for one mechanism (Kafka's
    /// UserScramCredentialRecord). Salt and keys in base64; never the password.
    UserScramCredential {
        name: String,
        mechanism: String,
        salt: String,
        stored_key: String,
        server_key: String,
        iterations: i32,
    },
    RemoveUserScramCredential {
        name: String,
        mechanism: String,
    },
}

/// One client listener of a broker: clients connected on listener `listener`
/// are given this host and port (Kafka answers Metadata per listener).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    pub listener: String,
    pub security_protocol: String,
    pub host: String,
    pub port: u16,
}
