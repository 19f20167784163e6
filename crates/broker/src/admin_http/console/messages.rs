//! /api/topics/<name>/messages: browse a partition from an offset or a
//! timestamp (ListOffsets, then Fetch from the leader, as a consumer does)
//! and produce a test message (a Producer).
//!
//! Keys, values and header values are bytes: each is sent as base64 with a
//! flag saying whether it is valid UTF-8, and the page shows it as text,
//! JSON or hex.

use std::sync::Arc;

use base64::Engine;
use brook_client::producer::ProducerRecord;
use brook_client::records::{decode_records, ConsumerRecord};
use hyper::StatusCode;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Value};

use super::{int_field, query_i64, retry, ApiError, ApiResult, Clients, Query};

/// Most messages one browse returns.
pub const MAX_LIMIT: i64 = 500;
/// Fetches one browse may make before answering with what it has.
const MAX_FETCHES: usize = 20;

/// Bytes as the page receives them.
pub fn encode_bytes(bytes: Option<&[u8]>) -> Value {
    match bytes {
        None => Value::Null,
        Some(b) => json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(b),
            "utf8": std::str::from_utf8(b).is_ok(),
            "size": b.len(),
        }),
    }
}

pub fn encode_record(r: &ConsumerRecord) -> Value {
    json!({
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": encode_bytes(r.key.as_deref()),
        "value": encode_bytes(r.value.as_deref()),
        "headers": r.headers.iter().map(|(k, v)| json!({"key": k, "value": encode_bytes(v.as_deref())})).collect::<Vec<_>>(),
    })
}

/// Where a browse starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Offset(i64),
    Timestamp(i64),
    /// The last `limit` messages.
    Newest,
}

pub fn parse_browse(query: &Query) -> Result<(i32, Start, i64), ApiError> {
    let partition = query_i64(query, "partition")?.unwrap_or(0);
    let partition = i32::try_from(partition).map_err(|_| ApiError::bad_request("partition out of range"))?;
    let limit = query_i64(query, "limit")?.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let start = match (query_i64(query, "offset")?, query_i64(query, "timestamp")?) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give offset or timestamp, not both")),
        (Some(o), None) => Start::Offset(o),
        (None, Some(t)) => Start::Timestamp(t),
        (None, None) => Start::Newest,
    };
    Ok((partition, start, limit))
}

pub async fn browse(clients: &Clients, topic: &str, query: &Query) -> ApiResult {
    super::topics::validate_topic_name(topic)?;
    let (partition, start, limit) = parse_browse(query)?;
    let meta = retry(|| clients.admin.describe_topic(topic)).await?;
    if !meta.partitions.iter().any(|p| p.partition == partition) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "UNKNOWN_TOPIC_OR_PARTITION",
            format!("{topic} has no partition {partition}"),
        ));
    }
    let tp = vec![(topic.to_string(), partition)];
    let log_start = retry(|| clients.admin.list_offsets(&tp, -2)).await?[&tp[0]];
    let high_watermark = retry(|| clients.admin.list_offsets(&tp, -1)).await?[&tp[0]];
    let from = match start {
        Start::Offset(o) => o.max(log_start),
        Start::Newest => (high_watermark - limit).max(log_start),
        Start::Timestamp(t) => match retry(|| clients.admin.list_offsets(&tp, t)).await?[&tp[0]] {
            -1 => high_watermark, // nothing at or after that time
            o => o,
        },
    };
    let mut records: Vec<ConsumerRecord> = Vec::new();
    let mut next = from;
    let name: Arc<str> = Arc::from(topic);
    for _ in 0..MAX_FETCHES {
        if records.len() as i64 >= limit || next >= high_watermark {
            break;
        }
        let (batch, after) = fetch(clients, &name, partition, next).await?;
        records.extend(batch.into_iter().take(limit as usize - records.len()));
        if after <= next {
            break; // nothing more readable now
        }
        next = after;
    }
    let next_offset = records.last().map_or(from, |r| r.offset + 1);
    Ok(json!({
        "topic": topic,
        "partition": partition,
        "log_start_offset": log_start,
        "high_watermark": high_watermark,
        "from_offset": from,
        "next_offset": next_offset,
        "messages": records.iter().map(encode_record).collect::<Vec<_>>(),
    }))
}

/// One Fetch (v12, names on the wire) from the partition's leader.
async fn fetch(
    clients: &Clients,
    topic: &Arc<str>,
    partition: i32,
    offset: i64,
) -> Result<(Vec<ConsumerRecord>, i64), ApiError> {
    let cluster = clients.admin.cluster();
    let leader = match cluster.leader(topic, partition) {
        Some(l) => l,
        None => {
            cluster.refresh(&[topic.to_string()]).await?;
            cluster.leader(topic, partition).ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "LEADER_NOT_AVAILABLE",
                    format!("{topic}-{partition} has no leader"),
                )
            })?
        }
    };
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(4 << 20)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)])]);
    let response = cluster.connection_to_node(leader).await?.send(12, &request).await?;
    brook_client::error::check(response.error_code, || "Fetch".to_string())?;
    let p = response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| ApiError::unavailable("the fetch answer left the partition out"))?;
    if p.error_code != 0 {
        // A moved leader: the next browse asks for fresh metadata.
        let _ = cluster.refresh(&[topic.to_string()]).await;
        brook_client::error::check(p.error_code, || format!("fetch {topic}-{partition} at {offset}"))?;
    }
    Ok(decode_records(topic, partition, p.records.unwrap_or_default(), offset)?)
}

