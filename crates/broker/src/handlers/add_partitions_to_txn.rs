//! AddPartitionsToTxn, versions 0..=5. v0..=3: a client adds partitions to
//! its transaction. v4+: the batched form sent by partition leaders: a
//! `verify_only` transaction asks whether each partition is already in the
//! ongoing transaction of that producer id and epoch (KIP-890 part 1, before
//! a transactional produce); a v5 non-verify one adds them implicitly for a
//! transaction version 2 producer (KIP-890 part 2).

use std::collections::BTreeSet;

use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use brook_protocol::kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use brook_protocol::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TransactionalId,
};
use brook_storage::TopicPartition;

use super::end_txn::fenced_for_version;
use super::{topic_name, RequestContext, Versions};
use crate::authorization::Op;
use crate::coordinator::txn::state::TxnVersion;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

/// The first version sent by brokers (batched, with `verify_only`).
const BROKER_VERSION: i16 = 4;
/// The first version whose implicit adds come from TV2 producers.
const TV2_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext<'_>, request: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    let version = ctx.version();
    if version < BROKER_VERSION {
        let codes = add(
            ctx,
            request.v3_and_below_transactional_id.as_str(),
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            &request.v3_and_below_topics,
            false,
        )
        .await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topic_results(codes));
    }
    // Kafka: brokers (v4+) need CLUSTER_ACTION on the cluster.
    if !ctx.authz().cluster(Op::ClusterAction) {
        return AddPartitionsToTxnResponse::default().with_error_code(ErrorCode::CLUSTER_AUTHORIZATION_FAILED.code());
    }
    let mut results = Vec::with_capacity(request.transactions.len());
    for txn in &request.transactions {
        let codes = add(
            ctx,
            txn.transactional_id.as_str(),
            txn.producer_id.0,
            txn.producer_epoch,
            &txn.topics,
            txn.verify_only,
        )
        .await;
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(TransactionalId(txn.transactional_id.0.clone()))
                .with_topic_results(topic_results(codes)),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// One transaction's partitions, each with its error code.
async fn add(
    ctx: &RequestContext<'_>,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
) -> Vec<(TopicPartition, ErrorCode)> {
    let version = ctx.version();
    let partitions: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| TopicPartition::new(t.name.as_str(), *p)))
        .collect();
    // Kafka (clients, before v4): WRITE on the transactional id, then WRITE on
    // each topic; a refused topic fails and nothing is added.
    if version < BROKER_VERSION {
        let authz = ctx.authz();
        if !authz.transactional_id(Op::Write, transactional_id) {
            return all(partitions, ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
        }
        let denied: BTreeSet<&str> =
            topics.iter().map(|t| t.name.as_str()).filter(|t| !authz.topic(Op::Write, t)).collect();
        if !denied.is_empty() {
            return partitions
                .into_iter()
                .map(|tp| {
                    let code = if denied.contains(tp.topic.as_str()) {
                        ErrorCode::TOPIC_AUTHORIZATION_FAILED
                    } else {
                        ErrorCode::OPERATION_NOT_ATTEMPTED
                    };
                    (tp, code)
                })
                .collect();
        }
    }
    let coordinator = &ctx.node.transactions;
    if verify_only {
        return match coordinator.verify_partitions(transactional_id, producer_id, producer_epoch, &partitions) {
            Ok(codes) => partitions.into_iter().zip(codes).collect(),
            Err(code) => all(partitions, code),
        };
    }
    // Unknown partitions fail, and then nothing is added (Kafka's rule).
    let image = ctx.node.image();
    let unknown =
        |tp: &TopicPartition| image.topic(&tp.topic).is_none_or(|t| !t.partitions.contains_key(&tp.partition));
    if partitions.iter().any(unknown) {
        return partitions
            .into_iter()
            .map(|tp| {
                let code = if unknown(&tp) {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                } else {
                    ErrorCode::OPERATION_NOT_ATTEMPTED
                };
                (tp, code)
            })
            .collect();
    }
    let txn_version = if version >= TV2_VERSION { TxnVersion::V2 } else { TxnVersion::V0 };
    let set: BTreeSet<TopicPartition> = partitions.iter().cloned().collect();
    let code = match coordinator.add_partitions(transactional_id, producer_id, producer_epoch, set, txn_version).await {
        Ok(()) => ErrorCode::NONE,
        Err(code) => fenced_for_version(code, version),
    };
    all(partitions, code)
}

fn all(partitions: Vec<TopicPartition>, code: ErrorCode) -> Vec<(TopicPartition, ErrorCode)> {
    partitions.into_iter().map(|tp| (tp, code)).collect()
}

fn topic_results(codes: Vec<(TopicPartition, ErrorCode)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for (tp, code) in codes {
        let partition = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(tp.partition)
            .with_partition_error_code(code.code());
        match results.iter_mut().find(|r| r.name.as_str() == tp.topic) {
            Some(r) => r.results_by_partition.push(partition),
            None => results.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(topic_name(&tp.topic))
                    .with_results_by_partition(vec![partition]),
            ),
        }
    }
    results
}
