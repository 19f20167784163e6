//! The transaction marker sender (Kafka's `TransactionMarkerChannelManager`
//! and `TransactionMarkerRequestCompletionHandler`): writes a completing
//! transaction's COMMIT or ABORT marker on each of its partitions by sending
//! WriteTxnMarkers v1 to each partition's leader, over the network (also to
//! this broker itself: one path for all). Leaders come from the metadata
//! image at each round; failed partitions are retried with backoff until
//! every one is acknowledged. Partitions of deleted topics are dropped.
//!
//! Thread-safe: one connection per leader broker, used by one exchange at a
//! time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use brook_metadata::MetadataImage;
use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use brook_protocol::kafka_protocol::messages::{ProducerId, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use brook_storage::TopicPartition;
use futures::future::join_all;
use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::broker_link::BrokerLink;
use crate::handlers::topic_name;

/// The WriteTxnMarkers version the sender speaks.
const MARKERS_VERSION: i16 = 1;
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(50);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Largest WriteTxnMarkers response accepted.
const RESPONSE_MAX_BYTES: usize = 16 << 20;

/// The markers of one completing transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The epoch of the Prepare state (bumped by TV2 and by fencing).
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
    pub partitions: BTreeSet<TopicPartition>,
}

/// Why markers were not all written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// This broker no longer coordinates the transaction (its new
    /// coordinator sends the markers again after loading it).
    NotCoordinator,
    /// A partition leader refused the coordinator epoch or producer epoch:
    /// a newer coordinator or producer took over.
    Fenced,
}

/// What one partition's answer means for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerReply {
    Written,
    Retry,
    Fenced,
}

/// Kafka's choices per error code (`TransactionMarkerRequestCompletionHandler`).
pub fn classify(code: ErrorCode) -> MarkerReply {
    match code {
        ErrorCode::NONE => MarkerReply::Written,
        // The partition cannot hold transactional data: the producer could
        // not have written to it, so there is nothing to end.
        ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT | ErrorCode::UNSUPPORTED_VERSION => MarkerReply::Written,
        ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::TRANSACTION_COORDINATOR_FENCED => MarkerReply::Fenced,
        // Leadership moving, not enough replicas, timeouts, storage errors
        // and anything unexpected: retry (a skipped marker would hold the
        // partition's last stable offset forever).
        _ => MarkerReply::Retry,
    }
}

type Link = Arc<tokio::sync::Mutex<Option<BrokerLink>>>;

pub struct MarkerSender {
    client_id: String,
    image: watch::Receiver<Arc<MetadataImage>>,
    links: Mutex<HashMap<i32, Link>>,
    tls: crate::broker_link::LinkTls,
}

impl MarkerSender {
    pub fn new(
        node_id: i32,
        image: watch::Receiver<Arc<MetadataImage>>,
        tls: crate::broker_link::LinkTls,
    ) -> MarkerSender {
        MarkerSender {
            client_id: format!("brook-transaction-coordinator-{node_id}"),
            image,
            links: Mutex::new(HashMap::new()),
            tls,
        }
    }

