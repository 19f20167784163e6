//! Follower replication: one fetcher per leader broker, carrying every
//! partition this broker follows from that leader. A fetcher first cuts each
//! newly followed partition back to where its history agrees with the
//! leader's (OffsetForLeaderEpoch, KIP-101), then fetches in a loop with the
//! replica id set and hands each answer to the [`Partition`], which appends
//! the leader's batches as they are and takes its high watermark. It speaks
//! the Kafka protocol to the leader's client listener, like any follower in
//! a Kafka cluster.
//!
//! The fetcher holds no log: a partition refuses a fetch answer that raced
//! a leader change (its epoch or log end moved since the fetch was sent).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use brook_metadata::MetadataImage;
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use brook_protocol::kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use brook_protocol::kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use super::partition::FetchPosition;
use super::{Partition, ReplicaManager};
use crate::broker_link::BrokerLink;
use crate::clock::now_ms;
use brook_protocol::kafka_protocol::protocol::StrBytes;

/// Fetch versions: 12 names topics (no topic ids needed), has replica_id.
const FETCH_VERSION: i16 = 12;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 3;
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// Kafka's `replica.fetch.*` settings.
#[derive(Debug, Clone, Copy)]
pub struct FetcherSettings {
    /// `replica.fetch.wait.max.ms`: how long the leader may park a fetch.
    pub max_wait_ms: i32,
    /// `replica.fetch.min.bytes`.
    pub min_bytes: i32,
    /// `replica.fetch.max.bytes`: per partition.
    pub partition_max_bytes: i32,
    /// `replica.fetch.response.max.bytes`.
    pub response_max_bytes: i32,
}

