//! The controller's decisions as pure functions: given the current image and
//! a request, either the records that carry it out or a Kafka error. The
//! caller commits the records through the metadata log.

use std::collections::BTreeMap;

use brook_protocol::error_code;
use uuid::Uuid;

use crate::image::MetadataImage;
use crate::records::MetadataRecord;
use crate::topic_config;

/// A refused request: Kafka error code plus a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ControllerError {
    pub code: i16,
    pub message: String,
}

impl ControllerError {
    pub fn new(code: i16, message: impl Into<String>) -> Self {
        ControllerError { code, message: message.into() }
    }
}

pub type Decision<T = ()> = Result<(Vec<MetadataRecord>, T), ControllerError>;

/// Topic names Kafka accepts: 1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    let invalid = |why: &str| {
        ControllerError::new(error_code::INVALID_TOPIC_EXCEPTION, format!("Invalid topic name '{name}': {why}"))
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not allowed"));
    }
    if name.starts_with("__cluster_metadata") {
        return Err(invalid("the name is reserved for the metadata log"));
    }
    if name.len() > 249 {
        return Err(invalid("longer than 249 characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(invalid("only ASCII alphanumerics, '.', '_' and '-' are allowed"));
    }
    Ok(())
}

pub struct NewTopic<'a> {
    pub name: &'a str,
    /// -1: use the broker default.
    pub num_partitions: i32,
    /// -1: use the broker default.
    pub replication_factor: i16,
    pub configs: &'a BTreeMap<String, String>,
    /// Manual replica assignment, one replica list per partition in
    /// partition order (see [`assignment_by_partition`]); empty: place
    /// automatically. Each list is kept as given: its first replica is the
    /// preferred leader.
    pub assignment: &'a [Vec<i32>],
}

pub struct ClusterDefaults<'a> {
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub live_brokers: &'a [i32],
}

pub const MAX_PARTITIONS_PER_TOPIC: i32 = 100_000;

