//! AlterPartitionReassignments, version 0 (KIP-455): move a partition's
//! replicas while it is written. The active controller widens the replica
//! set, the new replicas catch up, and the reassignment completes once they
//! are in sync; a null replica list cancels an ongoing one.

use brook_metadata::requests::{ControllerReply, ControllerRequest};
use brook_protocol::kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use brook_protocol::kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use tracing::info;

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 0);

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // Kafka: ALTER on the cluster.
    if !ctx.authz().cluster(Op::Alter) {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(brook_protocol::error_code::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(str_bytes("Cluster authorization failed.")));
    }
    let items: Vec<(String, i32, Option<Vec<i32>>)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (t.name.to_string(), p.partition_index, p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect()))
            })
        })
        .collect();
    let outcomes = match ctx.node.submit(ControllerRequest::AlterReassignments { items: items.clone() }).await {
        Ok(ControllerReply::Reassignments(list)) => list,
        Ok(_) => Vec::new(),
        Err(e) => {
            return AlterPartitionReassignmentsResponse::default()
                .with_error_code(e.code)
                .with_error_message(Some(str_bytes(&e.message)));
        }
    };
    for ((topic, partition), target) in outcomes.iter().map(|(tp, ..)| tp).zip(items.iter().map(|i| &i.2)) {
        info!(%topic, partition, ?target, "partition reassignment requested");
    }
    let responses = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let found = outcomes
                        .iter()
                        .find(|((topic, index), ..)| topic == t.name.as_str() && *index == p.partition_index);
                    let (code, message) = found.map_or((0, String::new()), |(_, c, m)| (*c, m.clone()));
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_error_message((!message.is_empty()).then(|| str_bytes(&message)))
                })
                .collect();
            ReassignableTopicResponse::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default().with_responses(responses)
}
