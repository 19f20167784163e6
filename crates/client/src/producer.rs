//! The producer: records are appended to a per-partition open batch; a
//! background sender closes batches when full (`batch.size`) or old
//! (`linger.ms`), groups ready batches by leader into Produce requests, and
//! completes each record's [`DeliveryFuture`] from the response.
//!
//! Ordering: at most one batch per partition is in flight, and a failed
//! batch is retried before any later one, so records of a partition are
//! never reordered, while up to `max.in.flight.requests.per.connection`
//! requests (for different partitions) go to a broker at once. Idempotence
//! (default on) gives every batch a producer id, epoch and sequence, so a
//! retried batch that had in fact been written is not written twice.
//! Memory is bounded by `buffer.memory`: `send` waits for space.
//!
//! ```no_run
//! # async fn demo() -> brook_client::Result<()> {
//! use brook_client::producer::{Producer, ProducerConfig, ProducerRecord};
//! let producer = Producer::new(ProducerConfig::new("127.0.0.1:9092")).await?;
//! let delivery = producer.send(ProducerRecord::new("events").key("user-1").value("clicked")).await?;
//! let metadata = delivery.wait().await?;
//! println!("written at {}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
//! producer.flush().await?;
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use tracing::debug;

use crate::cluster::{ClientConfig, Cluster};
use crate::error::{check, ClientError, Result};
use crate::partitioner::partition_for_key;
use crate::records::{BatchBuilder, Compression, Header};

const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;

/// Producer settings, with Kafka's names in the docs.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub client: ClientConfig,
    /// `acks`: 0, 1 or -1 (all). Default all.
    pub acks: i16,
    /// `linger.ms`. Default 5 ms.
    pub linger: Duration,
    /// `batch.size` in bytes. Default 16384.
    pub batch_size: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `enable.idempotence`. Default true (needs acks=all).
    pub enable_idempotence: bool,
    /// `buffer.memory` in bytes. Default 32 MiB.
    pub buffer_memory: usize,
    /// `delivery.timeout.ms`: give up on a record after this long.
    pub delivery_timeout: Duration,
    /// `max.in.flight.requests.per.connection`. Default 5.
    pub max_in_flight: usize,
}

impl ProducerConfig {
    pub fn new(bootstrap: &str) -> ProducerConfig {
        ProducerConfig {
            client: ClientConfig::new(bootstrap),
            acks: -1,
            linger: Duration::from_millis(5),
            batch_size: 16384,
            compression: Compression::None,
            enable_idempotence: true,
            buffer_memory: 32 << 20,
            delivery_timeout: Duration::from_secs(120),
            max_in_flight: 5,
        }
    }
}

/// A record to send.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>) -> Self {
        ProducerRecord { topic: topic.into(), ..Default::default() }
    }
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with acks=0.
    pub offset: i64,
    pub timestamp: i64,
}

/// Outcome of one batch, shared by its records' futures.
struct BatchCompletion {
    result: OnceLock<std::result::Result<(i64, i64), (Option<i16>, String)>>,
    done: Notify,
}

impl BatchCompletion {
    fn complete(&self, result: std::result::Result<(i64, i64), (Option<i16>, String)>) {
        let _ = self.result.set(result);
        self.done.notify_waiters();
    }
}

/// Resolves when the record's batch is acknowledged (or fails).
pub struct DeliveryFuture {
    completion: Arc<BatchCompletion>,
    topic: Arc<str>,
    partition: i32,
    index: i32,
    timestamp: i64,
}

impl DeliveryFuture {
    fn metadata(&self, r: &std::result::Result<(i64, i64), (Option<i16>, String)>) -> Result<RecordMetadata> {
        match r {
            Ok((base, log_append_time)) => Ok(RecordMetadata {
                topic: self.topic.to_string(),
                partition: self.partition,
                offset: if *base < 0 { -1 } else { base + self.index as i64 },
                timestamp: if *log_append_time >= 0 { *log_append_time } else { self.timestamp },
            }),
            Err((Some(code), context)) => Err(ClientError::from_code(*code, context.clone())),
            Err((None, message)) => Err(ClientError::Protocol(message.clone())),
        }
    }

