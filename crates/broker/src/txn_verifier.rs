//! KIP-890, the partition leader's side: before a transactional producer's
//! first batch to a partition (or a transactional offset commit to a
//! group's `__consumer_offsets` partition) is appended, the leader asks
//! the producer's transaction coordinator about the partition.
//!
//! - Part 1 (**verify**, AddPartitionsToTxn v4 `verify_only`): is the
//!   partition in the ongoing transaction at this producer id and epoch? A
//!   batch the coordinator does not know of (a zombie's, or one that raced
//!   the end of its transaction) is refused instead of opening a
//!   transaction nobody will ever end.
//! - Part 2 (**add**, AddPartitionsToTxn v5): transaction version 2 clients
//!   (Produce v12, TxnOffsetCommit v5) never add partitions themselves; the
//!   leader adds the partition for them.
//!
//! Links to coordinators are pooled per broker; each exchange is bounded
//! by the link's timeout.

use std::collections::HashMap;

use brook_metadata::MetadataImage;
use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use brook_protocol::kafka_protocol::messages::{AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId};
use brook_protocol::kafka_protocol::protocol::StrBytes;
use brook_storage::TopicPartition;
use parking_lot::Mutex;
use tracing::debug;

use crate::broker_link::BrokerLink;

const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// What the leader asks the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnCheck {
    /// Is the partition in the transaction? (KIP-890 part 1)
    Verify,
    /// Add the partition to the transaction (transaction version 2).
    Add,
}

impl TxnCheck {
    fn version(self) -> i16 {
        match self {
            TxnCheck::Verify => 4,
            TxnCheck::Add => 5,
        }
    }
}

/// The question, for one partition.
#[derive(Debug, Clone, Copy)]
pub struct TxnQuestion<'a> {
    pub transactional_id: &'a str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub check: TxnCheck,
    /// The client's request version knows TRANSACTION_ABORTABLE (Produce
    /// v11+, TxnOffsetCommit v4+); older ones get INVALID_TXN_STATE.
    pub abortable_supported: bool,
}

pub struct TxnVerifier {
    node_id: i32,
    links: Mutex<HashMap<i32, Vec<BrokerLink>>>,
}

impl TxnVerifier {
    pub fn new(node_id: i32) -> TxnVerifier {
        TxnVerifier { node_id, links: Mutex::new(HashMap::new()) }
    }

    /// Asks `coordinator` (the leader of the id's `__transaction_state`
    /// partition, if it has one) about `tp`. Errors are Kafka's codes for
    /// the producer (see [`producer_error`]).
    pub async fn check(
        &self,
        image: &MetadataImage,
        coordinator: Option<i32>,
        question: TxnQuestion<'_>,
        tp: &TopicPartition,
    ) -> Result<(), ErrorCode> {
        let unavailable = ErrorCode::NOT_ENOUGH_REPLICAS;
        let coordinator = coordinator.ok_or(unavailable)?;
        let addr = image
            .brokers
            .get(&coordinator)
            .filter(|b| !b.fenced)
            .map(|b| format!("{}:{}", b.host, b.port))
            .ok_or(unavailable)?;
        let request =
            AddPartitionsToTxnRequest::default().with_transactions(vec![AddPartitionsToTxnTransaction::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(question.transactional_id.to_string())))
                .with_producer_id(ProducerId(question.producer_id))
                .with_producer_epoch(question.producer_epoch)
                .with_verify_only(question.check == TxnCheck::Verify)
                .with_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_string(tp.topic.to_string())))
                    .with_partitions(vec![tp.partition])])]);
        let pooled = self.links.lock().get_mut(&coordinator).and_then(Vec::pop);
        let mut link = match pooled {
            Some(link) => link,
            None => BrokerLink::connect(&addr, format!("brook-txn-verifier-{}", self.node_id), MAX_RESPONSE_BYTES)
                .await
                .map_err(|e| {
                    debug!(coordinator, error = %e, "cannot reach the transaction coordinator");
                    unavailable
                })?,
        };
        let response = link.send(question.check.version(), &request).await.map_err(|e| {
            debug!(coordinator, error = %e, "transaction verification failed");
            unavailable
        })?;
        self.links.lock().entry(coordinator).or_default().push(link);
        let code = if response.error_code != 0 {
            response.error_code
        } else {
            response
                .results_by_transaction
                .iter()
                .flat_map(|t| &t.topic_results)
                .flat_map(|t| &t.results_by_partition)
                .find(|p| p.partition_index == tp.partition)
                .map_or(ErrorCode::INVALID_TXN_STATE.code(), |p| p.partition_error_code)
        };
        match ErrorCode::from_code(code) {
            code if code.is_none() => Ok(()),
            code => Err(producer_error(code, question.abortable_supported)),
        }
    }
}

/// Kafka's translation of a coordinator's answer for the producer: a
/// coordinator that is moving or busy becomes NOT_ENOUGH_REPLICAS, which
/// every client retries without refreshing metadata; a fenced producer
/// gets INVALID_PRODUCER_EPOCH; "not in the transaction" is
/// TRANSACTION_ABORTABLE for clients that know it, else INVALID_TXN_STATE.
pub fn producer_error(code: ErrorCode, abortable_supported: bool) -> ErrorCode {
    match code {
        ErrorCode::NOT_COORDINATOR
        | ErrorCode::COORDINATOR_NOT_AVAILABLE
        | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
        | ErrorCode::CONCURRENT_TRANSACTIONS => ErrorCode::NOT_ENOUGH_REPLICAS,
        ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => ErrorCode::INVALID_PRODUCER_EPOCH,
        ErrorCode::TRANSACTION_ABORTABLE if abortable_supported => ErrorCode::TRANSACTION_ABORTABLE,
        ErrorCode::INVALID_PRODUCER_ID_MAPPING => ErrorCode::INVALID_PRODUCER_ID_MAPPING,
        _ => ErrorCode::INVALID_TXN_STATE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_answers_become_kafka_producer_errors() {
        assert_eq!(producer_error(ErrorCode::CONCURRENT_TRANSACTIONS, true), ErrorCode::NOT_ENOUGH_REPLICAS);
        assert_eq!(producer_error(ErrorCode::NOT_COORDINATOR, false), ErrorCode::NOT_ENOUGH_REPLICAS);
        assert_eq!(producer_error(ErrorCode::PRODUCER_FENCED, true), ErrorCode::INVALID_PRODUCER_EPOCH);
        assert_eq!(producer_error(ErrorCode::TRANSACTION_ABORTABLE, true), ErrorCode::TRANSACTION_ABORTABLE);
        assert_eq!(producer_error(ErrorCode::TRANSACTION_ABORTABLE, false), ErrorCode::INVALID_TXN_STATE);
        assert_eq!(
            producer_error(ErrorCode::INVALID_PRODUCER_ID_MAPPING, false),
            ErrorCode::INVALID_PRODUCER_ID_MAPPING
        );
        assert_eq!(producer_error(ErrorCode::UNKNOWN_SERVER_ERROR, true), ErrorCode::INVALID_TXN_STATE);
    }
}
