//! The active controller's view of broker liveness, and the records that
//! follow from it: registration, heartbeats, fencing, unfencing, and the
//! partition leader elections they cause. Pure: time is passed in, records
//! come out; the quorum commits them.
//!
//! Liveness (the time of each broker's last heartbeat) is not in the
//! metadata log, as in Kafka: a newly elected controller gives every
//! registered broker a full session before fencing it.

use std::collections::HashMap;

use brook_protocol::error_code;

use crate::controller::{ControllerError, Decision};
use crate::image::{partition_record, MetadataImage, PartitionImage};
use crate::records::MetadataRecord;

/// Last heartbeat per broker, in ms since the epoch.
#[derive(Debug, Default)]
pub struct BrokerLiveness {
    last_seen: HashMap<i32, i64>,
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
    }

    fn alive(&self, id: i32, now: i64, session_timeout_ms: i64) -> bool {
        self.last_seen.get(&id).is_some_and(|t| now - t < session_timeout_ms)
    }

    /// BrokerRegistration. A live broker with the same id and another
    /// incarnation means two processes share a node.id: refused.
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        image: &MetadataImage,
        broker_id: i32,
        incarnation: &str,
        host: &str,
        port: u16,
        now: i64,
        session_timeout_ms: i64,
    ) -> Decision {
        let mut records = Vec::new();
        if let Some(existing) = image.brokers.get(&broker_id) {
            if existing.incarnation != incarnation && !existing.fenced && self.alive(broker_id, now, session_timeout_ms)
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
        });
        self.last_seen.insert(broker_id, now);
        Ok((records, ()))
    }

    /// BrokerHeartbeat. A registered broker that has caught up on metadata
    /// is unfenced; one shutting down is fenced at once (controlled shutdown).
    pub fn heartbeat(
        &mut self,
        image: &MetadataImage,
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
        if broker.fenced && caught_up {
            return Ok((unfence(image, broker_id), HeartbeatReply { fenced: false }));
        }
        Ok((vec![], HeartbeatReply { fenced: broker.fenced }))
    }

    /// Fences every unfenced broker whose session expired.
    pub fn expire(&mut self, image: &MetadataImage, now: i64, session_timeout_ms: i64) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        let mut fenced_image = None::<MetadataImage>;
        for broker in image.brokers.values().filter(|b| !b.fenced) {
            let seen = *self.last_seen.entry(broker.id).or_insert(now);
            if now - seen >= session_timeout_ms {
                // Apply each fencing before deciding the next, so elections
                // never pick a broker fenced in the same round.
                let current = fenced_image.get_or_insert_with(|| image.clone());
                let more = fence(current, broker.id);
                for r in &more {
                    current.apply(r);
                }
                records.extend(more);
            }
        }
        records
    }
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

    fn cluster(n: i32) -> (MetadataImage, BrokerLiveness) {
        let mut image = MetadataImage::default();
        let mut live = BrokerLiveness::default();
        for id in 1..=n {
            let (r, _) = live.register(&image, id, &format!("inc-{id}"), "h", 9000 + id as u16, 0, 9000).unwrap();
            apply(&mut image, &r);
            let (r, reply) = live.heartbeat(&image, id, &format!("inc-{id}"), true, false, 0).unwrap();
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
            live.heartbeat(&image, id, &format!("inc-{id}"), true, false, 8000).unwrap();
        }
        let r = live.expire(&image, 9500, 9000);
        apply(&mut image, &r);
        assert!(image.brokers[&3].fenced);
        assert_eq!(image.live_brokers(), vec![1, 2]);
        let offline: Vec<_> = image.topic("t").unwrap().partitions.values().filter(|p| p.leader == -1).collect();
        assert_eq!(offline.len(), 2);
        assert!(offline.iter().all(|p| p.isr == vec![3] && p.leader_epoch == 1));

        // A second process with node.id 1 is refused while 1 is alive,
        // also right after a controller failover.
        let err = live.register(&image, 1, "other", "h", 1, 9600, 9000).unwrap_err();
        assert_eq!(err.code, error_code::DUPLICATE_BROKER_REGISTRATION);
        let mut successor = BrokerLiveness::default();
        successor.reset(&image, 9700);
        let err = successor.register(&image, 1, "other", "h", 1, 9800, 9000).unwrap_err();
        assert_eq!(err.code, error_code::DUPLICATE_BROKER_REGISTRATION);

        // Broker 3 comes back: registered fenced, unfenced once caught up, leads again.
        let (r, _) = live.register(&image, 3, "inc-3b", "h", 9003, 10_000, 9000).unwrap();
        apply(&mut image, &r);
        assert!(image.brokers[&3].fenced);
        let (r, reply) = live.heartbeat(&image, 3, "inc-3b", false, false, 10_100).unwrap();
        assert!(r.is_empty() && reply.fenced);
        let (r, reply) = live.heartbeat(&image, 3, "inc-3b", true, false, 10_200).unwrap();
        apply(&mut image, &r);
        assert!(!reply.fenced);
        let led: Vec<_> = image.topic("t").unwrap().partitions.values().filter(|p| p.leader == 3).collect();
        assert_eq!(led.len(), 2);
        assert!(led.iter().all(|p| p.leader_epoch == 2 && p.partition_epoch == 2));
        // The old incarnation's heartbeats are refused.
        assert_eq!(
            live.heartbeat(&image, 3, "inc-3", true, false, 10_300).unwrap_err().code,
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
}
