//! Fetch, versions 4..=16. Each partition's data is a file region sent with
//! sendfile(2). Long poll: if fewer than `min_bytes` are ready, the request
//! parks in the purgatory, watching each partition's high watermark (a
//! consumer) or log end (a follower), until enough data arrives or
//! `max_wait_ms` passes. Incremental fetch sessions (KIP-227) are
//! declined by answering with session id 0, which every client accepts.
//! A follower replica's fetch (replica id set) reads up to the log end and
//! reports its progress to the partition (high watermark, ISR).
//! A read_committed consumer (isolation level 1) reads below the last
//! stable offset and gets the aborted transactions of what it reads.

use std::sync::Arc;
use std::time::Duration;

use brook_protocol::error_code::ErrorCode;
use brook_protocol::fetch_response::{self, Chunk, FetchPartitionData, FetchResponseData, FetchTopicData};
use brook_protocol::kafka_protocol::messages::FetchRequest;
use brook_storage::TopicPartition;
use bytes::Bytes;
use tokio::time::Instant;

use super::{RequestContext, Response, Versions};
use crate::authorization::Op;
use crate::clock::now_ms;
use crate::purgatory::WatchKey;
use crate::quota::QuotaType;
use crate::replication::Partition;

/// Longest a fetch may park, whatever the client asks (bounds purgatory time).
const MAX_WAIT_CAP_MS: u64 = 30_000;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;

