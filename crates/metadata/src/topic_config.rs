//! Every topic-level config Kafka 4 defines (plus the Kafka 3.x ones that
//! Kafka 4 dropped, so older tools keep working), by Kafka name: its type and
//! range checks, Kafka's default, the broker property that supplies the
//! default, and whether Brook acts on it. Configs Brook does not act on are
//! stored and described like the others, and the broker logs once that they
//! have no effect. Conversion to the storage layer's [`LogConfig`] is here.

use std::collections::BTreeMap;

use brook_protocol::batch::Compression;
use brook_storage::{LogConfig, TimestampType};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// 32-bit integer in [min, max].
    Int {
        min: i64,
        max: i64,
    },
    /// 64-bit integer in [min, max].
    Long {
        min: i64,
        max: i64,
    },
    /// Floating point in [min, max].
    Double {
        min: f64,
        max: f64,
    },
    Bool,
    /// One of the listed strings.
    Choice(&'static [&'static str]),
    /// A comma-separated, non-empty list drawn from the listed strings.
    List(&'static [&'static str]),
    /// Kafka's throttled-replica list: empty, `*`, or `partition:broker,...`.
    ReplicaList,
    /// A Kafka version such as `0.10.0.0`, `3.0`, `2.8-IV1` (message.format.version),
    /// as Kafka 3.9 parses it.
    Version,
    /// Free text checked by its user (broker properties such as listeners).
    Text,
}

#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    /// The broker property that supplies the default (Kafka's pairing), or
    /// "" when Kafka has none.
    pub broker_property: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    /// Brook acts on it; otherwise it is stored and described only.
    pub acted_on: bool,
    pub doc: &'static str,
}

const I32_MAX: i64 = i32::MAX as i64;
const I64_MAX_TEXT: &str = "9223372036854775807";

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}
const fn long(min: i64) -> Kind {
    Kind::Long { min, max: i64::MAX }
}

const fn def(
    name: &'static str,
    broker_property: &'static str,
    default: &'static str,
    kind: Kind,
    acted_on: bool,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef { name, broker_property, default, kind, acted_on, doc }
}