    /// The result, if the batch has completed.
    pub fn try_get(&self) -> Option<Result<RecordMetadata>> {
        self.completion.result.get().map(|r| self.metadata(r))
    }

    pub async fn wait(self) -> Result<RecordMetadata> {
        loop {
            let notified = self.completion.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.completion.result.get() {
                return self.metadata(r);
            }
            notified.await;
        }
    }
}

struct OpenBatch {
    builder: BatchBuilder,
    created: Instant,
    completion: Arc<BatchCompletion>,
    memory: usize,
}

struct ReadyBatch {
    bytes: Bytes,
    completion: Arc<BatchCompletion>,
    created: Instant,
    memory: usize,
    record_count: i32,
}

#[derive(Default)]
struct PartitionQueue {
    open: Option<OpenBatch>,
    ready: VecDeque<ReadyBatch>,
    in_flight: bool,
    next_sequence: i32,
}

#[derive(Default)]
struct State {
    /// topic → partition queues (indexed by partition).
    topics: HashMap<String, (Arc<str>, Vec<PartitionQueue>)>,
    /// topic → partition for records without key or partition (sticky).
    sticky: HashMap<String, i32>,
    flush_requested: bool,
}

struct Inner {
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    state: Mutex<State>,
    wake: Notify,
    progress: Notify,
    memory: Semaphore,
    producer: (i64, i16),
    in_flight_requests: Mutex<HashMap<i32, usize>>,
    pending_batches: AtomicUsize,
    closed: AtomicBool,
}