struct Wanted {
    topic_index: usize,
    partition_index: i32,
    partition: Result<Arc<Partition>, ErrorCode>,
    fetch_offset: i64,
    current_leader_epoch: i32,
    max_bytes: usize,
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(fetch_response::MIN_VERSION, fetch_response::MAX_VERSION);

pub async fn handle(ctx: &RequestContext<'_>, request: FetchRequest) -> Response {
    let version = ctx.version();
    let correlation_id = ctx.header.correlation_id;
    if request.session_id != 0 {
        // We never hand out sessions, so a client naming one is out of date.
        let data = FetchResponseData { error_code: FETCH_SESSION_ID_NOT_FOUND, ..Default::default() };
        ctx.node.metrics.requests.response_errors(ctx.header.request_api_key, &data);
        return Response::Chunks(fetch_response::encode(correlation_id, version, &data));
    }
    let image = ctx.node.image();
    // A follower replica's fetch (replica id, v15+ in ReplicaState).
    let replica_id = if version >= 15 { request.replica_state.replica_id.0 } else { request.replica_id.0 };
    let follower = (replica_id >= 0).then_some(replica_id);
    let mut topics: Vec<FetchTopicData> = Vec::with_capacity(request.topics.len());
    let mut wanted = Vec::new();
    // Kafka: a follower needs CLUSTER_ACTION on the cluster, a consumer READ on each topic.
    let authz = ctx.authz();
    let follower_allowed = follower.is_some() && authz.cluster(Op::ClusterAction);
    for topic in &request.topics {
        let (name, id) = if version >= 13 {
            match image.topic_by_id(&topic.topic_id) {
                Some(t) => (t.name.clone(), topic.topic_id),
                None => (String::new(), topic.topic_id),
            }
        } else {
            let name = topic.topic.as_str().to_string();
            let id = image.topic(&name).map(|t| t.id).unwrap_or_default();
            (name, id)
        };
        let allowed = if follower.is_some() { follower_allowed } else { authz.topic(Op::Read, &name) };
        let topic_index = topics.len();
        topics.push(FetchTopicData {
            name: Bytes::from(name.clone().into_bytes()),
            topic_id: *id.as_bytes(),
            partitions: Vec::new(),
        });
        for p in &topic.partitions {
            let partition = if name.is_empty() {
                Err(ErrorCode::UNKNOWN_TOPIC_ID)
            } else if !allowed {
                Err(ErrorCode::TOPIC_AUTHORIZATION_FAILED)
            } else {
                ctx.node.leader_partition(&TopicPartition::new(name.clone(), p.partition))
            };
            wanted.push(Wanted {
                topic_index,
                partition_index: p.partition,
                partition,
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            });
        }
    }
    let max_wait = Duration::from_millis((request.max_wait_ms.max(0) as u64).min(MAX_WAIT_CAP_MS));
    let deadline = Instant::now() + max_wait;
    let min_bytes = request.min_bytes.max(0) as usize;
    // Bounded by the broker's fetch.max.bytes whatever the client asks for.
    let cap = ctx.node.config.fetch_max_bytes;
    let mut response_max_bytes = if request.max_bytes <= 0 { cap } else { (request.max_bytes as usize).min(cap) };
    // consumer_byte_rate: no more than the quota allows in its window at once (Kafka too).
    let quota = if follower.is_none() {
        ctx.node.quotas.max_value_in_window(QuotaType::Fetch, ctx.session, ctx.client_id())
    } else {
        None
    };
    if let Some(max) = quota {
        response_max_bytes = response_max_bytes.min(max as usize);
    }
    let keys: Vec<WatchKey> = wanted
        .iter()
        .filter_map(|w| w.partition.as_ref().ok())
        .map(|p| if follower.is_some() { p.log_end_key().clone() } else { p.high_watermark_key().clone() })
        .collect();
    // The latest reading, answered as it is when max_wait_ms passes.
    let mut latest = None;
    let read_committed = follower.is_none() && request.isolation_level == 1;
    let outcome = ctx.node.replicas.purgatory().wait(&keys, deadline, || {
        let (results, total_bytes, any_error) = read_all(&wanted, response_max_bytes, follower, read_committed);
        if total_bytes >= min_bytes || any_error {
            return Some(results);
        }
        latest = Some(results);
        None
    });
    let results = match outcome.await {
        Ok(results) => results,
        Err(()) => latest.unwrap_or_default(),
    };
    let mut throttle_time_ms = 0;
    if quota.is_some() {
        // A consumer over its quota gets an empty response and its bytes are
        // taken back, as in Kafka: it is told to wait, not sent more.
        let bytes: usize = results.iter().flat_map(|d| &d.records).map(Chunk::len).sum();
        let (quotas, now) = (&ctx.node.quotas, now_ms());
        throttle_time_ms = quotas.record(QuotaType::Fetch, ctx.session, ctx.client_id(), bytes as f64, now);
        if throttle_time_ms > 0 {
            quotas.unrecord(QuotaType::Fetch, ctx.session, ctx.client_id(), bytes as f64, now);
            crate::quota::note_throttle(throttle_time_ms);
            let data = FetchResponseData { throttle_time_ms, ..Default::default() };
            return Response::Chunks(fetch_response::encode(correlation_id, version, &data));
        }
    }
    for (w, data) in wanted.iter().zip(results) {
        // Bytes out: the lengths of what the response carries (file regions
        // are counted, never read).
        if let Ok(partition) = &w.partition {
            let bytes: usize = data.records.iter().map(Chunk::len).sum();
            if bytes > 0 {
                match follower {
                    Some(_) => partition.traffic.replicated_out(bytes),
                    None => partition.traffic.fetched(bytes),
                }
            }
        }
        topics[w.topic_index].partitions.push(data);
    }
    let data = FetchResponseData { topics, throttle_time_ms, ..Default::default() };
    ctx.node.metrics.requests.response_errors(ctx.header.request_api_key, &data);
    Response::Chunks(fetch_response::encode(correlation_id, version, &data))
}

/// One pass over the wanted partitions. Returns per-partition data, bytes
/// found, and whether any partition had an error (which ends a long poll).
fn read_all(
    wanted: &[Wanted],
    response_max_bytes: usize,
    follower: Option<i32>,
    read_committed: bool,
) -> (Vec<FetchPartitionData>, usize, bool) {
    let mut remaining = response_max_bytes;
    let mut total = 0usize;
    let mut any_error = false;
    let mut results = Vec::with_capacity(wanted.len());
    for w in wanted {
        let mut data = FetchPartitionData {
            partition_index: w.partition_index,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            ..Default::default()
        };
        let partition = match &w.partition {
            Ok(p) => p,
            Err(code) => {
                data.error_code = code.code();
                any_error = true;
                results.push(data);
                continue;
            }
        };
        if let Err(code) = partition.check_epoch(w.current_leader_epoch) {
            data.error_code = code.code();
            any_error = true;
            results.push(data);
            continue;
        }
        let limit = w.max_bytes.min(remaining);
        // KIP-74: the first partition with data may exceed the limits by one batch.
        let min_one_batch = total == 0;
        let read = match follower {
            Some(id) => partition.read_for_follower(id, w.fetch_offset, limit, now_ms()),
            None if read_committed => {
                partition.read_committed(w.fetch_offset, limit, min_one_batch).map(|(slice, aborted)| {
                    data.aborted_transactions = Some(aborted.iter().map(|t| (t.producer_id, t.first_offset)).collect());
                    slice
                })
            }
            None => partition.read(w.fetch_offset, limit, min_one_batch),
        };
        match read {
            Ok(slice) => {
                data.high_watermark = slice.high_watermark;
                data.last_stable_offset = slice.last_stable_offset;
                data.log_start_offset = slice.log_start_offset;
                if let Some(region) = slice.region {
                    total += region.length;
                    remaining = remaining.saturating_sub(region.length);
                    data.records.push(Chunk::File(region));
                }
            }
            Err(code) => {
                data.error_code = code.code();
                if code == ErrorCode::OFFSET_OUT_OF_RANGE {
                    let offsets = partition.offsets();
                    data.log_start_offset = offsets.log_start;
                    data.high_watermark = offsets.high_watermark;
                    data.last_stable_offset = offsets.high_watermark;
                }
                any_error = true;
            }
        }
        results.push(data);
    }
    (results, total, any_error)
}
