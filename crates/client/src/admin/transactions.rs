//! Transaction administration, as Kafka's `Admin` offers it to
//! `kafka-transactions.sh`: list and describe transactions, inspect a
//! partition's producers, and abort a hanging transaction by writing its
//! ABORT marker directly to the partition leader.
//!
//! The pure parts (choosing the producer of a hanging transaction) are
//! free functions with unit tests; the rest is one request per broker.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::*;

use super::{s, Admin};
use crate::cluster::Cluster;
use crate::connection::BrokerConnection;
use crate::error::{check, check_message, ClientError, Result};
use std::sync::Arc;

/// FindCoordinator's key type for transactional ids.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// One open or recent transaction, as a broker's coordinator lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    /// The broker whose transaction coordinator answered.
    pub coordinator: i32,
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: String,
}

/// DescribeTransactions' answer for one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub coordinator: i32,
    pub transactional_id: String,
    pub state: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    /// -1 when no transaction is ongoing.
    pub start_time_ms: i64,
    pub partitions: Vec<(String, i32)>,
}

/// A producer with state on a partition (DescribeProducers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    pub producer_id: i64,
    pub producer_epoch: i32,
    pub last_sequence: i32,
    pub last_timestamp_ms: i64,
    /// -1 when unknown.
    pub coordinator_epoch: i32,
    /// First offset of its open transaction on the partition; -1 when none.
    pub current_txn_start_offset: i64,
}

/// What to abort: one partition's transaction of one producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    pub topic: String,
    pub partition: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
}

impl AbortTransactionSpec {
    /// The abort of `producer`'s open transaction on `topic`-`partition`,
    /// as `kafka-transactions.sh abort --start-offset` builds it: an
    /// unknown coordinator epoch (-1) is sent as 0.
    pub fn for_producer(topic: &str, partition: i32, producer: &ProducerState) -> Result<AbortTransactionSpec> {
        let producer_epoch = i16::try_from(producer.producer_epoch)
            .map_err(|_| ClientError::Protocol(format!("producer epoch {} out of range", producer.producer_epoch)))?;
        Ok(AbortTransactionSpec {
            topic: topic.to_string(),
            partition,
            producer_id: producer.producer_id,
            producer_epoch,
            coordinator_epoch: producer.coordinator_epoch.max(0),
        })
    }
}

/// The producer whose open transaction on the partition starts at
/// `start_offset` (what `abort --start-offset` aborts).
pub fn producer_at_start_offset(producers: &[ProducerState], start_offset: i64) -> Option<&ProducerState> {
    if start_offset < 0 {
        return None;
    }
    producers.iter().find(|p| p.current_txn_start_offset == start_offset)
}

