//! Follower replication: one fetcher per leader broker, carrying every
//! partition this broker follows from that leader. A fetcher first cuts each
//! newly followed partition back to where its history agrees with the
//! leader's (OffsetForLeaderEpoch, KIP-101), then fetches in a loop with the
//! replica id set, appends the leader's batches as they are, and takes the
//! leader's high watermark. It speaks the Kafka protocol to the leader's
//! client listener, like any follower in a Kafka cluster.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use brook_protocol::kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use brook_protocol::kafka_protocol::messages::{
    BrokerId, FetchRequest, OffsetForLeaderEpochRequest, RequestHeader, ResponseHeader, TopicName,
};
use brook_protocol::kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::broker::now_ms;
use crate::replica_manager::FollowedPartition;
use crate::Broker;

/// Fetch versions: 12 names topics (no topic ids needed), has replica_id.
const FETCH_VERSION: i16 = 12;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 3;
const FETCH_MAX_WAIT_MS: i32 = 500;
const PARTITION_MAX_BYTES: i32 = 1024 * 1024;
const RESPONSE_MAX_BYTES: i32 = 16 * 1024 * 1024;
const RETRY_BACKOFF: Duration = Duration::from_millis(200);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts and stops fetchers as the set of followed leaders changes.
pub async fn run(broker: Arc<Broker>) {
    let mut fetchers: HashMap<i32, JoinHandle<()>> = HashMap::new();
    loop {
        let changed = broker.replicas.following_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let leaders = broker.replicas.followed_leaders();
        fetchers.retain(|leader, task| !task.is_finished() && leaders.contains(leader));
        for leader in leaders {
            fetchers.entry(leader).or_insert_with(|| {
                info!(leader, "starting replica fetcher");
                tokio::spawn(fetch_from(broker.clone(), leader))
            });
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), changed).await;
    }
}

/// A Kafka-protocol connection to one leader.
struct LeaderLink {
    stream: TcpStream,
    correlation_id: i32,
}

impl LeaderLink {
    async fn connect(addr: &str) -> std::io::Result<LeaderLink> {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = stream.set_nodelay(true);
        Ok(LeaderLink { stream, correlation_id: 0 })
    }

    async fn send<R: Request>(&mut self, version: i16, request: &R, client_id: &str) -> std::io::Result<R::Response> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
        let header_version = R::header_version(version);
        let size = header.compute_size(header_version).map_err(|e| invalid(e.to_string()))?
            + request.compute_size(version).map_err(|e| invalid(e.to_string()))?;
        let mut buf = BytesMut::with_capacity(4 + size);
        buf.put_i32(size as i32);
        header.encode(&mut buf, header_version).map_err(|e| invalid(e.to_string()))?;
        request.encode(&mut buf, version).map_err(|e| invalid(e.to_string()))?;
        let exchange = async {
            self.stream.write_all(&buf).await?;
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let len = i32::from_be_bytes(len);
            if !(0..=256 * 1024 * 1024).contains(&len) {
                return Err(invalid(format!("response frame of {len} bytes")));
            }
            let mut body = vec![0u8; len as usize];
            self.stream.read_exact(&mut body).await?;
            Ok(bytes::Bytes::from(body))
        };
        let mut body = tokio::time::timeout(IO_TIMEOUT, exchange)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "leader did not answer"))??;
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| invalid(e.to_string()))?;
        if header.correlation_id != self.correlation_id {
            return Err(invalid("correlation id mismatch".into()));
        }
        R::Response::decode(&mut body, version).map_err(|e| invalid(e.to_string()))
    }
}

