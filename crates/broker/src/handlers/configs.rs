//! Shared config plumbing for DescribeConfigs, AlterConfigs,
//! IncrementalAlterConfigs and CreateTopics: effective values with their
//! sources, and turning requested changes into controller decisions.

use brook_metadata::controller::{ConfigChanges, ControllerError};
use brook_metadata::requests::ControllerRequest;
use brook_metadata::topic_config::{self, ConfigSource, Kind};
use brook_metadata::MetadataImage;
use brook_protocol::error_code;

use crate::config::{is_dynamic_broker_property, validate_property};
use crate::Node;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// One effective config entry.
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
    pub source: i8,
    pub read_only: bool,
    /// Kafka ConfigType: 1 BOOLEAN, 2 STRING, 3 INT, 5 LONG, 6 DOUBLE, 7 LIST.
    pub config_type: i8,
    pub doc: &'static str,
    /// (name, value, source) of every layer that sets it, most specific first.
    pub synonyms: Vec<(String, String, i8)>,
}

fn kind_type(kind: Kind) -> i8 {
    match kind {
        Kind::Bool => 1,
        Kind::Int { .. } => 3,
        Kind::Long { .. } => 5,
        Kind::Double { .. } => 6,
        Kind::List(_) | Kind::ReplicaList => 7,
        Kind::Choice(_) | Kind::Version | Kind::Text => 2,
    }
}

/// Logs once per process and config that a setting is stored but not
/// acted on. Takes topic config names or the broker properties that supply
/// their defaults.
pub fn note_inert_configs<'a>(names: impl IntoIterator<Item = &'a str>) {
    static LOGGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    for name in names {
        let Some(def) = topic_config::definition(name).or_else(|| topic_config::for_broker_property(name)) else {
            continue;
        };
        if def.acted_on {
            continue;
        }
        let mut logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
        if !logged.iter().any(|n| n == name) {
            logged.push(name.to_string());
            tracing::info!(config = name, "topic config accepted, has no effect in Brook");
        }
    }
}

/// Effective configs of a topic.
pub fn topic_entries(broker: &Node, image: &MetadataImage, topic: &str) -> Option<Vec<ConfigEntry>> {
    let overrides = &image.topic(topic)?.configs;
    let rows = topic_config::resolve(overrides, &image.broker_configs, &broker.config.static_log_defaults());
    Some(
        rows.into_iter()
            .map(|r| ConfigEntry {
                name: r.def.name.to_string(),
                value: r.value,
                source: r.source as i8,
                read_only: false,
                config_type: kind_type(r.def.kind),
                doc: r.def.doc,
                synonyms: r.synonyms.into_iter().map(|(n, v, s)| (n, v, s as i8)).collect(),
            })
            .collect(),
    )
}

/// Effective configs of this broker: dynamic overrides, then static properties.
pub fn broker_entries(broker: &Node, image: &MetadataImage) -> Vec<ConfigEntry> {
    crate::config::property_table()
        .into_iter()
        .map(|(name, default, doc)| {
            let (value, source) = if let Some(v) = image.broker_configs.get(name) {
                (v.clone(), ConfigSource::DynamicDefaultBroker)
            } else if let Some(v) = broker.config.properties.get(name) {
                (v.clone(), ConfigSource::StaticBroker)
            } else {
                (default, ConfigSource::Default)
            };
            let kind = topic_config::for_broker_property(name).map(|d| d.kind);
            ConfigEntry {
                name: name.to_string(),
                synonyms: vec![(name.to_string(), value.clone(), source as i8)],
                value,
                source: source as i8,
                read_only: !is_dynamic_broker_property(name),
                config_type: kind.map_or(2, kind_type),
                doc,
            }
        })
        .collect()
}

/// Whether `name` addresses this broker (its id) or the cluster default ("").
pub fn is_our_broker(broker: &Node, name: &str) -> bool {
    name.is_empty() || name == broker.config.node_id.to_string()
}

/// Validates and (unless `validate_only`) commits config changes to one resource.
pub async fn alter(
    broker: &Node,
    resource_type: i8,
    resource_name: &str,
    changes: &ConfigChanges,
    replace_all: bool,
    validate_only: bool,
) -> Result<(), ControllerError> {
    match resource_type {
        RESOURCE_TOPIC => {
            note_inert_configs(changes.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.as_str()));
            let request = ControllerRequest::AlterTopicConfigs {
                name: resource_name.to_string(),
                changes: changes.clone(),
                replace_all,
            };
            broker.execute(request, validate_only).await.map(|_| ())
        }
        RESOURCE_BROKER => {
            if !is_our_broker(broker, resource_name) {
                return Err(ControllerError::new(
                    error_code::INVALID_REQUEST,
                    format!("Unknown broker '{resource_name}'"),
                ));
            }
            for (name, value) in changes {
                if !is_dynamic_broker_property(name) {
                    return Err(ControllerError::new(
                        error_code::INVALID_CONFIG,
                        format!("Cannot update {name} dynamically"),
                    ));
                }
                if let Some(v) = value {
                    validate_property(name, v)
                        .map_err(|e| ControllerError::new(error_code::INVALID_CONFIG, e.to_string()))?;
                }
            }
            if validate_only {
                return Ok(());
            }
            let request = ControllerRequest::AlterBrokerConfigs { changes: changes.clone(), replace_all };
            broker.execute(request, false).await.map(|_| ())
        }
        other => Err(ControllerError::new(error_code::INVALID_REQUEST, format!("Unsupported resource type {other}"))),
    }
}

/// The error fields of one resource's (Incremental)AlterConfigs answer, with a log line.
pub fn outcome_fields(
    outcome: Result<(), ControllerError>,
    resource: &str,
    validate_only: bool,
) -> (i16, Option<brook_protocol::kafka_protocol::protocol::StrBytes>) {
    match outcome {
        Ok(()) => {
            tracing::info!(resource, validate_only, "altered configs");
            (error_code::NONE, None)
        }
        Err(e) => {
            tracing::info!(resource, error = %e.message, "config change refused");
            (e.code, Some(super::str_bytes(&e.message)))
        }
    }
}
