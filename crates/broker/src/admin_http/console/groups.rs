//! /api/groups: list (ListGroups), describe with lag (DescribeGroups,
//! OffsetFetch, ListOffsets) and reset offsets (OffsetCommit as an admin,
//! which Kafka allows only while the group has no members).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use brook_client::consumer::coordinator;
use brook_client::ClientError;
use hyper::StatusCode;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Value};

use super::{int_field, retry, str_field, ApiError, ApiResult, Clients};

type Tp = (String, i32);

/// Every group of the cluster (the client asks every broker).
pub async fn list(clients: &Clients) -> ApiResult {
    let listing = clients.admin.list_groups().await?;
    Ok(json!({
        "groups": listing.groups.iter().map(|(id, state, protocol_type)| json!({
            "group_id": id, "state": state, "protocol_type": protocol_type,
        })).collect::<Vec<_>>(),
        // Groups of an unreachable broker are missing: say so rather than hide it.
        "errors": listing.errors,
    }))
}

/// Lag of a partition: the log end minus the committed offset (Kafka's
/// consumer-groups tool); unknown without either.
pub fn lag(committed: Option<i64>, log_end: Option<i64>) -> Option<i64> {
    Some((log_end? - committed?).max(0))
}

pub async fn describe(clients: &Clients, group: &str) -> ApiResult {
    let info = retry(|| clients.admin.describe_group(group)).await?;
    if info.state == "Dead" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "GROUP_ID_NOT_FOUND",
            format!("group '{group}' does not exist"),
        ));
    }
    let committed = retry(|| clients.admin.group_offsets(group)).await?;
    let mut owner: HashMap<Tp, String> = HashMap::new();
    for m in &info.members {
        for tp in &m.assignment {
            owner.insert(tp.clone(), m.member_id.clone());
        }
    }
    let tps: BTreeSet<Tp> = committed.keys().chain(owner.keys()).cloned().collect();
    let tps: Vec<Tp> = tps.into_iter().collect();
    let (ends, offsets_error) = if tps.is_empty() {
        (HashMap::new(), Value::Null)
    } else {
        match retry(|| clients.admin.list_offsets(&tps, -1)).await {
            Ok(e) => (e, Value::Null),
            Err(e) => (HashMap::new(), Value::String(e.to_string())),
        }
    };
    let partitions: Vec<Value> = tps
        .iter()
        .map(|tp| {
            let c = committed.get(tp).copied();
            let e = ends.get(tp).copied();
            json!({
                "topic": tp.0, "partition": tp.1,
                "committed_offset": c, "log_end_offset": e, "lag": lag(c, e),
                "member_id": owner.get(tp),
            })
        })
        .collect();
    let total_lag: i64 = tps.iter().filter_map(|tp| lag(committed.get(tp).copied(), ends.get(tp).copied())).sum();
    Ok(json!({
        "group_id": group,
        "state": info.state,
        "protocol_type": info.protocol_type,
        "protocol": info.protocol,
        "members": info.members.iter().map(|m| json!({
            "member_id": m.member_id,
            "instance_id": m.instance_id,
            "client_id": m.client_id,
            "host": m.host,
            "assignment": m.assignment.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "partitions": partitions,
        "total_lag": total_lag,
        "offsets_error": offsets_error,
    }))
}

/// Where to move a group's committed offsets (kafka-consumer-groups
/// --reset-offsets --to-earliest / --to-latest / --to-offset / --to-datetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

/// `{topic, to: "earliest"|"latest"|"offset"|"timestamp", offset?, timestamp?, partitions?}`.
pub fn parse_reset(body: &Value) -> Result<(String, ResetTo, Option<Vec<i32>>), ApiError> {
    let topic = str_field(body, "topic")?.to_string();
    super::topics::validate_topic_name(&topic)?;
    let to = match str_field(body, "to")? {
        "earliest" => ResetTo::Earliest,
        "latest" => ResetTo::Latest,
        "offset" => ResetTo::Offset(
            int_field(body, "offset")?.ok_or_else(|| ApiError::bad_request("to=offset needs 'offset'"))?,
        ),
        "timestamp" => ResetTo::Timestamp(
            int_field(body, "timestamp")?
                .ok_or_else(|| ApiError::bad_request("to=timestamp needs 'timestamp' (ms)"))?,
        ),
        other => {
            return Err(ApiError::bad_request(format!(
                "'to' must be earliest, latest, offset or timestamp, not '{other}'"
            )))
        }
    };
    let partitions = match body.get("partitions") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_i64().and_then(|p| i32::try_from(p).ok()))
                .collect::<Option<Vec<i32>>>()
                .ok_or_else(|| ApiError::bad_request("'partitions' must be a list of partition numbers"))?,
        ),
        Some(_) => return Err(ApiError::bad_request("'partitions' must be a list of partition numbers")),
    };
    Ok((topic, to, partitions))
}

