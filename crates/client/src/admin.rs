//! Cluster administration: topics, partitions, configs, records, offsets,
//! consumer groups and transactions ([`transactions`]).
//!
//! ```no_run
//! # async fn demo() -> brook_client::Result<()> {
//! use brook_client::admin::Admin;
//! let admin = Admin::new("127.0.0.1:9092").await?;
//! admin.create_topic("events", 3, 1, &[("retention.ms", "86400000")]).await?;
//! for topic in admin.list_topics().await? {
//!     println!("{} ({} partitions)", topic.name, topic.partitions.len());
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::cluster::{ClientConfig, Cluster, TopicMetadata};
use crate::consumer::{coordinator, list_offsets, Tp};
use crate::error::{check, check_message, ClientError, Result};

pub mod acls;
pub mod quotas;
pub mod scram;
pub mod transactions;
pub use quotas::{ClientQuotaEntry, QuotaEntity, QuotaMatch};
pub use transactions::{
    producer_at_start_offset, AbortTransactionSpec, ProducerState, TransactionDescription, TransactionListing,
};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One config entry as DescribeConfigs reports it.
#[derive(Debug, Clone)]
pub struct ConfigValue {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
}

/// A consumer group member.
#[derive(Debug, Clone)]
pub struct GroupMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<Tp>,
}

/// ListGroups across the cluster: (group id, state, protocol type), sorted
/// by id, and the brokers that could not be asked.
#[derive(Debug, Clone, Default)]
pub struct GroupListing {
    pub groups: Vec<(String, String, String)>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

/// DescribeCluster's answer.
#[derive(Debug, Clone)]
pub struct ClusterDescription {
    pub cluster_id: String,
    pub controller: i32,
    pub brokers: Vec<BrokerDescription>,
}

#[derive(Debug, Clone)]
pub struct BrokerDescription {
    pub id: i32,
    pub address: String,
    pub fenced: bool,
}

/// DescribeQuorum's answer: voters as (id, log end offset, lag behind the leader).
#[derive(Debug, Clone)]
pub struct QuorumDescription {
    pub leader: i32,
    pub epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<(i32, i64, i64)>,
}

pub struct Admin {
    cluster: Arc<Cluster>,
}

impl Admin {
    pub async fn new(bootstrap: &str) -> Result<Admin> {
        Self::with_config(ClientConfig::new(bootstrap)).await
    }

