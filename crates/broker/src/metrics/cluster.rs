//! Cluster-state metrics: computed at scrape time from state the broker
//! already keeps (hosted replicas, the metadata image, the Raft quorum,
//! the group coordinator, the log cleaner), never duplicated on hot paths.
//! One pass over hosted partitions per scrape, in memory; the only IO is
//! asking partition leaders for high watermarks that consumer-group lag
//! needs and this broker does not have (bounded, cached: see
//! [`refresh_remote_watermarks`]).
//!
//! Names follow Kafka's JMX MBeans as the Prometheus JMX exporter renders
//! them, and kafka_exporter's for consumer-group lag (Kafka brokers export
//! none). docs/metrics-state.md lists each one with its Kafka counterpart.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use brook_metadata::MetadataImage;
use brook_protocol::kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use brook_protocol::kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use brook_protocol::kafka_protocol::protocol::StrBytes;
use brook_storage::TopicPartition;
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::debug;

use crate::broker_link::BrokerLink;
use crate::replication::ReplicaSnapshot;
use crate::Node;

/// How long a scrape may wait for partition leaders' high watermarks.
pub const REMOTE_WAIT: Duration = Duration::from_secs(1);
/// A leader's high watermark is asked again after this long.
const REMOTE_TTL: Duration = Duration::from_secs(2);
/// An answer older than this is not shown (its leader stopped answering).
const REMOTE_STALE: Duration = Duration::from_secs(30);
const LIST_OFFSETS_VERSION: i16 = 2;
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

type GaugeF = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VoterLabels {
    voter: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupTopicLabels {
    consumergroup: String,
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupPartitionLabels {
    consumergroup: String,
    topic: String,
    partition: String,
}

/// The persistent part: counters of events, and the cache of other
/// leaders' high watermarks. Held in [`super::BrokerMetrics`].
pub struct ClusterMetrics {
    /// kafka.server:type=ReplicaManager,name=IsrShrinksPerSec
    pub isr_shrinks: Counter,
    /// kafka.server:type=ReplicaManager,name=IsrExpandsPerSec
    pub isr_expands: Counter,
    remote: Mutex<HashMap<TopicPartition, (i64, Instant)>>,
    /// Idle connections to partition leaders, by broker id.
    links: Mutex<HashMap<i32, BrokerLink>>,
}

impl ClusterMetrics {
    /// Registers the counters in the broker's registry.
    pub fn new(registry: &mut Registry) -> ClusterMetrics {
        let isr_shrinks = Counter::default();
        let isr_expands = Counter::default();
        registry.register(
            "kafka_server_replicamanager_isrshrinks",
            "ISR shrinks of partitions this broker leads, counted when the controller accepted them",
            isr_shrinks.clone(),
        );
        registry.register(
            "kafka_server_replicamanager_isrexpands",
            "ISR expansions of partitions this broker leads, counted when the controller accepted them",
            isr_expands.clone(),
        );
        ClusterMetrics {
            isr_shrinks,
            isr_expands,
            remote: Mutex::new(HashMap::new()),
            links: Mutex::new(HashMap::new()),
        }
    }

    /// An ISR change the controller accepted: a shrink or an expansion.
    pub fn isr_changed(&self, from: usize, to: usize) {
        if to < from {
            self.isr_shrinks.inc();
        } else if to > from {
            self.isr_expands.inc();
        }
    }
}

// ---- pure parts ----

/// Kafka's ReplicaManager gauges over this broker's replicas.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaCounts {
    pub partitions: i64,
    pub leaders: i64,
    /// Led partitions whose ISR is smaller than their replica set.
    pub under_replicated: i64,
    pub under_min_isr: i64,
    pub at_min_isr: i64,
}

pub fn replica_counts<'a>(snapshots: impl IntoIterator<Item = &'a ReplicaSnapshot>) -> ReplicaCounts {
    let mut c = ReplicaCounts::default();
    for s in snapshots {
        c.partitions += 1;
        let Some((isr, replicas, min_isr)) = s.leader else { continue };
        c.leaders += 1;
        c.under_replicated += (isr < replicas) as i64;
        c.under_min_isr += ((isr as i64) < min_isr as i64) as i64;
        c.at_min_isr += (isr as i64 == min_isr as i64) as i64;
    }
    c
}

