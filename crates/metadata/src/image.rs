//! The immutable view of cluster metadata that handlers read. A new image is
//! built for every committed batch of records; readers hold an `Arc` to the
//! image they started with, so they never see a half-applied change.

use std::collections::{BTreeMap, HashMap};

use brook_security::sasl::scram::{ScramCredential, ScramMechanism};
use uuid::Uuid;

use crate::records::MetadataRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// An ongoing reassignment (both empty when none).
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// A registered broker, as the controller last recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    pub id: i32,
    pub incarnation: String,
    pub host: String,
    pub port: u16,
    /// Fenced brokers lead nothing and are not listed to clients.
    pub fenced: bool,
    /// Every listener's endpoint (empty for registrations from before
    /// named listeners: then `host`/`port` serves every listener).
    pub endpoints: Vec<crate::records::BrokerEndpoint>,
}

impl BrokerImage {
    /// The endpoint clients on `listener` reach this broker at; `None` if the
    /// broker has no such listener (Kafka leaves it out of the answer).
    pub fn endpoint(&self, listener: &str) -> Option<(&str, u16)> {
        if self.endpoints.is_empty() {
            return Some((&self.host, self.port));
        }
        self.endpoints.iter().find(|e| e.listener == listener).map(|e| (e.host.as_str(), e.port))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Topic-level config overrides (Kafka names).
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    pub cluster_id: String,
    pub topics: BTreeMap<String, TopicImage>,
    pub topic_names_by_id: HashMap<Uuid, String>,
    pub brokers: BTreeMap<i32, BrokerImage>,
    /// Dynamic broker-level config overrides.
    pub broker_configs: BTreeMap<String, String>,
    pub next_producer_id: i64,
    /// Offset of the last applied record in the metadata log.
    pub last_offset: i64,
    /// SCRAM credentials by user and mechanism (KIP-554).
    pub scram_credentials: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
}

impl MetadataImage {
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    /// Registered, unfenced brokers: where replicas and leaders may go.
    pub fn live_brokers(&self) -> Vec<i32> {
        self.brokers.values().filter(|b| !b.fenced).map(|b| b.id).collect()
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.topic_names_by_id.get(id).and_then(|n| self.topics.get(n))
    }

