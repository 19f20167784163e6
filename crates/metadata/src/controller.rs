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
    /// Manual replica assignment, one replica list per partition (empty: place automatically).
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
        let rf = topic.assignment[0].len();
        for replicas in topic.assignment {
            let mut sorted = replicas.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if replicas.is_empty() || replicas.len() != rf || sorted.len() != rf {
                return Err(ControllerError::new(
                    error_code::INVALID_REPLICA_ASSIGNMENT,
                    "Every partition needs the same number of distinct replicas.",
                ));
            }
            if let Some(b) = replicas.iter().find(|b| !defaults.live_brokers.contains(b)) {
                return Err(ControllerError::new(
                    error_code::INVALID_REPLICA_ASSIGNMENT,
                    format!("Assignment names broker {b}, which is not a live registered broker."),
                ));
            }
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
    if replication <= 0 || replication as usize > defaults.live_brokers.len() {
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
        records.extend(
            topic.assignment.iter().enumerate().map(|(p, replicas)| new_partition(id, p as i32, replicas.clone())),
        );
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

/// DeleteTopics.
pub fn delete_topic(image: &MetadataImage, name: &str) -> Decision<Uuid> {
    let topic = image.topic(name).ok_or_else(|| {
        ControllerError::new(error_code::UNKNOWN_TOPIC_OR_PARTITION, format!("Topic '{name}' does not exist."))
    })?;
    Ok((vec![MetadataRecord::RemoveTopic { topic_id: topic.id.to_string() }], topic.id))
}

/// CreatePartitions: grow `name` to `count` partitions.
pub fn create_partitions(image: &MetadataImage, name: &str, count: i32) -> Decision {
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
        let (records, _) = create_partitions(&image, "orders", 5).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topic("orders").unwrap().partitions.len(), 5);
        assert_eq!(create_partitions(&image, "orders", 2).unwrap_err().code, error_code::INVALID_PARTITIONS);
        let (records, _) = delete_topic(&image, "orders").unwrap();
        apply(&mut image, &records);
        assert!(image.topic("orders").is_none());
    }
}
