//! Produce, versions 3..=12. Records stay raw bytes: each partition's batch
//! is validated at batch level and appended by its partition. acks=all then
//! waits in the purgatory, all partitions at once, until the high watermark passes each
//! append (or the request's timeout, or a change of leader).
//!
//! Two topic configs make the broker look inside a batch, as Kafka does:
//! a compacted topic refuses records without a key (INVALID_RECORD, with
//! their indexes), and a `compression.type` other than `producer` stores the
//! batch recompressed in that codec. Neither costs anything otherwise.
//!
//! A transactional producer's first batch to a partition in a transaction
//! is checked with its transaction coordinator first (KIP-890 part 1), or,
//! from v12 (transaction version 2 producers), the partition is added to
//! the transaction by the leader (part 2).

use std::time::Duration;

use brook_protocol::batch;
use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use brook_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use brook_protocol::records::{self, RecordError};
use brook_storage::TopicPartition;
use bytes::Bytes;
use futures::future::join_all;
use tracing::debug;

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;
use crate::clock::now_ms;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::txn::coordinator::TRANSACTION_STATE_TOPIC;
use crate::replication::{Partition, ProducePolicy, TxnVerification};
use crate::txn_verifier::{TxnCheck, TxnQuestion};

/// Why a batch was refused before the append.
struct Refused {
    code: ErrorCode,
    message: String,
    record_errors: Vec<(i32, String)>,
}

impl From<ErrorCode> for Refused {
    fn from(code: ErrorCode) -> Self {
        Refused { code, message: String::new(), record_errors: Vec::new() }
    }
}

impl From<RecordError> for Refused {
    fn from(e: RecordError) -> Self {
        Refused { code: e.error_code(), message: e.to_string(), record_errors: Vec::new() }
    }
}

/// Applies the topic's produce policy to one partition's batch: the batch
/// to append, or `None` to append it unchanged. Decodes records: run it on
/// a blocking thread.
fn apply_policy(tp: &TopicPartition, policy: ProducePolicy, records: &[u8]) -> Result<Option<Vec<u8>>, Refused> {
    // Decoding trusts the payload: check the batch (and its CRC) first.
    let header = batch::validate(records, policy.max_message_bytes).map_err(RecordError::from)?;
    if policy.compact {
        let keyless = records::keyless_records(records)?;
        if !keyless.is_empty() {
            let why = format!("Compacted topic cannot accept message without key in topic partition {tp}.");
            let record_errors: Vec<(i32, String)> = keyless.iter().map(|i| (*i as i32, why.clone())).collect();
            let message = format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: {:?}",
                record_errors.len(),
                record_errors.iter().take(3).map(|(i, m)| format!("{i}: {m}")).collect::<Vec<_>>()
            );
            return Err(Refused { code: ErrorCode::INVALID_RECORD, message, record_errors });
        }
    }
    match policy.compression {
        Some(codec) if header.compression().ok() != Some(codec) => {
            Ok(Some(records::recompress(records, codec, policy.levels)?))
        }
        _ => Ok(None),
    }
}

/// The batch to append after the topic's policy; zero work unless the topic
/// is compacted or recompresses.
async fn prepare(tp: &TopicPartition, policy: ProducePolicy, records: Bytes) -> Result<Bytes, Refused> {
    if !policy.compact && policy.compression.is_none() {
        return Ok(records);
    }
    let tp = tp.clone();
    let input = records.clone();
    match tokio::task::spawn_blocking(move || apply_policy(&tp, policy, &input)).await {
        Ok(Ok(Some(rebuilt))) => Ok(Bytes::from(rebuilt)),
        Ok(Ok(None)) => Ok(records),
        Ok(Err(refused)) => Err(refused),
        Err(_) => Err(ErrorCode::UNKNOWN_SERVER_ERROR.into()),
    }
}

