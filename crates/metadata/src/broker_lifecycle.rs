//! The active controller's view of broker liveness, and the records that
//! follow from it: registration, heartbeats, fencing, unfencing, and the
//! partition leader elections they cause. Pure: time is passed in, records
//! come out; the quorum commits them.
//!
//! Liveness (the time of each broker's last heartbeat) is not in the
//! metadata log, as in Kafka: a newly elected controller gives every
//! registered broker a full session before fencing it.
//!
//! Beyond Kafka, a broker whose process is gone is fenced at once instead of
//! after `broker.session.timeout.ms`. Every node holds one *session
//! connection* to each controller voter for the life of its process and
//! never closes it itself: the kernel closes it when the process dies
//! (`kill -9`, a crash, an exit), so a voter that sees the peer close it
//! (end of stream or connection reset) knows that this incarnation's
//! process is gone ([`Sessions`]). A process that is merely slow or stopped
//! (SIGSTOP) keeps its connections open, and a network partition delivers no
//! close at all: both still wait out the session timeout, so they never flap.
//! Each voter keeps its own [`Sessions`] whether or not it is the active
//! controller, so a voter that takes over already knows which processes died
//! (the old controller's among them).
//!
//! A broker whose process is gone is handled like one in controlled
//! shutdown: first its leaderships move and it leaves every ISR, then, a
//! moment later ([`FENCE_AFTER_MOVE_MS`]), it is fenced. Clients thus see the
//! new leaders while the old broker is still listed, then see it go; seeing
//! both in one Metadata response makes librdkafka drop the partition to "no
//! leader" until its next one-second topic scan.

use std::collections::HashMap;

use brook_protocol::error_code;

use crate::controller::{ControllerError, Decision};
use crate::image::{partition_record, MetadataImage, PartitionImage};
use crate::records::MetadataRecord;

/// Last heartbeat per broker, in ms since the epoch.
#[derive(Debug, Default)]
pub struct BrokerLiveness {
    last_seen: HashMap<i32, i64>,
    /// Brokers whose process is gone, whose partitions were moved off, and
    /// when: fenced [`FENCE_AFTER_MOVE_MS`] later.
    moved_off: HashMap<i32, i64>,
}

/// How long a broker whose process is gone stays registered (leading
/// nothing, in no ISR) after its partitions moved off, before it is fenced.
pub const FENCE_AFTER_MOVE_MS: i64 = 1000;

/// Session incarnations remembered per node (an old one is dropped first).
const SESSIONS_PER_NODE: usize = 8;

/// What one voter saw of the session connections of each node's processes,
/// keyed by node id and incarnation (a broker's registration incarnation,
/// or a controller process's own).
#[derive(Debug, Default, Clone)]
pub struct Sessions {
    nodes: HashMap<i32, Vec<Session>>,
}

#[derive(Debug, Clone)]
struct Session {
    incarnation: String,
    /// The newest connection of this incarnation; only its close counts.
    connection: u64,
    open: bool,
    opened_at: i64,
    closed_at: Option<i64>,
}

impl Sessions {
    /// A session connection of (`node`, `incarnation`) was opened. A newer
    /// connection of the same incarnation supersedes an older one (whose
    /// close then means nothing: the process reconnected).
    pub fn opened(&mut self, node: i32, incarnation: &str, connection: u64, now: i64) {
        let list = self.nodes.entry(node).or_default();
        match list.iter_mut().find(|s| s.incarnation == incarnation) {
            Some(s) if connection < s.connection => {}
            Some(s) => {
                s.connection = connection;
                s.open = true;
                s.opened_at = now;
                s.closed_at = None;
            }
            None => {
                list.push(Session {
                    incarnation: incarnation.to_string(),
                    connection,
                    open: true,
                    opened_at: now,
                    closed_at: None,
                });
                if list.len() > SESSIONS_PER_NODE {
                    // Forget the incarnation least recently heard of.
                    let oldest = list
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, s)| (s.open, s.closed_at.unwrap_or(s.opened_at)))
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    list.remove(oldest);
                }
            }
        }
    }

    /// The peer closed `connection` (end of stream or reset). Returns true
    /// when that means the incarnation's process is gone: it was the newest
    /// connection of that incarnation and it was open.
    pub fn closed(&mut self, node: i32, incarnation: &str, connection: u64, now: i64) -> bool {
        let Some(s) = self.nodes.get_mut(&node).and_then(|l| l.iter_mut().find(|s| s.incarnation == incarnation))
        else {
            return false;
        };
        if s.connection != connection || !s.open {
            return false;
        }
        s.open = false;
        s.closed_at = Some(now);
        true
    }

    /// This incarnation's process is known to be gone by other means than a
    /// connection (the node's own earlier process, recorded in its data).
    pub fn gone(&mut self, node: i32, incarnation: &str, now: i64) {
        self.opened(node, incarnation, 0, now);
        if let Some(s) = self.nodes.get_mut(&node).and_then(|l| l.iter_mut().find(|s| s.incarnation == incarnation)) {
            s.open = false;
            s.closed_at = Some(now);
        }
    }

    /// True when this incarnation's process is known to be gone.
    pub fn is_dead(&self, node: i32, incarnation: &str) -> bool {
        self.nodes.get(&node).and_then(|l| l.iter().find(|s| s.incarnation == incarnation)).is_some_and(|s| !s.open)
    }

    /// True when every process of `node` this voter knows of is gone (and
    /// it knows of one): no process of that node is running.
    pub fn node_down(&self, node: i32) -> bool {
        self.nodes.get(&node).is_some_and(|l| !l.is_empty() && l.iter().all(|s| !s.open))
    }
}

