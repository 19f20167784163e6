//! OffsetDelete, version 0: drop committed offsets of partitions the group
//! does not consume (GROUP_SUBSCRIBED_TO_TOPIC for those it does).

use brook_protocol::kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use brook_protocol::kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{RequestContext, Versions};

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 0);

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let wanted: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), p.partition_index)))
        .collect();
    match ctx.node.groups.delete_offsets(request.group_id.as_str(), &wanted) {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code.code()),
        Ok(codes) => {
            let mut codes = codes.into_iter();
            let topics = request
                .topics
                .iter()
                .map(|t| {
                    OffsetDeleteResponseTopic::default().with_name(t.name.clone()).with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(codes.next().unwrap_or_default())
                            })
                            .collect(),
                    )
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
