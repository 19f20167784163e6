//! The consumer: manual assignment or group subscription (classic protocol
//! with the eager `range` or `roundrobin` assignor), pipelined fetches (the
//! next fetch to a broker is in flight while the application handles the
//! previous one), seek/position, and commits.
//!
//! ```no_run
//! # async fn demo() -> brook_client::Result<()> {
//! use brook_client::consumer::{Consumer, ConsumerConfig};
//! let mut config = ConsumerConfig::new("127.0.0.1:9092");
//! config.group_id = Some("billing".into());
//! let mut consumer = Consumer::new(config).await?;
//! consumer.subscribe(&["events"]).await?;
//! for record in consumer.poll(std::time::Duration::from_secs(1)).await? {
//!     println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
//! }
//! consumer.commit_sync().await?;
//! consumer.close().await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::sync::mpsc;

use crate::cluster::{ClientConfig, Cluster};
use crate::connection::BrokerConnection;
use crate::error::{check, ClientError, Result};
use crate::records::{decode_records, ConsumerRecord};

const MEMBER_ID_REQUIRED: i16 = 79;
const UNKNOWN_MEMBER_ID: i16 = 25;
const OFFSET_OUT_OF_RANGE: i16 = 1;
/// How long a poll waits before asking again after a retriable error
/// resolving positions (the Java client's retry.backoff.ms).
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Where to start when there is no committed offset (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    /// Fail instead.
    None,
}

/// Partition assignor for group subscriptions (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    Range,
    RoundRobin,
    /// KIP-429: members keep what they own; only moved partitions are revoked,
    /// and a second, incremental rebalance hands them over.
    CooperativeSticky,
}