/// A test message from the page: text key, value and headers.
#[derive(Debug, PartialEq, Eq)]
pub struct TestMessage {
    pub partition: Option<i32>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, Option<String>)>,
}

pub fn parse_test_message(body: &Value) -> Result<TestMessage, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("expected a JSON object {partition?, key, value, headers}"));
    }
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(format!("'{name}' must be a string or null"))),
        }
    };
    let partition = match int_field(body, "partition")? {
        None => None,
        Some(p) => {
            Some(i32::try_from(p).ok().filter(|p| *p >= 0).ok_or_else(|| ApiError::bad_request("bad partition"))?)
        }
    };
    let mut headers = Vec::new();
    match body.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for h in list {
                let key = h.get("key").and_then(Value::as_str).filter(|k| !k.is_empty());
                let key = key.ok_or_else(|| ApiError::bad_request("each header needs a non-empty 'key'"))?;
                let value = match h.get("value") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(_) => return Err(ApiError::bad_request("a header 'value' must be a string or null")),
                };
                headers.push((key.to_string(), value));
            }
        }
        Some(_) => return Err(ApiError::bad_request("'headers' must be a list of {key, value}")),
    }
    Ok(TestMessage { partition, key: text("key")?, value: text("value")?, headers })
}

pub async fn produce(clients: &Clients, topic: &str, body: &Value) -> ApiResult {
    super::topics::validate_topic_name(topic)?;
    let m = parse_test_message(body)?;
    let mut record = ProducerRecord::new(topic);
    record.partition = m.partition;
    record.key = m.key.map(bytes::Bytes::from);
    record.value = m.value.map(bytes::Bytes::from);
    record.headers = m.headers.into_iter().map(|(k, v)| (k, v.map(bytes::Bytes::from))).collect();
    let producer = clients.producer().await?;
    let delivered = producer.send(record).await?.wait().await?;
    Ok(
        json!({ "topic": delivered.topic, "partition": delivered.partition, "offset": delivered.offset, "timestamp": delivered.timestamp }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn records_encode_binary_safely() {
        let r = ConsumerRecord {
            topic: Arc::from("t"),
            partition: 1,
            offset: 42,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from_static(b"k1")),
            value: Some(Bytes::from_static(&[0xff, 0x00, 0x41])),
            headers: vec![("trace".into(), Some(Bytes::from_static(b"abc"))), ("empty".into(), None)],
        };
        let v = encode_record(&r);
        assert_eq!(v["offset"], 42);
        assert_eq!(v["key"]["base64"], "azE=");
        assert_eq!(v["key"]["utf8"], true);
        assert_eq!(v["value"]["base64"], "/wBB");
        assert_eq!(v["value"]["utf8"], false);
        assert_eq!(v["value"]["size"], 3);
        assert_eq!(v["headers"][0]["key"], "trace");
        assert_eq!(v["headers"][0]["value"]["base64"], "YWJj");
        assert_eq!(v["headers"][1]["value"], Value::Null);
        assert_eq!(encode_bytes(None), Value::Null);
    }

    #[test]
    fn browse_queries() {
        let q = |s: &str| super::super::parse_query(s);
        assert_eq!(parse_browse(&q("")).unwrap(), (0, Start::Newest, 20));
        assert_eq!(parse_browse(&q("partition=2&offset=5&limit=3")).unwrap(), (2, Start::Offset(5), 3));
        assert_eq!(parse_browse(&q("timestamp=1000")).unwrap().1, Start::Timestamp(1000));
        assert!(parse_browse(&q("offset=1&timestamp=2")).is_err());
        assert!(parse_browse(&q("limit=0")).is_err());
        assert!(parse_browse(&q("limit=100000")).is_err());
        assert!(parse_browse(&q("partition=x")).is_err());
    }

    #[test]
    fn test_messages_parse() {
        let m = parse_test_message(&json!({
            "key": "k", "value": "{\"a\":1}", "headers": [{"key": "h", "value": "v"}, {"key": "n"}]
        }))
        .unwrap();
        assert_eq!(m.key.as_deref(), Some("k"));
        assert_eq!(m.headers, vec![("h".to_string(), Some("v".to_string())), ("n".to_string(), None)]);
        assert_eq!(m.partition, None);
        assert_eq!(parse_test_message(&json!({"partition": 2})).unwrap().partition, Some(2));
        assert!(parse_test_message(&json!({"partition": -3})).is_err());
        assert!(parse_test_message(&json!({"value": 5})).is_err());
        assert!(parse_test_message(&json!({"headers": [{"value": "v"}]})).is_err());
        assert!(parse_test_message(&json!({"headers": "h"})).is_err());
        assert!(parse_test_message(&json!("text")).is_err());
    }
}
