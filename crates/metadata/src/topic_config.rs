//! Topic-level configs Brook honours, by Kafka name, with the broker
//! property each one defaults from, validation, and conversion to the
//! storage layer's [`LogConfig`]. A config not listed here is refused
//! (INVALID_CONFIG): Brook does not accept settings it would ignore.

use std::collections::BTreeMap;

use brook_storage::{LogConfig, TimestampType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integer in [min, max].
    Long { min: i64, max: i64 },
    /// One of the listed strings.
    Choice(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    /// The broker property that supplies the default (Kafka's pairing).
    pub broker_property: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
}

const I32_MAX: i64 = i32::MAX as i64;

pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        broker_property: "log.cleanup.policy",
        default: "delete",
        kind: Kind::Choice(&["delete"]),
        doc: "Only `delete` (retention) is supported; compaction is not implemented yet.",
    },
    TopicConfigDef {
        name: "compression.type",
        broker_property: "compression.type",
        default: "producer",
        kind: Kind::Choice(&["producer"]),
        doc: "Batches are stored as the producer compressed them.",
    },
    TopicConfigDef {
        name: "flush.messages",
        broker_property: "log.flush.interval.messages",
        default: "9223372036854775807",
        kind: Kind::Long { min: 1, max: i64::MAX },
        doc: "fsync the log after this many records.",
    },
    TopicConfigDef {
        name: "flush.ms",
        broker_property: "log.flush.interval.ms",
        default: "9223372036854775807",
        kind: Kind::Long { min: 0, max: i64::MAX },
        doc: "fsync the log when unflushed data is this old.",
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        broker_property: "log.index.interval.bytes",
        default: "4096",
        kind: Kind::Long { min: 0, max: I32_MAX },
        doc: "Bytes between offset index entries.",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        broker_property: "message.max.bytes",
        default: "1048588",
        kind: Kind::Long { min: 0, max: I32_MAX },
        doc: "Largest record batch accepted.",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        broker_property: "log.message.timestamp.type",
        default: "CreateTime",
        kind: Kind::Choice(&["CreateTime", "LogAppendTime"]),
        doc: "Producer's timestamp or the broker's append time.",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        broker_property: "min.insync.replicas",
        default: "1",
        kind: Kind::Long { min: 1, max: I32_MAX },
        doc: "Replicas that must acknowledge an acks=all produce.",
    },
    TopicConfigDef {
        name: "retention.bytes",
        broker_property: "log.retention.bytes",
        default: "-1",
        kind: Kind::Long { min: -1, max: i64::MAX },
        doc: "Delete old segments beyond this partition size; -1 = no limit.",
    },
    TopicConfigDef {
        name: "retention.ms",
        broker_property: "log.retention.ms",
        default: "604800000",
        kind: Kind::Long { min: -1, max: i64::MAX },
        doc: "Delete segments older than this; -1 = forever.",
    },
    TopicConfigDef {
        name: "segment.bytes",
        broker_property: "log.segment.bytes",
        default: "1073741824",
        kind: Kind::Long { min: 14, max: I32_MAX },
        doc: "Segment file size before rolling.",
    },
    TopicConfigDef {
        name: "segment.ms",
        broker_property: "log.roll.ms",
        default: "604800000",
        kind: Kind::Long { min: 1, max: i64::MAX },
        doc: "Roll a segment this long after its first append.",
    },
];

pub fn definition(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks a value against a kind; the error is a sentence for the client.
pub fn check_value(kind: Kind, name: &str, value: &str) -> Result<(), String> {
    match kind {
        Kind::Long { min, max } => match value.trim().parse::<i64>() {
            Ok(v) if v >= min && v <= max => Ok(()),
            Ok(v) => Err(format!("Invalid value {v} for configuration {name}: must be between {min} and {max}")),
            Err(_) => Err(format!("Invalid value {value} for configuration {name}: not a number")),
        },
        Kind::Choice(options) => {
            if options.contains(&value.trim()) {
                Ok(())
            } else {
                Err(format!("Invalid value {value} for configuration {name}: supported values are {options:?}"))
            }
        }
    }
}

/// Validates one topic-level setting.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let def = definition(name).ok_or_else(|| format!("Unknown or unsupported topic config {name}"))?;
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

/// Effective value of each topic config, most specific source first:
/// topic override, dynamic broker config, static broker config, default.
pub fn resolve(
    topic_overrides: &BTreeMap<String, String>,
    dynamic_broker: &BTreeMap<String, String>,
    static_broker: &BTreeMap<String, String>,
) -> Vec<(&'static TopicConfigDef, String, ConfigSource)> {
    TOPIC_CONFIGS
        .iter()
        .map(|def| {
            if let Some(v) = topic_overrides.get(def.name) {
                (def, v.clone(), ConfigSource::DynamicTopic)
            } else if let Some(v) = dynamic_broker.get(def.broker_property) {
                (def, v.clone(), ConfigSource::DynamicDefaultBroker)
            } else if let Some(v) = static_broker.get(def.broker_property) {
                (def, v.clone(), ConfigSource::StaticBroker)
            } else {
                (def, def.default.to_string(), ConfigSource::Default)
            }
        })
        .collect()
}

/// The storage config for a topic from its resolved values.
pub fn log_config(
    topic_overrides: &BTreeMap<String, String>,
    dynamic_broker: &BTreeMap<String, String>,
    static_broker: &BTreeMap<String, String>,
) -> LogConfig {
    let mut config = LogConfig::default();
    for (def, value, _) in resolve(topic_overrides, dynamic_broker, static_broker) {
        let long = || value.trim().parse::<i64>().unwrap_or(0);
        match def.name {
            "flush.messages" => config.flush_messages = long(),
            "flush.ms" => config.flush_ms = long(),
            "index.interval.bytes" => config.index_interval_bytes = long().max(0) as u64,
            "max.message.bytes" => config.max_message_bytes = long().max(0) as usize,
            "message.timestamp.type" => {
                config.timestamp_type =
                    if value == "LogAppendTime" { TimestampType::LogAppendTime } else { TimestampType::CreateTime }
            }
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
    fn validation_and_resolution() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("retention.ms", "abc").is_err());
        assert!(validate("no.such.config", "1").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        let mut topic = BTreeMap::new();
        topic.insert("segment.bytes".to_string(), "2048".to_string());
        let mut dynamic = BTreeMap::new();
        dynamic.insert("log.retention.ms".to_string(), "5000".to_string());
        let mut fixed = BTreeMap::new();
        fixed.insert("log.retention.ms".to_string(), "9000".to_string());
        fixed.insert("log.retention.bytes".to_string(), "100".to_string());
        let config = log_config(&topic, &dynamic, &fixed);
        assert_eq!(config.segment_bytes, 2048);
        assert_eq!(config.retention_ms, 5000);
        assert_eq!(config.retention_bytes, 100);
        assert_eq!(config.max_message_bytes, 1048588);
    }
}
