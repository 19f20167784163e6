//! WriteTxnMarkers, version 1: a transaction coordinator ends a
//! transaction on the partitions this broker leads. Each marker is a
//! control batch appended and replicated like data; the answer for a
//! partition comes only once the high watermark passes its marker, so a
//! coordinator that hears success knows the outcome survives a failover.
//! A retried marker writes nothing (the transaction is no longer open
//! there) and is answered once what the log holds is replicated. A marker
//! for `__consumer_offsets` also makes the group coordinator commit or
//! drop the transaction's offsets.

use std::time::Duration;

use brook_protocol::batch::ControlType;
use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use brook_protocol::kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use brook_storage::TopicPartition;
use futures::future::join_all;

use super::{RequestContext, Versions};
use crate::authorization::Op;
use crate::clock::now_ms;
use crate::coordinator::group::OFFSETS_TOPIC;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(1, 1);

/// How long a marker may wait for replication (Kafka: request.timeout.ms).
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn handle(ctx: &RequestContext<'_>, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let mut results = Vec::with_capacity(request.markers.len());
    // Kafka: ALTER or CLUSTER_ACTION on the cluster (brokers send markers: their principal needs it).
    let authz = ctx.authz();
    let allowed = authz.cluster(Op::Alter) || authz.cluster(Op::ClusterAction);
    for marker in &request.markers {
        let kind = if marker.transaction_result { ControlType::Commit } else { ControlType::Abort };
        let producer_id = marker.producer_id.0;
        let mut writes = Vec::new();
        for topic in &marker.topics {
            for &index in &topic.partition_indexes {
                let tp = TopicPartition::new(topic.name.as_str(), index);
                writes.push(async move {
                    if !allowed {
                        return Err(ErrorCode::CLUSTER_AUTHORIZATION_FAILED);
                    }
                    let partition = ctx.node.leader_partition(&tp)?;
                    let (epoch, last) = partition.append_marker(
                        producer_id,
                        marker.producer_epoch,
                        marker.coordinator_epoch,
                        kind,
                        now_ms(),
                    )?;
                    ctx.node.replicas.wait_replicated(&partition, epoch, last, REPLICATION_TIMEOUT).await?;
                    if tp.topic == OFFSETS_TOPIC {
                        ctx.node.groups.complete_transaction(tp.partition, producer_id, kind == ControlType::Commit);
                    }
                    Ok::<(), ErrorCode>(())
                });
            }
        }
        let mut outcomes = join_all(writes).await.into_iter();
        let topics = marker
            .topics
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partition_indexes
                    .iter()
                    .map(|&index| {
                        let code = outcomes.next().and_then(Result::err).unwrap_or_default();
                        WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(index)
                            .with_error_code(code.code())
                    })
                    .collect();
                WritableTxnMarkerTopicResult::default().with_name(topic.name.clone()).with_partitions(partitions)
            })
            .collect();
        results.push(WritableTxnMarkerResult::default().with_producer_id(marker.producer_id).with_topics(topics));
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}