pub const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def("cleanup.policy", "log.cleanup.policy", "delete", Kind::List(&["compact", "delete"]), true,
        "delete: retention removes old segments; compact: the cleaner keeps the latest record per key; both: compact, then retention."),
    def("compression.gzip.level", "compression.gzip.level", "-1", int(-1, 9), true,
        "gzip level when the broker compresses (compression.type=gzip); -1 = the codec's default."),
    def("compression.lz4.level", "compression.lz4.level", "9", int(1, 17), true,
        "lz4 level when the broker compresses; 1-2 are LZ4's fast mode, 3 and up its slower high-compression mode."),
    def("compression.type", "compression.type", "producer", Kind::Choice(COMPRESSION_TYPES), true,
        "producer: store batches as the producer compressed them (no decoding); a codec or uncompressed: the broker recompresses batches in another codec."),
    def("compression.zstd.level", "compression.zstd.level", "3", int(-131072, 22), true,
        "zstd level when the broker compresses."),
    def("delete.retention.ms", "log.cleaner.delete.retention.ms", "86400000", long(0), true,
        "How long a tombstone stays readable in a compacted topic after the cleaning that first saw it."),
    def("file.delete.delay.ms", "log.segment.delete.delay.ms", "60000", long(0), false,
        "Kafka's delay before deleting a segment file; Brook deletes at once (open readers keep their file)."),
    def("flush.messages", "log.flush.interval.messages", I64_MAX_TEXT, long(1), true,
        "fsync the log after this many records."),
    def("flush.ms", "log.flush.interval.ms", I64_MAX_TEXT, long(0), true,
        "fsync the log when unflushed data is this old."),
    def("follower.replication.throttled.replicas", "", "", Kind::ReplicaList, false,
        "Replicas whose follower replication is throttled (Brook has no replication quotas)."),
    def("index.interval.bytes", "log.index.interval.bytes", "4096", int(0, I32_MAX), true,
        "Bytes between offset index entries."),
    def("leader.replication.throttled.replicas", "", "", Kind::ReplicaList, false,
        "Replicas whose leader-side replication is throttled (Brook has no replication quotas)."),
    def("local.retention.bytes", "log.local.retention.bytes", "-2", long(-2), false,
        "Tiered storage: local size bound (Brook has no tiered storage)."),
    def("local.retention.ms", "log.local.retention.ms", "-2", long(-2), false,
        "Tiered storage: local time bound (Brook has no tiered storage)."),
    def("max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", I64_MAX_TEXT, long(1), true,
        "A record stays uncompacted at most this long: past it the log is cleaned whatever its dirty ratio."),
    def("max.message.bytes", "message.max.bytes", "1048588", int(0, I32_MAX), true,
        "Largest record batch accepted."),
    def("message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", "3600000", long(0), true,
        "CreateTime batches whose newest timestamp is further than this in the future are refused (INVALID_TIMESTAMP)."),
    def("message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", I64_MAX_TEXT, long(0), false,
        "Kafka refuses records older than this; Brook does not check it (it would need every record decoded)."),
    def("message.timestamp.type", "log.message.timestamp.type", "CreateTime", Kind::Choice(&["CreateTime", "LogAppendTime"]), true,
        "Producer's timestamp or the broker's append time."),
    def("min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", "0.5", Kind::Double { min: 0.0, max: 1.0 }, true,
        "Clean a compacted log once this share of it has not been cleaned yet."),
    def("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", "0", long(0), true,
        "A record stays uncompacted at least this long."),
    def("min.insync.replicas", "min.insync.replicas", "1", int(1, I32_MAX), true,
        "Replicas that must acknowledge an acks=all produce."),
    def("preallocate", "log.preallocate", "false", Kind::Bool, false,
        "Kafka preallocates segment files; Brook grows them as it appends."),
    def("remote.log.copy.disable", "", "false", Kind::Bool, false,
        "Tiered storage (Brook has none)."),
    def("remote.log.delete.on.disable", "", "false", Kind::Bool, false,
        "Tiered storage (Brook has none)."),
    def("remote.storage.enable", "", "false", Kind::Bool, false,
        "Tiered storage (Brook has none)."),
    def("retention.bytes", "log.retention.bytes", "-1", long(-1), true,
        "Delete old segments beyond this partition size; -1 = no limit."),
    def("retention.ms", "log.retention.ms", "604800000", long(-1), true,
        "Delete segments older than this; -1 = forever."),
    // Kafka 4 raised the minimum to 1 MiB (KIP-1030); Brook keeps Kafka 3's 14 bytes.
    def("segment.bytes", "log.segment.bytes", "1073741824", int(14, I32_MAX), true,
        "Segment file size before rolling."),
    def("segment.index.bytes", "log.index.size.max.bytes", "10485760", int(4, I32_MAX), false,
        "Kafka's preallocated index size; Brook's indexes grow as needed."),
    def("segment.jitter.ms", "log.roll.jitter.ms", "0", long(0), false,
        "Random jitter on segment.ms rolls (Brook rolls exactly at segment.ms)."),
    def("segment.ms", "log.roll.ms", "604800000", long(1), true,
        "Roll a segment this long after its first append."),
    def("unclean.leader.election.enable", "unclean.leader.election.enable", "false", Kind::Bool, false,
        "Brook never elects a leader outside the ISR, whatever this says."),
    // Kafka 3.x configs that Kafka 4 removed: accepted so older tools keep working.
    def("message.downconversion.enable", "log.message.downconversion.enable", "true", Kind::Bool, false,
        "Kafka 3.x only: down-conversion for old consumers (Brook serves message format v2 only)."),
    def("message.format.version", "log.message.format.version", "3.0-IV1", Kind::Version, false,
        "Kafka 3.x only: ignored since message format v2 is the only one."),
    def("message.timestamp.difference.max.ms", "log.message.timestamp.difference.max.ms", I64_MAX_TEXT, long(0), false,
        "Kafka 3.x only: superseded by message.timestamp.before/after.max.ms."),
];

pub fn definition(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The topic config a broker property supplies the default of.
pub fn for_broker_property(property: &str) -> Option<&'static TopicConfigDef> {
    (!property.is_empty()).then(|| TOPIC_CONFIGS.iter().find(|d| d.broker_property == property)).flatten()
}