    /// Applies one record. Records were validated by the controller before
    /// they were written; replay must accept any prefix of the log.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::Cluster { cluster_id } => self.cluster_id = cluster_id.clone(),
            MetadataRecord::Topic { name, topic_id } => {
                let Ok(id) = Uuid::parse_str(topic_id) else {
                    return;
                };
                if let Some(old) = self.topics.get(name) {
                    self.topic_names_by_id.remove(&old.id);
                }
                self.topic_names_by_id.insert(id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage { name: name.clone(), id, partitions: BTreeMap::new(), configs: BTreeMap::new() },
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas,
                removing_replicas,
            } => {
                let Some(name) = Uuid::parse_str(topic_id).ok().and_then(|id| self.topic_names_by_id.get(&id)) else {
                    return;
                };
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.partitions.insert(
                        *partition,
                        PartitionImage {
                            replicas: replicas.clone(),
                            isr: isr.clone(),
                            leader: *leader,
                            leader_epoch: *leader_epoch,
                            partition_epoch: *partition_epoch,
                            adding_replicas: adding_replicas.clone(),
                            removing_replicas: removing_replicas.clone(),
                        },
                    );
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let Ok(id) = Uuid::parse_str(topic_id) else {
                    return;
                };
                if let Some(name) = self.topic_names_by_id.remove(&id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::TopicConfig { topic, name, value } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    match value {
                        Some(v) => t.configs.insert(name.clone(), v.clone()),
                        None => t.configs.remove(name),
                    };
                }
            }
            MetadataRecord::BrokerConfig { name, value } => {
                match value {
                    Some(v) => self.broker_configs.insert(name.clone(), v.clone()),
                    None => self.broker_configs.remove(name),
                };
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::RegisterBroker { broker_id, incarnation, host, port, fenced, endpoints } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerImage {
                        id: *broker_id,
                        incarnation: incarnation.clone(),
                        host: host.clone(),
                        port: *port,
                        fenced: *fenced,
                        endpoints: endpoints.clone(),
                    },
                );
            }
            MetadataRecord::FenceBroker { broker_id } | MetadataRecord::UnfenceBroker { broker_id } => {
                let fenced = matches!(record, MetadataRecord::FenceBroker { .. });
                if let Some(b) = self.brokers.get_mut(broker_id) {
                    b.fenced = fenced;
                }
            }
            MetadataRecord::UserScramCredential { .. } | MetadataRecord::RemoveUserScramCredential { .. } => {
                crate::scram::apply(&mut self.scram_credentials, record)
            }
        }
    }

    /// The records that rebuild this image from nothing: the content of a
    /// metadata snapshot (as Kafka's snapshots hold records, not a dump).
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        if !self.cluster_id.is_empty() {
            out.push(MetadataRecord::Cluster { cluster_id: self.cluster_id.clone() });
        }
        for b in self.brokers.values() {
            out.push(MetadataRecord::RegisterBroker {
                broker_id: b.id,
                incarnation: b.incarnation.clone(),
                host: b.host.clone(),
                port: b.port,
                fenced: b.fenced,
                endpoints: b.endpoints.clone(),
            });
        }
        for t in self.topics.values() {
            out.push(MetadataRecord::Topic { name: t.name.clone(), topic_id: t.id.to_string() });
            for (index, p) in &t.partitions {
                out.push(partition_record(t.id, *index, p));
            }
            for (name, value) in &t.configs {
                out.push(MetadataRecord::TopicConfig {
                    topic: t.name.clone(),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        for (name, value) in &self.broker_configs {
            out.push(MetadataRecord::BrokerConfig { name: name.clone(), value: Some(value.clone()) });
        }
        if self.next_producer_id > 0 {
            out.push(MetadataRecord::ProducerIds { next_producer_id: self.next_producer_id });
        }
        out.extend(crate::scram::to_records(&self.scram_credentials));
        out
    }

    /// Replays snapshot records into a fresh image at `last_offset`.
    pub fn from_records(records: &[MetadataRecord], last_offset: i64) -> MetadataImage {
        let mut image = MetadataImage::default();
        for r in records {
            image.apply(r);
        }
        image.last_offset = last_offset;
        image
    }
}

/// The record that sets partition `index` of topic `id` to `p`.
pub fn partition_record(id: Uuid, index: i32, p: &PartitionImage) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id: id.to_string(),
        partition: index,
        replicas: p.replicas.clone(),
        isr: p.isr.clone(),
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        adding_replicas: p.adding_replicas.clone(),
        removing_replicas: p.removing_replicas.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_records_rebuild_the_image() {
        let id = Uuid::new_v4();
        let mut image = MetadataImage::default();
        for r in [
            MetadataRecord::Cluster { cluster_id: "c1".into() },
            MetadataRecord::RegisterBroker {
                broker_id: 2,
                incarnation: "i".into(),
                host: "h".into(),
                port: 9,
                fenced: false,
                endpoints: Vec::new(),
            },
            MetadataRecord::FenceBroker { broker_id: 2 },
            MetadataRecord::Topic { name: "t".into(), topic_id: id.to_string() },
            partition_record(
                id,
                0,
                &PartitionImage {
                    replicas: vec![2, 3],
                    isr: vec![2],
                    leader: -1,
                    leader_epoch: 3,
                    partition_epoch: 4,
                    adding_replicas: vec![3],
                    removing_replicas: vec![],
                },
            ),
            MetadataRecord::TopicConfig { topic: "t".into(), name: "retention.ms".into(), value: Some("5".into()) },
            MetadataRecord::BrokerConfig { name: "log.retention.ms".into(), value: Some("7".into()) },
            MetadataRecord::ProducerIds { next_producer_id: 1000 },
        ] {
            image.apply(&r);
        }
        image.last_offset = 42;
        assert_eq!(MetadataImage::from_records(&image.to_records(), 42), image);
        assert!(image.live_brokers().is_empty());
    }
}
