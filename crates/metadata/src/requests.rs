//! What brokers ask of the active controller, and its answers. Any broker
//! accepts a client's CreateTopics (etc.), turns it into a
//! [`ControllerRequest`], and sends it to the active controller, which
//! decides against its latest image ([`decide`]) and commits the records
//! through the quorum. An error travels back as the Kafka error code the
//! client gets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::broker_lifecycle::{BrokerLiveness, HeartbeatReply, Sessions};
use crate::controller::{self, ClusterDefaults, ConfigChanges, Decision, NewTopic};
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// Producer ids handed to a broker at a time (Kafka's block size).
pub const PRODUCER_ID_BLOCK: i64 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControllerRequest {
    CreateTopic {
        name: String,
        num_partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        assignment: Vec<Vec<i32>>,
        /// The requesting broker's num.partitions / default.replication.factor.
        default_partitions: i32,
        default_replication: i16,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
        /// One replica list per new partition; None: place automatically.
        /// (Defaulted so a request from a broker without it still decodes.)
        #[serde(default)]
        assignment: Option<Vec<Vec<i32>>>,
    },
    AlterTopicConfigs {
        name: String,
        changes: ConfigChanges,
        replace_all: bool,
    },
    AlterBrokerConfigs {
        changes: ConfigChanges,
        replace_all: bool,
    },
    AllocateProducerIds,
    /// AlterPartitionReassignments: (topic, partition, target replicas or
    /// None to cancel).
    AlterReassignments {
        items: Vec<(String, i32, Option<Vec<i32>>)>,
    },
    /// Preferred leader election for these partitions (all if None).
    ElectPreferredLeaders {
        partitions: Option<Vec<(String, i32)>>,
    },
    AlterPartition {
        topic_id: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        new_isr: Vec<i32>,
    },
    RegisterBroker {
        broker_id: i32,
        incarnation: String,
        host: String,
        port: u16,
        /// Every listener's endpoint; absent from requests of older brokers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        endpoints: Vec<crate::records::BrokerEndpoint>,
    },
    BrokerHeartbeat {
        broker_id: i32,
        incarnation: String,
        caught_up: bool,
        shutting_down: bool,
    },
    /// AlterUserScramCredentials (KIP-554): the receiving broker has
    /// already turned each salted password into StoredKey/ServerKey.
    AlterUserScramCredentials {
        deletions: Vec<crate::scram::ScramDeletion>,
        upsertions: Vec<crate::scram::ScramUpsertion>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerReply {
    Done,
    TopicCreated {
        topic_id: String,
    },
    ProducerIds {
        first: i64,
        count: i64,
    },
    Heartbeat(HeartbeatReply),
    PartitionEpoch(i32),
    /// Per partition ((topic, partition), error code).
    Elections(Vec<crate::broker_lifecycle::ElectionOutcome>),
    /// Per partition ((topic, partition), error code, message).
    Reassignments(Vec<((String, i32), i16, String)>),
    /// Per user (user, error code, message).
    ScramResults(Vec<(String, i16, String)>),
}

/// The controller's in-memory state next to the image: broker liveness.
#[derive(Debug, Default)]
pub struct ControllerState {
    pub liveness: BrokerLiveness,
    pub last_rebalance_ms: i64,
    /// This voter's view of the nodes' session connections, refreshed by
    /// the quorum before each decision (empty: nothing known to be dead).
    pub sessions: Sessions,
}

/// Decides one request against `image`. `now` in ms since the epoch.
pub fn decide(
    state: &mut ControllerState,
    image: &MetadataImage,
    request: &ControllerRequest,
    now: i64,
    session_timeout_ms: i64,
) -> Decision<ControllerReply> {
    let done = |d: Decision| d.map(|(r, ())| (r, ControllerReply::Done));
    match request {
        ControllerRequest::CreateTopic {
            name,
            num_partitions,
            replication_factor,
            configs,
            assignment,
            default_partitions,
            default_replication,
        } => {
            let live = image.live_brokers();
            let defaults = ClusterDefaults {
                num_partitions: *default_partitions,
                replication_factor: *default_replication,
                live_brokers: &live,
            };
            let topic = NewTopic {
                name,
                num_partitions: *num_partitions,
                replication_factor: *replication_factor,
                configs,
                assignment,
            };
            controller::create_topic(image, &topic, &defaults)
                .map(|(r, id)| (r, ControllerReply::TopicCreated { topic_id: id.to_string() }))
        }
        ControllerRequest::DeleteTopic { name } => {
            controller::delete_topic(image, name).map(|(r, _)| (r, ControllerReply::Done))
        }
        ControllerRequest::CreatePartitions { name, count, assignment } => {
            done(controller::create_partitions(image, name, *count, assignment.as_deref()))
        }
        ControllerRequest::AlterTopicConfigs { name, changes, replace_all } => {
            done(controller::alter_topic_configs(image, name, changes, *replace_all))
        }
        ControllerRequest::AlterBrokerConfigs { changes, replace_all } => {
            done(controller::alter_broker_configs(image, changes, *replace_all))
        }
        ControllerRequest::AlterPartition { topic_id, partition, leader, leader_epoch, partition_epoch, new_isr } => {
            controller::alter_partition(image, topic_id, *partition, *leader, *leader_epoch, *partition_epoch, new_isr)
                .map(|(r, epoch)| (r, ControllerReply::PartitionEpoch(epoch)))
        }
        ControllerRequest::AlterReassignments { items } => {
            // Each item is decided on the image the earlier ones leave.
            let mut scratch = image.clone();
            let mut records = Vec::new();
            let mut outcomes = Vec::with_capacity(items.len());
            for (topic, partition, target) in items {
                match crate::reassignment::reassign(&scratch, topic, *partition, target.as_deref()) {
                    Ok((r, ())) => {
                        for x in &r {
                            scratch.apply(x);
                        }
                        records.extend(r);
                        outcomes.push(((topic.clone(), *partition), 0, String::new()));
                    }
                    Err(e) => outcomes.push(((topic.clone(), *partition), e.code, e.message)),
                }
            }
            Ok((records, ControllerReply::Reassignments(outcomes)))
        }
        ControllerRequest::ElectPreferredLeaders { partitions } => {
            let (records, outcomes) = crate::broker_lifecycle::elect_preferred(image, partitions.as_deref());
            Ok((records, ControllerReply::Elections(outcomes)))
        }
        ControllerRequest::AllocateProducerIds => controller::allocate_producer_ids(image, PRODUCER_ID_BLOCK)
            .map(|(r, first)| (r, ControllerReply::ProducerIds { first, count: PRODUCER_ID_BLOCK })),
        ControllerRequest::RegisterBroker { broker_id, incarnation, host, port, endpoints } => done(
            state
                .liveness
                .register(image, &state.sessions, *broker_id, incarnation, host, *port, now, session_timeout_ms)
                .map(|(records, ())| (with_endpoints(records, *broker_id, endpoints), ())),
        ),
        ControllerRequest::BrokerHeartbeat { broker_id, incarnation, caught_up, shutting_down } => state
            .liveness
            .heartbeat(image, &state.sessions, *broker_id, incarnation, *caught_up, *shutting_down, now)
            .map(|(r, reply)| (r, ControllerReply::Heartbeat(reply))),
        ControllerRequest::AlterUserScramCredentials { deletions, upsertions } => {
            let (records, results) = crate::scram::alter_credentials(image, deletions, upsertions);
            Ok((records, ControllerReply::ScramResults(results)))
        }
    }
}

/// Settings of the controller's automatic leader rebalance (Kafka's names).
#[derive(Debug, Clone, Copy)]
pub struct LeaderRebalance {
    /// `auto.leader.rebalance.enable`
    pub enabled: bool,
    /// `leader.imbalance.check.interval.seconds`, in ms
    pub interval_ms: i64,
    /// `leader.imbalance.per.broker.percentage`
    pub imbalance_percent: i64,
}

/// The controller's periodic work: give a new cluster its id, fence brokers
/// whose session expired or whose process is gone, and (every rebalance interval) move leadership
/// back to preferred replicas.
pub fn tick(
    state: &mut ControllerState,
    image: &MetadataImage,
    now: i64,
    session_timeout_ms: i64,
    rebalance: LeaderRebalance,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    if image.cluster_id.is_empty() {
        records.push(new_cluster_record());
    }
    records.extend(state.liveness.expire(image, &state.sessions, now, session_timeout_ms));
    if records.is_empty() {
        records.extend(crate::reassignment::complete_reassignments(image));
    }
    if records.is_empty() && rebalance.enabled && now - state.last_rebalance_ms >= rebalance.interval_ms {
        state.last_rebalance_ms = now;
        records.extend(crate::broker_lifecycle::rebalance_leaders(image, rebalance.imbalance_percent));
    }
    records
}

/// The record that names a new cluster.
pub fn new_cluster_record() -> MetadataRecord {
    let cluster_id = uuid::Uuid::new_v4().simple().to_string()[..22].to_string();
    MetadataRecord::Cluster { cluster_id }
}

/// Puts a registering broker's listener endpoints on its RegisterBroker record
/// (the liveness rules only decide whether it may register).
fn with_endpoints(
    mut records: Vec<MetadataRecord>,
    id: i32,
    endpoints: &[crate::records::BrokerEndpoint],
) -> Vec<MetadataRecord> {
    for record in &mut records {
        if let MetadataRecord::RegisterBroker { broker_id, endpoints: e, .. } = record {
            if *broker_id == id {
                *e = endpoints.to_vec();
            }
        }
    }
    records
}