impl Admin {
    /// ListTransactions on every broker, merged: each coordinator knows only
    /// its own transactional ids. Empty filters match everything.
    pub async fn list_transactions(&self, states: &[String], producer_ids: &[i64]) -> Result<Vec<TransactionListing>> {
        let snapshot = self.cluster.refresh(&[]).await?;
        let mut brokers: Vec<i32> = snapshot.brokers.keys().copied().collect();
        brokers.sort();
        let request = ListTransactionsRequest::default()
            .with_state_filters(states.iter().map(|st| s(st)).collect())
            .with_producer_id_filters(producer_ids.iter().map(|p| ProducerId(*p)).collect())
            .with_duration_filter(-1);
        let mut out = Vec::new();
        for broker in brokers {
            let conn = self.cluster.connection_to_node(broker).await?;
            let response = conn.send(1, &request).await?;
            check(response.error_code, || format!("ListTransactions on broker {broker}"))?;
            if let Some(unknown) = response.unknown_state_filters.first() {
                return Err(ClientError::InvalidArgument(format!("unknown transaction state '{unknown}'")));
            }
            out.extend(response.transaction_states.iter().map(|t| TransactionListing {
                coordinator: broker,
                transactional_id: t.transactional_id.to_string(),
                producer_id: t.producer_id.0,
                state: t.transaction_state.to_string(),
            }));
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    /// DescribeTransactions at the transactional id's coordinator.
    pub async fn describe_transaction(&self, transactional_id: &str) -> Result<TransactionDescription> {
        let (coordinator, conn) = transaction_coordinator(&self.cluster, transactional_id).await?;
        let request =
            DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s(transactional_id))]);
        let response = conn.send(0, &request).await?;
        let t = response
            .transaction_states
            .first()
            .ok_or_else(|| ClientError::Protocol("DescribeTransactions answered no transaction".into()))?;
        check(t.error_code, || format!("describe transaction '{transactional_id}'"))?;
        let mut partitions: Vec<(String, i32)> =
            t.topics.iter().flat_map(|topic| topic.partitions.iter().map(|p| (topic.topic.to_string(), *p))).collect();
        partitions.sort();
        Ok(TransactionDescription {
            coordinator,
            transactional_id: t.transactional_id.to_string(),
            state: t.transaction_state.to_string(),
            producer_id: t.producer_id.0,
            producer_epoch: t.producer_epoch,
            timeout_ms: t.transaction_timeout_ms,
            start_time_ms: t.transaction_start_time_ms,
            partitions,
        })
    }

    /// DescribeProducers at the partition's leader.
    pub async fn describe_producers(&self, topic: &str, partition: i32) -> Result<Vec<ProducerState>> {
        let conn = self.partition_leader(topic, partition).await?;
        let request = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(vec![partition])]);
        let response = conn.send(0, &request).await?;
        let p =
            response.topics.iter().flat_map(|t| &t.partitions).find(|p| p.partition_index == partition).ok_or_else(
                || ClientError::Protocol(format!("DescribeProducers did not answer {topic}-{partition}")),
            )?;
        check_message(p.error_code, p.error_message.as_ref(), || format!("describe producers of {topic}-{partition}"))?;
        Ok(p.active_producers
            .iter()
            .map(|a| ProducerState {
                producer_id: a.producer_id.0,
                producer_epoch: a.producer_epoch,
                last_sequence: a.last_sequence,
                last_timestamp_ms: a.last_timestamp,
                coordinator_epoch: a.coordinator_epoch,
                current_txn_start_offset: a.current_txn_start_offset,
            })
            .collect())
    }

    /// Finds the abort for the transaction open on `topic`-`partition`
    /// since `start_offset` (DescribeProducers on the leader).
    pub async fn abort_spec_at_start_offset(
        &self,
        topic: &str,
        partition: i32,
        start_offset: i64,
    ) -> Result<AbortTransactionSpec> {
        let producers = self.describe_producers(topic, partition).await?;
        let producer = producer_at_start_offset(&producers, start_offset).ok_or_else(|| {
            ClientError::InvalidArgument(format!(
                "could not find any open transaction starting at offset {start_offset} on partition {topic}-{partition}"
            ))
        })?;
        AbortTransactionSpec::for_producer(topic, partition, producer)
    }

    /// Aborts a transaction on one partition: WriteTxnMarkers (ABORT) to
    /// the partition leader, as Kafka's `Admin.abortTransaction` does. For
    /// hanging transactions the coordinator has forgotten; a live one
    /// should be ended by its producer or coordinator instead.
    pub async fn abort_transaction(&self, spec: &AbortTransactionSpec) -> Result<()> {
        let conn = self.partition_leader(&spec.topic, spec.partition).await?;
        let marker = WritableTxnMarker::default()
            .with_producer_id(ProducerId(spec.producer_id))
            .with_producer_epoch(spec.producer_epoch)
            .with_transaction_result(false)
            .with_coordinator_epoch(spec.coordinator_epoch)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(s(&spec.topic)))
                .with_partition_indexes(vec![spec.partition])]);
        let response = conn.send(1, &WriteTxnMarkersRequest::default().with_markers(vec![marker])).await?;
        let results: BTreeMap<(String, i32), i16> = response
            .markers
            .iter()
            .filter(|m| m.producer_id.0 == spec.producer_id)
            .flat_map(|m| &m.topics)
            .flat_map(|t| t.partitions.iter().map(move |p| ((t.name.to_string(), p.partition_index), p.error_code)))
            .collect();
        let code = results.get(&(spec.topic.clone(), spec.partition)).copied().ok_or_else(|| {
            ClientError::Protocol(format!("WriteTxnMarkers did not answer {}-{}", spec.topic, spec.partition))
        })?;
        check(code, || {
            format!("abort transaction of producer {} on {}-{}", spec.producer_id, spec.topic, spec.partition)
        })
    }

    async fn partition_leader(&self, topic: &str, partition: i32) -> Result<Arc<BrokerConnection>> {
        self.cluster.refresh(&[topic.to_string()]).await?;
        let leader = self
            .cluster
            .leader(topic, partition)
            .ok_or_else(|| ClientError::from_code(3, format!("{topic}-{partition}")))?;
        self.cluster.connection_to_node(leader).await
    }
}