/// Kafka 3.9's inter-broker protocol versions (`MetadataVersion`, the last
/// release with message.format.version): each release with its IVs, "" for
/// the releases before IVs existed. The last two 4.0 IVs were not production
/// in 3.9, so Kafka accepts `4.0-IV0` there but not `4.0`.
const IBP_VERSIONS: &[(&str, &[&str])] = &[
    ("0.8.0", &[""]),
    ("0.8.1", &[""]),
    ("0.8.2", &[""]),
    ("0.9.0", &[""]),
    ("0.10.0", &["IV0", "IV1"]),
    ("0.10.1", &["IV0", "IV1", "IV2"]),
    ("0.10.2", &["IV0"]),
    ("0.11.0", &["IV0", "IV1", "IV2"]),
    ("1.0", &["IV0"]),
    ("1.1", &["IV0"]),
    ("2.0", &["IV0", "IV1"]),
    ("2.1", &["IV0", "IV1", "IV2"]),
    ("2.2", &["IV0", "IV1"]),
    ("2.3", &["IV0", "IV1"]),
    ("2.4", &["IV0", "IV1"]),
    ("2.5", &["IV0"]),
    ("2.6", &["IV0"]),
    ("2.7", &["IV0", "IV1", "IV2"]),
    ("2.8", &["IV0", "IV1"]),
    ("3.0", &["IV0", "IV1"]),
    ("3.1", &["IV0"]),
    ("3.2", &["IV0"]),
    ("3.3", &["IV0", "IV1", "IV2", "IV3"]),
    ("3.4", &["IV0"]),
    ("3.5", &["IV0", "IV1", "IV2"]),
    ("3.6", &["IV0", "IV1", "IV2"]),
    ("3.7", &["IV0", "IV1", "IV2", "IV3", "IV4"]),
    ("3.8", &["IV0"]),
    ("3.9", &["IV0"]),
];
const UNRELEASED_IBP_VERSIONS: &[&str] = &["4.0-IV0", "4.0-IV1"];

/// Kafka's `MetadataVersion.fromVersionString` as a yes/no: only the first
/// three dot-separated segments of a `0.x` version and the first two of
/// later ones count (`0.10.0.0` is `0.10.0`, `2.8.1` is `2.8`), and the rest
/// must name a release (`2.8`) or one of its IVs (`2.8-IV1`).
fn is_version(value: &str) -> bool {
    let mut segments: Vec<&str> = value.split('.').collect();
    // Java's String.split drops trailing empty segments.
    while segments.last() == Some(&"") {
        segments.pop();
    }
    let wanted = if value.starts_with("0.") { 3 } else { 2 };
    let key = if wanted >= segments.len() { value.to_string() } else { segments[..wanted].join(".") };
    let (release, iv) = key.split_once('-').unwrap_or((key.as_str(), ""));
    UNRELEASED_IBP_VERSIONS.contains(&key.as_str())
        || IBP_VERSIONS.iter().any(|(r, ivs)| {
            // `0.10.0` alone is its release's latest IV; `0.8.0-` is not a version.
            *r == release && (!key.contains('-') || (!iv.is_empty() && ivs.contains(&iv)))
        })
}

fn is_replica_list(value: &str) -> bool {
    let value = value.trim();
    value.is_empty()
        || value == "*"
        || value.split(',').all(|entry| {
            entry
                .trim()
                .split_once(':')
                .is_some_and(|(p, b)| p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok())
        })
}

/// The items of a list value, trimmed, empties dropped.
pub fn list_items(value: &str) -> Vec<&str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Checks a value against a kind; the error is a sentence for the client.
pub fn check_value(kind: Kind, name: &str, value: &str) -> Result<(), String> {
    let v = value.trim();
    let range = |min: i64, max: i64| match v.parse::<i64>() {
        Ok(n) if n >= min && n <= max => Ok(()),
        Ok(n) => Err(format!("Invalid value {n} for configuration {name}: must be between {min} and {max}")),
        Err(_) => Err(format!("Invalid value {value} for configuration {name}: not a number")),
    };
    match kind {
        Kind::Int { min, max } | Kind::Long { min, max } => range(min, max),
        Kind::Double { min, max } => match v.parse::<f64>() {
            Ok(n) if n >= min && n <= max => Ok(()),
            Ok(n) => Err(format!("Invalid value {n} for configuration {name}: must be between {min} and {max}")),
            Err(_) => Err(format!("Invalid value {value} for configuration {name}: not a number")),
        },
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(format!("Invalid value {value} for configuration {name}: expected true or false")),
        },
        Kind::Choice(options) if options.contains(&v) => Ok(()),
        Kind::Choice(options) => {
            Err(format!("Invalid value {value} for configuration {name}: supported values are {options:?}"))
        }
        Kind::List(options) => {
            let items = list_items(v);
            match items.iter().find(|i| !options.contains(i)) {
                None if !items.is_empty() => Ok(()),
                None => Err(format!("Invalid value {value} for configuration {name}: the list is empty")),
                Some(bad) => Err(format!(
                    "Invalid value {bad} for configuration {name}: String must be one of: {}",
                    options.join(", ")
                )),
            }
        }
        Kind::ReplicaList if is_replica_list(v) => Ok(()),
        Kind::ReplicaList => Err(format!(
            "Invalid value {value} for configuration {name}: must be empty, * or a list of partition:broker"
        )),
        Kind::Version if is_version(v) => Ok(()),
        Kind::Version => Err(format!("Invalid value {value} for configuration {name}: not a Kafka version")),
        Kind::Text => Ok(()),
    }
}

