//! OffsetCommit, versions 2..=8: generation-checked commits from group
//! members, and simple commits (generation -1) to groups without members.
//! Acknowledged once the record is in `__consumer_offsets`.

use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use brook_protocol::kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{RequestContext, Versions};
use crate::authorization::Op;
use crate::clock::now_ms;
use crate::coordinator::group::coordinator::{Committing, OffsetCommit};
use crate::coordinator::group::state::CommittedOffset;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(2, 8);

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let now = now_ms();
    // Kafka: READ on the group, then READ on each topic.
    let authz = ctx.authz();
    if !authz.group(Op::Read, request.group_id.as_str()) {
        return refused(&request, ErrorCode::GROUP_AUTHORIZATION_FAILED);
    }
    let allowed: Vec<bool> = request.topics.iter().map(|t| authz.topic(Op::Read, t.name.as_str())).collect();
    let mut commits = Vec::new();
    for (topic, _) in request.topics.iter().zip(&allowed).filter(|(_, a)| **a) {
        for p in &topic.partitions {
            commits.push(OffsetCommit {
                topic: topic.name.to_string(),
                partition: p.partition_index,
                offset: CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    commit_timestamp_ms: now,
                },
            });
        }
    }
    let (mut codes, committing) = ctx.node.groups.commit_offsets(
        request.group_id.as_str(),
        request.member_id.as_str(),
        request.group_instance_id.as_deref(),
        request.generation_id_or_member_epoch,
        commits,
    );
    wait_replicated(ctx, committing, &mut codes).await;
    let mut codes = codes.into_iter();
    let topics = request
        .topics
        .iter()
        .zip(&allowed)
        .map(|(t, allowed)| {
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        let code = if *allowed {
                            codes.next().unwrap_or_default()
                        } else {
                            ErrorCode::TOPIC_AUTHORIZATION_FAILED.code()
                        };
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// Every partition of the request answered with `code`.
fn refused(request: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code.code())
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// Offsets are acknowledged only once replicated to the ISR (acks=all), as
/// Kafka does; a failure replaces every success in `codes`.
pub(super) async fn wait_replicated(ctx: &RequestContext<'_>, committing: Option<Committing>, codes: &mut [i16]) {
    let Some(c) = committing else { return };
    let timeout = std::time::Duration::from_millis(ctx.node.config.offsets_commit_timeout_ms);
    if let Err(code) = ctx.node.replicas.wait_replicated(&c.partition, c.leader_epoch, c.last_offset, timeout).await {
        let code = if code == ErrorCode::NOT_LEADER_OR_FOLLOWER { ErrorCode::NOT_COORDINATOR } else { code }.code();
        for c in codes.iter_mut().filter(|c| **c == 0) {
            *c = code;
        }
    }
}
