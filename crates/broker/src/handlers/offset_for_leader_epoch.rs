//! OffsetForLeaderEpoch, versions 2..=4: the end offset of a leader epoch,
//! from the partition's leader epoch cache. Consumers use it to detect log
//! truncation after a leader change.

use brook_protocol::kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use brook_protocol::kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use brook_storage::TopicPartition;

use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(2, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    // Kafka: CLUSTER_ACTION on the cluster (followers), else DESCRIBE on each topic (consumers, KIP-320).
    let authz = ctx.authz();
    let cluster_action = authz.cluster(Op::ClusterAction);
    for topic in request.topics {
        let allowed = cluster_action || authz.topic(Op::Describe, topic.topic.as_str());
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let out =
                    EpochEndOffset::default().with_partition(p.partition).with_leader_epoch(-1).with_end_offset(-1);
                if !allowed {
                    return out.with_error_code(brook_protocol::error_code::TOPIC_AUTHORIZATION_FAILED);
                }
                let tp = TopicPartition::new(topic.topic.as_str(), p.partition);
                let partition = match ctx.node.leader_partition(&tp) {
                    Ok(p) => p,
                    Err(code) => return out.with_error_code(code.code()),
                };
                if let Err(code) = partition.check_epoch(p.current_leader_epoch) {
                    return out.with_error_code(code.code());
                }
                let (epoch, end_offset) = partition.end_offset_for_epoch(p.leader_epoch);
                out.with_leader_epoch(epoch).with_end_offset(end_offset)
            })
            .collect();
        topics.push(OffsetForLeaderTopicResult::default().with_topic(topic.topic).with_partitions(partitions));
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