/// Partitions with no leader, or whose leader is not a live broker
/// (Kafka's OfflinePartitionsCount).
pub fn offline_partitions(image: &MetadataImage) -> i64 {
    let live = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
    image.topics.values().flat_map(|t| t.partitions.values()).filter(|p| p.leader < 0 || !live(p.leader)).count() as i64
}

/// Partitions whose leader is not their first replica (Kafka's
/// PreferredReplicaImbalanceCount).
pub fn preferred_imbalance(image: &MetadataImage) -> i64 {
    image
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .filter(|p| p.replicas.first().is_some_and(|first| *first != p.leader))
        .count() as i64
}

/// One committed offset's lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagRow {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// High watermark − committed (never negative), when the watermark is known.
    pub lag: Option<i64>,
}

/// Per (group, topic): the sum of committed offsets, and of lags (`None`
/// when a partition's high watermark is unknown).
pub type LagSums = BTreeMap<(String, String), (i64, Option<i64>)>;

/// Lags of committed offsets given the partitions' high watermarks, and
/// per (group, topic) sums of offsets and lags. A topic's lag sum is left
/// out when a partition's watermark is unknown, rather than understated.
pub fn group_lags(
    committed: Vec<(String, String, i32, i64)>,
    high_watermark: impl Fn(&str, i32) -> Option<i64>,
) -> (Vec<LagRow>, LagSums) {
    let mut rows = Vec::with_capacity(committed.len());
    let mut sums = LagSums::new();
    for (group, topic, partition, offset) in committed {
        let lag = high_watermark(&topic, partition).map(|hw| (hw - offset).max(0));
        let sum = sums.entry((group.clone(), topic.clone())).or_insert((0, Some(0)));
        sum.0 += offset.max(0);
        sum.1 = sum.1.zip(lag).map(|(a, b)| a + b);
        rows.push(LagRow { group, topic, partition, committed: offset, lag });
    }
    (rows, sums)
}

// ---- scrape ----

/// The committed offsets this broker's groups hold, on partitions it does
/// not lead: their high watermarks must come from their leaders.
fn remote_partitions(node: &Node) -> Vec<TopicPartition> {
    let mut tps: Vec<TopicPartition> = node
        .groups
        .committed_offsets()
        .into_iter()
        .map(|(_, t, p, _)| TopicPartition::new(t, p))
        .filter(|tp| node.replicas.leader(tp).is_none())
        .collect();
    tps.sort();
    tps.dedup();
    tps
}

/// Asks partition leaders (ListOffsets latest, read_uncommitted: the high
/// watermark) for the watermarks group lag needs and this broker does not
/// lead, unless asked within [`REMOTE_TTL`]. All leaders at once, bounded
/// by [`REMOTE_WAIT`]; what did not answer in time keeps its last value.
pub async fn refresh_remote_watermarks(node: &Node) {
    let wanted = remote_partitions(node);
    let cluster = &node.metrics.cluster;
    let now = Instant::now();
    {
        let mut remote = cluster.remote.lock();
        remote.retain(|tp, (_, at)| wanted.contains(tp) && now.duration_since(*at) < REMOTE_STALE);
    }
    let image = node.image();
    let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
    {
        let remote = cluster.remote.lock();
        for tp in wanted {
            if remote.get(&tp).is_some_and(|(_, at)| now.duration_since(*at) < REMOTE_TTL) {
                continue;
            }
            let Some(leader) = image.topic(&tp.topic).and_then(|t| t.partitions.get(&tp.partition)).map(|p| p.leader)
            else {
                continue;
            };
            if leader >= 0 && leader != node.config.node_id {
                by_leader.entry(leader).or_default().push(tp);
            }
        }
    }
    if by_leader.is_empty() {
        return;
    }
    let asks = by_leader.into_iter().filter_map(|(leader, tps)| {
        let addr = image.brokers.get(&leader).filter(|b| !b.fenced).map(|b| format!("{}:{}", b.host, b.port))?;
        Some(ask_leader(node, leader, addr, tps))
    });
    let _ = tokio::time::timeout(REMOTE_WAIT, futures::future::join_all(asks)).await;
}