impl Default for FetcherSettings {
    fn default() -> Self {
        FetcherSettings {
            max_wait_ms: 500,
            min_bytes: 1,
            partition_max_bytes: 1024 * 1024,
            response_max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// What the fetchers need of the node: no more.
#[derive(Clone)]
pub struct FetcherContext {
    pub node_id: i32,
    pub replicas: Arc<ReplicaManager>,
    pub image: watch::Receiver<Arc<MetadataImage>>,
    pub settings: FetcherSettings,
    /// TLS for connections to leaders (the inter-broker listener's).
    pub tls: crate::broker_link::LinkTls,
}

/// Starts and stops fetchers as the set of followed leaders changes.
pub async fn run(ctx: FetcherContext) {
    let mut fetchers: HashMap<i32, JoinHandle<()>> = HashMap::new();
    loop {
        let changed = ctx.replicas.following_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let leaders = ctx.replicas.followed_leaders();
        fetchers.retain(|leader, task| !task.is_finished() && leaders.contains(leader));
        for leader in leaders {
            fetchers.entry(leader).or_insert_with(|| {
                info!(leader, "starting replica fetcher");
                tokio::spawn(fetch_from(ctx.clone(), leader))
            });
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), changed).await;
    }
}

/// Fetches from `leader` until this broker follows nothing of it.
async fn fetch_from(ctx: FetcherContext, leader: i32) {
    let client_id = format!("brook-replica-fetcher-{}", ctx.node_id);
    // Room for a full response plus its framing.
    let max_response = ctx.settings.response_max_bytes.max(ctx.settings.partition_max_bytes) as usize + (1 << 20);
    let mut link: Option<BrokerLink> = None;
    loop {
        let partitions = ctx.replicas.followed_from(leader);
        if partitions.is_empty() {
            info!(leader, "replica fetcher stopping: nothing to follow");
            return;
        }
        if link.is_none() {
            let image = ctx.image.borrow().clone();
            let Some(addr) = image.brokers.get(&leader).filter(|b| !b.fenced).map(|b| format!("{}:{}", b.host, b.port))
            else {
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            };
            match BrokerLink::connect(&addr, client_id.clone(), max_response, &ctx.tls).await {
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
            truncate(&ctx, conn, &partitions).await?;
            fetch_once(&ctx, leader, conn, &partitions).await
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

/// Asks the leader where each newly followed partition's history agrees
/// with its own, and cuts there.
async fn truncate(ctx: &FetcherContext, link: &mut BrokerLink, partitions: &[Arc<Partition>]) -> std::io::Result<()> {
    let mut pending: HashMap<(String, i32), (&Arc<Partition>, i32)> = HashMap::new();
    let mut by_topic: HashMap<String, Vec<OffsetForLeaderPartition>> = HashMap::new();
    for p in partitions {
        let Some((epoch, current)) = p.truncation_request() else { continue };
        pending.insert((p.tp.topic.clone(), p.tp.partition), (p, current));
        by_topic.entry(p.tp.topic.clone()).or_default().push(
            OffsetForLeaderPartition::default()
                .with_partition(p.tp.partition)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch),
        );
    }
    if by_topic.is_empty() {
        return Ok(());
    }
    let request = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(ctx.node_id)).with_topics(
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetForLeaderTopic::default().with_topic(TopicName(StrBytes::from_string(t))).with_partitions(ps)
            })
            .collect(),
    );
    let response = link.send(OFFSET_FOR_LEADER_EPOCH_VERSION, &request).await?;
    for topic in response.topics {
        for r in topic.partitions {
            let Some((p, current)) = pending.get(&(topic.topic.to_string(), r.partition)) else { continue };
            if r.error_code != error_code::NONE {
                debug!(partition = %p.tp, code = r.error_code, "OffsetForLeaderEpoch refused; will retry");
                continue;
            }
            p.truncate_to_leader(*current, r.leader_epoch, r.end_offset);
        }
    }
    Ok(())
}

/// One fetch round for every partition ready to fetch. Ok(true) if the
/// leader answered without errors.
async fn fetch_once(
    ctx: &FetcherContext,
    leader: i32,
    link: &mut BrokerLink,
    partitions: &[Arc<Partition>],
) -> std::io::Result<bool> {
    let mut ready: HashMap<(String, i32), (&Arc<Partition>, FetchPosition)> = HashMap::new();
    let mut by_topic: HashMap<String, Vec<FetchPartition>> = HashMap::new();
    for p in partitions {
        let Some(position) = p.fetch_position(leader) else { continue };
        ready.insert((p.tp.topic.clone(), p.tp.partition), (p, position));
        by_topic.entry(p.tp.topic.clone()).or_default().push(
            FetchPartition::default()
                .with_partition(p.tp.partition)
                .with_current_leader_epoch(position.leader_epoch)
                .with_fetch_offset(position.fetch_offset)
                .with_log_start_offset(position.log_start)
                .with_partition_max_bytes(ctx.settings.partition_max_bytes),
        );
    }
    if ready.is_empty() {
        return Ok(false);
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(ctx.node_id))
        .with_max_wait_ms(ctx.settings.max_wait_ms)
        .with_min_bytes(ctx.settings.min_bytes)
        .with_max_bytes(ctx.settings.response_max_bytes)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default().with_topic(TopicName(StrBytes::from_string(t))).with_partitions(ps)
                })
                .collect(),
        );
    let response = link.send(FETCH_VERSION, &request).await?;
    let mut healthy = response.error_code == error_code::NONE;
    let now = now_ms();
    for topic in response.responses {
        for r in topic.partitions {
            let Some((p, position)) = ready.get(&(topic.topic.to_string(), r.partition_index)) else { continue };
            if r.error_code == error_code::OFFSET_OUT_OF_RANGE && position.fetch_offset < r.log_start_offset {
                p.restart_at(*position, r.log_start_offset);
                continue;
            }
            if r.error_code != error_code::NONE {
                // A leader change or a fenced epoch: the next image settles it.
                debug!(partition = %p.tp, code = r.error_code, "replica fetch error");
                healthy = false;
                continue;
            }
            let records = r.records.as_deref().unwrap_or_default();
            p.append_from_leader(*position, records, r.high_watermark, now);
        }
    }
    Ok(healthy)
}
