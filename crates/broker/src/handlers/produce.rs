//! Produce, versions 3..=11. Records stay raw bytes: each partition's batch
//! is validated at batch level and appended by the replica manager.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use brook_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use brook_storage::TopicPartition;
use tracing::warn;

use super::RequestContext;
use crate::broker::now_ms;

pub async fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> ProduceResponse {
    let acks = request.acks;
    let now = now_ms();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let mut response = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let tp = TopicPartition::new(topic.name.as_str(), data.index);
            let outcome = if request.transactional_id.is_some() {
                warn!(partition = %tp, "transactional produce refused: transactions are not supported");
                Err(error_code::INVALID_REQUEST)
            } else if !(-1..=1).contains(&acks) {
                Err(error_code::INVALID_REQUIRED_ACKS)
            } else {
                match ctx.broker.leader_partition(&tp) {
                    Err(code) => Err(code),
                    Ok(partition) => {
                        let records = data.records.unwrap_or_default();
                        ctx.broker.replicas.append(&partition, &records, acks, now)
                    }
                }
            };
            match outcome {
                Ok(result) => {
                    response.base_offset = result.base_offset;
                    response.log_append_time_ms = result.log_append_time_ms;
                    response.log_start_offset = result.log_start_offset;
                }
                Err(code) => response.error_code = code,
            }
            partitions.push(response);
        }
        responses.push(TopicProduceResponse::default().with_name(topic.name).with_partition_responses(partitions));
    }
    ProduceResponse::default().with_responses(responses)
}