async fn ask_leader(node: &Node, leader: i32, addr: String, tps: Vec<TopicPartition>) {
    let cluster = &node.metrics.cluster;
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in &tps {
        topics.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(0).with_topics(
        topics
            .into_iter()
            .map(|(topic, partitions)| {
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|p| ListOffsetsPartition::default().with_partition_index(p).with_timestamp(-1))
                            .collect(),
                    )
            })
            .collect(),
    );
    let pooled = cluster.links.lock().remove(&leader);
    let mut link = match pooled {
        Some(link) => link,
        None => match BrokerLink::connect(
            &addr,
            format!("brook-metrics-{}", node.config.node_id),
            MAX_RESPONSE_BYTES,
            &node.config.inter_broker_tls,
        )
        .await
        {
            Ok(link) => link,
            Err(e) => {
                debug!(leader, error = %e, "metrics: cannot reach a partition leader for its high watermarks");
                return;
            }
        },
    };
    let response = match link.send(LIST_OFFSETS_VERSION, &request).await {
        Ok(r) => r,
        Err(e) => {
            debug!(leader, error = %e, "metrics: ListOffsets to a partition leader failed");
            return;
        }
    };
    cluster.links.lock().insert(leader, link);
    let now = Instant::now();
    let mut remote = cluster.remote.lock();
    for topic in &response.topics {
        for p in &topic.partitions {
            if p.error_code == 0 && p.offset >= 0 {
                remote.insert(TopicPartition::new(topic.name.0.to_string(), p.partition_index), (p.offset, now));
            }
        }
    }
}

