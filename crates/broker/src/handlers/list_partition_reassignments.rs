//! ListPartitionReassignments, version 0: the ongoing reassignments, from
//! this broker's metadata image.

use std::collections::BTreeMap;

use brook_metadata::reassignment;
use brook_protocol::kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use brook_protocol::kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::{topic_name, RequestContext, Versions};
use crate::authorization::Op;

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().map(|b| BrokerId(*b)).collect()
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 0);

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.authz().cluster(Op::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(brook_protocol::error_code::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(brook_protocol::kafka_protocol::protocol::StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let image = ctx.node.image();
    let wanted = |topic: &str, partition: i32| match &request.topics {
        None => true,
        Some(ts) => ts.iter().any(|t| t.name.as_str() == topic && t.partition_indexes.contains(&partition)),
    };
    let mut by_topic: BTreeMap<String, Vec<OngoingPartitionReassignment>> = BTreeMap::new();
    for (topic, partition, replicas, adding, removing) in reassignment::ongoing(&image) {
        if !wanted(&topic, partition) {
            continue;
        }
        by_topic.entry(topic).or_default().push(
            OngoingPartitionReassignment::default()
                .with_partition_index(partition)
                .with_replicas(ids(&replicas))
                .with_adding_replicas(ids(&adding))
                .with_removing_replicas(ids(&removing)),
        );
    }
    ListPartitionReassignmentsResponse::default().with_topics(
        by_topic
            .into_iter()
            .map(|(t, ps)| OngoingTopicReassignment::default().with_name(topic_name(&t)).with_partitions(ps))
            .collect(),
    )
}
