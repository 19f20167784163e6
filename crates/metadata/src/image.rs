//! The immutable view of cluster metadata that handlers read. A new image is
//! built for every committed batch of records; readers hold an `Arc` to the
//! image they started with, so they never see a half-applied change.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::records::MetadataRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
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
    /// Dynamic broker-level config overrides.
    pub broker_configs: BTreeMap<String, String>,
    pub next_producer_id: i64,
    /// Offset of the last applied record in the metadata log.
    pub last_offset: i64,
}

impl MetadataImage {
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
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
                self.topic_names_by_id.insert(id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage { name: name.clone(), id, partitions: BTreeMap::new(), configs: BTreeMap::new() },
                );
            }
            MetadataRecord::Partition { topic_id, partition, replicas, isr, leader, leader_epoch } => {
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
        }
    }
}
