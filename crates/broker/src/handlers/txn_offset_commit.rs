//! TxnOffsetCommit, versions 0..=5 (Kafka 4's range): a transactional
//! producer's `sendOffsetsToTransaction`. The offsets are written to the
//! group's `__consumer_offsets` partition as a transactional batch of the
//! producer and stay pending until the transaction's marker completes
//! them; acknowledged once replicated (acks=all), like OffsetCommit. From
//! v3 the request carries the member and generation, checked for groups
//! with members. The offsets partition is first checked with (or, from
//! v5, added to) the producer's transaction by its coordinator (KIP-890).

use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use brook_protocol::kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{RequestContext, Versions};
use crate::authorization::Op;
use crate::clock::now_ms;
use crate::coordinator::group::coordinator::{OffsetCommit, TxnProducer};
use crate::coordinator::group::state::CommittedOffset;
use crate::replication::TxnVerification;
use crate::txn_verifier::{TxnCheck, TxnQuestion};
use tracing::debug;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let now = now_ms();
    // Kafka: WRITE on the transactional id, READ on the group, READ on each topic.
    let authz = ctx.authz();
    let count = request.topics.iter().map(|t| t.partitions.len()).sum();
    if !authz.transactional_id(Op::Write, request.transactional_id.as_str()) {
        return respond(&request, vec![ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED.code(); count]);
    }
    if !authz.group(Op::Read, request.group_id.as_str()) {
        return respond(&request, vec![ErrorCode::GROUP_AUTHORIZATION_FAILED.code(); count]);
    }
    let allowed: Vec<bool> = request.topics.iter().map(|t| authz.topic(Op::Read, t.name.as_str())).collect();
    let commits = request
        .topics
        .iter()
        .zip(&allowed)
        .filter(|(_, a)| **a)
        .map(|(t, _)| t)
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
    let verification = match verify(ctx, &request).await {
        Ok(v) => v,
        Err(code) => {
            let count = request.topics.iter().map(|t| t.partitions.len()).sum();
            return respond(&request, vec![code.code(); count]);
        }
    };
    let producer =
        TxnProducer { producer_id: request.producer_id.0, producer_epoch: request.producer_epoch, verification };
    let (mut codes, committing) = ctx.node.groups.commit_txn_offsets(
        request.group_id.as_str(),
        producer,
        request.member_id.as_str(),
        request.group_instance_id.as_deref(),
        request.generation_id,
        commits,
    );
    super::offset_commit::wait_replicated(ctx, committing, &mut codes).await;
    // Refused topics get TOPIC_AUTHORIZATION_FAILED in their place.
    let mut codes = codes.into_iter();
    let all_codes = request
        .topics
        .iter()
        .zip(&allowed)
        .flat_map(|(t, a)| t.partitions.iter().map(move |_| *a))
        .map(|a| if a { codes.next().unwrap_or_default() } else { ErrorCode::TOPIC_AUTHORIZATION_FAILED.code() })
        .collect();
    respond(&request, all_codes)
}

/// KIP-890: the group's offsets partition must be in the producer's
/// transaction before its offsets are written there: verified with the
/// coordinator (part 1), or added by this broker for a transaction version
/// 2 producer (v5, part 2). Errors as Kafka converts them for offset
/// commits (a busy coordinator: COORDINATOR_NOT_AVAILABLE, retried).
async fn verify(
    ctx: &RequestContext<'_>,
    request: &TxnOffsetCommitRequest,
) -> Result<Option<TxnVerification>, ErrorCode> {
    let tp = ctx.node.groups.offsets_partition(request.group_id.as_str());
    // Not the leader: the group coordinator answers NOT_COORDINATOR.
    let Some(partition) = ctx.node.replicas.leader(&tp) else { return Ok(None) };
    let Some(verification) = partition.begin_txn_verification(request.producer_id.0, request.producer_epoch) else {
        return Ok(None);
    };
    let question = TxnQuestion {
        transactional_id: request.transactional_id.as_str(),
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        check: if ctx.version() >= 5 { TxnCheck::Add } else { TxnCheck::Verify },
        abortable_supported: ctx.version() >= 4,
    };
    let image = ctx.node.image();
    let coordinator = ctx.node.transactions.locate(&image, question.transactional_id);
    match ctx.node.txn_verifier.check(&image, coordinator, question, &tp).await {
        Ok(()) => Ok(Some(verification)),
        Err(ErrorCode::NOT_ENOUGH_REPLICAS) => Err(ErrorCode::COORDINATOR_NOT_AVAILABLE),
        Err(code) => {
            debug!(group = %request.group_id.as_str(), ?code, "transactional offsets not verified");
            Err(code)
        }
    }
}

/// The response, with one code per requested partition in request order.
fn respond(request: &TxnOffsetCommitRequest, codes: Vec<i16>) -> TxnOffsetCommitResponse {
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
