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
//!
//! An add that meets CONCURRENT_TRANSACTIONS (the producer's previous
//! transaction is still writing its markers, normal right after a commit)
//! is asked again here, every [`ADD_RETRY_BACKOFF`] for up to
//! [`ADD_RETRY_MAX`], before the producer hears of it: Kafka 4.0 does the
//! same (KAFKA-18654, `add.partitions.to.txn.retry.backoff.ms` = 20 and
//! `add.partitions.to.txn.retry.backoff.max.ms` = 100), so a transaction
//! version 2 producer's next transaction does not wait out its own
//! exponential retry backoff after every commit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

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

/// The pause between two asks of an add that met CONCURRENT_TRANSACTIONS
/// (Kafka's `add.partitions.to.txn.retry.backoff.ms` default).
pub const ADD_RETRY_BACKOFF: Duration = Duration::from_millis(20);
/// How long such an add is retried before the producer gets the answer
/// (Kafka's `add.partitions.to.txn.retry.backoff.max.ms` default).
pub const ADD_RETRY_MAX: Duration = Duration::from_millis(100);

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
    tls: crate::broker_link::LinkTls,
}

impl TxnVerifier {
    pub fn new(node_id: i32, tls: crate::broker_link::LinkTls) -> TxnVerifier {
        TxnVerifier { node_id, links: Mutex::new(HashMap::new()), tls }
    }

    /// Asks `coordinator` (the leader of the id's `__transaction_state`
    /// partition, if it has one) about `tp`, retrying an add that meets
    /// CONCURRENT_TRANSACTIONS (see the module doc). Errors are Kafka's
    /// codes for the producer (see [`producer_error`]).
    pub async fn check(
        &self,
        image: &MetadataImage,
        coordinator: Option<i32>,
        question: TxnQuestion<'_>,
        tp: &TopicPartition,
    ) -> Result<(), ErrorCode> {
        let started = Instant::now();
        loop {
            let answer = self.ask(image, coordinator, question, tp).await;
            match answer {
                Err(code) if retry_after(question.check, code, started.elapsed()).is_some() => {
                    debug!(partition = %tp, transactional_id = question.transactional_id, ?code, "asking again");
                    tokio::time::sleep(ADD_RETRY_BACKOFF).await;
                }
                Err(code) => {
                    debug!(partition = %tp, transactional_id = question.transactional_id, ?code, "coordinator refused");
                    return Err(producer_error(code, question.abortable_supported));
                }
                Ok(()) => return Ok(()),
            }
        }
    }

    /// One exchange with the coordinator: its error code for `tp`, or
    /// COORDINATOR_NOT_AVAILABLE when it cannot be asked.
    async fn ask(
        &self,
        image: &MetadataImage,
        coordinator: Option<i32>,
        question: TxnQuestion<'_>,
        tp: &TopicPartition,
    ) -> Result<(), ErrorCode> {
        let unavailable = ErrorCode::COORDINATOR_NOT_AVAILABLE;
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
            None => BrokerLink::connect(
                &addr,
                format!("brook-txn-verifier-{}", self.node_id),
                MAX_RESPONSE_BYTES,
                &self.tls,
            )
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
            code => Err(code),
        }
    }
}

/// Whether an answer `code` to `check`, `elapsed` after the first ask, is
/// asked again (after [`ADD_RETRY_BACKOFF`]): only an add that met
/// CONCURRENT_TRANSACTIONS, and only while a further ask still starts
/// within [`ADD_RETRY_MAX`].
pub fn retry_after(check: TxnCheck, code: ErrorCode, elapsed: Duration) -> Option<Duration> {
    let concurrent_add = check == TxnCheck::Add && code == ErrorCode::CONCURRENT_TRANSACTIONS;
    (concurrent_add && elapsed + ADD_RETRY_BACKOFF <= ADD_RETRY_MAX).then_some(ADD_RETRY_BACKOFF)
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

    #[test]
    fn an_add_meeting_concurrent_transactions_is_asked_again_for_at_most_100_ms() {
        let concurrent = ErrorCode::CONCURRENT_TRANSACTIONS;
        assert_eq!(retry_after(TxnCheck::Add, concurrent, Duration::ZERO), Some(ADD_RETRY_BACKOFF));
        assert_eq!(retry_after(TxnCheck::Add, concurrent, Duration::from_millis(80)), Some(ADD_RETRY_BACKOFF));
        assert_eq!(retry_after(TxnCheck::Add, concurrent, Duration::from_millis(81)), None);
        // Verification (part 1) and every other answer go straight to the producer, as in Kafka.
        assert_eq!(retry_after(TxnCheck::Verify, concurrent, Duration::ZERO), None);
        for code in [ErrorCode::COORDINATOR_NOT_AVAILABLE, ErrorCode::NOT_COORDINATOR, ErrorCode::PRODUCER_FENCED] {
            assert_eq!(retry_after(TxnCheck::Add, code, Duration::ZERO), None);
        }
    }

    #[test]
    fn an_unreachable_coordinator_is_not_enough_replicas_for_the_producer() {
        // ask() reports it as COORDINATOR_NOT_AVAILABLE; the producer retries without a metadata refresh.
        assert_eq!(producer_error(ErrorCode::COORDINATOR_NOT_AVAILABLE, true), ErrorCode::NOT_ENOUGH_REPLICAS);
    }
}
