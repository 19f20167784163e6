//! AddOffsetsToTxn, versions 0..=4: adds the group's `__consumer_offsets`
//! partition to the transaction, so TxnOffsetCommit can write there and the
//! markers end those offsets with the transaction.

use brook_protocol::kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use brook_storage::TopicPartition;

use super::end_txn::fenced_for_version;
use super::{RequestContext, Versions};
use crate::authorization::Op;
use crate::coordinator::group::store::partition_for;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::txn::state::TxnVersion;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let node = ctx.node;
    // Kafka: WRITE on the transactional id, READ on the group.
    let authz = ctx.authz();
    if !authz.transactional_id(Op::Write, request.transactional_id.as_str()) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(brook_protocol::error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    if !authz.group(Op::Read, request.group_id.as_str()) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(brook_protocol::error_code::GROUP_AUTHORIZATION_FAILED);
    }
    let offsets =
        TopicPartition::new(OFFSETS_TOPIC, partition_for(request.group_id.as_str(), node.groups.offsets_partitions()));
    let result = node
        .transactions
        .add_partitions(
            request.transactional_id.as_str(),
            request.producer_id.0,
            request.producer_epoch,
            [offsets].into_iter().collect(),
            TxnVersion::V0,
        )
        .await;
    let code = result.err().map_or(0, |code| fenced_for_version(code, ctx.version()).code());
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
