//! DeleteRecords, versions 0..=2: move a partition's log start offset
//! forward (offset -1 = the high watermark) and delete whole segments below
//! it. The new log start is checkpointed before answering.

use brook_protocol::kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use brook_protocol::kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use brook_storage::TopicPartition;
use tracing::info;

use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 2);

pub async fn handle(ctx: &RequestContext<'_>, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut changed = false;
    let authz = ctx.authz();
    for topic in request.topics {
        // Kafka: DELETE on the topic.
        let allowed = authz.topic(Op::Delete, topic.name.as_str());
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let mut out =
                DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index).with_low_watermark(-1);
            let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
            match ctx.node.leader_partition(&tp) {
                _ if !allowed => out.error_code = brook_protocol::error_code::TOPIC_AUTHORIZATION_FAILED,
                Err(code) => out.error_code = code.code(),
                Ok(partition) => match partition.delete_records_before(p.offset) {
                    Ok(low) => {
                        info!(partition = %tp, log_start_offset = low, "deleted records");
                        out.low_watermark = low;
                        changed = true;
                    }
                    Err(code) => out.error_code = code.code(),
                },
            }
            partitions.push(out);
        }
        topics.push(DeleteRecordsTopicResult::default().with_name(topic.name).with_partitions(partitions));
    }
    if changed {
        ctx.node.checkpoint();
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