/// The transaction coordinator of `transactional_id` (FindCoordinator,
/// key type 1), retried while the coordinator is loading or moving.
async fn transaction_coordinator(cluster: &Cluster, transactional_id: &str) -> Result<(i32, Arc<BrokerConnection>)> {
    let mut attempts = 0;
    loop {
        let conn = cluster.any_connection().await?;
        let request =
            FindCoordinatorRequest::default().with_key(s(transactional_id)).with_key_type(KEY_TYPE_TRANSACTION);
        let response = conn.send(3, &request).await?;
        match response.error_code {
            0 => {
                let addr = format!("{}:{}", response.host.as_str(), response.port);
                return Ok((response.node_id.0, cluster.connection_to(&addr).await?));
            }
            code if attempts < 20 && ClientError::from_code(code, "").is_retriable() => {
                attempts += 1;
                tokio::time::sleep(cluster.config.retry_backoff).await;
            }
            code => {
                return Err(ClientError::from_code(code, format!("FindCoordinator (transaction) '{transactional_id}'")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer(id: i64, start: i64, coordinator_epoch: i32) -> ProducerState {
        ProducerState {
            producer_id: id,
            producer_epoch: 3,
            last_sequence: 9,
            last_timestamp_ms: 100,
            coordinator_epoch,
            current_txn_start_offset: start,
        }
    }

    #[test]
    fn picks_the_producer_whose_transaction_starts_at_the_offset() {
        let producers = [producer(1, -1, 0), producer(2, 40, 5), producer(3, 41, 5)];
        assert_eq!(producer_at_start_offset(&producers, 40).map(|p| p.producer_id), Some(2));
        assert_eq!(producer_at_start_offset(&producers, 41).map(|p| p.producer_id), Some(3));
        assert_eq!(producer_at_start_offset(&producers, 42), None);
        // -1 means "no open transaction", never a start offset.
        assert_eq!(producer_at_start_offset(&producers, -1), None);
    }

    #[test]
    fn abort_spec_sends_an_unknown_coordinator_epoch_as_zero() {
        let spec = AbortTransactionSpec::for_producer("t", 2, &producer(7, 40, -1)).unwrap();
        assert_eq!(
            spec,
            AbortTransactionSpec {
                topic: "t".into(),
                partition: 2,
                producer_id: 7,
                producer_epoch: 3,
                coordinator_epoch: 0
            }
        );
        assert_eq!(AbortTransactionSpec::for_producer("t", 2, &producer(7, 40, 4)).unwrap().coordinator_epoch, 4);
        let mut odd = producer(7, 40, 4);
        odd.producer_epoch = 70_000;
        assert!(AbortTransactionSpec::for_producer("t", 2, &odd).is_err());
    }
}
