//! OffsetFetch, versions 1..=8 (one group before v8, several from v8).
//! A partition without a committed offset gets offset -1.

use brook_protocol::kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use brook_protocol::kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use brook_protocol::kafka_protocol::protocol::StrBytes;

use super::{str_bytes, topic_name, RequestContext, Versions};
use crate::coordinator::group::state::CommittedOffset;

/// (topic, partition, committed) grouped by topic, in request order.
type Fetched = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

fn fetch(ctx: &RequestContext<'_>, group_id: &str, wanted: Option<Vec<(String, Vec<i32>)>>) -> Fetched {
    let flat = wanted.as_ref().map(|w| w.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p))).collect());
    let mut out: Fetched = Vec::new();
    for (topic, partition, committed) in ctx.node.groups.fetch_offsets(group_id, flat) {
        match out.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, ps)) => ps.push((partition, committed)),
            None => out.push((topic, vec![(partition, committed)])),
        }
    }
    out
}

fn values(c: &Option<CommittedOffset>) -> (i64, i32, Option<StrBytes>) {
    match c {
        Some(c) => (c.offset, c.leader_epoch, Some(str_bytes(&c.metadata))),
        None => (-1, -1, Some(str_bytes(""))),
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
                if let Err(code) = ctx.node.groups.check(g.group_id.as_str()) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(code.code());
                }
                let wanted = g
                    .topics
                    .as_ref()
                    .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
                let topics = fetch(ctx, g.group_id.as_str(), wanted)
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchResponseTopics::default().with_name(topic_name(&t)).with_partitions(
                            ps.iter()
                                .map(|(p, c)| {
                                    let (offset, epoch, metadata) = values(c);
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(metadata)
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
    if let Err(code) = ctx.node.groups.check(request.group_id.as_str()) {
        return OffsetFetchResponse::default().with_error_code(code.code());
    }
    let wanted = request
        .topics
        .as_ref()
        .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
    let topics = fetch(ctx, request.group_id.as_str(), wanted)
        .into_iter()
        .map(|(t, ps)| {
            OffsetFetchResponseTopic::default().with_name(TopicName(str_bytes(&t))).with_partitions(
                ps.iter()
                    .map(|(p, c)| {
                        let (offset, epoch, metadata) = values(c);
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(metadata)
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