    pub async fn with_config(config: ClientConfig) -> Result<Admin> {
        let cluster = Cluster::new(config)?;
        cluster.refresh(&[]).await?;
        Ok(Admin { cluster })
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let request =
            CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(partitions)
                .with_replication_factor(replication)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                        .collect(),
                )]);
        let response = self.cluster.any_connection().await?.send(7, &request).await?;
        let t = &response.topics[0];
        check_message(t.error_code, t.error_message.as_ref(), || format!("create topic '{name}'"))?;
        self.cluster.refresh(&[name.to_string()]).await?;
        Ok(())
    }

    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let request = DeleteTopicsRequest::default().with_timeout_ms(30_000).with_topic_names(vec![TopicName(s(name))]);
        let response = self.cluster.any_connection().await?.send(5, &request).await?;
        let r = &response.responses[0];
        check(r.error_code, || format!("delete topic '{name}'"))
    }

    pub async fn list_topics(&self) -> Result<Vec<TopicMetadata>> {
        let snapshot = self.cluster.refresh(&[]).await?;
        let mut topics: Vec<TopicMetadata> = snapshot.topics.into_values().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    pub async fn describe_topic(&self, name: &str) -> Result<TopicMetadata> {
        self.cluster.refresh(&[name.to_string()]).await?;
        self.cluster.topic(name).ok_or_else(|| ClientError::from_code(3, format!("topic '{name}'")))
    }

    pub async fn create_partitions(&self, name: &str, count: i32) -> Result<()> {
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatePartitionsTopic::default().with_name(TopicName(s(name))).with_count(count)]);
        let response = self.cluster.any_connection().await?.send(3, &request).await?;
        let r = &response.results[0];
        check_message(r.error_code, r.error_message.as_ref(), || format!("create partitions of '{name}'"))?;
        Ok(())
    }

    /// (cluster id, controller id, [(node id, host:port)]).
    /// Cluster id, the controller clients see, and every registered broker.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let request = DescribeClusterRequest::default().with_include_fenced_brokers(true);
        let response = self.cluster.any_connection().await?.send(2, &request).await?;
        check(response.error_code, || "DescribeCluster".to_string())?;
        let mut brokers: Vec<BrokerDescription> = response
            .brokers
            .iter()
            .map(|b| BrokerDescription {
                id: b.broker_id.0,
                address: format!("{}:{}", b.host.as_str(), b.port),
                fenced: b.is_fenced,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.to_string(),
            controller: response.controller_id.0,
            brokers,
        })
    }

    /// The metadata quorum (DescribeQuorum): leader, epoch, high watermark
    /// and each voter's log end offset.
    pub async fn describe_quorum(&self) -> Result<QuorumDescription> {
        let request = DescribeQuorumRequest::default().with_topics(vec![describe_quorum_request::TopicData::default()
            .with_topic_name(TopicName(s("__cluster_metadata")))
            .with_partitions(vec![describe_quorum_request::PartitionData::default().with_partition_index(0)])]);
        let response = self.cluster.any_connection().await?.send(1, &request).await?;
        check(response.error_code, || "DescribeQuorum".to_string())?;
        let p = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| ClientError::Protocol("DescribeQuorum answered no partition".into()))?;
        check(p.error_code, || "DescribeQuorum".to_string())?;
        let leader_end = p.current_voters.iter().find(|v| v.replica_id == p.leader_id).map_or(-1, |v| v.log_end_offset);
        Ok(QuorumDescription {
            leader: p.leader_id.0,
            epoch: p.leader_epoch,
            high_watermark: p.high_watermark,
            voters: p
                .current_voters
                .iter()
                .map(|v| (v.replica_id.0, v.log_end_offset, (leader_end - v.log_end_offset).max(0)))
                .collect(),
        })
    }

    /// AlterPartitionReassignments: (topic, partition, target replicas, or
    /// None to cancel). Returns each partition's error code and message.
    pub async fn reassign(
        &self,
        items: &[(String, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<((String, i32), i16, Option<String>)>> {
        use alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for (topic, partition, replicas) in items {
            let p = ReassignablePartition::default()
                .with_partition_index(*partition)
                .with_replicas(replicas.as_ref().map(|r| r.iter().map(|b| BrokerId(*b)).collect()));
            match topics.iter_mut().find(|t| t.name.as_str() == topic) {
                Some(t) => t.partitions.push(p),
                None => {
                    topics.push(ReassignableTopic::default().with_name(TopicName(s(topic))).with_partitions(vec![p]))
                }
            }
        }
        let request = AlterPartitionReassignmentsRequest::default().with_timeout_ms(30_000).with_topics(topics);
        let response = self.cluster.any_connection().await?.send(0, &request).await?;
        check_message(response.error_code, response.error_message.as_ref(), || "reassign partitions".to_string())?;
        Ok(response
            .responses
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        (t.name.to_string(), p.partition_index),
                        p.error_code,
                        p.error_message.as_ref().map(|m| m.to_string()),
                    )
                })
            })
            .collect())
    }

    /// Ongoing reassignments: (topic, partition, replicas, adding, removing).
    pub async fn list_reassignments(&self) -> Result<Vec<(String, i32, Vec<i32>, Vec<i32>, Vec<i32>)>> {
        let response =
            self.cluster.any_connection().await?.send(0, &ListPartitionReassignmentsRequest::default()).await?;
        check(response.error_code, || "list reassignments".to_string())?;
        let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<i32>>();
        Ok(response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.to_string(),
                        p.partition_index,
                        ids(&p.replicas),
                        ids(&p.adding_replicas),
                        ids(&p.removing_replicas),
                    )
                })
            })
            .collect())
    }

    /// Earliest (-2), latest (-1), max timestamp (-3) or by-timestamp offsets.
    pub async fn list_offsets(&self, partitions: &[Tp], spec: i64) -> Result<HashMap<Tp, i64>> {
        list_offsets(&self.cluster, partitions, spec).await
    }

    pub async fn describe_configs(&self, resource_type: i8, name: &str) -> Result<Vec<ConfigValue>> {
        let request = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(None)]);
        let response = self.cluster.any_connection().await?.send(4, &request).await?;
        let r = &response.results[0];
        check_message(r.error_code, r.error_message.as_ref(), || format!("describe configs of '{name}'"))?;
        Ok(r.configs
            .iter()
            .map(|c| ConfigValue {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                source: c.config_source,
                read_only: c.read_only,
            })
            .collect())
    }

    /// IncrementalAlterConfigs: `set` (name, value) pairs and `delete` names.
    pub async fn alter_configs(
        &self,
        resource_type: i8,
        name: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<()> {
        let mut configs: Vec<AlterableConfig> = set
            .iter()
            .map(|(k, v)| AlterableConfig::default().with_name(s(k)).with_config_operation(0).with_value(Some(s(v))))
            .collect();
        configs.extend(delete.iter().map(|k| AlterableConfig::default().with_name(s(k)).with_config_operation(1)));
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(configs)]);
        let response = self.cluster.any_connection().await?.send(1, &request).await?;
        let r = &response.responses[0];
        check_message(r.error_code, r.error_message.as_ref(), || format!("alter configs of '{name}'"))?;
        Ok(())
    }

    /// DeleteRecords: returns the new low watermark.
    pub async fn delete_records(&self, topic: &str, partition: i32, before_offset: i64) -> Result<i64> {
        self.cluster.refresh(&[topic.to_string()]).await?;
        let leader = self
            .cluster
            .leader(topic, partition)
            .ok_or_else(|| ClientError::from_code(3, format!("{topic}-{partition}")))?;
        let request =
            DeleteRecordsRequest::default().with_timeout_ms(30_000).with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(partition)
                    .with_offset(before_offset)])]);
        let response = self.cluster.connection_to_node(leader).await?.send(2, &request).await?;
        let p = &response.topics[0].partitions[0];
        check(p.error_code, || format!("delete records of {topic}-{partition}"))?;
        Ok(p.low_watermark)
    }

    /// Every group of the cluster. ListGroups goes to every broker, since
    /// each lists only the groups it coordinates (as Kafka's admin client
    /// does); a broker that did not answer is named in `errors`, so its
    /// groups are reported missing rather than silently left out.
    pub async fn list_groups(&self) -> Result<GroupListing> {
        let snapshot = self.cluster.refresh(&[]).await?;
        let mut groups = BTreeMap::new();
        let mut errors = Vec::new();
        for node in snapshot.brokers.keys() {
            let answer = match self.cluster.connection_to_node(*node).await {
                Ok(conn) => conn.send(4, &ListGroupsRequest::default()).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(r) if r.error_code == 0 => {
                    for g in r.groups {
                        groups.insert(g.group_id.to_string(), (g.group_state.to_string(), g.protocol_type.to_string()));
                    }
                }
                Ok(r) => errors.push(format!("broker {node}: {}", ClientError::from_code(r.error_code, "ListGroups"))),
                Err(e) => errors.push(format!("broker {node}: {e}")),
            }
        }
        let groups = groups.into_iter().map(|(id, (state, protocol_type))| (id, state, protocol_type)).collect();
        Ok(GroupListing { groups, errors })
    }

    pub async fn describe_group(&self, group: &str) -> Result<GroupInfo> {
        let conn = coordinator(&self.cluster, group).await?;
        let response = conn.send(5, &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))])).await?;
        let g = &response.groups[0];
        check(g.error_code, || format!("describe group '{group}'"))?;
        let members = g
            .members
            .iter()
            .map(|m| {
                let mut assignment = Vec::new();
                let mut bytes = m.member_assignment.clone();
                if g.protocol_type.as_str() == "consumer" && bytes.len() >= 2 {
                    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
                    bytes = bytes.slice(2..);
                    if let Ok(a) = ConsumerProtocolAssignment::decode(&mut bytes, version.clamp(0, 3)) {
                        for tp in a.assigned_partitions {
                            for p in tp.partitions {
                                assignment.push((tp.topic.to_string(), p));
                            }
                        }
                    }
                }
                GroupMember {
                    member_id: m.member_id.to_string(),
                    instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment,
                }
            })
            .collect();
        Ok(GroupInfo {
            group_id: group.to_string(),
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
        })
    }

    /// Every committed offset of a group.
    pub async fn group_offsets(&self, group: &str) -> Result<HashMap<Tp, i64>> {
        let conn = coordinator(&self.cluster, group).await?;
        let response =
            conn.send(7, &OffsetFetchRequest::default().with_group_id(GroupId(s(group))).with_topics(None)).await?;
        check(response.error_code, || format!("fetch offsets of group '{group}'"))?;
        let mut out = HashMap::new();
        for t in response.topics {
            for p in t.partitions {
                if p.committed_offset >= 0 {
                    out.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                }
            }
        }
        Ok(out)
    }

    /// Sets a group's committed offsets. Refused by the broker
    /// (UNKNOWN_MEMBER_ID) while the group has live members.
    pub async fn set_group_offsets(&self, group: &str, offsets: &[(Tp, i64)]) -> Result<()> {
        let info = self.describe_group(group).await?;
        if !info.members.is_empty() {
            return Err(ClientError::InvalidArgument(format!(
                "group '{group}' has {} live member(s); stop them before resetting offsets",
                info.members.len()
            )));
        }
        let mut config = crate::consumer::ConsumerConfig::new("unused");
        config.client = self.cluster.config.clone();
        config.group_id = Some(group.to_string());
        let consumer = crate::consumer::Consumer::new(config).await?;
        consumer.commit_offsets(offsets).await
    }

    pub async fn delete_group(&self, group: &str) -> Result<()> {
        let conn = coordinator(&self.cluster, group).await?;
        let response = conn.send(2, &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))])).await?;
        check(response.results[0].error_code, || format!("delete group '{group}'"))
    }
}