/// A Kafka producer. Cheap to clone; all clones share one sender task.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Producer {
    /// Connects, and with idempotence obtains a producer id.
    pub async fn new(config: ProducerConfig) -> Result<Producer> {
        if config.enable_idempotence && config.acks != -1 {
            return Err(ClientError::InvalidArgument("enable.idempotence requires acks=all".into()));
        }
        let cluster = Cluster::new(config.client.clone())?;
        let producer = if config.enable_idempotence {
            let conn = cluster.any_connection().await?;
            let request =
                InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
            let response = conn.send(4, &request).await?;
            check(response.error_code, || "InitProducerId".to_string())?;
            (response.producer_id.0, response.producer_epoch)
        } else {
            (-1, -1)
        };
        cluster.refresh(&[]).await?;
        let inner = Arc::new(Inner {
            memory: Semaphore::new(config.buffer_memory.min(Semaphore::MAX_PERMITS)),
            cluster,
            config,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            progress: Notify::new(),
            producer,
            in_flight_requests: Mutex::new(HashMap::new()),
            pending_batches: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(sender_loop(inner.clone()));
        Ok(Producer { inner })
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.inner.cluster
    }

    /// Queues a record; waits only if `buffer.memory` is exhausted.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        let size = BatchBuilder::record_size(record.key.as_deref(), record.value.as_deref(), &record.headers);
        if size > inner.config.buffer_memory {
            return Err(ClientError::InvalidArgument(format!("record of {size} bytes exceeds buffer.memory")));
        }
        // Held (and released on any early return or cancellation) until the
        // record is in a batch; from then on the batch owns the memory.
        let permit = inner.memory.acquire_many(size as u32).await.map_err(|_| ClientError::Closed)?;
        let partitions = match inner.cluster.topic(&record.topic) {
            Some(t) => t.partitions.len() as i32,
            None => inner.cluster.topic_or_fetch(&record.topic).await?.partitions.len() as i32,
        };
        if partitions == 0 {
            return Err(ClientError::from_code(3, format!("topic '{}'", record.topic)));
        }
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let mut state = inner.state.lock();
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => p,
            (None, Some(key)) => partition_for_key(key, partitions),
            (None, None) => *state.sticky.entry(record.topic.clone()).or_insert(0) % partitions,
        };
        if partition < 0 || partition >= partitions {
            return Err(ClientError::InvalidArgument(format!(
                "partition {partition} of '{}' does not exist",
                record.topic
            )));
        }
        let batch_size = inner.config.batch_size;
        let (topic_name, queues) =
            state.topics.entry(record.topic.clone()).or_insert_with(|| (Arc::from(record.topic.as_str()), Vec::new()));
        let topic_name = topic_name.clone();
        if queues.len() < partitions as usize {
            queues.resize_with(partitions as usize, PartitionQueue::default);
        }
        let queue = &mut queues[partition as usize];
        let mut became_full = false;
        if queue.open.as_ref().is_some_and(|b| b.builder.size_bytes() + size > batch_size && b.builder.count() > 0) {
            Self::close_open(inner, queue);
            became_full = true;
        }
        let open = queue.open.get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::new(batch_size.min(1 << 20)),
            created: Instant::now(),
            completion: Arc::new(BatchCompletion { result: OnceLock::new(), done: Notify::new() }),
            memory: 0,
        });
        let index = open.builder.count();
        // A new batch may have an earlier linger deadline than the sender is sleeping to.
        let new_batch = index == 0;
        open.builder.append(timestamp, record.key.as_deref(), record.value.as_deref(), &record.headers);
        open.memory += size;
        permit.forget();
        let future =
            DeliveryFuture { completion: open.completion.clone(), topic: topic_name, partition, index, timestamp };
        if open.builder.size_bytes() >= batch_size {
            Self::close_open(inner, queue);
            became_full = true;
        }
        if became_full && record.key.is_none() && record.partition.is_none() {
            // Sticky partitioning: move keyless records on once a batch is done.
            let next = (partition + 1) % partitions;
            state.sticky.insert(record.topic.clone(), next);
        }
        drop(state);
        if became_full || new_batch {
            inner.wake.notify_one();
        }
        Ok(future)
    }

    /// Finishes the open batch of a partition into the ready queue.
    fn close_open(inner: &Inner, queue: &mut PartitionQueue) {
        let Some(open) = queue.open.take() else { return };
        let count = open.builder.count();
        let (pid, epoch) = inner.producer;
        let sequence = if pid >= 0 { queue.next_sequence } else { -1 };
        match open.builder.finish(inner.config.compression, pid, epoch, sequence) {
            Ok(bytes) => {
                if pid >= 0 {
                    queue.next_sequence = queue.next_sequence.wrapping_add(count) & i32::MAX;
                }
                inner.pending_batches.fetch_add(1, Ordering::AcqRel);
                queue.ready.push_back(ReadyBatch {
                    bytes,
                    completion: open.completion,
                    created: open.created,
                    memory: open.memory,
                    record_count: count,
                });
            }
            Err(e) => {
                open.completion.complete(Err((None, e.to_string())));
                inner.memory.add_permits(open.memory);
            }
        }
    }

    /// Sends everything queued and waits until every batch has completed.
    pub async fn flush(&self) -> Result<()> {
        loop {
            let progressed = self.inner.progress.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            {
                let mut state = self.inner.state.lock();
                let open = state.topics.values().any(|(_, qs)| qs.iter().any(|q| q.open.is_some()));
                if !open && self.inner.pending_batches.load(Ordering::Acquire) == 0 {
                    state.flush_requested = false;
                    return Ok(());
                }
                state.flush_requested = true;
            }
            self.inner.wake.notify_one();
            let _ = tokio::time::timeout(Duration::from_millis(50), progressed).await;
        }
    }

    /// Flushes and stops the sender.
    pub async fn close(&self) -> Result<()> {
        let result = self.flush().await;
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        result
    }
}

/// One batch taken for a request.
struct Taken {
    topic: String,
    partition: i32,
    batch: ReadyBatch,
}