impl Assignor {
    fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub client: ClientConfig,
    /// `group.id`: needed for subscribe and commits.
    pub group_id: Option<String>,
    /// `group.instance.id`: static membership.
    pub group_instance_id: Option<String>,
    pub auto_offset_reset: OffsetReset,
    pub fetch_min_bytes: i32,
    pub fetch_max_wait: Duration,
    pub fetch_max_bytes: i32,
    pub max_partition_fetch_bytes: i32,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`, sent as the rebalance timeout.
    pub rebalance_timeout: Duration,
    pub assignors: Vec<Assignor>,
}

impl ConsumerConfig {
    pub fn new(bootstrap: &str) -> ConsumerConfig {
        ConsumerConfig {
            client: ClientConfig::new(bootstrap),
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: OffsetReset::Latest,
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(300),
            assignors: vec![Assignor::Range, Assignor::RoundRobin],
        }
    }
}

pub type Tp = (String, i32);

struct Membership {
    coordinator: Arc<BrokerConnection>,
    member_id: String,
    generation: i32,
    needs_rejoin: Arc<AtomicBool>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

struct FetchResult {
    node: i32,
    /// Position each partition had when the fetch was sent.
    sent_at: HashMap<Tp, i64>,
    outcome: Result<Vec<(Tp, i16, Bytes)>>,
}

pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    subscription: Vec<String>,
    assignment: Vec<Tp>,
    positions: HashMap<Tp, i64>,
    membership: Option<Membership>,
    in_flight: HashSet<i32>,
    results_tx: mpsc::UnboundedSender<FetchResult>,
    results_rx: mpsc::UnboundedReceiver<FetchResult>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl Consumer {
    pub async fn new(config: ConsumerConfig) -> Result<Consumer> {
        let cluster = Cluster::new(config.client.clone())?;
        cluster.refresh(&[]).await?;
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        Ok(Consumer {
            cluster,
            config,
            subscription: Vec::new(),
            assignment: Vec::new(),
            positions: HashMap::new(),
            membership: None,
            in_flight: HashSet::new(),
            results_tx,
            results_rx,
        })
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Manual assignment (no group management).
    pub async fn assign(&mut self, partitions: Vec<Tp>) -> Result<()> {
        self.assignment = partitions;
        self.positions.retain(|tp, _| self.assignment.contains(tp));
        Ok(())
    }

    pub fn assignment(&self) -> &[Tp] {
        &self.assignment
    }

    /// Joins the consumer group for `topics`; partitions arrive with the next poll.
    pub async fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        if self.config.group_id.is_none() {
            return Err(ClientError::InvalidArgument("subscribe needs a group.id".into()));
        }
        self.subscription = topics.iter().map(|t| t.to_string()).collect();
        self.cluster.refresh(&self.subscription).await?;
        self.join_group().await
    }

    /// Moves the fetch position of a partition.
    pub fn seek(&mut self, tp: Tp, offset: i64) {
        self.positions.insert(tp, offset);
    }

    pub fn position(&self, tp: &Tp) -> Option<i64> {
        self.positions.get(tp).copied()
    }

    /// Earliest (-2), latest (-1) or by-timestamp offsets of partitions.
    pub async fn list_offsets(&self, partitions: &[Tp], spec: i64) -> Result<HashMap<Tp, i64>> {
        list_offsets(&self.cluster, partitions, spec).await
    }

    /// Waits up to `timeout` for records from the assigned partitions.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        if self.membership.as_ref().is_some_and(|m| m.needs_rejoin.load(Ordering::Acquire)) {
            self.join_group().await?;
        }
        match self.initialize_positions().await {
            Ok(()) => {}
            // A leader moving, or a new leader's watermark not yet caught up
            // (OFFSET_NOT_AVAILABLE): the next poll asks again.
            Err(e) if e.is_retriable() => {
                let _ = self.cluster.refresh(&[]).await;
                tokio::time::sleep(RETRY_BACKOFF.min(deadline.saturating_duration_since(Instant::now()))).await;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        }
        loop {
            self.send_fetches().await?;
            let wait = deadline.saturating_duration_since(Instant::now());
            let result = match tokio::time::timeout(wait, self.results_rx.recv()).await {
                Ok(Some(r)) => r,
                _ => return Ok(Vec::new()),
            };
            self.in_flight.remove(&result.node);
            let records = self.apply_fetch(result).await?;
            if !records.is_empty() || Instant::now() >= deadline {
                // Keep the pipeline full while the caller handles these.
                self.send_fetches().await?;
                return Ok(records);
            }
        }
    }

    /// Applies a fetch result: positions move on first (from batch headers
    /// only), the next fetch goes out, and only then are records decoded, so
    /// the broker sends while this client decodes.
    async fn apply_fetch(&mut self, result: FetchResult) -> Result<Vec<ConsumerRecord>> {
        let partitions = match result.outcome {
            Ok(p) => p,
            Err(e) if e.is_retriable() => {
                let _ = self.cluster.refresh(&[]).await;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut to_decode = Vec::new();
        for (tp, code, records) in partitions {
            // Only partitions this fetch asked for, still at the position it was
            // sent for (a seek since then makes its data stale).
            let Some(sent) = result.sent_at.get(&tp) else { continue };
            if self.positions.get(&tp) != Some(sent) {
                continue;
            }
            match code {
                0 => {
                    let from = self.positions[&tp];
                    let next = next_offset(&records, from);
                    if next > from {
                        self.positions.insert(tp.clone(), next);
                    }
                    to_decode.push((tp, from, records));
                }
                OFFSET_OUT_OF_RANGE if self.config.auto_offset_reset != OffsetReset::None => {
                    self.positions.remove(&tp);
                }
                code => {
                    let err = ClientError::from_code(code, format!("fetch {}-{}", tp.0, tp.1));
                    if err.is_retriable() {
                        let _ = self.cluster.refresh(std::slice::from_ref(&tp.0)).await;
                    } else {
                        return Err(err);
                    }
                }
            }
        }
        self.send_fetches().await?;
        let mut out = Vec::new();
        let mut failure = None;
        for (tp, from, records) in to_decode {
            let topic: Arc<str> = Arc::from(tp.0.as_str());
            match decode_records(&topic, tp.1, records, from) {
                Ok((mut recs, _)) => out.append(&mut recs),
                Err(e) => {
                    // Not delivered: the position goes back so nothing is skipped.
                    self.positions.insert(tp, from);
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            // Good records first; the bad partition fails again on the next poll.
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    /// Positions for partitions without one: committed offset, else the reset policy.
    async fn initialize_positions(&mut self) -> Result<()> {
        let missing: Vec<Tp> = self.assignment.iter().filter(|tp| !self.positions.contains_key(*tp)).cloned().collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut unresolved = missing.clone();
        if self.config.group_id.is_some() {
            let committed = self.committed(&missing).await?;
            unresolved.retain(|tp| match committed.get(tp) {
                Some(o) if *o >= 0 => {
                    self.positions.insert(tp.clone(), *o);
                    false
                }
                _ => true,
            });
        }
        if unresolved.is_empty() {
            return Ok(());
        }
        let spec = match self.config.auto_offset_reset {
            OffsetReset::Earliest => -2,
            OffsetReset::Latest => -1,
            OffsetReset::None => {
                return Err(ClientError::InvalidArgument(format!(
                    "no offset for {unresolved:?} and auto.offset.reset=none"
                )))
            }
        };
        for (tp, offset) in list_offsets(&self.cluster, &unresolved, spec).await? {
            self.positions.insert(tp, offset);
        }
        Ok(())
    }

    /// One fetch per leader broker with no fetch in flight.
    async fn send_fetches(&mut self) -> Result<()> {
        let mut by_node: BTreeMap<i32, Vec<(Tp, i64)>> = BTreeMap::new();
        for tp in &self.assignment {
            let Some(pos) = self.positions.get(tp) else { continue };
            let Some(leader) = self.cluster.leader(&tp.0, tp.1) else { continue };
            if !self.in_flight.contains(&leader) {
                by_node.entry(leader).or_default().push((tp.clone(), *pos));
            }
        }
        for (node, parts) in by_node {
            self.in_flight.insert(node);
            let cluster = self.cluster.clone();
            let tx = self.results_tx.clone();
            let config = self.config.clone();
            tokio::spawn(async move {
                let sent_at: HashMap<Tp, i64> = parts.iter().cloned().collect();
                let outcome = fetch(&cluster, &config, node, &parts).await;
                let _ = tx.send(FetchResult { node, sent_at, outcome });
            });
        }
        Ok(())
    }

    /// Committed offsets of the group for `partitions` (-1 if none).
    pub async fn committed(&self, partitions: &[Tp]) -> Result<HashMap<Tp, i64>> {
        let group = self.config.group_id.clone().ok_or_else(|| ClientError::InvalidArgument("no group.id".into()))?;
        let conn = match &self.membership {
            Some(m) => m.coordinator.clone(),
            None => coordinator(&self.cluster, &group).await?,
        };
        let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            topics.entry(t.clone()).or_default().push(*p);
        }
        let request = OffsetFetchRequest::default().with_group_id(GroupId(s(&group))).with_topics(Some(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default().with_name(TopicName(s(&t))).with_partition_indexes(ps)
                })
                .collect(),
        ));
        let response = conn.send(7, &request).await?;
        check(response.error_code, || format!("OffsetFetch for group '{group}'"))?;
        let mut out = HashMap::new();
        for t in response.topics {
            for p in t.partitions {
                out.insert((t.name.to_string(), p.partition_index), p.committed_offset);
            }
        }
        Ok(out)
    }

    /// Commits the current positions of the assigned partitions.
    pub async fn commit_sync(&self) -> Result<()> {
        let offsets: Vec<(Tp, i64)> =
            self.assignment.iter().filter_map(|tp| self.positions.get(tp).map(|o| (tp.clone(), *o))).collect();
        self.commit_offsets(&offsets).await
    }

    /// Commits the current positions in the background.
    pub fn commit_async(&self) -> tokio::task::JoinHandle<Result<()>> {
        let offsets: Vec<(Tp, i64)> =
            self.assignment.iter().filter_map(|tp| self.positions.get(tp).map(|o| (tp.clone(), *o))).collect();
        let (cluster, group, membership) = (
            self.cluster.clone(),
            self.config.group_id.clone(),
            self.membership.as_ref().map(|m| (m.coordinator.clone(), m.member_id.clone(), m.generation)),
        );
        tokio::spawn(async move { commit(&cluster, group, membership, &offsets).await })
    }

    /// Commits explicit offsets (the next offset to read, as Kafka does).
    pub async fn commit_offsets(&self, offsets: &[(Tp, i64)]) -> Result<()> {
        let membership = self.membership.as_ref().map(|m| (m.coordinator.clone(), m.member_id.clone(), m.generation));
        commit(&self.cluster, self.config.group_id.clone(), membership, offsets).await
    }

    /// Leaves the group (if any).
    pub async fn close(mut self) -> Result<()> {
        if let Some(m) = self.membership.take() {
            if let Some(h) = m.heartbeat {
                h.abort();
            }
            if self.config.group_instance_id.is_none() {
                let group = GroupId(s(self.config.group_id.as_deref().unwrap_or_default()));
                // v3+ carries a member list; older versions one member id.
                let request = match m.coordinator.version(ApiKey::LeaveGroup, 5) {
                    Ok(v) if v >= 3 => LeaveGroupRequest::default().with_group_id(group).with_members(vec![
                        leave_group_request::MemberIdentity::default().with_member_id(s(&m.member_id)),
                    ]),
                    _ => LeaveGroupRequest::default().with_group_id(group).with_member_id(s(&m.member_id)),
                };
                let _ = m.coordinator.send(5, &request).await;
            }
        }
        Ok(())
    }

    /// (Re)joins the group: FindCoordinator, JoinGroup, assignment by the
    /// leader, SyncGroup, then a heartbeat task. Eager: all partitions are
    /// given up first.
    async fn join_group(&mut self) -> Result<()> {
        let group = self.config.group_id.clone().ok_or_else(|| ClientError::InvalidArgument("no group.id".into()))?;
        let previous = self.membership.take();
        let mut member_id = previous.as_ref().map(|m| m.member_id.clone()).unwrap_or_default();
        if let Some(h) = previous.and_then(|m| m.heartbeat) {
            h.abort();
        }
        let cooperative = self.config.assignors.first() == Some(&Assignor::CooperativeSticky);
        if !cooperative {
            // Eager: give everything up before rejoining.
            self.assignment.clear();
            self.positions.clear();
        }
        let deadline = Instant::now() + self.config.rebalance_timeout;
        loop {
            if Instant::now() > deadline {
                return Err(ClientError::Timeout(format!("joining group '{group}'")));
            }
            let conn = coordinator(&self.cluster, &group).await?;
            let mut owned: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in &self.assignment {
                owned.entry(t.clone()).or_default().push(*p);
            }
            let subscription = ConsumerProtocolSubscription::default()
                .with_topics(self.subscription.iter().map(|t| s(t)).collect())
                .with_owned_partitions(
                    owned
                        .into_iter()
                        .map(|(t, ps)| {
                            consumer_protocol_subscription::TopicPartition::default()
                                .with_topic(TopicName(s(&t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            let metadata = encode_versioned(&subscription, 1)?;
            let request = JoinGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_session_timeout_ms(self.config.session_timeout.as_millis() as i32)
                .with_rebalance_timeout_ms(self.config.rebalance_timeout.as_millis() as i32)
                .with_member_id(s(&member_id))
                .with_group_instance_id(self.config.group_instance_id.as_deref().map(s))
                .with_protocol_type(s("consumer"))
                .with_protocols(
                    self.config
                        .assignors
                        .iter()
                        .map(|a| {
                            JoinGroupRequestProtocol::default().with_name(s(a.name())).with_metadata(metadata.clone())
                        })
                        .collect(),
                );
            let join = conn.send(7, &request).await?;
            match join.error_code {
                0 => {}
                MEMBER_ID_REQUIRED => {
                    member_id = join.member_id.to_string();
                    continue;
                }
                UNKNOWN_MEMBER_ID => {
                    member_id.clear();
                    continue;
                }
                code if ClientError::from_code(code, "").is_retriable() || code == 27 => {
                    tokio::time::sleep(self.config.client.retry_backoff).await;
                    continue;
                }
                code => return Err(ClientError::from_code(code, format!("JoinGroup '{group}'"))),
            }
            member_id = join.member_id.to_string();
            let generation = join.generation_id;
            let protocol = join.protocol_name.as_ref().map(|p| p.to_string()).unwrap_or_default();
            let assignments = if join.leader.as_str() == member_id {
                self.assign_partitions(&protocol, &join.members).await?
            } else {
                Vec::new()
            };
            let sync = SyncGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id(generation)
                .with_member_id(s(&member_id))
                .with_group_instance_id(self.config.group_instance_id.as_deref().map(s))
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s(&protocol)))
                .with_assignments(assignments);
            let synced = conn.send(5, &sync).await?;
            match synced.error_code {
                0 => {}
                27 | 22 => continue,
                UNKNOWN_MEMBER_ID => {
                    member_id.clear();
                    continue;
                }
                code => return Err(ClientError::from_code(code, format!("SyncGroup '{group}'"))),
            }
            let mut assignment = Vec::new();
            let mut bytes = synced.assignment.clone();
            if bytes.len() >= 2 {
                let version = i16::from_be_bytes([bytes[0], bytes[1]]);
                bytes = bytes.slice(2..);
                let decoded = ConsumerProtocolAssignment::decode(&mut bytes, version.clamp(0, 3))
                    .map_err(|e| ClientError::Protocol(format!("assignment: {e}")))?;
                for tp in decoded.assigned_partitions {
                    for p in tp.partitions {
                        assignment.push((tp.topic.to_string(), p));
                    }
                }
            }
            // Cooperative: partitions no longer assigned are revoked now, and a
            // follow-up rebalance hands them to their new owner.
            let revoked: Vec<Tp> = self.assignment.iter().filter(|tp| !assignment.contains(tp)).cloned().collect();
            for tp in &revoked {
                self.positions.remove(tp);
            }
            self.assignment = assignment;
            let needs_rejoin = Arc::new(AtomicBool::new(cooperative && !revoked.is_empty()));
            let heartbeat = tokio::spawn(heartbeat_loop(
                conn.clone(),
                group.clone(),
                member_id.clone(),
                self.config.group_instance_id.clone(),
                generation,
                self.config.heartbeat_interval,
                needs_rejoin.clone(),
            ));
            self.membership =
                Some(Membership { coordinator: conn, member_id, generation, needs_rejoin, heartbeat: Some(heartbeat) });
            return Ok(());
        }
    }

    /// The leader's job: spread the subscribed partitions over the members.
    async fn assign_partitions(
        &self,
        protocol: &str,
        members: &[join_group_response::JoinGroupResponseMember],
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let mut subscriptions: Vec<(String, Vec<String>)> = Vec::new();
        let mut owned: HashMap<String, Vec<Tp>> = HashMap::new();
        for m in members {
            let mut bytes = m.metadata.clone();
            let mut topics = Vec::new();
            if bytes.len() >= 2 {
                let version = i16::from_be_bytes([bytes[0], bytes[1]]);
                bytes = bytes.slice(2..);
                if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut bytes, version.clamp(0, 3)) {
                    topics = sub.topics.iter().map(|t| t.to_string()).collect();
                    let mine = owned.entry(m.member_id.to_string()).or_default();
                    for tp in sub.owned_partitions {
                        mine.extend(tp.partitions.iter().map(|p| (tp.topic.to_string(), *p)));
                    }
                }
            }
            subscriptions.push((m.member_id.to_string(), topics));
        }
        let all_topics: Vec<String> =
            subscriptions.iter().flat_map(|(_, t)| t.iter().cloned()).collect::<HashSet<_>>().into_iter().collect();
        self.cluster.refresh(&all_topics).await?;
        let counts: HashMap<String, i32> = all_topics
            .iter()
            .filter_map(|t| self.cluster.topic(t).map(|m| (t.clone(), m.partitions.len() as i32)))
            .collect();
        let plan = match protocol {
            "roundrobin" => round_robin(&subscriptions, &counts),
            "cooperative-sticky" => cooperative_sticky(&subscriptions, &counts, &owned),
            _ => range(&subscriptions, &counts),
        };
        plan.into_iter()
            .map(|(member, parts)| {
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for (t, p) in parts {
                    by_topic.entry(t).or_default().push(p);
                }
                let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
                    by_topic
                        .into_iter()
                        .map(|(t, ps)| AssignedPartitions::default().with_topic(TopicName(s(&t))).with_partitions(ps))
                        .collect(),
                );
                Ok(SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(encode_versioned(&assignment, 0)?))
            })
            .collect()
    }
}

/// The offset after the last complete batch in `records` (header scan only).
fn next_offset(records: &[u8], from: i64) -> i64 {
    let mut next = from;
    let mut at = 0usize;
    while let Some(size) = brook_protocol::batch::batch_size(&records[at..]) {
        if at + size > records.len() {
            break;
        }
        if let Ok(h) = brook_protocol::batch::BatchHeader::parse(&records[at..at + size]) {
            next = next.max(h.last_offset() + 1);
        }
        at += size;
    }
    next
}

/// Kafka's range assignor: per topic, consecutive partition ranges to members sorted by id.
pub fn range(subscriptions: &[(String, Vec<String>)], partitions: &HashMap<String, i32>) -> BTreeMap<String, Vec<Tp>> {
    let mut plan: BTreeMap<String, Vec<Tp>> = subscriptions.iter().map(|(m, _)| (m.clone(), Vec::new())).collect();
    let mut topics: Vec<&String> = partitions.keys().collect();
    topics.sort();
    for topic in topics {
        let mut members: Vec<&String> =
            subscriptions.iter().filter(|(_, t)| t.contains(topic)).map(|(m, _)| m).collect();
        members.sort();
        if members.is_empty() {
            continue;
        }
        let n = partitions[topic];
        let per = n / members.len() as i32;
        let extra = n % members.len() as i32;
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let count = per + if (i as i32) < extra { 1 } else { 0 };
            for p in next..next + count {
                plan.get_mut(*m).unwrap().push((topic.clone(), p));
            }
            next += count;
        }
    }
    plan
}

/// A sticky, balanced assignment for the cooperative protocol (KIP-429):
/// members keep owned partitions up to their fair share, the rest go to
/// members below it; then any partition still owned by another member is
/// held back this round, so it is revoked before it is reassigned.
pub fn cooperative_sticky(
    subscriptions: &[(String, Vec<String>)],
    partitions: &HashMap<String, i32>,
    owned: &HashMap<String, Vec<Tp>>,
) -> BTreeMap<String, Vec<Tp>> {
    let mut members: Vec<&(String, Vec<String>)> = subscriptions.iter().collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let mut all: Vec<Tp> = partitions.iter().flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p))).collect();
    all.sort();
    let total = all.len();
    let n = members.len().max(1);
    let quota = |i: usize| total / n + usize::from(i < total % n);
    let mut plan: BTreeMap<String, Vec<Tp>> = members.iter().map(|(m, _)| (m.clone(), Vec::new())).collect();
    let mut taken: HashSet<Tp> = HashSet::new();
    // Keep what is owned, up to the member's share, if still subscribed and valid.
    for (i, (m, topics)) in members.iter().enumerate() {
        for tp in owned.get(m).into_iter().flatten() {
            if plan[m].len() < quota(i) && topics.contains(&tp.0) && all.contains(tp) && taken.insert(tp.clone()) {
                plan.get_mut(m).unwrap().push(tp.clone());
            }
        }
    }
    // Hand out the rest to members below their share.
    for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
        let below = members.iter().enumerate().find(|(i, (m, t))| plan[m].len() < quota(*i) && t.contains(&tp.0));
        if let Some((_, (m, _))) = below {
            plan.get_mut(m).unwrap().push(tp.clone());
        }
    }
    // Hold back partitions whose previous owner is another member: revoke first.
    let previous: HashMap<&Tp, &String> = owned.iter().flat_map(|(m, tps)| tps.iter().map(move |tp| (tp, m))).collect();
    for (m, tps) in plan.iter_mut() {
        tps.retain(|tp| previous.get(tp).is_none_or(|owner| *owner == m));
    }
    plan
}

/// Kafka's round-robin assignor over all (topic, partition) pairs.
pub fn round_robin(
    subscriptions: &[(String, Vec<String>)],
    partitions: &HashMap<String, i32>,
) -> BTreeMap<String, Vec<Tp>> {
    let mut plan: BTreeMap<String, Vec<Tp>> = subscriptions.iter().map(|(m, _)| (m.clone(), Vec::new())).collect();
    let mut members: Vec<&(String, Vec<String>)> = subscriptions.iter().collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let mut all: Vec<Tp> = partitions.iter().flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p))).collect();
    all.sort();
    let mut i = 0;
    for tp in all {
        for _ in 0..members.len() {
            let m = members[i % members.len()];
            i += 1;
            if m.1.contains(&tp.0) {
                plan.get_mut(&m.0).unwrap().push(tp);
                break;
            }
        }
    }
    plan
}

fn encode_versioned<T: Encodable>(value: &T, version: i16) -> Result<Bytes> {
    let mut buf = bytes::BytesMut::new();
    buf.extend_from_slice(&version.to_be_bytes());
    value.encode(&mut buf, version).map_err(|e| ClientError::Protocol(format!("encoding: {e}")))?;
    Ok(buf.freeze())
}

async fn heartbeat_loop(
    conn: Arc<BrokerConnection>,
    group: String,
    member_id: String,
    instance: Option<String>,
    generation: i32,
    interval: Duration,
    needs_rejoin: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_member_id(s(&member_id))
            .with_group_instance_id(instance.as_deref().map(s))
            .with_generation_id(generation);
        match conn.send(4, &request).await {
            Ok(r) if r.error_code == 0 => {}
            _ => {
                needs_rejoin.store(true, Ordering::Release);
                return;
            }
        }
    }
}

/// The group's coordinator connection.
pub async fn coordinator(cluster: &Cluster, group: &str) -> Result<Arc<BrokerConnection>> {
    let mut attempts = 0;
    loop {
        let conn = cluster.any_connection().await?;
        let response = conn.send(3, &FindCoordinatorRequest::default().with_key(s(group))).await?;
        match response.error_code {
            0 => return cluster.connection_to(&format!("{}:{}", response.host.as_str(), response.port)).await,
            code if attempts < 20 && ClientError::from_code(code, "").is_retriable() => {
                attempts += 1;
                tokio::time::sleep(cluster.config.retry_backoff).await;
            }
            code => return Err(ClientError::from_code(code, format!("FindCoordinator '{group}'"))),
        }
    }
}

async fn commit(
    cluster: &Cluster,
    group: Option<String>,
    membership: Option<(Arc<BrokerConnection>, String, i32)>,
    offsets: &[(Tp, i64)],
) -> Result<()> {
    let group = group.ok_or_else(|| ClientError::InvalidArgument("commits need a group.id".into()))?;
    let (conn, member, generation) = match membership {
        Some(m) => m,
        None => (coordinator(cluster, &group).await?, String::new(), -1),
    };
    let mut topics: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
    for ((t, p), o) in offsets {
        topics.entry(t.clone()).or_default().push((*p, *o));
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(&member))
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default().with_name(TopicName(s(&t))).with_partitions(
                        ps.into_iter()
                            .map(|(p, o)| {
                                OffsetCommitRequestPartition::default().with_partition_index(p).with_committed_offset(o)
                            })
                            .collect(),
                    )
                })
                .collect(),
        );
    let response = conn.send(8, &request).await?;
    for t in response.topics {
        for p in t.partitions {
            check(p.error_code, || format!("commit {}-{} for group '{group}'", t.name.as_str(), p.partition_index))?;
        }
    }
    Ok(())
}

async fn fetch(
    cluster: &Cluster,
    config: &ConsumerConfig,
    node: i32,
    parts: &[(Tp, i64)],
) -> Result<Vec<(Tp, i16, Bytes)>> {
    let conn = cluster.connection_to_node(node).await?;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for ((t, p), offset) in parts {
        let partition = FetchPartition::default()
            .with_partition(*p)
            .with_fetch_offset(*offset)
            .with_partition_max_bytes(config.max_partition_fetch_bytes)
            .with_current_leader_epoch(-1)
            .with_last_fetched_epoch(-1)
            .with_log_start_offset(-1);
        match topics.iter_mut().find(|f| f.topic.as_str() == t) {
            Some(f) => f.partitions.push(partition),
            None => topics.push(FetchTopic::default().with_topic(TopicName(s(t))).with_partitions(vec![partition])),
        }
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(config.fetch_max_wait.as_millis() as i32)
        .with_min_bytes(config.fetch_min_bytes)
        .with_max_bytes(config.fetch_max_bytes)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics);
    // v12: names on the wire (v13+ would need topic ids).
    let response = conn.send(12, &request).await?;
    check(response.error_code, || "Fetch".to_string())?;
    let mut out = Vec::new();
    for t in response.responses {
        for p in t.partitions {
            out.push(((t.topic.to_string(), p.partition_index), p.error_code, p.records.unwrap_or_default()));
        }
    }
    Ok(out)
}

/// ListOffsets for partitions, grouped by leader.
pub async fn list_offsets(cluster: &Cluster, partitions: &[Tp], spec: i64) -> Result<HashMap<Tp, i64>> {
    let topics: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect::<HashSet<_>>().into_iter().collect();
    cluster.refresh(&topics).await?;
    let mut by_node: BTreeMap<i32, Vec<&Tp>> = BTreeMap::new();
    for tp in partitions {
        let leader =
            cluster.leader(&tp.0, tp.1).ok_or_else(|| ClientError::from_code(3, format!("{}-{}", tp.0, tp.1)))?;
        by_node.entry(leader).or_default().push(tp);
    }
    let mut out = HashMap::new();
    for (node, tps) in by_node {
        let mut topics: Vec<ListOffsetsTopic> = Vec::new();
        for (t, p) in tps {
            let part = ListOffsetsPartition::default()
                .with_partition_index(*p)
                .with_timestamp(spec)
                .with_current_leader_epoch(-1);
            match topics.iter_mut().find(|x| x.name.as_str() == t) {
                Some(x) => x.partitions.push(part),
                None => topics.push(ListOffsetsTopic::default().with_name(TopicName(s(t))).with_partitions(vec![part])),
            }
        }
        let conn = cluster.connection_to_node(node).await?;
        let response =
            conn.send(7, &ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(topics)).await?;
        for t in response.topics {
            for p in t.partitions {
                check(p.error_code, || format!("ListOffsets {}-{}", t.name.as_str(), p.partition_index))?;
                out.insert((t.name.to_string(), p.partition_index), p.offset);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_round_robin_match_kafka() {
        let subs = vec![
            ("a".to_string(), vec!["t".to_string()]),
            ("b".to_string(), vec!["t".to_string()]),
            ("c".to_string(), vec!["t".to_string()]),
        ];
        let counts: HashMap<String, i32> = [("t".to_string(), 7)].into();
        let plan = range(&subs, &counts);
        assert_eq!(plan["a"].iter().map(|x| x.1).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(plan["b"].iter().map(|x| x.1).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(plan["c"].iter().map(|x| x.1).collect::<Vec<_>>(), vec![5, 6]);
        let plan = round_robin(&subs, &counts);
        assert_eq!(plan["a"].iter().map(|x| x.1).collect::<Vec<_>>(), vec![0, 3, 6]);
        assert_eq!(plan["b"].iter().map(|x| x.1).collect::<Vec<_>>(), vec![1, 4]);
    }

    #[test]
    fn cooperative_sticky_keeps_and_defers() {
        let subs = vec![("a".to_string(), vec!["t".to_string()]), ("b".to_string(), vec!["t".to_string()])];
        let counts: HashMap<String, i32> = [("t".to_string(), 6)].into();
        // a owns everything, b is new: a keeps 3, b gets nothing yet (a must revoke first).
        let owned: HashMap<String, Vec<Tp>> =
            [("a".to_string(), (0..6).map(|p| ("t".to_string(), p)).collect())].into();
        let plan = cooperative_sticky(&subs, &counts, &owned);
        assert_eq!(plan["a"].len(), 3);
        assert!(plan["b"].is_empty());
        // Second round: a owns its 3, b gets the released ones.
        let owned: HashMap<String, Vec<Tp>> = [("a".to_string(), plan["a"].clone()), ("b".to_string(), vec![])].into();
        let plan2 = cooperative_sticky(&subs, &counts, &owned);
        assert_eq!(plan2["a"], plan["a"]);
        assert_eq!(plan2["b"].len(), 3);
        assert!(plan2["a"].iter().all(|tp| !plan2["b"].contains(tp)));
    }
}
