//! KIP-890 part 1, the partition leader's side: before a transactional
//! producer's first batch to a partition is appended, the leader asks the
//! producer's transaction coordinator whether the partition is in its
//! ongoing transaction (AddPartitionsToTxn v4, `verify_only`). A batch
//! the coordinator does not know of (a zombie's, or one that raced the
//! end of its transaction) is refused with INVALID_TXN_STATE instead of
//! opening a transaction nobody will ever end.
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

/// The first AddPartitionsToTxn version with the brokers' batched form.
const VERIFY_VERSION: i16 = 4;
const MAX_RESPONSE_BYTES: usize = 1 << 20;

pub struct TxnVerifier {
    node_id: i32,
    links: Mutex<HashMap<i32, Vec<BrokerLink>>>,
}

impl TxnVerifier {
    pub fn new(node_id: i32) -> TxnVerifier {
        TxnVerifier { node_id, links: Mutex::new(HashMap::new()) }
    }

    /// Whether `tp` is in the ongoing transaction of `transactional_id` at
    /// this producer id and epoch. Errors are Kafka's codes for the
    /// producer: INVALID_TXN_STATE when the coordinator says no,
    /// INVALID_PRODUCER_EPOCH for a fenced producer, and NOT_ENOUGH_REPLICAS
    /// (retriable, as Kafka answers) when it cannot be asked now.
    /// `coordinator`: the leader of the id's `__transaction_state`
    /// partition, if it has one.
    pub async fn verify(
        &self,
        image: &MetadataImage,
        coordinator: Option<i32>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
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
                .with_transactional_id(TransactionalId(StrBytes::from_string(transactional_id.to_string())))
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_verify_only(true)
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
        let response = link.send(VERIFY_VERSION, &request).await.map_err(|e| {
            debug!(coordinator, error = %e, "transaction verification failed");
            unavailable
        })?;
        self.links.lock().entry(coordinator).or_default().push(link);
        if response.error_code != 0 {
            return Err(retriable_or_invalid(ErrorCode::from_code(response.error_code)));
        }
        let code = response
            .results_by_transaction
            .iter()
            .flat_map(|t| &t.topic_results)
            .flat_map(|t| &t.results_by_partition)
            .find(|p| p.partition_index == tp.partition)
            .map_or(ErrorCode::INVALID_TXN_STATE.code(), |p| p.partition_error_code);
        match ErrorCode::from_code(code) {
            code if code.is_none() => Ok(()),
            code => Err(retriable_or_invalid(code)),
        }
    }
}

/// A coordinator that is moving or loading is retried by the producer
/// (NOT_ENOUGH_REPLICAS is Kafka's retriable answer for a verification
/// that could not be made); anything else means "not in the transaction".
fn retriable_or_invalid(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::NOT_COORDINATOR
        | ErrorCode::COORDINATOR_NOT_AVAILABLE
        | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
        | ErrorCode::CONCURRENT_TRANSACTIONS => ErrorCode::NOT_ENOUGH_REPLICAS,
        ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => ErrorCode::INVALID_PRODUCER_EPOCH,
        _ => ErrorCode::INVALID_TXN_STATE,
    }
}
