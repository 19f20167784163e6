//! DescribeTransactions, version 0: the state of transactional ids this
//! broker coordinates.

use std::collections::BTreeMap;

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use brook_protocol::kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId};

use super::{str_bytes, topic_name, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 0);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    // Kafka: DESCRIBE on each transactional id; partitions of topics without DESCRIBE are left out.
    let authz = ctx.authz();
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let state = TransactionState::default().with_transactional_id(id.clone()).with_producer_id(ProducerId(-1));
            if !authz.transactional_id(Op::Describe, id.as_str()) {
                return state
                    .with_error_code(error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                    .with_producer_epoch(-1);
            }
            match ctx.node.transactions.describe(id.as_str()) {
                Err(code) => state.with_error_code(code.code()).with_producer_epoch(-1),
                Ok(d) => {
                    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                    for tp in d.partitions.iter().filter(|tp| authz.topic(Op::Describe, &tp.topic)) {
                        topics.entry(tp.topic.as_str()).or_default().push(tp.partition);
                    }
                    state
                        .with_error_code(error_code::NONE)
                        .with_transaction_state(str_bytes(d.state.name()))
                        .with_transaction_timeout_ms(d.timeout_ms)
                        .with_transaction_start_time_ms(d.start_ms)
                        .with_producer_id(ProducerId(d.producer_id))
                        .with_producer_epoch(d.producer_epoch)
                        .with_topics(
                            topics
                                .into_iter()
                                .map(|(t, ps)| TopicData::default().with_topic(topic_name(t)).with_partitions(ps))
                                .collect(),
                        )
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
