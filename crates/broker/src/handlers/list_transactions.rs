//! ListTransactions, versions 0..=1: the transactional ids this broker
//! coordinates, filtered by state names, producer ids and (v1) how long
//! their transaction has been open.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::list_transactions_response::TransactionState;
use brook_protocol::kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;
use crate::clock::now_ms;
use crate::coordinator::txn::state::TxnState;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 1);

pub async fn handle(ctx: &RequestContext<'_>, request: ListTransactionsRequest) -> ListTransactionsResponse {
    let response = ListTransactionsResponse::default();
    if ctx.node.transactions.is_loading() {
        return response.with_error_code(error_code::COORDINATOR_LOAD_IN_PROGRESS);
    }
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for name in &request.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(s) => states.push(s),
            None => unknown.push(name.clone()),
        }
    }
    let response = response.with_unknown_state_filters(unknown);
    if !request.state_filters.is_empty() && states.is_empty() {
        return response;
    }
    let producer_ids: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let open_longer_than_ms = if ctx.version() >= 1 { request.duration_filter } else { -1 };
    let mut listed = ctx.node.transactions.list(&states, &producer_ids, open_longer_than_ms, now_ms());
    // Kafka: only transactional ids the principal may DESCRIBE.
    let authz = ctx.authz();
    listed.retain(|t| authz.transactional_id(Op::Describe, &t.transactional_id));
    response.with_transaction_states(
        listed
            .into_iter()
            .map(|t| {
                TransactionState::default()
                    .with_transactional_id(TransactionalId(str_bytes(&t.transactional_id)))
                    .with_producer_id(ProducerId(t.producer_id))
                    .with_transaction_state(str_bytes(t.state.name()))
            })
            .collect(),
    )
}