/// What a heartbeat tells the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeartbeatReply {
    pub fenced: bool,
}

impl BrokerLiveness {
    /// This controller just took over: every registered broker counts as
    /// seen now, so it gets a whole session to heartbeat before it is
    /// fenced, and its node.id stays protected from a duplicate meanwhile.
    pub fn reset(&mut self, image: &MetadataImage, now: i64) {
        self.last_seen = image.brokers.keys().map(|id| (*id, now)).collect();
        self.moved_off.clear();
    }

    fn alive(&self, id: i32, now: i64, session_timeout_ms: i64) -> bool {
        self.last_seen.get(&id).is_some_and(|t| now - t < session_timeout_ms)
    }

    /// BrokerRegistration. A live broker with the same id and another
    /// incarnation means two processes share a node.id: refused. An
    /// incarnation whose process is known to be gone ([`Sessions`]) is not
    /// live: a node restarted right after `kill -9` takes its place at once.
    /// (A new incarnation alone proves nothing: a second process configured
    /// with the same node.id also brings one.)
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        image: &MetadataImage,
        sessions: &Sessions,
        broker_id: i32,
        incarnation: &str,
        host: &str,
        port: u16,
        now: i64,
        session_timeout_ms: i64,
    ) -> Decision {
        let mut records = Vec::new();
        if let Some(existing) = image.brokers.get(&broker_id) {
            if existing.incarnation != incarnation
                && !existing.fenced
                && self.alive(broker_id, now, session_timeout_ms)
                && !sessions.is_dead(broker_id, &existing.incarnation)
            {
                return Err(ControllerError::new(
                    error_code::DUPLICATE_BROKER_REGISTRATION,
                    format!(
                        "node.id {broker_id} is already registered by a live broker (incarnation {})",
                        existing.incarnation
                    ),
                ));
            }
            if !existing.fenced {
                // The previous incarnation died without being noticed yet.
                records.extend(fence(image, broker_id));
            }
        }
        records.push(MetadataRecord::RegisterBroker {
            broker_id,
            incarnation: incarnation.to_string(),
            host: host.to_string(),
            port,
            fenced: true,
            endpoints: Vec::new(),
        });
        self.last_seen.insert(broker_id, now);
        self.moved_off.remove(&broker_id);
        Ok((records, ()))
    }

    /// BrokerHeartbeat. A registered broker that has caught up on metadata
    /// is unfenced; one shutting down is fenced at once (controlled shutdown).
    /// An incarnation whose process is known to be gone is never unfenced: a
    /// heartbeat it sent just before dying may arrive after its session
    /// connection closed. (Were it alive after all, its session reconnects,
    /// which clears that knowledge, and its next heartbeat unfences it.)
    #[allow(clippy::too_many_arguments)]
    pub fn heartbeat(
        &mut self,
        image: &MetadataImage,
        sessions: &Sessions,
        broker_id: i32,
        incarnation: &str,
        caught_up: bool,
        shutting_down: bool,
        now: i64,
    ) -> Decision<HeartbeatReply> {
        let Some(broker) = image.brokers.get(&broker_id).filter(|b| b.incarnation == incarnation) else {
            return Err(ControllerError::new(
                error_code::BROKER_ID_NOT_REGISTERED,
                format!("broker {broker_id} with this incarnation is not registered"),
            ));
        };
        self.last_seen.insert(broker_id, now);
        if shutting_down {
            if broker.fenced {
                return Ok((vec![], HeartbeatReply { fenced: true }));
            }
            return Ok((fence(image, broker_id), HeartbeatReply { fenced: true }));
        }
        if broker.fenced && caught_up && !sessions.is_dead(broker_id, incarnation) {
            return Ok((unfence(image, broker_id), HeartbeatReply { fenced: false }));
        }
        Ok((vec![], HeartbeatReply { fenced: broker.fenced }))
    }

    /// Fences every unfenced broker whose session expired. One whose
    /// registered incarnation's process is known to be gone loses its
    /// leaderships and ISR places at once, and is fenced
    /// [`FENCE_AFTER_MOVE_MS`] later (at once if it had none).
    pub fn expire(
        &mut self,
        image: &MetadataImage,
        sessions: &Sessions,
        now: i64,
        session_timeout_ms: i64,
    ) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        let mut fenced_image = None::<MetadataImage>;
        for broker in image.brokers.values().filter(|b| !b.fenced) {
            let seen = *self.last_seen.entry(broker.id).or_insert(now);
            // Apply each decision before taking the next, so elections never
            // pick a broker fenced (or moved off) in the same round.
            let current = fenced_image.get_or_insert_with(|| image.clone());
            let more = if sessions.is_dead(broker.id, &broker.incarnation) {
                match self.moved_off.get(&broker.id) {
                    Some(at) if now - at < FENCE_AFTER_MOVE_MS => move_off(current, broker.id),
                    Some(_) => fence(current, broker.id),
                    None => {
                        let moves = move_off(current, broker.id);
                        if moves.is_empty() {
                            fence(current, broker.id)
                        } else {
                            self.moved_off.insert(broker.id, now);
                            moves
                        }
                    }
                }
            } else if now - seen >= session_timeout_ms {
                fence(current, broker.id)
            } else {
                continue;
            };
            if more.iter().any(|r| matches!(r, MetadataRecord::FenceBroker { .. })) {
                self.moved_off.remove(&broker.id);
            }
            for r in &more {
                current.apply(r);
            }
            records.extend(more);
        }
        records
    }
}