async fn sender_loop(inner: Arc<Inner>) {
    loop {
        if inner.closed.load(Ordering::Acquire) && inner.pending_batches.load(Ordering::Acquire) == 0 {
            return;
        }
        let (by_leader, next_deadline) = collect_ready(&inner).await;
        for (leader, batches) in by_leader {
            *inner.in_flight_requests.lock().entry(leader).or_default() += 1;
            let inner = inner.clone();
            tokio::spawn(async move {
                send_batches(&inner, leader, batches).await;
                *inner.in_flight_requests.lock().entry(leader).or_default() -= 1;
                inner.wake.notify_one();
            });
        }
        let wait = next_deadline.map_or(Duration::from_millis(100), |d| d.saturating_duration_since(Instant::now()));
        let _ = tokio::time::timeout(wait.max(Duration::from_micros(200)), inner.wake.notified()).await;
    }
}

/// Closes lingered batches and takes sendable ones, grouped by leader.
async fn collect_ready(inner: &Arc<Inner>) -> (HashMap<i32, Vec<Taken>>, Option<Instant>) {
    let now = Instant::now();
    let linger = inner.config.linger;
    let mut by_leader: HashMap<i32, Vec<Taken>> = HashMap::new();
    let mut next_deadline: Option<Instant> = None;
    let mut unknown_leaders = Vec::new();
    {
        let mut state = inner.state.lock();
        let flush = state.flush_requested || inner.closed.load(Ordering::Acquire);
        let in_flight = inner.in_flight_requests.lock().clone();
        for (topic, (_, queues)) in state.topics.iter_mut() {
            for (partition, queue) in queues.iter_mut().enumerate() {
                if let Some(open) = &queue.open {
                    let deadline = open.created + linger;
                    if flush || deadline <= now {
                        Producer::close_open(inner, queue);
                    } else {
                        next_deadline = Some(next_deadline.map_or(deadline, |d| d.min(deadline)));
                    }
                }
                if queue.in_flight || queue.ready.is_empty() {
                    continue;
                }
                let Some(leader) = inner.cluster.leader(topic, partition as i32) else {
                    // No leader: batches past delivery.timeout fail instead of waiting forever.
                    while queue.ready.front().is_some_and(|b| b.created.elapsed() >= inner.config.delivery_timeout) {
                        let batch = queue.ready.pop_front().expect("non-empty");
                        let reason = format!("no leader for {topic}-{partition} within delivery.timeout");
                        fail_batch(inner, queue, batch, (None, reason));
                    }
                    unknown_leaders.push(topic.clone());
                    continue;
                };
                if in_flight.get(&leader).copied().unwrap_or(0) >= inner.config.max_in_flight {
                    continue;
                }
                let batch = queue.ready.pop_front().expect("non-empty");
                queue.in_flight = true;
                by_leader.entry(leader).or_default().push(Taken {
                    topic: topic.clone(),
                    partition: partition as i32,
                    batch,
                });
            }
        }
    }
    if !unknown_leaders.is_empty() {
        unknown_leaders.dedup();
        let _ = inner.cluster.refresh(&unknown_leaders).await;
        next_deadline = Some(now + inner.config.client.retry_backoff);
    }
    (by_leader, next_deadline)
}

/// Completes a batch's records and returns its memory.
fn complete_batch(inner: &Inner, batch: ReadyBatch, result: std::result::Result<(i64, i64), (Option<i16>, String)>) {
    batch.completion.complete(result);
    inner.memory.add_permits(batch.memory);
    inner.pending_batches.fetch_sub(1, Ordering::AcqRel);
}

