//! One module per Kafka API. Each states its supported version range (the
//! same as `brook_protocol::api_versions`), decodes nothing itself (the
//! `kafka-protocol` crate does) and delegates state changes to the component
//! that owns them: the replica manager for data, the controller for metadata.

use std::sync::Arc;

use brook_protocol::kafka_protocol::messages::*;
use brook_protocol::kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use bytes::{BufMut, Bytes, BytesMut};

use brook_protocol::fetch_response::Chunk;

use crate::Node;

pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod configs;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_quorum;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

/// Why a request ends its connection.
#[derive(Debug)]
pub enum DispatchError {
    /// The request could not be decoded (or its answer encoded).
    Malformed(String),
    /// A valid request whose failure cannot be answered (acks=0 produce).
    Close(String),
}

impl From<String> for DispatchError {
    fn from(reason: String) -> Self {
        DispatchError::Malformed(reason)
    }
}

/// What goes back on the wire for one request.
pub enum Response {
    Bytes(Bytes),
    /// Encoded bytes interleaved with file regions (Fetch, for sendfile).
    Chunks(Vec<Chunk>),
}

/// The request being handled.
pub struct RequestContext<'a> {
    pub node: &'a Arc<Node>,
    pub header: &'a RequestHeader,
}

impl RequestContext<'_> {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// Encodes a response frame: size, response header, body.
pub fn encode<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &R,
) -> Result<Response, String> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = R::header_version(version);
    let size = header.compute_size(header_version).map_err(|e| e.to_string())?
        + response.compute_size(version).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(|e| e.to_string())?;
    response.encode(&mut buf, version).map_err(|e| e.to_string())?;
    Ok(Response::Bytes(buf.freeze()))
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

macro_rules! route {
    ($ctx:expr, $body:expr, $req:ty, $handler:path) => {{
        let version = $ctx.version();
        let request = <$req>::decode(&mut $body, version).map_err(|e| e.to_string())?;
        let response = $handler(&$ctx, request).await;
        Ok(encode($ctx.header.correlation_id, version, &response).map(Some)?)
    }};
}

/// Decodes the body, runs the handler, encodes the answer. `Ok(None)` means
/// no response (acks=0 produce). `Err` means a malformed request.
pub async fn dispatch(
    broker: &Arc<Node>,
    key: ApiKey,
    header: &RequestHeader,
    mut body: Bytes,
) -> Result<Option<Response>, DispatchError> {
    let ctx = RequestContext { node: broker, header };
    match key {
        ApiKey::Produce => {
            let request = ProduceRequest::decode(&mut body, ctx.version()).map_err(|e| e.to_string())?;
            let acks = request.acks;
            let response = produce::handle(&ctx, request).await;
            if acks == 0 {
                // No response to carry the error: like Kafka, close the connection
                // so the producer notices and refreshes its metadata.
                let failed = response.responses.iter().flat_map(|t| &t.partition_responses).find(|p| p.error_code != 0);
                if let Some(p) = failed {
                    return Err(DispatchError::Close(format!(
                        "acks=0 produce failed with error {} on partition {}",
                        p.error_code, p.index
                    )));
                }
                return Ok(None);
            }
            Ok(encode(header.correlation_id, ctx.version(), &response).map(Some)?)
        }
        ApiKey::Fetch => {
            let request = FetchRequest::decode(&mut body, ctx.version()).map_err(|e| e.to_string())?;
            Ok(Some(fetch::handle(&ctx, request).await))
        }
        ApiKey::ApiVersions => route!(ctx, body, ApiVersionsRequest, api_versions::handle),
        ApiKey::Metadata => route!(ctx, body, MetadataRequest, metadata::handle),
        ApiKey::ListOffsets => route!(ctx, body, ListOffsetsRequest, list_offsets::handle),
        ApiKey::OffsetForLeaderEpoch => route!(ctx, body, OffsetForLeaderEpochRequest, offset_for_leader_epoch::handle),
        ApiKey::CreateTopics => route!(ctx, body, CreateTopicsRequest, create_topics::handle),
        ApiKey::DeleteTopics => route!(ctx, body, DeleteTopicsRequest, delete_topics::handle),
        ApiKey::CreatePartitions => route!(ctx, body, CreatePartitionsRequest, create_partitions::handle),
        ApiKey::DeleteRecords => route!(ctx, body, DeleteRecordsRequest, delete_records::handle),
        ApiKey::DescribeConfigs => route!(ctx, body, DescribeConfigsRequest, describe_configs::handle),
        ApiKey::AlterConfigs => route!(ctx, body, AlterConfigsRequest, alter_configs::handle),
        ApiKey::IncrementalAlterConfigs => {
            route!(ctx, body, IncrementalAlterConfigsRequest, incremental_alter_configs::handle)
        }
        ApiKey::DescribeCluster => route!(ctx, body, DescribeClusterRequest, describe_cluster::handle),
        ApiKey::DescribeQuorum => route!(ctx, body, DescribeQuorumRequest, describe_quorum::handle),
        ApiKey::ElectLeaders => route!(ctx, body, ElectLeadersRequest, elect_leaders::handle),
        ApiKey::AlterPartitionReassignments => {
            route!(ctx, body, AlterPartitionReassignmentsRequest, alter_partition_reassignments::handle)
        }
        ApiKey::ListPartitionReassignments => {
            route!(ctx, body, ListPartitionReassignmentsRequest, list_partition_reassignments::handle)
        }
        ApiKey::InitProducerId => route!(ctx, body, InitProducerIdRequest, init_producer_id::handle),
        ApiKey::FindCoordinator => route!(ctx, body, FindCoordinatorRequest, find_coordinator::handle),
        ApiKey::JoinGroup => route!(ctx, body, JoinGroupRequest, join_group::handle),
        ApiKey::SyncGroup => route!(ctx, body, SyncGroupRequest, sync_group::handle),
        ApiKey::Heartbeat => route!(ctx, body, HeartbeatRequest, heartbeat::handle),
        ApiKey::LeaveGroup => route!(ctx, body, LeaveGroupRequest, leave_group::handle),
        ApiKey::OffsetCommit => route!(ctx, body, OffsetCommitRequest, offset_commit::handle),
        ApiKey::OffsetFetch => route!(ctx, body, OffsetFetchRequest, offset_fetch::handle),
        ApiKey::ListGroups => route!(ctx, body, ListGroupsRequest, list_groups::handle),
        ApiKey::DescribeGroups => route!(ctx, body, DescribeGroupsRequest, describe_groups::handle),
        ApiKey::DeleteGroups => route!(ctx, body, DeleteGroupsRequest, delete_groups::handle),
        ApiKey::OffsetDelete => route!(ctx, body, OffsetDeleteRequest, offset_delete::handle),
        other => Err(format!("api {other:?} is not served").into()),
    }
}