/// The image as a broker describes it to clients (Metadata): a partition
/// whose leader's process this voter knows to be gone, before the
/// controller has moved it, is shown without a leader (as offline), not
/// with the dead one. Clients then keep looking for the new leader
/// (librdkafka stops its fast leader queries at the first answer naming a
/// leader, and retries a dead one only at its one-second topic scan).
/// `None`: nothing to hide, use `image` as it is.
pub fn hide_gone_leaders(image: &MetadataImage, sessions: &Sessions) -> Option<MetadataImage> {
    let gone: Vec<i32> =
        image.brokers.values().filter(|b| !b.fenced && sessions.is_dead(b.id, &b.incarnation)).map(|b| b.id).collect();
    if gone.is_empty() {
        return None;
    }
    let led = |p: &PartitionImage| gone.contains(&p.leader);
    if !image.topics.values().any(|t| t.partitions.values().any(led)) {
        return None;
    }
    let mut shown = image.clone();
    for topic in shown.topics.values_mut() {
        for p in topic.partitions.values_mut().filter(|p| gone.contains(&p.leader)) {
            p.leader = -1;
        }
    }
    Some(shown)
}

fn changed(mut p: PartitionImage, leader: i32, isr: Vec<i32>) -> PartitionImage {
    if p.leader != leader {
        p.leader_epoch += 1;
    }
    p.leader = leader;
    p.isr = isr;
    p.partition_epoch += 1;
    p
}

/// Records that fence `broker_id`: it leaves every ISR it can leave (the
/// last member stays, as Kafka keeps it, so it can lead again when it
/// returns) and partitions it led get a new leader from the ISR, or none.
pub fn fence(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::FenceBroker { broker_id }];
    records.extend(move_off(image, broker_id));
    records
}

/// The partition records of [`fence`] alone: `broker_id` stays registered
/// and unfenced, but leads nothing and is in no ISR it can leave.
pub fn move_off(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    let live = |b: i32| b != broker_id && image.brokers.get(&b).is_some_and(|x| !x.fenced);
    for topic in image.topics.values() {
        for (index, p) in &topic.partitions {
            if p.leader != broker_id && !p.isr.contains(&broker_id) {
                continue;
            }
            let mut isr: Vec<i32> = p.isr.iter().copied().filter(|b| *b != broker_id).collect();
            if isr.is_empty() {
                isr.push(broker_id);
            }
            let leader = if p.leader == broker_id || p.leader == -1 {
                p.replicas.iter().copied().find(|b| isr.contains(b) && live(*b)).unwrap_or(-1)
            } else {
                p.leader
            };
            if leader == p.leader && isr == p.isr {
                continue;
            }
            records.push(partition_record(topic.id, *index, &changed(p.clone(), leader, isr)));
        }
    }
    records
}

