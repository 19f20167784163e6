//! DescribeProducers, version 0: the producer state of partitions this
//! broker leads (what `kafka-transactions.sh describe-producers` and
//! `brook txn abort` use to find a hanging transaction).

use brook_protocol::kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use brook_protocol::kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use brook_storage::TopicPartition;

use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 0);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeProducersRequest) -> DescribeProducersResponse {
    let authz = ctx.authz();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            // Kafka: READ on the topic.
            let allowed = authz.topic(Op::Read, topic.name.as_str());
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let out = PartitionResponse::default().with_partition_index(index);
                    if !allowed {
                        return out.with_error_code(brook_protocol::error_code::TOPIC_AUTHORIZATION_FAILED);
                    }
                    let tp = TopicPartition::new(topic.name.as_str(), index);
                    match ctx.node.leader_partition(&tp).and_then(|p| p.producers()) {
                        Err(code) => out.with_error_code(code.code()),
                        Ok(mut producers) => {
                            producers.sort_by_key(|(id, _)| *id);
                            out.with_active_producers(
                                producers
                                    .into_iter()
                                    .map(|(id, e)| {
                                        ProducerState::default()
                                            .with_producer_id(ProducerId(id))
                                            .with_producer_epoch(e.epoch as i32)
                                            .with_last_sequence(e.last_sequence())
                                            .with_last_timestamp(e.last_timestamp)
                                            .with_coordinator_epoch(e.coordinator_epoch)
                                            .with_current_txn_start_offset(e.current_txn_first_offset.unwrap_or(-1))
                                    })
                                    .collect(),
                            )
                        }
                    }
                })
                .collect();
            TopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