/// Fetches from `leader` until this broker follows nothing of it.
async fn fetch_from(broker: Arc<Broker>, leader: i32) {
    let client_id = format!("brook-replica-fetcher-{}", broker.config.node_id);
    let mut link: Option<LeaderLink> = None;
    loop {
        let partitions = broker.replicas.followed_from(leader);
        if partitions.is_empty() {
            info!(leader, "replica fetcher stopping: nothing to follow");
            return;
        }
        if link.is_none() {
            let image = broker.image();
            let Some(addr) = image.brokers.get(&leader).filter(|b| !b.fenced).map(|b| format!("{}:{}", b.host, b.port))
            else {
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            };
            match LeaderLink::connect(&addr).await {
                Ok(l) => link = Some(l),
                Err(e) => {
                    debug!(leader, %addr, error = %e, "cannot reach leader");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    continue;
                }
            }
        }
        let conn = link.as_mut().expect("connected above");
        let outcome = async {
            truncate(&broker, conn, &partitions, &client_id).await?;
            fetch_once(&broker, conn, &partitions, &client_id).await
        }
        .await;
        match outcome {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(RETRY_BACKOFF).await,
            Err(e) => {
                debug!(leader, error = %e, "replica fetch failed; reconnecting");
                link = None;
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
        }
    }
}

/// Cuts newly followed partitions to where they agree with the leader: the
/// leader's end offset for this replica's latest epoch (or the replica's end,
/// if shorter). A replica without epochs (empty) starts where it is.
async fn truncate(
    broker: &Broker,
    link: &mut LeaderLink,
    partitions: &[Arc<FollowedPartition>],
    client_id: &str,
) -> std::io::Result<()> {
    let pending: Vec<&Arc<FollowedPartition>> =
        partitions.iter().filter(|p| p.needs_truncation.load(Ordering::Acquire)).collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mut by_topic: HashMap<String, Vec<OffsetForLeaderPartition>> = HashMap::new();
    for p in &pending {
        let Some(epoch) = p.log.lock().latest_epoch() else {
            p.needs_truncation.store(false, Ordering::Release);
            continue;
        };
        by_topic.entry(p.tp.topic.clone()).or_default().push(
            OffsetForLeaderPartition::default()
                .with_partition(p.tp.partition)
                .with_current_leader_epoch(p.leader_epoch)
                .with_leader_epoch(epoch),
        );
    }
    if by_topic.is_empty() {
        return Ok(());
    }
    let request = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(broker.config.node_id)).with_topics(
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetForLeaderTopic::default().with_topic(TopicName(StrBytes::from_string(t))).with_partitions(ps)
            })
            .collect(),
    );
    let response = link.send(OFFSET_FOR_LEADER_EPOCH_VERSION, &request, client_id).await?;
    for topic in response.topics {
        for r in topic.partitions {
            let Some(p) = pending.iter().find(|p| p.tp.topic == topic.topic.as_str() && p.tp.partition == r.partition)
            else {
                continue;
            };
            if r.error_code != error_code::NONE {
                debug!(partition = %p.tp, code = r.error_code, "OffsetForLeaderEpoch refused; will retry");
                continue;
            }
            let mut log = p.log.lock();
            // The leader's end for the largest epoch it has ≤ ours; our own end
            // for that epoch bounds it too (our history after it diverges).
            let (_, ours) = log.end_offset_for_epoch(r.leader_epoch);
            let cut = r.end_offset.min(ours).min(log.log_end_offset());
            if cut >= 0 && cut < log.log_end_offset() {
                info!(partition = %p.tp, from = log.log_end_offset(), to = cut, "truncating divergent history");
                if let Err(e) = log.truncate_to(cut) {
                    warn!(partition = %p.tp, error = %e, "truncation failed");
                    continue;
                }
            }
            p.needs_truncation.store(false, Ordering::Release);
        }
    }
    Ok(())
}

/// One fetch round for every partition ready to fetch. Ok(true) if the
/// leader answered with usable data or no error.
async fn fetch_once(
    broker: &Broker,
    link: &mut LeaderLink,
    partitions: &[Arc<FollowedPartition>],
    client_id: &str,
) -> std::io::Result<bool> {
    let ready: Vec<&Arc<FollowedPartition>> =
        partitions.iter().filter(|p| !p.needs_truncation.load(Ordering::Acquire)).collect();
    if ready.is_empty() {
        return Ok(false);
    }
    let mut by_topic: HashMap<String, Vec<FetchPartition>> = HashMap::new();
    for p in &ready {
        let (end, start) = {
            let log = p.log.lock();
            (log.log_end_offset(), log.log_start_offset())
        };
        by_topic.entry(p.tp.topic.clone()).or_default().push(
            FetchPartition::default()
                .with_partition(p.tp.partition)
                .with_current_leader_epoch(p.leader_epoch)
                .with_fetch_offset(end)
                .with_log_start_offset(start)
                .with_partition_max_bytes(PARTITION_MAX_BYTES),
        );
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(broker.config.node_id))
        .with_max_wait_ms(FETCH_MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(RESPONSE_MAX_BYTES)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default().with_topic(TopicName(StrBytes::from_string(t))).with_partitions(ps)
                })
                .collect(),
        );
    let response = link.send(FETCH_VERSION, &request, client_id).await?;
    let mut healthy = response.error_code == error_code::NONE;
    let now = now_ms();
    for topic in response.responses {
        for r in topic.partitions {
            let Some(p) =
                ready.iter().find(|p| p.tp.topic == topic.topic.as_str() && p.tp.partition == r.partition_index)
            else {
                continue;
            };
            let mut log = p.log.lock();
            if r.error_code == error_code::OFFSET_OUT_OF_RANGE && log.log_end_offset() < r.log_start_offset {
                // Retention on the leader deleted what this replica lacks: start over there.
                info!(partition = %p.tp, from = log.log_end_offset(), to = r.log_start_offset, "restarting the replica at the leader's log start");
                if let Err(e) = log.truncate_fully_and_start_at(r.log_start_offset) {
                    warn!(partition = %p.tp, error = %e, "cannot restart the replica");
                }
                continue;
            }
            if r.error_code != error_code::NONE {
                // A leader change or a fenced epoch: the next image settles it.
                debug!(partition = %p.tp, code = r.error_code, "replica fetch error");
                healthy = false;
                continue;
            }
            if let Some(records) = r.records.as_ref().filter(|b| !b.is_empty()) {
                if let Err(e) = log.append_as_follower(records, now) {
                    warn!(partition = %p.tp, error = %e, "cannot append replicated batches; truncating again");
                    p.needs_truncation.store(true, Ordering::Release);
                    continue;
                }
            }
            // A follower's high watermark is the leader's, capped by its own log end.
            let hw = r.high_watermark.min(log.log_end_offset());
            log.set_high_watermark(hw);
            drop(log);
            broker.replicas.high_watermark_known(&p.tp);
        }
    }
    Ok(healthy)
}
