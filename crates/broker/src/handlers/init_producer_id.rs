//! InitProducerId, versions 0..=5. Without a transactional id (idempotent
//! producers): a fresh producer id (unique across restarts, allocated
//! through the metadata log) with epoch 0, or, for a producer asking to bump
//! its epoch after an error (KIP-360, v3+), the same id with the next epoch.
//! With one: the transaction coordinator's answer (fencing the previous
//! producer of that id).

use brook_protocol::error_code::{self, ErrorCode};
use brook_protocol::kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::info;

use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    // Kafka: WRITE on the transactional id; without one (idempotent producer),
    // IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
    let authz = ctx.authz();
    match &request.transactional_id {
        Some(id) if !authz.transactional_id(Op::Write, id.as_str()) => {
            return response.with_error_code(error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        }
        None if !authz.cluster(Op::IdempotentWrite)
            && !authz.any_of_type(Op::Write, brook_security::acl::ResourceType::Topic) =>
        {
            return response.with_error_code(error_code::CLUSTER_AUTHORIZATION_FAILED)
        }
        _ => {}
    }
    if let Some(transactional_id) = &request.transactional_id {
        return match transactional(ctx, transactional_id.as_str(), &request).await {
            Ok((id, epoch)) => response.with_producer_id(ProducerId(id)).with_producer_epoch(epoch),
            // Before v4 clients knew no PRODUCER_FENCED.
            Err(ErrorCode::PRODUCER_FENCED) if ctx.version() < 4 => {
                response.with_error_code(error_code::INVALID_PRODUCER_EPOCH)
            }
            Err(code) => response.with_error_code(code.code()),
        };
    }
    if request.producer_id.0 >= 0 && request.producer_epoch >= 0 && request.producer_epoch < i16::MAX - 1 {
        if request.producer_id.0 >= ctx.node.image().next_producer_id {
            return response.with_error_code(error_code::INVALID_PRODUCER_EPOCH);
        }
        return response.with_producer_id(request.producer_id).with_producer_epoch(request.producer_epoch + 1);
    }
    match ctx.node.next_producer_id().await {
        Ok(id) => {
            info!(producer_id = id, "allocated producer id");
            response.with_producer_id(ProducerId(id)).with_producer_epoch(0)
        }
        Err(e) => response.with_error_code(e.code),
    }
}

async fn transactional(
    ctx: &RequestContext<'_>,
    transactional_id: &str,
    request: &InitProducerIdRequest,
) -> Result<(i64, i16), ErrorCode> {
    let expected = match (request.producer_id.0, request.producer_epoch) {
        (-1, -1) => None,
        (-1, _) | (_, -1) => return Err(ErrorCode::INVALID_REQUEST),
        (id, epoch) => Some((id, epoch)),
    };
    let node = ctx.node;
    let allocate = || async { node.next_producer_id().await.map_err(|e| ErrorCode::from_code(e.code)) };
    node.transactions.init_producer_id(transactional_id, request.transaction_timeout_ms, expected, allocate).await
}
