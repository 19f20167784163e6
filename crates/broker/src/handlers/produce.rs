//! Produce, versions 3..=11. Records stay raw bytes: each partition's batch
//! is validated at batch level and appended by the replica manager. acks=all
//! then waits, all partitions at once, until the high watermark passes each
//! append (or the request's timeout, or a change of leader).

use std::time::Duration;

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use brook_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use brook_storage::TopicPartition;
use futures::future::join_all;
use tracing::warn;

use super::RequestContext;
use crate::broker::now_ms;

pub async fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> ProduceResponse {
    let acks = request.acks;
    let now = now_ms();
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // (topic index, partition index, partition, last offset) of appends to wait for.
    let mut waits = Vec::new();
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
                ctx.broker.leader_partition(&tp).and_then(|partition| {
                    let records = data.records.unwrap_or_default();
                    let result = ctx.broker.replicas.append(&partition, &records, acks, now)?;
                    if acks == -1 {
                        waits.push((responses.len(), partitions.len(), partition, result.last_offset));
                    }
                    Ok(result)
                })
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
    let replicated = join_all(
        waits.iter().map(|(_, _, partition, last)| ctx.broker.replicas.wait_replicated(partition, *last, timeout)),
    )
    .await;
    for ((t, p, ..), outcome) in waits.iter().zip(replicated) {
        if let Err(code) = outcome {
            let response = &mut responses[*t].partition_responses[*p];
            response.error_code = code;
            response.base_offset = -1;
        }
    }
    ProduceResponse::default().with_responses(responses)
}
