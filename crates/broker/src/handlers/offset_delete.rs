//! OffsetDelete, version 0: drop committed offsets of partitions the group
//! does not consume (GROUP_SUBSCRIBED_TO_TOPIC for those it does).

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use brook_protocol::kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 0);

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    // Kafka: DELETE on the group, READ on each topic.
    let authz = ctx.authz();
    if !authz.group(Op::Delete, request.group_id.as_str()) {
        return OffsetDeleteResponse::default().with_error_code(error_code::GROUP_AUTHORIZATION_FAILED);
    }
    let allowed: Vec<bool> = request.topics.iter().map(|t| authz.topic(Op::Read, t.name.as_str())).collect();
    let wanted: Vec<(String, i32)> = request
        .topics
        .iter()
        .zip(&allowed)
        .filter(|(_, a)| **a)
        .map(|(t, _)| t)
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), p.partition_index)))
        .collect();
    match ctx.node.groups.delete_offsets(request.group_id.as_str(), &wanted) {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code.code()),
        Ok(codes) => {
            let mut codes = codes.into_iter();
            let topics = request
                .topics
                .iter()
                .zip(&allowed)
                .map(|(t, allowed)| {
                    OffsetDeleteResponseTopic::default().with_name(t.name.clone()).with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                let code = if *allowed {
                                    codes.next().unwrap_or_default()
                                } else {
                                    error_code::TOPIC_AUTHORIZATION_FAILED
                                };
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