/// Records that unfence `broker_id` and give it back the leaderless
/// partitions whose ISR it is in (never an unclean election).
pub fn unfence(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::UnfenceBroker { broker_id }];
    for topic in image.topics.values() {
        for (index, p) in &topic.partitions {
            if p.leader == -1 && p.isr.contains(&broker_id) {
                records.push(partition_record(topic.id, *index, &changed(p.clone(), broker_id, p.isr.clone())));
            }
        }
    }
    records
}

/// One partition's outcome of a preferred leader election.
pub type ElectionOutcome = ((String, i32), i16);

/// Preferred leader election (ElectLeaders, and the automatic rebalance):
/// each partition's first replica becomes leader again if it is live and in
/// the ISR. `partitions: None` means every partition. Returns the records and
/// a per-partition error code (ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
/// UNKNOWN_TOPIC_OR_PARTITION, or NONE).
pub fn elect_preferred(
    image: &MetadataImage,
    partitions: Option<&[(String, i32)]>,
) -> (Vec<MetadataRecord>, Vec<ElectionOutcome>) {
    let wanted: Vec<(String, i32)> = match partitions {
        Some(list) => list.to_vec(),
        None => image.topics.values().flat_map(|t| t.partitions.keys().map(move |p| (t.name.clone(), *p))).collect(),
    };
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(wanted.len());
    for (topic_name, index) in wanted {
        let Some((topic, p)) = image.topic(&topic_name).and_then(|t| t.partitions.get(&index).map(|p| (t, p))) else {
            outcomes.push(((topic_name, index), error_code::UNKNOWN_TOPIC_OR_PARTITION));
            continue;
        };
        let preferred = p.replicas.first().copied().unwrap_or(-1);
        let code = if p.leader == preferred {
            error_code::ELECTION_NOT_NEEDED
        } else if !p.isr.contains(&preferred) || image.brokers.get(&preferred).is_none_or(|b| b.fenced) {
            error_code::PREFERRED_LEADER_NOT_AVAILABLE
        } else {
            records.push(partition_record(topic.id, index, &changed(p.clone(), preferred, p.isr.clone())));
            error_code::NONE
        };
        outcomes.push(((topic_name, index), code));
    }
    (records, outcomes)
}