/// Validates one topic-level setting.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let def = definition(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    check_value(def.kind, name, value)
}

/// Where an effective value came from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    /// Cluster-wide dynamic broker default (Kafka's DYNAMIC_DEFAULT_BROKER_CONFIG).
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

/// One topic config's effective value and every layer that defines it,
/// most specific first (DescribeConfigs synonyms).
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    pub def: &'static TopicConfigDef,
    pub value: String,
    pub source: ConfigSource,
    /// (name, value, source) of each layer that sets it, the default last.
    pub synonyms: Vec<(String, String, ConfigSource)>,
}

/// Effective value of each topic config, most specific source first:
/// topic override, dynamic broker config, static broker config, default.
pub fn resolve(
    topic_overrides: &BTreeMap<String, String>,
    dynamic_broker: &BTreeMap<String, String>,
    static_broker: &BTreeMap<String, String>,
) -> Vec<ResolvedConfig> {
    TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(v) = topic_overrides.get(def.name) {
                synonyms.push((def.name.to_string(), v.clone(), ConfigSource::DynamicTopic));
            }
            if !def.broker_property.is_empty() {
                if let Some(v) = dynamic_broker.get(def.broker_property) {
                    synonyms.push((def.broker_property.to_string(), v.clone(), ConfigSource::DynamicDefaultBroker));
                }
                if let Some(v) = static_broker.get(def.broker_property) {
                    synonyms.push((def.broker_property.to_string(), v.clone(), ConfigSource::StaticBroker));
                }
            }
            // Kafka names the default by the broker property that supplies it.
            let default_name = if def.broker_property.is_empty() { def.name } else { def.broker_property };
            synonyms.push((default_name.to_string(), def.default.to_string(), ConfigSource::Default));
            let (_, value, source) = synonyms[0].clone();
            ResolvedConfig { def, value, source, synonyms }
        })
        .collect()
}

/// The effective value of one topic config.
pub fn effective_value(
    name: &str,
    topic_overrides: &BTreeMap<String, String>,
    dynamic_broker: &BTreeMap<String, String>,
    static_broker: &BTreeMap<String, String>,
) -> Option<String> {
    resolve(topic_overrides, dynamic_broker, static_broker).into_iter().find(|r| r.def.name == name).map(|r| r.value)
}