/// KIP-890: a transactional batch opening its producer's transaction on
/// this partition is appended only once the producer's coordinator knows
/// the partition is in the transaction: verified (part 1), or added for a
/// transaction version 2 producer (Produce v12, part 2).
async fn verify_transaction(
    ctx: &RequestContext<'_>,
    partition: &Partition,
    tp: &TopicPartition,
    transactional_id: Option<&str>,
    records: &[u8],
) -> Result<Option<TxnVerification>, Refused> {
    let Some(verification) = partition.txn_verification_needed(records) else { return Ok(None) };
    let Some(transactional_id) = transactional_id else {
        return Err(Refused {
            code: ErrorCode::INVALID_RECORD,
            message: "a transactional batch in a produce request without a transactional id".into(),
            record_errors: Vec::new(),
        });
    };
    let question = TxnQuestion {
        transactional_id,
        producer_id: verification.producer_id,
        producer_epoch: verification.producer_epoch,
        check: if ctx.version() >= 12 { TxnCheck::Add } else { TxnCheck::Verify },
        abortable_supported: ctx.version() > 10,
    };
    let image = ctx.node.image();
    let coordinator = ctx.node.transactions.locate(&image, transactional_id);
    ctx.node.txn_verifier.check(&image, coordinator, question, tp).await.map_err(|code| {
        debug!(partition = %tp, transactional_id, ?code, "transactional batch not verified");
        Refused::from(code)
    })?;
    Ok(Some(verification))
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(3, 12);

pub async fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> ProduceResponse {
    let acks = request.acks;
    let now = now_ms();
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // (topic index, partition index, partition, last offset) of appends to wait for.
    let mut waits = Vec::new();
    // Kafka: WRITE on the transactional id (if any), then WRITE on each topic.
    let authz = ctx.authz();
    let txn_id_allowed =
        request.transactional_id.as_ref().is_none_or(|id| authz.transactional_id(Op::Write, id.as_str()));
    for topic in request.topic_data {
        let refused_by_acl = if !txn_id_allowed {
            Some(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        } else if !authz.topic(Op::Write, topic.name.as_str()) {
            Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED)
        } else {
            None
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let mut response = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let tp = TopicPartition::new(topic.name.as_str(), data.index);
            let outcome = if !(-1..=1).contains(&acks) {
                Err(ErrorCode::INVALID_REQUIRED_ACKS.into())
            } else if let Some(code) = refused_by_acl {
                Err(code.into())
            } else if tp.topic == OFFSETS_TOPIC || tp.topic == TRANSACTION_STATE_TOPIC {
                // Only the coordinators write there (Kafka: internal topics).
                Err(Refused {
                    code: ErrorCode::INVALID_TOPIC_EXCEPTION,
                    message: format!("Cannot append to internal topic {}", tp.topic),
                    record_errors: Vec::new(),
                })
            } else {
                match ctx.node.leader_partition(&tp) {
                    Err(code) => Err(code.into()),
                    Ok(partition) => {
                        let records = data.records.unwrap_or_default();
                        let prepared = match prepare(&tp, partition.produce_policy(), records).await {
                            Ok(records) => {
                                let txn_id = request.transactional_id.as_ref().map(|id| id.as_str());
                                verify_transaction(ctx, &partition, &tp, txn_id, &records)
                                    .await
                                    .map(|verified| (records, verified))
                            }
                            Err(refused) => Err(refused),
                        };
                        match prepared {
                            Err(refused) => Err(refused),
                            Ok((records, verified)) => match partition.append_verified(&records, acks, verified, now) {
                                Err(code) => Err(code.into()),
                                Ok((result, epoch)) => {
                                    if acks == -1 {
                                        let at = (responses.len(), partitions.len());
                                        waits.push((at, partition, epoch, result.last_offset));
                                    }
                                    Ok(result)
                                }
                            },
                        }
                    }
                }
            };
            match outcome {
                Ok(result) => {
                    response.base_offset = result.base_offset;
                    response.log_append_time_ms = result.log_append_time_ms;
                    response.log_start_offset = result.log_start_offset;
                }
                Err(refused) => {
                    if !refused.message.is_empty() {
                        debug!(partition = %tp, error = %refused.message, "produce refused");
                        response.error_message = Some(str_bytes(&refused.message));
                    }
                    response.error_code = refused.code.code();
                    response.record_errors = refused
                        .record_errors
                        .into_iter()
                        .map(|(index, message)| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(index)
                                .with_batch_index_error_message(Some(str_bytes(&message)))
                        })
                        .collect();
                }
            }
            partitions.push(response);
        }
        responses.push(TopicProduceResponse::default().with_name(topic.name).with_partition_responses(partitions));
    }
    let replicas = &ctx.node.replicas;
    let replicated = join_all(
        waits.iter().map(|(_, partition, epoch, last)| replicas.wait_replicated(partition, *epoch, *last, timeout)),
    )
    .await;
    for (((t, p), ..), outcome) in waits.iter().zip(replicated) {
        if let Err(code) = outcome {
            let response = &mut responses[*t].partition_responses[*p];
            response.error_code = code.code();
            response.base_offset = -1;
        }
    }
    ProduceResponse::default().with_responses(responses)
}
