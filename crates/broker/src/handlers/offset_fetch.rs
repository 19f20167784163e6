//! OffsetFetch, versions 1..=8 (one group before v8, several from v8).
//! A partition without a committed offset gets offset -1. With
//! `require_stable` (v7+), a partition an open transaction holds an offset
//! for answers UNSTABLE_OFFSET_COMMIT (the consumer retries), as Kafka does.

use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use brook_protocol::kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use brook_protocol::kafka_protocol::protocol::StrBytes;

use super::{str_bytes, topic_name, RequestContext, Versions};
use crate::authorization::Op;
use crate::coordinator::group::coordinator::FetchedOffset;

/// Answers grouped by topic, in request order.
type Fetched = Vec<(String, Vec<FetchedOffset>)>;

fn fetch(
    ctx: &RequestContext<'_>,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Fetched {
    let flat = wanted.as_ref().map(|w| w.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p))).collect());
    let mut out: Fetched = Vec::new();
    for fetched in ctx.node.groups.fetch_offsets(group_id, flat, require_stable) {
        match out.iter_mut().find(|(t, _)| *t == fetched.topic) {
            Some((_, ps)) => ps.push(fetched),
            None => out.push((fetched.topic.clone(), vec![fetched])),
        }
    }
    // Kafka: offsets of topics the principal may not DESCRIBE are hidden
    // (left out of "all topics", TOPIC_AUTHORIZATION_FAILED when named).
    let authz = ctx.authz();
    let all_topics = wanted.is_none();
    out.retain_mut(|(topic, partitions)| {
        if authz.topic(Op::Describe, topic) {
            return true;
        }
        for f in partitions.iter_mut() {
            f.committed = None;
            f.error = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
        }
        !all_topics
    });
    out
}

/// (offset, leader epoch, metadata, error code) of one partition's answer.
fn values(f: &FetchedOffset) -> (i64, i32, Option<StrBytes>, i16) {
    match &f.committed {
        Some(c) => (c.offset, c.leader_epoch, Some(str_bytes(&c.metadata)), f.error.code()),
        None => (-1, -1, Some(str_bytes("")), f.error.code()),
    }
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(1, 8);

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version() >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                if !ctx.authz().group(Op::Describe, g.group_id.as_str()) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(ErrorCode::GROUP_AUTHORIZATION_FAILED.code());
                }
                if let Err(code) = ctx.node.groups.check(g.group_id.as_str()) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(code.code());
                }
                let wanted = g
                    .topics
                    .as_ref()
                    .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
                let topics = fetch(ctx, g.group_id.as_str(), wanted, request.require_stable)
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchResponseTopics::default().with_name(topic_name(&t)).with_partitions(
                            ps.iter()
                                .map(|f| {
                                    let (offset, epoch, metadata, error) = values(f);
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(f.partition)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(metadata)
                                        .with_error_code(error)
                                })
                                .collect(),
                        )
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone()).with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    if !ctx.authz().group(Op::Describe, request.group_id.as_str()) {
        return OffsetFetchResponse::default().with_error_code(ErrorCode::GROUP_AUTHORIZATION_FAILED.code());
    }
    if let Err(code) = ctx.node.groups.check(request.group_id.as_str()) {
        return OffsetFetchResponse::default().with_error_code(code.code());
    }
    let wanted = request
        .topics
        .as_ref()
        .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
    // `require_stable` exists from v7; decoded as false before.
    let topics = fetch(ctx, request.group_id.as_str(), wanted, request.require_stable)
        .into_iter()
        .map(|(t, ps)| {
            OffsetFetchResponseTopic::default().with_name(TopicName(str_bytes(&t))).with_partitions(
                ps.iter()
                    .map(|f| {
                        let (offset, epoch, metadata, error) = values(f);
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(f.partition)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(metadata)
                            .with_error_code(error)
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