/// A topic `compression.type` as a codec; `None` for `producer`.
pub fn compression_codec(value: &str) -> Option<Compression> {
    match value.trim() {
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// The storage config for a topic from its resolved values.
pub fn log_config(
    topic_overrides: &BTreeMap<String, String>,
    dynamic_broker: &BTreeMap<String, String>,
    static_broker: &BTreeMap<String, String>,
) -> LogConfig {
    let mut config = LogConfig::default();
    for resolved in resolve(topic_overrides, dynamic_broker, static_broker) {
        let value = resolved.value.trim();
        let long = || value.parse::<i64>().unwrap_or(0);
        match resolved.def.name {
            "cleanup.policy" => {
                let items = list_items(value);
                config.compact = items.contains(&"compact");
                config.delete = items.contains(&"delete");
            }
            "compression.type" => config.compression = compression_codec(value),
            "compression.gzip.level" => config.compression_levels.gzip = long() as i32,
            "compression.lz4.level" => config.compression_levels.lz4 = long().clamp(1, 17) as u32,
            "compression.zstd.level" => config.compression_levels.zstd = long() as i32,
            "delete.retention.ms" => config.delete_retention_ms = long(),
            "flush.messages" => config.flush_messages = long(),
            "flush.ms" => config.flush_ms = long(),
            "index.interval.bytes" => config.index_interval_bytes = long().max(0) as u64,
            "max.compaction.lag.ms" => config.max_compaction_lag_ms = long(),
            "max.message.bytes" => config.max_message_bytes = long().max(0) as usize,
            "message.timestamp.after.max.ms" => config.timestamp_after_max_ms = long(),
            "message.timestamp.type" => {
                config.timestamp_type =
                    if value == "LogAppendTime" { TimestampType::LogAppendTime } else { TimestampType::CreateTime }
            }
            "min.cleanable.dirty.ratio" => config.min_cleanable_dirty_ratio = value.parse().unwrap_or(0.5),
            "min.compaction.lag.ms" => config.min_compaction_lag_ms = long(),
            "retention.bytes" => config.retention_bytes = long(),
            "retention.ms" => config.retention_ms = long(),
            "segment.bytes" => config.segment_bytes = long().max(14) as u64,
            "segment.ms" => config.segment_ms = long(),
            _ => {}
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("retention.ms", "abc").unwrap_err().contains("retention.ms"));
        assert!(validate("no.such.config", "1").unwrap_err().contains("no.such.config"));
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "compact, delete").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("cleanup.policy", "").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "0.01").is_ok());
        assert!(validate("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(validate("compression.type", "zstd").is_ok());
        assert!(validate("compression.type", "brotli").is_err());
        assert!(validate("preallocate", "true").is_ok());
        assert!(validate("preallocate", "maybe").is_err());
        assert!(validate("message.format.version", "3.0-IV1").is_ok());
        assert!(validate("message.format.version", "2.8").is_ok());
        assert!(validate("message.format.version", "banana").is_err());
        assert!(validate("message.format.version", "0.10.0.0").is_ok());
        assert!(validate("leader.replication.throttled.replicas", "0:1,1:2").is_ok());
        assert!(validate("leader.replication.throttled.replicas", "*").is_ok());
        assert!(validate("leader.replication.throttled.replicas", "x").is_err());
        assert!(validate("segment.bytes", "3000000000").is_err());
        for def in TOPIC_CONFIGS {
            assert!(check_value(def.kind, def.name, def.default).is_ok(), "default of {}", def.name);
        }
    }

    #[test]
    fn message_format_versions_as_kafka_parses_them() {
        let check = |v: &str| check_value(Kind::Version, "message.format.version", v);
        for ok in [
            "0.8.0",
            "0.8.2",
            "0.9.0",
            "0.9.0.1",
            "0.10.0",
            "0.10.0.0",
            "0.10.0.1",
            "0.10.0-IV0",
            "0.10.0-IV1",
            "0.10.1-IV2",
            "0.10.2",
            "0.11.0",
            "0.11.0.3",
            "0.11.0-IV2",
            "1.0",
            "1.0.2",
            "1.0-IV0",
            "2.0-IV1",
            "2.8",
            "2.8.1",
            "2.8-IV1",
            "3.0",
            "3.0-IV1",
            "3.0.0",
            "3.3-IV3",
            "3.7-IV4",
            "3.9",
            "3.9-IV0",
            "4.0-IV1",
            " 3.0 ",
            "2.8.garbage",
        ] {
            assert!(check(ok).is_ok(), "{ok:?} is a Kafka version");
        }
        for bad in [
            "",
            "banana",
            "0.7.0",
            "0.8",
            "0.10",
            "0.10.3",
            "0.10.0-IV2",
            "0.8.0-IV0",
            "0.10.0-",
            "0.10.0-iv1",
            "1",
            "1.2",
            "2.8-IV2",
            "2.8-",
            "2.8.",
            "3.0-IV1-IV1",
            "4.0",
            "4.0-IV2",
            "10.0",
            "v3.0",
            "3.x",
            "-3.0",
        ] {
            assert!(check(bad).is_err(), "{bad:?} is not a Kafka version");
        }
    }

    #[test]
    fn resolution_layers() {
        let mut topic = BTreeMap::new();
        topic.insert("segment.bytes".to_string(), "2048".to_string());
        topic.insert("cleanup.policy".to_string(), "compact".to_string());
        topic.insert("compression.type".to_string(), "lz4".to_string());
        let mut dynamic = BTreeMap::new();
        dynamic.insert("log.retention.ms".to_string(), "5000".to_string());
        let mut fixed = BTreeMap::new();
        fixed.insert("log.retention.ms".to_string(), "9000".to_string());
        fixed.insert("log.retention.bytes".to_string(), "100".to_string());
        fixed.insert("log.cleaner.min.cleanable.ratio".to_string(), "0.1".to_string());
        let config = log_config(&topic, &dynamic, &fixed);
        assert_eq!(config.segment_bytes, 2048);
        assert_eq!(config.retention_ms, 5000);
        assert_eq!(config.retention_bytes, 100);
        assert_eq!(config.max_message_bytes, 1048588);
        assert!(config.compact && !config.delete);
        assert_eq!(config.compression, Some(Compression::Lz4));
        assert_eq!(config.min_cleanable_dirty_ratio, 0.1);
        assert_eq!(config.delete_retention_ms, 86_400_000);
        let rows = resolve(&topic, &dynamic, &fixed);
        let retention = rows.iter().find(|r| r.def.name == "retention.ms").unwrap();
        assert_eq!(retention.source, ConfigSource::DynamicDefaultBroker);
        assert_eq!(retention.synonyms.len(), 3);
        assert_eq!(retention.synonyms.last().unwrap().1, "604800000");
        assert_eq!(rows.len(), TOPIC_CONFIGS.len());
    }
}
