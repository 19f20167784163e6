//! InitProducerId, versions 0..=4, for idempotent (non-transactional)
//! producers: a fresh producer id (unique across restarts, allocated through
//! the metadata log) with epoch 0, or, for a producer asking to bump its
//! epoch after an error (KIP-360, v3+), the same id with the next epoch.
//! Transactional ids are refused: transactions are not implemented.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::{info, warn};

use super::{RequestContext, Versions};

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        warn!("InitProducerId with a transactional id refused: transactions are not supported");
        return response.with_error_code(error_code::INVALID_REQUEST);
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
