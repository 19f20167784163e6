//! /api/topics: list (Metadata), create (CreateTopics), delete
//! (DeleteTopics) and describe (Metadata, ListOffsets, DescribeConfigs).

use std::sync::Arc;

use brook_client::admin::RESOURCE_TOPIC;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::{int_field, retry, str_field, throughput, ApiError, ApiResult, Clients};
use crate::Node;

pub async fn list(clients: &Clients) -> ApiResult {
    let topics = clients.admin.list_topics().await?;
    Ok(json!({
        "topics": topics.iter().map(|t| json!({
            "name": t.name,
            "partitions": t.partitions.len(),
            "replication_factor": t.partitions.first().map_or(0, |p| p.replicas.len()),
            "internal": t.is_internal,
            "under_replicated": t.partitions.iter().filter(|p| p.isr.len() < p.replicas.len()).count(),
        })).collect::<Vec<_>>(),
    }))
}

/// Kafka's topic name rules (Topic.validate): 1 to 249 of [a-zA-Z0-9._-],
/// and not "." or "..".
pub fn validate_topic_name(name: &str) -> Result<(), ApiError> {
    let invalid = |why: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_TOPIC_EXCEPTION", format!("topic name '{name}' {why}"))
    };
    if name.is_empty() {
        return Err(invalid("is empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("cannot be '.' or '..'"));
    }
    if name.len() > 249 {
        return Err(invalid("is longer than 249 characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-') {
        return Err(invalid("may only contain ASCII letters, digits, '.', '_' and '-'"));
    }
    Ok(())
}

/// What POST /api/topics asks for; -1 means the broker's default, as in
/// CreateTopics.
#[derive(Debug, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

pub fn parse_new_topic(body: &Value) -> Result<NewTopic, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("expected a JSON object {name, partitions, replication_factor, configs}"));
    }
    let name = str_field(body, "name")?.trim().to_string();
    validate_topic_name(&name)?;
    let partitions = int_field(body, "partitions")?.unwrap_or(-1);
    let replication_factor = int_field(body, "replication_factor")?.unwrap_or(-1);
    let partitions = i32::try_from(partitions).map_err(|_| ApiError::bad_request("partitions out of range"))?;
    let replication_factor =
        i16::try_from(replication_factor).map_err(|_| ApiError::bad_request("replication_factor out of range"))?;
    let mut configs = Vec::new();
    match body.get("configs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(ApiError::bad_request(format!("config '{k}': expected a string or number"))),
                };
                configs.push((k.clone(), value));
            }
        }
        Some(_) => return Err(ApiError::bad_request("'configs' must be an object of name: value")),
    }
    Ok(NewTopic { name, partitions, replication_factor, configs })
}

pub async fn create(clients: &Clients, body: &Value) -> ApiResult {
    let t = parse_new_topic(body)?;
    let configs: Vec<(&str, &str)> = t.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    clients.admin.create_topic(&t.name, t.partitions, t.replication_factor, &configs).await?;
    Ok(json!({ "created": t.name }))
}

pub async fn delete(clients: &Clients, name: &str) -> ApiResult {
    validate_topic_name(name)?;
    clients.admin.delete_topic(name).await?;
    Ok(json!({ "deleted": name }))
}

pub async fn describe(node: &Arc<Node>, clients: &Clients, name: &str) -> ApiResult {
    validate_topic_name(name)?;
    let topic = retry(|| clients.admin.describe_topic(name)).await?;
    let tps: Vec<(String, i32)> = topic.partitions.iter().map(|p| (name.to_string(), p.partition)).collect();
    // Watermarks need every leader up; a partition without one leaves them unknown.
    let (starts, ends, offsets_error) = match (
        retry(|| clients.admin.list_offsets(&tps, -2)).await,
        retry(|| clients.admin.list_offsets(&tps, -1)).await,
    ) {
        (Ok(s), Ok(e)) => (s, e, Value::Null),
        (Err(e), _) | (_, Err(e)) => (Default::default(), Default::default(), Value::String(e.to_string())),
    };
    let sizes = throughput::local_log_sizes(node, name);
    let partitions: Vec<Value> = topic
        .partitions
        .iter()
        .map(|p| {
            let tp = (name.to_string(), p.partition);
            json!({
                "partition": p.partition,
                "leader": p.leader,
                "leader_epoch": p.leader_epoch,
                "replicas": p.replicas,
                "isr": p.isr,
                "log_start_offset": starts.get(&tp),
                "high_watermark": ends.get(&tp),
                "messages": match (starts.get(&tp), ends.get(&tp)) { (Some(s), Some(e)) => json!(e - s), _ => Value::Null },
                "size_bytes": sizes.get(&p.partition),
                "error_code": p.error_code,
            })
        })
        .collect();
    let configs = match clients.admin.describe_configs(RESOURCE_TOPIC, name).await {
        Ok(configs) => configs
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "value": c.value,
                    // DescribeConfigs' source 1 is DYNAMIC_TOPIC_CONFIG: set on this topic.
                    "is_override": c.source == 1,
                    "read_only": c.read_only,
                })
            })
            .collect(),
        Err(e) => return Err(e.into()),
    };
    Ok(json!({
        "name": name,
        "internal": topic.is_internal,
        "partitions": partitions,
        "configs": Value::Array(configs),
        "offsets_error": offsets_error,
        "sizes_from": "the replicas this broker hosts",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_a-b").is_ok());
        for bad in ["", ".", "..", "has space", "slash/no", "ünï"] {
            let e = validate_topic_name(bad).unwrap_err();
            assert_eq!(e.error, "INVALID_TOPIC_EXCEPTION", "{bad}");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
    }

    #[test]
    fn create_requests_parse_and_validate() {
        let t = parse_new_topic(&json!({
            "name": "events", "partitions": 3, "replication_factor": "3",
            "configs": {"retention.ms": 1000, "cleanup.policy": "compact"}
        }))
        .unwrap();
        assert_eq!(t.partitions, 3);
        assert_eq!(t.replication_factor, 3);
        assert!(t.configs.contains(&("retention.ms".to_string(), "1000".to_string())));
        let d = parse_new_topic(&json!({"name": "x"})).unwrap();
        assert_eq!((d.partitions, d.replication_factor), (-1, -1));
        assert!(parse_new_topic(&json!({"partitions": 1})).is_err());
        assert!(parse_new_topic(&json!({"name": "x", "partitions": "many"})).is_err());
        assert!(parse_new_topic(&json!({"name": "x", "replication_factor": 70000})).is_err());
        assert!(parse_new_topic(&json!({"name": "x", "configs": [1]})).is_err());
        assert!(parse_new_topic(&json!([1, 2])).is_err());
    }
}
