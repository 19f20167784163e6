//! TxnOffsetCommit, versions 0..=5 (Kafka 4's range): a transactional
//! producer's `sendOffsetsToTransaction`. The offsets are written to the
//! group's `__consumer_offsets` partition as a transactional batch of the
//! producer and stay pending until the transaction's marker completes
//! them; acknowledged once replicated (acks=all), like OffsetCommit. From
//! v3 the request carries the member and generation, checked for groups
//! with members.

use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use brook_protocol::kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{RequestContext, Versions};
use crate::clock::now_ms;
use crate::coordinator::group::coordinator::{OffsetCommit, TxnProducer};
use crate::coordinator::group::state::CommittedOffset;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let now = now_ms();
    let commits = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(move |p| OffsetCommit {
                topic: topic.name.to_string(),
                partition: p.partition_index,
                offset: CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    commit_timestamp_ms: now,
                },
            })
        })
        .collect();
    let producer = TxnProducer { producer_id: request.producer_id.0, producer_epoch: request.producer_epoch };
    let (mut codes, committing) = ctx.node.groups.commit_txn_offsets(
        request.group_id.as_str(),
        producer,
        request.member_id.as_str(),
        request.group_instance_id.as_deref(),
        request.generation_id,
        commits,
    );
    if let Some(c) = committing {
        let timeout = std::time::Duration::from_millis(ctx.node.config.offsets_commit_timeout_ms);
        if let Err(code) = ctx.node.replicas.wait_replicated(&c.partition, c.leader_epoch, c.last_offset, timeout).await
        {
            let code = if code == ErrorCode::NOT_LEADER_OR_FOLLOWER { ErrorCode::NOT_COORDINATOR } else { code }.code();
            for c in codes.iter_mut().filter(|c| **c == 0) {
                *c = code;
            }
        }
    }
    let mut codes = codes.into_iter();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(codes.next().unwrap_or_default())
                    })
                    .collect(),
            )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
