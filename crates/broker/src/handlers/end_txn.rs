//! EndTxn, versions 0..=5: commit or abort the producer's transaction. The
//! answer comes once the PrepareCommit/PrepareAbort state is durable; the
//! transaction coordinator then writes the markers. v5 is transaction
//! version 2 (KIP-890): the epoch is bumped and returned.

use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::{RequestContext, Versions};
use crate::authorization::Op;
use crate::coordinator::txn::state::TxnVersion;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

/// The first version whose client speaks transaction version 2.
const TV2_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext<'_>, request: EndTxnRequest) -> EndTxnResponse {
    let node = ctx.node;
    // Kafka: WRITE on the transactional id.
    if !ctx.authz().transactional_id(Op::Write, request.transactional_id.as_str()) {
        return EndTxnResponse::default()
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_error_code(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED.code());
    }
    let version = if ctx.version() >= TV2_VERSION { TxnVersion::V2 } else { TxnVersion::V0 };
    let allocate = || async { node.next_producer_id().await.map_err(|e| ErrorCode::from_code(e.code)) };
    let result = node
        .transactions
        .end_txn(
            request.transactional_id.as_str(),
            request.producer_id.0,
            request.producer_epoch,
            request.committed,
            version,
            allocate,
        )
        .await;
    let response = EndTxnResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    match result {
        Ok((id, epoch)) => response.with_producer_id(ProducerId(id)).with_producer_epoch(epoch),
        Err(code) => response.with_error_code(fenced_for_version(code, ctx.version()).code()),
    }
}

/// Clients before v2 know no PRODUCER_FENCED: they get INVALID_PRODUCER_EPOCH.
pub fn fenced_for_version(code: ErrorCode, version: i16) -> ErrorCode {
    if code == ErrorCode::PRODUCER_FENCED && version < 2 {
        ErrorCode::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}