/// CreateTopics. Returns the new topic id.
pub fn create_topic(image: &MetadataImage, topic: &NewTopic<'_>, defaults: &ClusterDefaults<'_>) -> Decision<Uuid> {
    validate_topic_name(topic.name)?;
    if image.topic(topic.name).is_some() {
        return Err(ControllerError::new(
            error_code::TOPIC_ALREADY_EXISTS,
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    let collision_key = |n: &str| n.replace('.', "_");
    if let Some(other) = image.topics.keys().find(|n| collision_key(n) == collision_key(topic.name)) {
        return Err(ControllerError::new(
            error_code::INVALID_TOPIC_EXCEPTION,
            format!(
                "Topic '{}' collides with existing topic '{other}' ('.' and '_' are interchangeable in metric names)",
                topic.name
            ),
        ));
    }
    if !topic.assignment.is_empty() {
        check_no_counts_with_assignment(topic.num_partitions, topic.replication_factor)?;
        let replication = topic.assignment[0].len();
        for (p, replicas) in topic.assignment.iter().enumerate() {
            check_manual_replicas(image, p as i32, replicas, replication)?;
        }
    }
    let partitions = if !topic.assignment.is_empty() {
        topic.assignment.len() as i32
    } else if topic.num_partitions == -1 {
        defaults.num_partitions
    } else {
        topic.num_partitions
    };
    if partitions <= 0 || partitions > MAX_PARTITIONS_PER_TOPIC {
        return Err(ControllerError::new(
            error_code::INVALID_PARTITIONS,
            format!("Number of partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}, got {partitions}."),
        ));
    }
    let replication = if !topic.assignment.is_empty() {
        topic.assignment[0].len() as i16
    } else if topic.replication_factor == -1 {
        defaults.replication_factor
    } else {
        topic.replication_factor
    };
    // A manual assignment may name registered brokers that are fenced now (Kafka's rule).
    if replication <= 0 || (topic.assignment.is_empty() && replication as usize > defaults.live_brokers.len()) {
        return Err(ControllerError::new(
            error_code::INVALID_REPLICATION_FACTOR,
            format!(
                "Replication factor: {replication} larger than available brokers: {}.",
                defaults.live_brokers.len()
            ),
        ));
    }
    for (name, value) in topic.configs {
        topic_config::validate(name, value).map_err(|m| ControllerError::new(error_code::INVALID_CONFIG, m))?;
    }
    let id = Uuid::new_v4();
    let mut records = vec![MetadataRecord::Topic { name: topic.name.to_string(), topic_id: id.to_string() }];
    if topic.assignment.is_empty() {
        let start = placement_start(image);
        records.extend(partition_records(id, 0..partitions, replication, defaults.live_brokers, start));
    } else {
        for (p, replicas) in topic.assignment.iter().enumerate() {
            records.push(manual_partition(id, p as i32, replicas, defaults.live_brokers)?);
        }
    }
    for (name, value) in topic.configs {
        records.push(MetadataRecord::TopicConfig {
            topic: topic.name.to_string(),
            name: name.clone(),
            value: Some(value.clone()),
        });
    }
    Ok((records, id))
}

/// Where round-robin placement of the next topic starts, so that the first
/// partitions of successive topics do not all land on the same broker.
fn placement_start(image: &MetadataImage) -> usize {
    image.topics.values().map(|t| t.partitions.len()).sum()
}

/// Round-robin placement over the live brokers, as Kafka does without racks:
/// partition p's replicas are brokers start+p, start+p+1, ... so leaders
/// (the first replica) and replicas spread evenly.
fn partition_records(
    id: Uuid,
    partitions: std::ops::Range<i32>,
    replication: i16,
    brokers: &[i32],
    start: usize,
) -> Vec<MetadataRecord> {
    let mut brokers = brokers.to_vec();
    brokers.sort_unstable();
    partitions
        .map(|p| {
            let replicas: Vec<i32> =
                (0..replication as usize).map(|r| brokers[(start + p as usize + r) % brokers.len()]).collect();
            new_partition(id, p, replicas)
        })
        .collect()
}

/// A new partition led by its first replica, every replica in sync (all
/// are empty).
fn new_partition(id: Uuid, partition: i32, replicas: Vec<i32>) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id: id.to_string(),
        partition,
        leader: replicas[0],
        isr: replicas.clone(),
        replicas,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

/// Kafka takes a manual assignment only in place of a partition count and
/// replication factor: both must be -1 (INVALID_REQUEST otherwise).
fn check_no_counts_with_assignment(num_partitions: i32, replication_factor: i16) -> Result<(), ControllerError> {
    if replication_factor != -1 {
        return Err(ControllerError::new(
            error_code::INVALID_REQUEST,
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        ));
    }
    if num_partitions != -1 {
        return Err(ControllerError::new(
            error_code::INVALID_REQUEST,
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        ));
    }
    Ok(())
}

/// CreateTopics' manual assignments, (partition index, replicas) in request
/// order, as one replica list per partition in partition order (what
/// [`NewTopic::assignment`] holds). As Kafka's controller: a partition given
/// twice or indexes other than 0, 1, 2, ... are INVALID_REPLICA_ASSIGNMENT;
/// counts next to an assignment are INVALID_REQUEST, checked first. The
/// replica lists themselves are checked against the image by [`create_topic`].
pub fn assignment_by_partition(
    num_partitions: i32,
    replication_factor: i16,
    entries: &[(i32, Vec<i32>)],
) -> Result<Vec<Vec<i32>>, ControllerError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    check_no_counts_with_assignment(num_partitions, replication_factor)?;
    let mut by_partition = BTreeMap::new();
    for (partition, replicas) in entries {
        if by_partition.insert(*partition, replicas.clone()).is_some() {
            return Err(ControllerError::new(
                error_code::INVALID_REPLICA_ASSIGNMENT,
                format!("Found multiple manual partition assignments for partition {partition}"),
            ));
        }
    }
    // Distinct keys in order are 0..n exactly when the last one is n - 1 and the first 0.
    if by_partition.keys().next() != Some(&0) || by_partition.keys().next_back() != Some(&(entries.len() as i32 - 1)) {
        return Err(ControllerError::new(
            error_code::INVALID_REPLICA_ASSIGNMENT,
            "partitions should be a consecutive 0-based integer sequence",
        ));
    }
    Ok(by_partition.into_values().collect())
}

/// One manual replica list, as Kafka's validateManualPartitionAssignment:
/// not empty, each broker registered (fenced ones too) and named once, and
/// `replication` replicas (what the other partitions have).
fn check_manual_replicas(
    image: &MetadataImage,
    partition: i32,
    replicas: &[i32],
    replication: usize,
) -> Result<(), ControllerError> {
    let invalid = |why: String| {
        ControllerError::new(
            error_code::INVALID_REPLICA_ASSIGNMENT,
            format!("The manual partition assignment of partition {partition} {why}"),
        )
    };
    if replicas.is_empty() {
        return Err(invalid("includes an empty replica list.".to_string()));
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    for (i, b) in sorted.iter().enumerate() {
        if !image.brokers.contains_key(b) {
            return Err(invalid(format!("includes broker {b}, but no such broker is registered.")));
        }
        if i > 0 && sorted[i - 1] == *b {
            return Err(invalid(format!("includes the broker {b} more than once.")));
        }
    }
    if replicas.len() != replication {
        return Err(invalid(format!(
            "has {} replica(s), but this is not consistent with other partitions, which have {replication} replica(s).",
            replicas.len()
        )));
    }
    Ok(())
}

/// A new partition on a manual replica list, kept in the given order: the
/// live replicas form the ISR and the first of them leads, so the first
/// replica (the preferred leader) leads when it is alive (Kafka's
/// buildPartitionRegistration). All fenced: INVALID_REPLICA_ASSIGNMENT.
fn manual_partition(
    id: Uuid,
    partition: i32,
    replicas: &[i32],
    live: &[i32],
) -> Result<MetadataRecord, ControllerError> {
    let isr: Vec<i32> = replicas.iter().copied().filter(|b| live.contains(b)).collect();
    let Some(&leader) = isr.first() else {
        return Err(ControllerError::new(
            error_code::INVALID_REPLICA_ASSIGNMENT,
            format!("All brokers specified in the manual partition assignment for partition {partition} are fenced."),
        ));
    };
    Ok(MetadataRecord::Partition {
        topic_id: id.to_string(),
        partition,
        leader,
        isr,
        replicas: replicas.to_vec(),
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    })
}

/// DeleteTopics.
pub fn delete_topic(image: &MetadataImage, name: &str) -> Decision<Uuid> {
    let topic = image.topic(name).ok_or_else(|| {
        ControllerError::new(error_code::UNKNOWN_TOPIC_OR_PARTITION, format!("Topic '{name}' does not exist."))
    })?;
    Ok((vec![MetadataRecord::RemoveTopic { topic_id: topic.id.to_string() }], topic.id))
}

/// CreatePartitions: grow `name` to `count` partitions, placed round-robin
/// or on `assignment`, one replica list per new partition kept as given.
pub fn create_partitions(image: &MetadataImage, name: &str, count: i32, assignment: Option<&[Vec<i32>]>) -> Decision {
    let live_brokers = &image.live_brokers();
    let topic = image.topic(name).ok_or_else(|| {
        ControllerError::new(error_code::UNKNOWN_TOPIC_OR_PARTITION, format!("Topic '{name}' does not exist."))
    })?;
    let current = topic.partitions.len() as i32;
    if count <= current {
        return Err(ControllerError::new(
            error_code::INVALID_PARTITIONS,
            format!("Topic currently has {current} partitions, which is higher than the requested {count}."),
        ));
    }
    if count > MAX_PARTITIONS_PER_TOPIC {
        return Err(ControllerError::new(
            error_code::INVALID_PARTITIONS,
            format!("At most {MAX_PARTITIONS_PER_TOPIC} partitions per topic."),
        ));
    }
    let replication = topic.partitions.values().next().map_or(1, |p| p.replicas.len() as i16);
    if let Some(assignment) = assignment {
        let additional = count - current;
        if assignment.len() as i32 != additional {
            return Err(ControllerError::new(
                error_code::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Attempted to add {additional} additional partition(s), but {} assignment(s) were specified.",
                    assignment.len()
                ),
            ));
        }
        let mut records = Vec::with_capacity(assignment.len());
        for (partition, replicas) in (current..count).zip(assignment) {
            check_manual_replicas(image, partition, replicas, replication as usize)?;
            records.push(manual_partition(topic.id, partition, replicas, live_brokers)?);
        }
        return Ok((records, ()));
    }
    if replication as usize > live_brokers.len() {
        return Err(ControllerError::new(
            error_code::INVALID_REPLICATION_FACTOR,
            format!("Replication factor: {replication} larger than available brokers: {}.", live_brokers.len()),
        ));
    }
    let start = placement_start(image);
    Ok((partition_records(topic.id, current..count, replication, live_brokers, start), ()))
}

/// A config change for one resource: `Some` sets, `None` deletes.
pub type ConfigChanges = BTreeMap<String, Option<String>>;

/// (Incremental)AlterConfigs on a topic. `replace_all` is the legacy
/// AlterConfigs semantics: overrides not listed are removed.
pub fn alter_topic_configs(image: &MetadataImage, name: &str, changes: &ConfigChanges, replace_all: bool) -> Decision {
    let topic = image.topic(name).ok_or_else(|| {
        ControllerError::new(error_code::UNKNOWN_TOPIC_OR_PARTITION, format!("Topic '{name}' does not exist."))
    })?;
    for (key, value) in changes {
        match value {
            Some(v) => topic_config::validate(key, v),
            None => topic_config::definition(key)
                .map(|_| ())
                .ok_or_else(|| format!("Unknown or unsupported topic config {key}")),
        }
        .map_err(|m| ControllerError::new(error_code::INVALID_CONFIG, m))?;
    }
    let mut records: Vec<MetadataRecord> = changes
        .iter()
        .map(|(k, v)| MetadataRecord::TopicConfig { topic: name.to_string(), name: k.clone(), value: v.clone() })
        .collect();
    if replace_all {
        for key in topic.configs.keys().filter(|k| !changes.contains_key(*k)) {
            records.push(MetadataRecord::TopicConfig { topic: name.to_string(), name: key.clone(), value: None });
        }
    }
    Ok((records, ()))
}

/// Records for dynamic broker config changes, already validated by the broker
/// (which owns the list of dynamically updatable properties).
pub fn alter_broker_configs(image: &MetadataImage, changes: &ConfigChanges, replace_all: bool) -> Decision {
    let mut records: Vec<MetadataRecord> =
        changes.iter().map(|(k, v)| MetadataRecord::BrokerConfig { name: k.clone(), value: v.clone() }).collect();
    if replace_all {
        for key in image.broker_configs.keys().filter(|k| !changes.contains_key(*k)) {
            records.push(MetadataRecord::BrokerConfig { name: key.clone(), value: None });
        }
    }
    Ok((records, ()))
}

/// A block of `count` producer ids for one broker, which hands them out
/// itself (Kafka's AllocateProducerIds): ids stay unique across the cluster.
pub fn allocate_producer_ids(image: &MetadataImage, count: i64) -> Decision<i64> {
    let first = image.next_producer_id;
    Ok((vec![MetadataRecord::ProducerIds { next_producer_id: first + count }], first))
}

/// AlterPartition: a leader changes its partition's ISR. Refused when the
/// sender is not the current leader of that epoch or its view of the
/// partition is stale (partition epoch), so a deposed leader cannot shrink or
/// grow the ISR; new members must be live brokers among the replicas.
pub fn alter_partition(
    image: &MetadataImage,
    topic_id: &str,
    partition: i32,
    leader: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    new_isr: &[i32],
) -> Decision<i32> {
    let topic = Uuid::parse_str(topic_id)
        .ok()
        .and_then(|id| image.topic_by_id(&id))
        .ok_or_else(|| ControllerError::new(error_code::UNKNOWN_TOPIC_ID, format!("Unknown topic id {topic_id}")))?;
    let p = topic.partitions.get(&partition).ok_or_else(|| {
        ControllerError::new(
            error_code::UNKNOWN_TOPIC_OR_PARTITION,
            format!("{}-{partition} does not exist", topic.name),
        )
    })?;
    if p.leader != leader || p.leader_epoch != leader_epoch {
        return Err(ControllerError::new(
            error_code::FENCED_LEADER_EPOCH,
            format!(
                "broker {leader} epoch {leader_epoch} is not the leader (leader {} epoch {})",
                p.leader, p.leader_epoch
            ),
        ));
    }
    if p.partition_epoch != partition_epoch {
        return Err(ControllerError::new(
            error_code::INVALID_UPDATE_VERSION,
            format!("partition epoch {partition_epoch} is stale (current {})", p.partition_epoch),
        ));
    }
    if !new_isr.contains(&leader) {
        return Err(ControllerError::new(error_code::INVALID_REQUEST, "the leader must stay in the ISR"));
    }
    for b in new_isr {
        let live = image.brokers.get(b).is_some_and(|x| !x.fenced);
        if !p.replicas.contains(b) || (!live && !p.isr.contains(b)) {
            return Err(ControllerError::new(
                error_code::INELIGIBLE_REPLICA,
                format!("broker {b} cannot join the ISR of {}-{partition}", topic.name),
            ));
        }
    }
    let mut next = p.clone();
    next.isr = new_isr.to_vec();
    next.partition_epoch += 1;
    let epoch = next.partition_epoch;
    Ok((vec![crate::image::partition_record(topic.id, partition, &next)], epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    #[test]
    fn topic_lifecycle() {
        let mut image = MetadataImage::default();
        image.apply(&MetadataRecord::RegisterBroker {
            broker_id: 1,
            incarnation: "a".into(),
            host: "h".into(),
            port: 1,
            fenced: false,
            endpoints: Vec::new(),
        });
        let defaults = ClusterDefaults { num_partitions: 3, replication_factor: 1, live_brokers: &[1] };
        let configs = BTreeMap::new();
        let new =
            NewTopic { name: "orders", num_partitions: -1, replication_factor: -1, configs: &configs, assignment: &[] };
        let (records, _) = create_topic(&image, &new, &defaults).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topic("orders").unwrap().partitions.len(), 3);
        assert_eq!(create_topic(&image, &new, &defaults).unwrap_err().code, error_code::TOPIC_ALREADY_EXISTS);
        let bad =
            NewTopic { name: "a/b", num_partitions: 1, replication_factor: 1, configs: &configs, assignment: &[] };
        assert_eq!(create_topic(&image, &bad, &defaults).unwrap_err().code, error_code::INVALID_TOPIC_EXCEPTION);
        let rf = NewTopic { name: "x", num_partitions: 1, replication_factor: 3, configs: &configs, assignment: &[] };
        assert_eq!(create_topic(&image, &rf, &defaults).unwrap_err().code, error_code::INVALID_REPLICATION_FACTOR);
        let mut bad_configs = BTreeMap::new();
        bad_configs.insert("retention.ms".to_string(), "soon".to_string());
        let cfg =
            NewTopic { name: "y", num_partitions: 1, replication_factor: 1, configs: &bad_configs, assignment: &[] };
        assert_eq!(create_topic(&image, &cfg, &defaults).unwrap_err().code, error_code::INVALID_CONFIG);
        let (records, _) = create_partitions(&image, "orders", 5, None).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topic("orders").unwrap().partitions.len(), 5);
        assert_eq!(create_partitions(&image, "orders", 2, None).unwrap_err().code, error_code::INVALID_PARTITIONS);
        let (records, _) = delete_topic(&image, "orders").unwrap();
        apply(&mut image, &records);
        assert!(image.topic("orders").is_none());
    }

    /// Brokers 1..=n registered, those in `fenced` fenced.
    fn registered(n: i32, fenced: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=n {
            image.apply(&MetadataRecord::RegisterBroker {
                broker_id: id,
                incarnation: format!("inc-{id}"),
                host: "h".into(),
                port: 9000 + id as u16,
                fenced: fenced.contains(&id),
                endpoints: Vec::new(),
            });
        }
        image
    }

    fn create_manual(image: &MetadataImage, name: &str, assignment: &[Vec<i32>]) -> Decision<Uuid> {
        let live = image.live_brokers();
        let defaults = ClusterDefaults { num_partitions: 1, replication_factor: 1, live_brokers: &live };
        let configs = BTreeMap::new();
        let topic = NewTopic { name, num_partitions: -1, replication_factor: -1, configs: &configs, assignment };
        create_topic(image, &topic, &defaults)
    }

    fn replicas_of(image: &MetadataImage, name: &str) -> Vec<(Vec<i32>, i32, Vec<i32>)> {
        image.topic(name).unwrap().partitions.values().map(|p| (p.replicas.clone(), p.leader, p.isr.clone())).collect()
    }

    #[test]
    fn manual_assignment_is_kept_as_given() {
        let mut image = registered(3, &[]);
        let (records, _) = create_manual(&image, "m", &[vec![3, 2, 1], vec![1, 3, 2]]).unwrap();
        apply(&mut image, &records);
        assert_eq!(
            replicas_of(&image, "m"),
            vec![(vec![3, 2, 1], 3, vec![3, 2, 1]), (vec![1, 3, 2], 1, vec![1, 3, 2])]
        );

        let (records, _) = create_partitions(&image, "m", 4, Some(&[vec![2, 1, 3], vec![3, 1, 2]])).unwrap();
        apply(&mut image, &records);
        assert_eq!(
            replicas_of(&image, "m")[2..],
            [(vec![2, 1, 3], 2, vec![2, 1, 3]), (vec![3, 1, 2], 3, vec![3, 1, 2])]
        );
    }

    #[test]
    fn manual_assignment_on_a_fenced_broker() {
        // Registered but fenced brokers may be named; the first live replica leads.
        let mut image = registered(3, &[3]);
        let (records, _) = create_manual(&image, "f", &[vec![3, 1, 2]]).unwrap();
        apply(&mut image, &records);
        assert_eq!(replicas_of(&image, "f"), vec![(vec![3, 1, 2], 1, vec![1, 2])]);
        let image = registered(3, &[2, 3]);
        assert_eq!(create_manual(&image, "g", &[vec![3, 2]]).unwrap_err().code, error_code::INVALID_REPLICA_ASSIGNMENT);
        assert!(create_manual(&image, "g", &[vec![3, 2, 1]]).is_ok());
    }

    #[test]
    fn manual_assignment_refusals() {
        let invalid = error_code::INVALID_REPLICA_ASSIGNMENT;
        let image = registered(3, &[]);
        let code = |assignment: &[Vec<i32>]| create_manual(&image, "bad", assignment).unwrap_err().code;
        assert_eq!(code(&[vec![1, 2, 1]]), invalid, "a broker twice");
        assert_eq!(code(&[vec![1, 4]]), invalid, "an unknown broker");
        assert_eq!(code(&[vec![1, 2], vec![3]]), invalid, "lists of different lengths");
        assert_eq!(code(&[vec![1, 2], vec![]]), invalid, "an empty list");
        let configs = BTreeMap::new();
        let live = image.live_brokers();
        let defaults = ClusterDefaults { num_partitions: 1, replication_factor: 1, live_brokers: &live };
        let both = |num_partitions, replication_factor| {
            let assignment = [vec![1]];
            let t =
                NewTopic { name: "b", num_partitions, replication_factor, configs: &configs, assignment: &assignment };
            create_topic(&image, &t, &defaults).unwrap_err().code
        };
        assert_eq!(both(1, -1), error_code::INVALID_REQUEST);
        assert_eq!(both(-1, 1), error_code::INVALID_REQUEST);

        let mut image = image.clone();
        let (records, _) = create_manual(&image, "p", &[vec![1, 2]]).unwrap();
        apply(&mut image, &records);
        let code =
            |count, assignment: &[Vec<i32>]| create_partitions(&image, "p", count, Some(assignment)).unwrap_err().code;
        assert_eq!(code(3, &[vec![2, 3]]), invalid, "one list for two new partitions");
        assert_eq!(code(2, &[vec![2, 3], vec![3, 1]]), invalid, "two lists for one new partition");
        assert_eq!(code(2, &[vec![1, 2, 3]]), invalid, "another replication factor");
        assert_eq!(code(2, &[vec![3, 3]]), invalid, "a broker twice");
        assert_eq!(code(2, &[vec![3, 7]]), invalid, "an unknown broker");
        assert_eq!(code(2, &[vec![]]), invalid, "an empty list");
        assert_eq!(code(1, &[]), error_code::INVALID_PARTITIONS, "no increase");
    }

    #[test]
    fn assignments_go_to_their_partition_index() {
        let entries = |e: &[(i32, &[i32])]| e.iter().map(|(p, r)| (*p, r.to_vec())).collect::<Vec<_>>();
        let by = |e: &[(i32, &[i32])]| assignment_by_partition(-1, -1, &entries(e));
        assert_eq!(by(&[(1, &[1, 3, 2]), (0, &[3, 2, 1])]).unwrap(), vec![vec![3, 2, 1], vec![1, 3, 2]]);
        assert_eq!(by(&[]).unwrap(), Vec::<Vec<i32>>::new());
        let invalid = error_code::INVALID_REPLICA_ASSIGNMENT;
        assert_eq!(by(&[(0, &[1]), (0, &[2])]).unwrap_err().code, invalid, "a partition twice");
        assert_eq!(by(&[(0, &[1]), (2, &[2])]).unwrap_err().code, invalid, "a gap");
        assert_eq!(by(&[(1, &[1]), (2, &[2])]).unwrap_err().code, invalid, "not from 0");
        assert_eq!(by(&[(-1, &[1]), (0, &[2])]).unwrap_err().code, invalid, "negative");
        let one = entries(&[(0, &[1])]);
        assert_eq!(assignment_by_partition(1, -1, &one).unwrap_err().code, error_code::INVALID_REQUEST);
        assert_eq!(assignment_by_partition(-1, 3, &one).unwrap_err().code, error_code::INVALID_REQUEST);
        // Counts alone are the automatic placement's business.
        assert!(assignment_by_partition(3, 2, &[]).unwrap().is_empty());
    }
}
