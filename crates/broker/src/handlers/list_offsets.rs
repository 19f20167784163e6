//! ListOffsets, versions 1..=8: earliest (-2), latest (-1, the high
//! watermark), max timestamp (-3, v7+), earliest local (-4, v8+) and by
//! timestamp. While a new leader's high watermark lags the start of its
//! epoch, a consumer gets OFFSET_NOT_AVAILABLE (retriable) for the latest
//! offset and for a time not found below the watermark, as from Kafka.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use brook_protocol::kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use brook_storage::TopicPartition;

use super::{RequestContext, Versions};
use crate::authorization::Op;
use crate::replication::{Isolation, OffsetQuery};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(1, 8);

pub async fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let version = ctx.version();
    let mut topics = Vec::with_capacity(request.topics.len());
    let authz = ctx.authz();
    for topic in request.topics {
        // Kafka: DESCRIBE on the topic.
        let allowed = authz.topic(Op::Describe, topic.name.as_str());
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let mut out = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            if !allowed {
                out.error_code = error_code::TOPIC_AUTHORIZATION_FAILED;
                partitions.push(out);
                continue;
            }
            let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
            let partition = match ctx.node.leader_partition(&tp) {
                Ok(p) => p,
                Err(code) => {
                    out.error_code = code.code();
                    partitions.push(out);
                    continue;
                }
            };
            if let Err(code) = partition.check_epoch(p.current_leader_epoch) {
                out.error_code = code.code();
                partitions.push(out);
                continue;
            }
            let query = match p.timestamp {
                LATEST => OffsetQuery::Latest,
                EARLIEST | EARLIEST_LOCAL => OffsetQuery::Earliest,
                MAX_TIMESTAMP => OffsetQuery::MaxTimestamp,
                ts if ts >= 0 => OffsetQuery::Timestamp(ts),
                _ => {
                    out.error_code = error_code::INVALID_REQUEST;
                    partitions.push(out);
                    continue;
                }
            };
            // A consumer (replica id -1), not a follower or a debugging tool (-2).
            // READ_COMMITTED (isolation level 1) sees up to the last stable offset.
            let isolation =
                if request.isolation_level == 1 { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
            let found = partition.list_offset(query, isolation, request.replica_id.0 == -1);
            match found {
                Ok(Some((offset, timestamp))) => {
                    out.offset = offset;
                    out.timestamp = timestamp;
                    if version >= 4 {
                        out.leader_epoch = partition.leader_epoch();
                    }
                }
                Ok(None) => {}
                Err(code) => out.error_code = code.code(),
            }
            partitions.push(out);
        }
        topics.push(ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions));
    }
    ListOffsetsResponse::default().with_topics(topics)
}