    /// Writes `job`'s markers on all its partitions. Stops early when
    /// `still_coordinator` turns false or a leader says this coordinator
    /// or producer epoch is fenced.
    pub async fn send(&self, job: &MarkerJob, still_coordinator: impl Fn() -> bool) -> Result<(), Abandoned> {
        let mut remaining = job.partitions.clone();
        let mut backoff = RETRY_BACKOFF_MIN;
        while !remaining.is_empty() {
            if !still_coordinator() {
                return Err(Abandoned::NotCoordinator);
            }
            let image = self.image.borrow().clone();
            remaining.retain(|tp| {
                let exists = image.topic(&tp.topic).is_some_and(|t| t.partitions.contains_key(&tp.partition));
                if !exists {
                    info!(transactional_id = %job.transactional_id, partition = %tp, "no marker for a deleted partition");
                }
                exists
            });
            let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            for tp in &remaining {
                if let Some(p) = image.topic(&tp.topic).and_then(|t| t.partitions.get(&tp.partition)) {
                    by_leader.entry(p.leader).or_default().push(tp.clone());
                }
            }
            // One exchange per leader, all at once: a slow broker does not
            // hold back the others.
            let exchanges = by_leader.into_iter().filter_map(|(leader, partitions)| {
                let broker = image.brokers.get(&leader).filter(|b| !b.fenced)?;
                let addr = format!("{}:{}", broker.host, broker.port);
                let request = marker_request(job, &partitions);
                Some(async move { (leader, self.exchange(leader, &addr, &request).await) })
            });
            for (leader, outcome) in join_all(exchanges).await {
                match outcome {
                    Ok(response) => {
                        for (tp, code) in partition_results(&response, job.producer_id) {
                            match classify(code) {
                                MarkerReply::Written => {
                                    if code != ErrorCode::NONE {
                                        warn!(transactional_id = %job.transactional_id, partition = %tp, %code, "marker not written; the partition takes no transactional data");
                                    }
                                    remaining.remove(&tp);
                                }
                                MarkerReply::Fenced => {
                                    warn!(transactional_id = %job.transactional_id, partition = %tp, %code, "markers abandoned: fenced");
                                    return Err(Abandoned::Fenced);
                                }
                                MarkerReply::Retry => {
                                    debug!(transactional_id = %job.transactional_id, partition = %tp, %code, "marker will be retried")
                                }
                            }
                        }
                    }
                    Err(e) => debug!(leader, error = %e, "WriteTxnMarkers failed; will reconnect"),
                }
            }
            if !remaining.is_empty() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            }
        }
        Ok(())
    }

    async fn exchange(
        &self,
        broker: i32,
        addr: &str,
        request: &WriteTxnMarkersRequest,
    ) -> std::io::Result<WriteTxnMarkersResponse> {
        let link = self.links.lock().entry(broker).or_default().clone();
        let mut link = link.lock().await;
        if link.is_none() {
            *link = Some(BrokerLink::connect(addr, self.client_id.clone(), RESPONSE_MAX_BYTES, &self.tls).await?);
        }
        let Some(connection) = link.as_mut() else { unreachable!("connected above") };
        let result = connection.send(MARKERS_VERSION, request).await;
        if result.is_err() {
            *link = None;
        }
        result
    }
}

fn marker_request(job: &MarkerJob, partitions: &[TopicPartition]) -> WriteTxnMarkersRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    let topics = topics
        .into_iter()
        .map(|(t, ps)| WritableTxnMarkerTopic::default().with_name(topic_name(t)).with_partition_indexes(ps))
        .collect();
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(job.producer_id))
        .with_producer_epoch(job.producer_epoch)
        .with_transaction_result(job.commit)
        .with_coordinator_epoch(job.coordinator_epoch)
        .with_topics(topics)])
}

fn partition_results(response: &WriteTxnMarkersResponse, producer_id: i64) -> Vec<(TopicPartition, ErrorCode)> {
    response
        .markers
        .iter()
        .filter(|m| m.producer_id.0 == producer_id)
        .flat_map(|m| &m.topics)
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (TopicPartition::new(t.name.as_str(), p.partition_index), ErrorCode::from_code(p.error_code)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_completion_choices() {
        assert_eq!(classify(ErrorCode::NONE), MarkerReply::Written);
        assert_eq!(classify(ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT), MarkerReply::Written);
        assert_eq!(classify(ErrorCode::INVALID_PRODUCER_EPOCH), MarkerReply::Fenced);
        assert_eq!(classify(ErrorCode::TRANSACTION_COORDINATOR_FENCED), MarkerReply::Fenced);
        for retried in [
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::NOT_ENOUGH_REPLICAS,
            ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            ErrorCode::REQUEST_TIMED_OUT,
            ErrorCode::KAFKA_STORAGE_ERROR,
        ] {
            assert_eq!(classify(retried), MarkerReply::Retry, "{retried:?}");
        }
    }

    #[test]
    fn request_groups_partitions_by_topic() {
        let job = MarkerJob {
            transactional_id: "t".into(),
            producer_id: 5,
            producer_epoch: 2,
            commit: true,
            coordinator_epoch: 9,
            partitions: BTreeSet::new(),
        };
        let r = marker_request(
            &job,
            &[TopicPartition::new("a", 0), TopicPartition::new("b", 1), TopicPartition::new("a", 2)],
        );
        let m = &r.markers[0];
        assert_eq!((m.producer_id.0, m.producer_epoch, m.transaction_result, m.coordinator_epoch), (5, 2, true, 9));
        assert_eq!(m.topics.len(), 2);
        assert_eq!(m.topics[0].partition_indexes, vec![0, 2]);
    }
}