fn gauge_family<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Gauge>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn gauge_f(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = GaugeF::default();
    g.set(value);
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

/// Fills a registry with the cluster-state metrics as they are now.
pub fn collect(node: &Node) -> Registry {
    let mut r = Registry::default();
    let per_partition = node.config.metrics_per_partition;
    let image = node.image();

    // ReplicaManager and Log: one pass over hosted replicas.
    let hosted = node.replicas.hosted();
    let snapshots: Vec<(TopicPartition, ReplicaSnapshot)> =
        hosted.iter().map(|p| (p.tp.clone(), p.snapshot())).collect();
    let counts = replica_counts(snapshots.iter().map(|(_, s)| s));
    gauge(&mut r, "kafka_server_replicamanager_partitioncount", "Replicas hosted by this broker", counts.partitions);
    gauge(&mut r, "kafka_server_replicamanager_leadercount", "Partitions this broker leads", counts.leaders);
    gauge(
        &mut r,
        "kafka_server_replicamanager_underreplicatedpartitions",
        "Partitions this broker leads whose ISR is smaller than their replica set",
        counts.under_replicated,
    );
    gauge(
        &mut r,
        "kafka_server_replicamanager_underminisrpartitioncount",
        "Partitions this broker leads whose ISR is smaller than min.insync.replicas",
        counts.under_min_isr,
    );
    gauge(
        &mut r,
        "kafka_server_replicamanager_atminisrpartitioncount",
        "Partitions this broker leads whose ISR size equals min.insync.replicas",
        counts.at_min_isr,
    );
    counter(
        &mut r,
        "brook_partition_leader_elections",
        "Times a metadata image made this broker leader of a partition it did not lead (summed over brokers: leader changes)",
        node.replicas.leaderships_taken(),
    );
    let size_help = "Bytes of a log's segments on this broker (per topic when metrics.per.partition=false)";
    if per_partition {
        let size = gauge_family::<PartitionLabels>(&mut r, "kafka_log_log_size", size_help);
        let start =
            gauge_family::<PartitionLabels>(&mut r, "kafka_log_log_logstartoffset", "A hosted log's start offset");
        let end = gauge_family::<PartitionLabels>(&mut r, "kafka_log_log_logendoffset", "A hosted log's end offset");
        for (tp, s) in &snapshots {
            let labels = PartitionLabels { topic: tp.topic.to_string(), partition: tp.partition.to_string() };
            size.get_or_create(&labels).set(s.size_bytes as i64);
            start.get_or_create(&labels).set(s.offsets.log_start);
            end.get_or_create(&labels).set(s.offsets.log_end);
        }
    } else {
        let size = gauge_family::<TopicLabels>(&mut r, "kafka_log_log_size", size_help);
        for (tp, s) in &snapshots {
            size.get_or_create(&TopicLabels { topic: tp.topic.to_string() }).inc_by(s.size_bytes as i64);
        }
    }

    // Controller.
    let active = node.quorum.as_ref().is_some_and(|q| q.leader() == Some(q.node_id()));
    gauge(
        &mut r,
        "kafka_controller_kafkacontroller_activecontrollercount",
        "1 on the active controller (the quorum leader), else 0",
        active as i64,
    );
    let (offline, imbalance, topics, partitions, live, fenced) = if active {
        let live = image.brokers.values().filter(|b| !b.fenced).count() as i64;
        (
            offline_partitions(&image),
            preferred_imbalance(&image),
            image.topics.len() as i64,
            image.topics.values().map(|t| t.partitions.len() as i64).sum(),
            live,
            image.brokers.len() as i64 - live,
        )
    } else {
        (0, 0, 0, 0, 0, 0)
    };
    let on_active = " (reported by the active controller; 0 elsewhere)";
    gauge(
        &mut r,
        "kafka_controller_kafkacontroller_offlinepartitionscount",
        &format!("Partitions without a live leader{on_active}"),
        offline,
    );
    gauge(
        &mut r,
        "kafka_controller_kafkacontroller_preferredreplicaimbalancecount",
        &format!("Partitions not led by their first replica{on_active}"),
        imbalance,
    );
    gauge(&mut r, "kafka_controller_kafkacontroller_globaltopiccount", &format!("Topics{on_active}"), topics);
    gauge(
        &mut r,
        "kafka_controller_kafkacontroller_globalpartitioncount",
        &format!("Partitions{on_active}"),
        partitions,
    );
    gauge(&mut r, "kafka_controller_kafkacontroller_activebrokercount", &format!("Unfenced brokers{on_active}"), live);
    gauge(&mut r, "kafka_controller_kafkacontroller_fencedbrokercount", &format!("Fenced brokers{on_active}"), fenced);
    counter(
        &mut r,
        "kafka_controller_controllerstats_leaderelections",
        "Partition leaders this node changed while it was the active controller (failovers, preferred-leader moves, reassignments)",
        node.quorum.as_ref().map_or(0, |q| q.leader_elections()),
    );
    counter(
        &mut r,
        "kafka_controller_controllerstats_uncleanleaderelections",
        "Leaders elected from outside the ISR: always 0, Brook's controller elects only from the ISR",
        0,
    );

    // The metadata quorum, as this node sees it.
    match &node.quorum {
        Some(q) => {
            let v = q.raft_view();
            gauge(
                &mut r,
                "kafka_server_raft_metrics_current_leader",
                "The quorum leader this node knows, or -1",
                v.current_leader as i64,
            );
            gauge(
                &mut r,
                "kafka_server_raft_metrics_current_epoch",
                "The quorum's current epoch (Raft term)",
                v.current_epoch,
            );
            gauge(
                &mut r,
                "kafka_server_raft_metrics_high_watermark",
                "The metadata log's committed offset on this voter",
                v.high_watermark,
            );
            gauge(
                &mut r,
                "kafka_server_raft_metrics_log_end_offset",
                "The metadata log's end offset on this voter",
                v.log_end_offset,
            );
            // The leader's view of every voter (DescribeQuorum's).
            if let Ok(status) = q.describe() {
                let lag = gauge_family::<VoterLabels>(
                    &mut r,
                    "brook_raft_voter_lag",
                    "A voter's distance behind the leader's metadata log end (on the quorum leader)",
                );
                let end = gauge_family::<VoterLabels>(
                    &mut r,
                    "brook_raft_voter_log_end_offset",
                    "A voter's metadata log end as the leader knows it, -1 unknown (on the quorum leader)",
                );
                for voter in &status.voters {
                    let labels = VoterLabels { voter: voter.id.to_string() };
                    lag.get_or_create(&labels).set(voter.lag);
                    end.get_or_create(&labels).set(voter.log_end_offset);
                }
            }
        }
        None => {
            // A broker-only node follows the log through the active controller.
            let leader = node.controller.active_controller().unwrap_or(-1);
            gauge(
                &mut r,
                "kafka_server_raft_metrics_current_leader",
                "The quorum leader this node knows, or -1",
                leader as i64,
            );
            gauge(
                &mut r,
                "kafka_server_raft_metrics_high_watermark",
                "The metadata offset this broker has applied",
                image.last_offset,
            );
            gauge(
                &mut r,
                "kafka_server_raft_metrics_log_end_offset",
                "The metadata offset this broker has applied",
                image.last_offset,
            );
        }
    }

    // Consumer-group lag, for the groups this broker coordinates.
    let local: HashMap<TopicPartition, i64> = hosted
        .iter()
        .zip(&snapshots)
        .filter(|(_, (_, s))| s.leader.is_some())
        .map(|(p, (_, s))| (p.tp.clone(), s.offsets.high_watermark))
        .collect();
    let remote = node.metrics.cluster.remote.lock().clone();
    let now = Instant::now();
    let (rows, sums) = group_lags(node.groups.committed_offsets(), |topic, partition| {
        let tp = TopicPartition::new(topic.to_string(), partition);
        local
            .get(&tp)
            .copied()
            .or_else(|| remote.get(&tp).filter(|(_, at)| now.duration_since(*at) < REMOTE_STALE).map(|(hw, _)| *hw))
    });
    if per_partition {
        let current = gauge_family::<GroupPartitionLabels>(
            &mut r,
            "kafka_consumergroup_current_offset",
            "A group's committed offset of a partition (on its coordinator)",
        );
        let lag = gauge_family::<GroupPartitionLabels>(
            &mut r,
            "kafka_consumergroup_lag",
            "High watermark minus the group's committed offset (on its coordinator)",
        );
        for row in &rows {
            let labels = GroupPartitionLabels {
                consumergroup: row.group.clone(),
                topic: row.topic.clone(),
                partition: row.partition.to_string(),
            };
            current.get_or_create(&labels).set(row.committed);
            if let Some(l) = row.lag {
                lag.get_or_create(&labels).set(l);
            }
        }
    }
    let current_sum = gauge_family::<GroupTopicLabels>(
        &mut r,
        "kafka_consumergroup_current_offset_sum",
        "Sum of a group's committed offsets over a topic's partitions",
    );
    let lag_sum = gauge_family::<GroupTopicLabels>(
        &mut r,
        "kafka_consumergroup_lag_sum",
        "Sum of a group's lag over a topic's partitions (absent while a partition's watermark is unknown)",
    );
    for ((group, topic), (offsets, lag)) in sums {
        let labels = GroupTopicLabels { consumergroup: group, topic };
        current_sum.get_or_create(&labels).set(offsets);
        if let Some(l) = lag {
            lag_sum.get_or_create(&labels).set(l);
        }
    }

    // The log cleaner.
    let c = node.cleaner.stats();
    gauge_f(
        &mut r,
        "kafka_log_logcleaner_cleaner_recopy_percent",
        "Bytes written / bytes read by the last cleaning round, in percent",
        c.last_recopy_percent,
    );
    gauge_f(
        &mut r,
        "kafka_log_logcleaner_max_clean_time_secs",
        "The longest pass of the last cleaning round, in seconds",
        c.last_max_clean_secs,
    );
    gauge_f(
        &mut r,
        "kafka_log_logcleanermanager_max_dirty_percent",
        "The dirtiest compacted log's dirty ratio at the last round, in percent",
        c.max_dirty_percent,
    );
    gauge(
        &mut r,
        "kafka_log_logcleanermanager_uncleanable_partitions_count",
        "Logs whose last cleaning failed, skipped for 10 minutes",
        node.cleaner.backed_off() as i64,
    );
    counter(&mut r, "brook_log_cleaner_passes", "Completed cleaning passes (one log each)", c.passes);
    counter(&mut r, "brook_log_cleaner_bytes_cleaned", "Bytes of segments the cleaner read and rewrote", c.bytes_read);
    counter(
        &mut r,
        "brook_log_cleaner_bytes_written",
        "Bytes the cleaner wrote (what the rewritten segments became)",
        c.bytes_written,
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::LogOffsets;
    use brook_metadata::image::{BrokerImage, PartitionImage, TopicImage};

    fn snap(leader: Option<(usize, usize, i32)>) -> ReplicaSnapshot {
        ReplicaSnapshot { leader, offsets: LogOffsets { log_start: 0, high_watermark: 0, log_end: 0 }, size_bytes: 0 }
    }

    #[test]
    fn replica_counts_follow_kafkas_definitions() {
        let s = [
            snap(Some((3, 3, 2))), // healthy leader
            snap(Some((2, 3, 2))), // under-replicated, at min ISR
            snap(Some((1, 3, 2))), // under-replicated, under min ISR
            snap(None),            // a follower counts only as a partition
        ];
        let c = replica_counts(&s);
        assert_eq!(
            c,
            ReplicaCounts { partitions: 4, leaders: 3, under_replicated: 2, under_min_isr: 1, at_min_isr: 1 }
        );
    }

    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        for (id, fenced) in [(1, false), (2, true)] {
            image.brokers.insert(
                id,
                BrokerImage { id, incarnation: "x".into(), host: "h".into(), port: 1, fenced, endpoints: vec![] },
            );
        }
        let part = |leader: i32, replicas: Vec<i32>| PartitionImage {
            replicas: replicas.clone(),
            isr: replicas,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        };
        let partitions =
            [(0, part(1, vec![1, 2])), (1, part(2, vec![2, 1])), (2, part(-1, vec![2])), (3, part(1, vec![2, 1]))]
                .into_iter()
                .collect();
        image.topics.insert(
            "t".into(),
            TopicImage { name: "t".into(), id: Default::default(), partitions, configs: Default::default() },
        );
        image
    }

    #[test]
    fn offline_means_no_live_leader_and_imbalance_a_non_preferred_one() {
        let image = image();
        // Led by fenced broker 2, and leaderless.
        assert_eq!(offline_partitions(&image), 2);
        // Partition 2 (leader -1) and 3 (led by 1, preferred 2).
        assert_eq!(preferred_imbalance(&image), 2);
    }

    #[test]
    fn group_lag_is_watermark_minus_committed_and_sums_only_when_complete() {
        let committed = vec![
            ("g".to_string(), "a".to_string(), 0, 7),
            ("g".to_string(), "a".to_string(), 1, 10),
            ("g".to_string(), "b".to_string(), 0, 3),
            ("g".to_string(), "b".to_string(), 1, 4),
        ];
        let (rows, sums) = group_lags(committed, |topic, p| match (topic, p) {
            ("a", 0) => Some(10),
            ("a", 1) => Some(9), // a watermark behind the commit: lag 0, never negative
            ("b", 0) => Some(5),
            _ => None,
        });
        assert_eq!(rows.iter().map(|r| r.lag).collect::<Vec<_>>(), vec![Some(3), Some(0), Some(2), None]);
        assert_eq!(sums[&("g".to_string(), "a".to_string())], (17, Some(3)));
        assert_eq!(sums[&("g".to_string(), "b".to_string())], (7, None));
    }

    #[test]
    fn isr_changes_count_by_direction() {
        let m = ClusterMetrics::new(&mut Registry::default());
        m.isr_changed(3, 2);
        m.isr_changed(2, 3);
        m.isr_changed(2, 3);
        m.isr_changed(2, 2);
        assert_eq!((m.isr_shrinks.get(), m.isr_expands.get()), (1, 2));
    }
}