/// Kafka's automatic leader rebalance: for each broker whose share of
/// partitions led by someone else (of those it prefers) exceeds
/// `imbalance_percent`, elect it back where it can lead.
pub fn rebalance_leaders(image: &MetadataImage, imbalance_percent: i64) -> Vec<MetadataRecord> {
    let mut preferred_total: HashMap<i32, usize> = HashMap::new();
    let mut displaced: HashMap<i32, Vec<(String, i32)>> = HashMap::new();
    for topic in image.topics.values() {
        for (index, p) in &topic.partitions {
            let Some(preferred) = p.replicas.first().copied() else { continue };
            *preferred_total.entry(preferred).or_default() += 1;
            if p.leader != preferred {
                displaced.entry(preferred).or_default().push((topic.name.clone(), *index));
            }
        }
    }
    let mut candidates = Vec::new();
    for (broker, list) in displaced {
        let total = preferred_total.get(&broker).copied().unwrap_or(1).max(1);
        if (list.len() * 100) as i64 > imbalance_percent * total as i64 {
            candidates.extend(list);
        }
    }
    if candidates.is_empty() {
        return Vec::new();
    }
    elect_preferred(image, Some(&candidates)).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{create_topic, ClusterDefaults, NewTopic};

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    fn none() -> Sessions {
        Sessions::default()
    }

    fn cluster(n: i32) -> (MetadataImage, BrokerLiveness) {
        let mut image = MetadataImage::default();
        let mut live = BrokerLiveness::default();
        for id in 1..=n {
            let (r, _) =
                live.register(&image, &none(), id, &format!("inc-{id}"), "h", 9000 + id as u16, 0, 9000).unwrap();
            apply(&mut image, &r);
            let (r, reply) = live.heartbeat(&image, &none(), id, &format!("inc-{id}"), true, false, 0).unwrap();
            apply(&mut image, &r);
            assert!(!reply.fenced);
        }
        (image, live)
    }

    #[test]
    fn placement_spreads_leaders_and_fencing_takes_them_offline() {
        let (mut image, mut live) = cluster(3);
        let configs = Default::default();
        let brokers = image.live_brokers();
        let defaults = ClusterDefaults { num_partitions: 6, replication_factor: 1, live_brokers: &brokers };
        let new = NewTopic { name: "t", num_partitions: 6, replication_factor: 1, configs: &configs, assignment: &[] };
        let (r, _) = create_topic(&image, &new, &defaults).unwrap();
        apply(&mut image, &r);
        let mut per_broker = HashMap::new();
        for p in image.topic("t").unwrap().partitions.values() {
            *per_broker.entry(p.leader).or_insert(0) += 1;
        }
        assert_eq!(per_broker, HashMap::from([(1, 2), (2, 2), (3, 2)]));

        // Brokers 1 and 2 keep heartbeating; 3 goes silent.
        for id in 1..=2 {
            live.heartbeat(&image, &none(), id, &format!("inc-{id}"), true, false, 8000).unwrap();
        }
        let r = live.expire(&image, &none(), 9500, 9000);
        apply(&mut image, &r);
        assert!(image.brokers[&3].fenced);
        assert_eq!(image.live_brokers(), vec![1, 2]);
        let offline: Vec<_> = image.topic("t").unwrap().partitions.values().filter(|p| p.leader == -1).collect();
        assert_eq!(offline.len(), 2);
        assert!(offline.iter().all(|p| p.isr == vec![3] && p.leader_epoch == 1));

        // A second process with node.id 1 is refused while 1 is alive,
        // also right after a controller failover.
        let err = live.register(&image, &none(), 1, "other", "h", 1, 9600, 9000).unwrap_err();
        assert_eq!(err.code, error_code::DUPLICATE_BROKER_REGISTRATION);
        let mut successor = BrokerLiveness::default();
        successor.reset(&image, 9700);
        let err = successor.register(&image, &none(), 1, "other", "h", 1, 9800, 9000).unwrap_err();
        assert_eq!(err.code, error_code::DUPLICATE_BROKER_REGISTRATION);

        // Broker 3 comes back: registered fenced, unfenced once caught up, leads again.
        let (r, _) = live.register(&image, &none(), 3, "inc-3b", "h", 9003, 10_000, 9000).unwrap();
        apply(&mut image, &r);
        assert!(image.brokers[&3].fenced);
        let (r, reply) = live.heartbeat(&image, &none(), 3, "inc-3b", false, false, 10_100).unwrap();
        assert!(r.is_empty() && reply.fenced);
        let (r, reply) = live.heartbeat(&image, &none(), 3, "inc-3b", true, false, 10_200).unwrap();
        apply(&mut image, &r);
        assert!(!reply.fenced);
        let led: Vec<_> = image.topic("t").unwrap().partitions.values().filter(|p| p.leader == 3).collect();
        assert_eq!(led.len(), 2);
        assert!(led.iter().all(|p| p.leader_epoch == 2 && p.partition_epoch == 2));
        // The old incarnation's heartbeats are refused.
        assert_eq!(
            live.heartbeat(&image, &none(), 3, "inc-3", true, false, 10_300).unwrap_err().code,
            error_code::BROKER_ID_NOT_REGISTERED
        );
    }

    #[test]
    fn preferred_leaders_come_back() {
        let (mut image, _) = cluster(3);
        let id = uuid::Uuid::new_v4();
        let p = |leader, isr: Vec<i32>| PartitionImage {
            replicas: vec![1, 2, 3],
            isr,
            leader,
            leader_epoch: 1,
            partition_epoch: 1,
            adding_replicas: vec![],
            removing_replicas: vec![],
        };
        apply(
            &mut image,
            &[
                MetadataRecord::Topic { name: "e".into(), topic_id: id.to_string() },
                partition_record(id, 0, &p(2, vec![1, 2, 3])),
                partition_record(id, 1, &p(2, vec![2, 3])),
                partition_record(id, 2, &p(1, vec![1, 2, 3])),
            ],
        );
        let (records, outcomes) = elect_preferred(&image, None);
        let codes: Vec<i16> = outcomes.iter().map(|(_, c)| *c).collect();
        assert_eq!(
            codes,
            vec![error_code::NONE, error_code::PREFERRED_LEADER_NOT_AVAILABLE, error_code::ELECTION_NOT_NEEDED]
        );
        apply(&mut image, &records);
        let t = image.topic("e").unwrap();
        assert_eq!((t.partitions[&0].leader, t.partitions[&0].leader_epoch), (1, 2));
        // Broker 1 prefers 3 partitions and leads 2 of them: 33% displaced.
        assert!(rebalance_leaders(&image, 50).is_empty());
        assert!(rebalance_leaders(&image, 10).is_empty(), "the displaced one is not in the ISR");
    }

    #[test]
    fn fencing_a_leader_elects_from_the_isr() {
        let (mut image, _) = cluster(3);
        let id = uuid::Uuid::new_v4();
        apply(
            &mut image,
            &[
                MetadataRecord::Topic { name: "r".into(), topic_id: id.to_string() },
                partition_record(
                    id,
                    0,
                    &PartitionImage {
                        replicas: vec![1, 2, 3],
                        isr: vec![1, 2, 3],
                        leader: 1,
                        leader_epoch: 4,
                        partition_epoch: 7,
                        adding_replicas: vec![],
                        removing_replicas: vec![],
                    },
                ),
            ],
        );
        let records = fence(&image, 1);
        apply(&mut image, &records);
        let p = &image.topic("r").unwrap().partitions[&0];
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch, p.partition_epoch), (2, vec![2, 3], 5, 8));
        // Controlled shutdown of a follower only shrinks the ISR.
        let records = fence(&image, 3);
        apply(&mut image, &records);
        let p = &image.topic("r").unwrap().partitions[&0];
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (2, vec![2], 5));
    }

    /// Three brokers, each leading one partition of an RF 3 topic, each with
    /// an open session connection (connection id = broker id) at this voter.
    fn replicated(image: &mut MetadataImage) -> Sessions {
        let id = uuid::Uuid::new_v4();
        let mut records = vec![MetadataRecord::Topic { name: "f".into(), topic_id: id.to_string() }];
        for (index, leader) in [(0, 1), (1, 2), (2, 3)] {
            records.push(partition_record(
                id,
                index,
                &PartitionImage {
                    replicas: vec![1, 2, 3],
                    isr: vec![1, 2, 3],
                    leader,
                    leader_epoch: 1,
                    partition_epoch: 1,
                    adding_replicas: vec![],
                    removing_replicas: vec![],
                },
            ));
        }
        apply(image, &records);
        let mut sessions = Sessions::default();
        for b in 1..=3 {
            sessions.opened(b, &format!("inc-{b}"), b as u64, 0);
        }
        sessions
    }

    fn leader(image: &MetadataImage, partition: i32) -> (i32, Vec<i32>) {
        let p = &image.topic("f").unwrap().partitions[&partition];
        (p.leader, p.isr.clone())
    }

    #[test]
    fn a_dead_process_loses_its_partitions_at_once_then_is_fenced() {
        let (mut image, mut live) = cluster(3);
        let mut sessions = replicated(&mut image);
        // Long before any session expiry, nothing is fenced.
        assert!(live.expire(&image, &sessions, 100, 9000).is_empty());
        // An old incarnation of broker 1 dying says nothing about the registered one.
        sessions.opened(1, "inc-1-old", 10, 50);
        assert!(sessions.closed(1, "inc-1-old", 10, 120));
        assert!(live.expire(&image, &sessions, 150, 9000).is_empty());
        // Broker 2's process is gone: at once its partition moves and it leaves every ISR ...
        assert!(sessions.closed(2, "inc-2", 2, 200));
        let r = live.expire(&image, &sessions, 210, 9000);
        assert!(!r.iter().any(|r| matches!(r, MetadataRecord::FenceBroker { .. })));
        apply(&mut image, &r);
        assert!(!image.brokers[&1].fenced && !image.brokers[&3].fenced);
        assert_eq!(leader(&image, 1), (1, vec![1, 3]));
        assert_eq!(leader(&image, 0), (1, vec![1, 3]));
        assert_eq!(image.topic("f").unwrap().partitions[&1].leader_epoch, 2);
        // ... and it is fenced a moment later, still long before its session would expire.
        assert!(live.expire(&image, &sessions, 210 + FENCE_AFTER_MOVE_MS - 1, 9000).is_empty());
        let r = live.expire(&image, &sessions, 210 + FENCE_AFTER_MOVE_MS, 9000);
        assert_eq!(r, vec![MetadataRecord::FenceBroker { broker_id: 2 }]);
        apply(&mut image, &r);
        assert!(image.brokers[&2].fenced && !image.brokers[&1].fenced && !image.brokers[&3].fenced);
        assert_eq!(leader(&image, 1), (1, vec![1, 3]));
        // Nothing more to do on the next tick.
        assert!(live.expire(&image, &sessions, 3000, 9000).is_empty());
        // A dead broker that leads nothing and is in no ISR is fenced at once.
        let (r, ()) = live.register(&image, &sessions, 4, "inc-4", "h", 1, 3000, 9000).unwrap();
        apply(&mut image, &r);
        let (r, _) = live.heartbeat(&image, &sessions, 4, "inc-4", true, false, 3000).unwrap();
        apply(&mut image, &r);
        sessions.opened(4, "inc-4", 4, 3000);
        assert!(sessions.closed(4, "inc-4", 4, 3100));
        let r = live.expire(&image, &sessions, 3100, 9000);
        assert_eq!(r, vec![MetadataRecord::FenceBroker { broker_id: 4 }]);
    }

    #[test]
    fn only_the_newest_connection_of_an_incarnation_counts() {
        let mut sessions = Sessions::default();
        sessions.opened(4, "a", 1, 0);
        // The process reconnected (its first connection broke): the old one closing is no death.
        sessions.opened(4, "a", 2, 10);
        assert!(!sessions.closed(4, "a", 1, 20));
        assert!(!sessions.is_dead(4, "a") && !sessions.node_down(4));
        // A stale hello arriving late does not resurrect an older connection.
        sessions.opened(4, "a", 1, 25);
        assert!(sessions.closed(4, "a", 2, 30));
        assert!(sessions.is_dead(4, "a"));
        assert!(!sessions.closed(4, "a", 2, 31), "a close is counted once");
        // Unknown incarnations are never dead; a node is down only when all its processes are.
        assert!(!sessions.is_dead(4, "b") && !sessions.is_dead(5, "a"));
        assert!(sessions.node_down(4) && !sessions.node_down(5));
        sessions.opened(4, "voter-x", 3, 40);
        assert!(!sessions.node_down(4));
        // A false close heals: the same incarnation connecting again is alive.
        sessions.opened(4, "a", 4, 50);
        assert!(!sessions.is_dead(4, "a"));
    }

    #[test]
    fn an_incarnation_known_gone_without_a_connection_is_dead() {
        let (mut image, mut live) = cluster(3);
        let mut sessions = replicated(&mut image);
        // The controller on node 3's own new process knows its old broker incarnation is gone.
        sessions.gone(3, "inc-3", 100);
        assert!(sessions.is_dead(3, "inc-3"));
        let (r, ()) = live.register(&image, &sessions, 3, "inc-3b", "h", 1, 200, 9000).unwrap();
        assert_eq!(r.first(), Some(&MetadataRecord::FenceBroker { broker_id: 3 }));
    }

    #[test]
    fn clients_are_not_shown_a_leader_whose_process_is_gone() {
        let (mut image, mut live) = cluster(3);
        let mut sessions = replicated(&mut image);
        assert!(hide_gone_leaders(&image, &sessions).is_none());
        assert!(sessions.closed(2, "inc-2", 2, 100));
        let shown = hide_gone_leaders(&image, &sessions).unwrap();
        let t = shown.topic("f").unwrap();
        assert_eq!((t.partitions[&0].leader, t.partitions[&1].leader, t.partitions[&2].leader), (1, -1, 3));
        assert_eq!(t.partitions[&1].leader_epoch, 1);
        // Once the controller moved its partitions there is nothing to hide.
        let r = live.expire(&image, &sessions, 100, 9000);
        apply(&mut image, &r);
        assert!(hide_gone_leaders(&image, &sessions).is_none());
    }

    #[test]
    fn sessions_remember_a_bounded_number_of_incarnations() {
        let mut sessions = Sessions::default();
        sessions.opened(1, "live", 0, 0);
        for i in 1..=20u64 {
            sessions.opened(1, &format!("gone-{i}"), i, i as i64);
            sessions.closed(1, &format!("gone-{i}"), i, i as i64);
        }
        assert_eq!(sessions.nodes[&1].len(), SESSIONS_PER_NODE);
        assert!(sessions.nodes[&1].iter().any(|s| s.incarnation == "live" && s.open));
        assert!(sessions.is_dead(1, "gone-20"));
    }

    #[test]
    fn a_paused_or_partitioned_broker_is_fenced_only_when_its_session_expires() {
        let (mut image, mut live) = cluster(3);
        let sessions = replicated(&mut image);
        for id in [1, 3] {
            live.heartbeat(&image, &sessions, id, &format!("inc-{id}"), true, false, 8000).unwrap();
        }
        // Broker 2 stopped heartbeating at 0 but its connections stay open (SIGSTOP, partition).
        assert!(live.expire(&image, &sessions, 8999, 9000).is_empty());
        let r = live.expire(&image, &sessions, 9000, 9000);
        assert_eq!(r.first(), Some(&MetadataRecord::FenceBroker { broker_id: 2 }));
        // A controller that takes over gives every broker whose process it does
        // not know to be gone a whole session from its takeover.
        let mut successor = BrokerLiveness::default();
        successor.reset(&image, 5000);
        assert!(successor.expire(&image, &sessions, 13_999, 9000).is_empty());
        assert!(!successor.expire(&image, &sessions, 14_000, 9000).is_empty());
        // A late heartbeat (after expiry, before fencing was decided) keeps it.
        successor.heartbeat(&image, &sessions, 2, "inc-2", true, false, 14_100).unwrap();
        assert!(successor
            .expire(&image, &sessions, 14_200, 9000)
            .iter()
            .all(|r| { !matches!(r, MetadataRecord::FenceBroker { broker_id: 2 }) }));
    }

    #[test]
    fn a_controller_taking_over_fences_the_processes_it_saw_die() {
        let (mut image, _) = cluster(3);
        let mut sessions = replicated(&mut image);
        // Node 1 (the old controller and a leader) dies; this voter saw it as a follower.
        assert!(sessions.closed(1, "inc-1", 1, 1000));
        let mut successor = BrokerLiveness::default();
        successor.reset(&image, 1500);
        let r = successor.expire(&image, &sessions, 1500, 9000);
        apply(&mut image, &r);
        assert_eq!(leader(&image, 0), (2, vec![2, 3]));
        let r = successor.expire(&image, &sessions, 1500 + FENCE_AFTER_MOVE_MS, 9000);
        apply(&mut image, &r);
        assert!(image.brokers[&1].fenced);
        assert!(!image.brokers[&2].fenced && !image.brokers[&3].fenced);
    }

    #[test]
    fn a_new_incarnation_replaces_one_whose_process_is_gone() {
        let (mut image, mut live) = cluster(3);
        let mut sessions = replicated(&mut image);
        // While inc-3 may be alive (open session, or nothing known), a second process is refused.
        let err = live.register(&image, &sessions, 3, "inc-3b", "h", 1, 100, 9000).unwrap_err();
        assert_eq!(err.code, error_code::DUPLICATE_BROKER_REGISTRATION);
        sessions.opened(3, "inc-3b", 9, 100);
        let err = live.register(&image, &sessions, 3, "inc-3b", "h", 1, 100, 9000).unwrap_err();
        assert_eq!(err.code, error_code::DUPLICATE_BROKER_REGISTRATION);
        // inc-3's process is gone: the restarted node registers at once; the
        // old incarnation is fenced in the same write, its partition moves.
        assert!(sessions.closed(3, "inc-3", 3, 150));
        let (r, ()) = live.register(&image, &sessions, 3, "inc-3b", "h", 1, 200, 9000).unwrap();
        assert_eq!(r.first(), Some(&MetadataRecord::FenceBroker { broker_id: 3 }));
        apply(&mut image, &r);
        assert_eq!(image.brokers[&3].incarnation, "inc-3b");
        assert!(image.brokers[&3].fenced);
        assert_eq!(leader(&image, 2), (1, vec![1, 2]));
        // The old incarnation's heartbeats are refused; the new one is unfenced once caught up.
        let stale = live.heartbeat(&image, &sessions, 3, "inc-3", true, false, 250).unwrap_err();
        assert_eq!(stale.code, error_code::BROKER_ID_NOT_REGISTERED);
        let (r, reply) = live.heartbeat(&image, &sessions, 3, "inc-3b", true, false, 300).unwrap();
        apply(&mut image, &r);
        assert!(!reply.fenced && !image.brokers[&3].fenced);
        // The same holds at a controller that took over after seeing inc-3b die.
        assert!(sessions.closed(3, "inc-3b", 9, 400));
        let mut successor = BrokerLiveness::default();
        successor.reset(&image, 450);
        assert!(successor.register(&image, &sessions, 3, "inc-3c", "h", 1, 500, 9000).is_ok());
    }

    #[test]
    fn a_heartbeat_from_a_dead_incarnation_does_not_unfence_it() {
        let (mut image, mut live) = cluster(3);
        let mut sessions = replicated(&mut image);
        assert!(sessions.closed(2, "inc-2", 2, 100));
        for now in [100, 100 + FENCE_AFTER_MOVE_MS] {
            let r = live.expire(&image, &sessions, now, 9000);
            apply(&mut image, &r);
        }
        assert!(image.brokers[&2].fenced);
        // A heartbeat it sent before dying arrives now.
        let (r, reply) = live.heartbeat(&image, &sessions, 2, "inc-2", true, false, 110).unwrap();
        assert!(r.is_empty() && reply.fenced);
        // It was alive after all (its session connection broke): it reconnects and is unfenced.
        sessions.opened(2, "inc-2", 20, 500);
        let (r, reply) = live.heartbeat(&image, &sessions, 2, "inc-2", true, false, 600).unwrap();
        apply(&mut image, &r);
        assert!(!reply.fenced && !image.brokers[&2].fenced);
    }
}