/// The offset a partition moves to, given its earliest and latest offsets
/// and (for a timestamp) the offset ListOffsets found (-1: none, so the end).
/// An explicit offset is kept within the log, as Kafka's tool does.
pub fn target_offset(to: ResetTo, earliest: i64, latest: i64, by_time: Option<i64>) -> i64 {
    match to {
        ResetTo::Earliest => earliest,
        ResetTo::Latest => latest,
        ResetTo::Offset(o) => o.clamp(earliest, latest),
        ResetTo::Timestamp(_) => match by_time {
            Some(o) if o >= 0 => o,
            _ => latest,
        },
    }
}

pub async fn reset(clients: &Clients, group: &str, body: &Value) -> ApiResult {
    let (topic, to, only) = parse_reset(body)?;
    let info = retry(|| clients.admin.describe_group(group)).await?;
    if !info.members.is_empty() {
        // Kafka's consumer-groups tool refuses too: commits from outside the
        // group would be overwritten by its members.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "NON_EMPTY_GROUP",
            format!(
                "Assignments can only be reset if the group '{group}' is inactive, but the current state is {} ({} member(s))",
                info.state,
                info.members.len()
            ),
        ));
    }
    let meta = retry(|| clients.admin.describe_topic(&topic)).await?;
    let tps: Vec<Tp> = meta
        .partitions
        .iter()
        .map(|p| p.partition)
        .filter(|p| only.as_ref().is_none_or(|o| o.contains(p)))
        .map(|p| (topic.clone(), p))
        .collect();
    if tps.is_empty() {
        return Err(ApiError::bad_request("no such partitions in the topic"));
    }
    let earliest = retry(|| clients.admin.list_offsets(&tps, -2)).await?;
    let latest = retry(|| clients.admin.list_offsets(&tps, -1)).await?;
    let by_time = match to {
        ResetTo::Timestamp(t) => Some(retry(|| clients.admin.list_offsets(&tps, t)).await?),
        _ => None,
    };
    let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
    for tp in &tps {
        let found = by_time.as_ref().and_then(|m| m.get(tp).copied());
        let target = target_offset(to, earliest[tp], latest[tp], found);
        offsets.insert(tp.1, target);
    }
    retry(|| commit(clients, group, &topic, &offsets)).await?;
    Ok(json!({
        "group_id": group,
        "topic": topic,
        "offsets": offsets.iter().map(|(p, o)| json!({"partition": p, "offset": o})).collect::<Vec<_>>(),
    }))
}

/// OffsetCommit with no member and generation -1: the admin form, which
/// the coordinator accepts for an empty group only.
async fn commit(clients: &Clients, group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) -> Result<(), ClientError> {
    let conn = coordinator(clients.admin.cluster(), group).await?;
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default().with_partition_index(*p).with_committed_offset(*o)
                    })
                    .collect(),
            )]);
    let response = conn.send(8, &request).await?;
    for t in &response.topics {
        for p in &t.partitions {
            brook_client::error::check(p.error_code, || {
                format!("commit {}-{} for group '{group}'", t.name.as_str(), p.partition_index)
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_end_minus_committed() {
        assert_eq!(lag(Some(40), Some(100)), Some(60));
        assert_eq!(lag(Some(100), Some(100)), Some(0));
        assert_eq!(lag(None, Some(100)), None);
        assert_eq!(lag(Some(5), None), None);
        // A committed offset past the end (a truncated log) is no lag, not negative.
        assert_eq!(lag(Some(120), Some(100)), Some(0));
    }

    #[test]
    fn reset_requests() {
        let (t, to, ps) = parse_reset(&json!({"topic": "a", "to": "earliest"})).unwrap();
        assert_eq!((t.as_str(), to, ps), ("a", ResetTo::Earliest, None));
        let (_, to, ps) =
            parse_reset(&json!({"topic": "a", "to": "offset", "offset": 7, "partitions": [0, 2]})).unwrap();
        assert_eq!((to, ps), (ResetTo::Offset(7), Some(vec![0, 2])));
        let (_, to, _) = parse_reset(&json!({"topic": "a", "to": "timestamp", "timestamp": "1700000000000"})).unwrap();
        assert_eq!(to, ResetTo::Timestamp(1_700_000_000_000));
        assert!(parse_reset(&json!({"topic": "a", "to": "offset"})).is_err());
        assert!(parse_reset(&json!({"topic": "a", "to": "yesterday"})).is_err());
        assert!(parse_reset(&json!({"to": "latest"})).is_err());
        assert!(parse_reset(&json!({"topic": "a", "to": "latest", "partitions": ["x"]})).is_err());
    }

    #[test]
    fn targets_stay_in_the_log() {
        assert_eq!(target_offset(ResetTo::Earliest, 10, 50, None), 10);
        assert_eq!(target_offset(ResetTo::Latest, 10, 50, None), 50);
        assert_eq!(target_offset(ResetTo::Offset(3), 10, 50, None), 10);
        assert_eq!(target_offset(ResetTo::Offset(99), 10, 50, None), 50);
        assert_eq!(target_offset(ResetTo::Offset(20), 10, 50, None), 20);
        assert_eq!(target_offset(ResetTo::Timestamp(5), 10, 50, Some(30)), 30);
        assert_eq!(target_offset(ResetTo::Timestamp(5), 10, 50, Some(-1)), 50);
    }
}