/// A batch that will never be written. With idempotence its sequence range
/// is given back: the partition's queued batches are renumbered (and their
/// CRCs recomputed) so the broker sees no gap.
fn fail_batch(inner: &Inner, queue: &mut PartitionQueue, batch: ReadyBatch, reason: (Option<i16>, String)) {
    let count = batch.record_count;
    complete_batch(inner, batch, Err(reason));
    if inner.producer.0 < 0 {
        return;
    }
    queue.next_sequence = (queue.next_sequence - count).rem_euclid(i32::MAX);
    for later in queue.ready.iter_mut() {
        let mut bytes = bytes::BytesMut::from(&later.bytes[..]);
        let sequence = i32::from_be_bytes(bytes[53..57].try_into().expect("batch header"));
        bytes[53..57].copy_from_slice(&(sequence - count).rem_euclid(i32::MAX).to_be_bytes());
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        later.bytes = bytes.freeze();
    }
}

async fn send_batches(inner: &Arc<Inner>, leader: i32, batches: Vec<Taken>) {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for t in &batches {
        let data = PartitionProduceData::default().with_index(t.partition).with_records(Some(t.batch.bytes.clone()));
        match topics.iter_mut().find(|d| d.name.as_str() == t.topic) {
            Some(d) => d.partition_data.push(data),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(t.topic.clone())))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    let request = ProduceRequest::default()
        .with_acks(inner.config.acks)
        .with_timeout_ms(inner.config.client.request_timeout.as_millis() as i32)
        .with_topic_data(topics);
    let outcome: Result<HashMap<(String, i32), (i16, i64, i64)>> = async {
        let conn = inner.cluster.connection_to_node(leader).await?;
        if inner.config.acks == 0 {
            conn.send_no_response(11, &request).await?;
            return Ok(batches.iter().map(|t| ((t.topic.clone(), t.partition), (0, -1, -1))).collect());
        }
        let response = conn.send(11, &request).await?;
        let mut out = HashMap::new();
        for topic in response.responses {
            for p in topic.partition_responses {
                out.insert((topic.name.to_string(), p.index), (p.error_code, p.base_offset, p.log_append_time_ms));
            }
        }
        Ok(out)
    }
    .await;
    let mut retry = Vec::new();
    let mut refresh = false;
    for taken in batches {
        let key = (taken.topic.clone(), taken.partition);
        let result = match &outcome {
            Ok(map) => match map.get(&key) {
                Some((0, base, lat)) | Some((DUPLICATE_SEQUENCE_NUMBER, base, lat)) => Ok((*base, *lat)),
                Some((code, _, _)) => Err((Some(*code), format!("produce to {}-{}", key.0, key.1))),
                None => Err((None, format!("no response for {}-{}", key.0, key.1))),
            },
            Err(e) => Err((e.code(), e.to_string())),
        };
        let retriable = match &result {
            Err((Some(code), _)) => ClientError::from_code(*code, "").is_retriable(),
            Err((None, _)) => outcome.as_ref().err().is_some_and(|e| e.is_retriable()),
            Ok(_) => false,
        };
        if retriable
            && taken.batch.created.elapsed() < inner.config.delivery_timeout
            && !inner.closed.load(Ordering::Acquire)
        {
            debug!(topic = %key.0, partition = key.1, "retrying batch");
            refresh = true;
            retry.push(taken);
            continue;
        }
        let mut state = inner.state.lock();
        let Some((_, queues)) = state.topics.get_mut(&taken.topic) else { continue };
        let queue = &mut queues[taken.partition as usize];
        queue.in_flight = false;
        match result {
            Ok(done) => complete_batch(inner, taken.batch, Ok(done)),
            Err(reason) => fail_batch(inner, queue, taken.batch, reason),
        }
    }
    if refresh {
        tokio::time::sleep(inner.config.client.retry_backoff).await;
        let topics: Vec<String> = retry.iter().map(|t| t.topic.clone()).collect();
        let _ = inner.cluster.refresh(&topics).await;
        let mut state = inner.state.lock();
        for taken in retry.into_iter().rev() {
            if let Some((_, queues)) = state.topics.get_mut(&taken.topic) {
                let queue = &mut queues[taken.partition as usize];
                queue.in_flight = false;
                // Back at the front: retried before anything later of this partition.
                queue.ready.push_front(taken.batch);
            }
        }
    }
    inner.progress.notify_waiters();
}
