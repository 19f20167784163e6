//! One module per Kafka API. Each declares its supported version range
//! (`VERSIONS`, collected in [`SERVED`], which ApiVersions lists), decodes
//! nothing itself (the `kafka-protocol` crate does) and delegates state
//! changes to the component that owns them: replication for data, the
//! controller for metadata, the coordinators for groups and transactions.

use std::sync::Arc;

use brook_protocol::kafka_protocol::messages::*;
use brook_protocol::kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use bytes::Bytes;

use brook_protocol::fetch_response::Chunk;

use crate::session::Session;
use crate::Node;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod configs;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
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
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;
// Authorization (ACL) APIs.
pub mod acls;
pub mod create_acls;
pub mod delete_acls;
pub mod describe_acls;

/// A handler's supported versions of its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const fn new(min: i16, max: i16) -> Versions {
        Versions { min, max }
    }

    pub fn contains(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// Every API Brook serves, with the versions its handler declares: the
/// connection checks requests against it and ApiVersions lists it. A
/// version is listed only if its semantics are implemented.
pub const SERVED: &[(ApiKey, Versions)] = &[
    (ApiKey::Produce, produce::VERSIONS),
    (ApiKey::Fetch, fetch::VERSIONS),
    (ApiKey::ListOffsets, list_offsets::VERSIONS),
    (ApiKey::Metadata, metadata::VERSIONS),
    (ApiKey::ApiVersions, api_versions::VERSIONS),
    (ApiKey::CreateTopics, create_topics::VERSIONS),
    (ApiKey::DeleteTopics, delete_topics::VERSIONS),
    (ApiKey::DeleteRecords, delete_records::VERSIONS),
    (ApiKey::InitProducerId, init_producer_id::VERSIONS),
    (ApiKey::OffsetForLeaderEpoch, offset_for_leader_epoch::VERSIONS),
    (ApiKey::DescribeConfigs, describe_configs::VERSIONS),
    (ApiKey::AlterConfigs, alter_configs::VERSIONS),
    (ApiKey::CreatePartitions, create_partitions::VERSIONS),
    (ApiKey::IncrementalAlterConfigs, incremental_alter_configs::VERSIONS),
    (ApiKey::DescribeCluster, describe_cluster::VERSIONS),
    (ApiKey::DescribeQuorum, describe_quorum::VERSIONS),
    (ApiKey::ElectLeaders, elect_leaders::VERSIONS),
    (ApiKey::AlterPartitionReassignments, alter_partition_reassignments::VERSIONS),
    (ApiKey::ListPartitionReassignments, list_partition_reassignments::VERSIONS),
    (ApiKey::FindCoordinator, find_coordinator::VERSIONS),
    (ApiKey::JoinGroup, join_group::VERSIONS),
    (ApiKey::SyncGroup, sync_group::VERSIONS),
    (ApiKey::Heartbeat, heartbeat::VERSIONS),
    (ApiKey::LeaveGroup, leave_group::VERSIONS),
    (ApiKey::OffsetCommit, offset_commit::VERSIONS),
    (ApiKey::OffsetFetch, offset_fetch::VERSIONS),
    (ApiKey::ListGroups, list_groups::VERSIONS),
    (ApiKey::DescribeGroups, describe_groups::VERSIONS),
    (ApiKey::DeleteGroups, delete_groups::VERSIONS),
    (ApiKey::OffsetDelete, offset_delete::VERSIONS),
    (ApiKey::WriteTxnMarkers, write_txn_markers::VERSIONS),
    (ApiKey::DescribeProducers, describe_producers::VERSIONS),
    (ApiKey::TxnOffsetCommit, txn_offset_commit::VERSIONS),
    (ApiKey::AddPartitionsToTxn, add_partitions_to_txn::VERSIONS),
    (ApiKey::AddOffsetsToTxn, add_offsets_to_txn::VERSIONS),
    (ApiKey::EndTxn, end_txn::VERSIONS),
    (ApiKey::DescribeTransactions, describe_transactions::VERSIONS),
    (ApiKey::ListTransactions, list_transactions::VERSIONS),
    (ApiKey::AlterClientQuotas, alter_client_quotas::VERSIONS),
    (ApiKey::DescribeClientQuotas, describe_client_quotas::VERSIONS),
    (ApiKey::DescribeAcls, describe_acls::VERSIONS),
    (ApiKey::CreateAcls, create_acls::VERSIONS),
    (ApiKey::DeleteAcls, delete_acls::VERSIONS),
    (ApiKey::SaslHandshake, sasl_handshake::VERSIONS),
    (ApiKey::SaslAuthenticate, sasl_authenticate::VERSIONS),
    (ApiKey::DescribeUserScramCredentials, describe_user_scram_credentials::VERSIONS),
    (ApiKey::AlterUserScramCredentials, alter_user_scram_credentials::VERSIONS),
];

/// The versions Brook serves of `api_key`, if it serves it.
pub fn versions(api_key: i16) -> Option<Versions> {
    SERVED.iter().find(|(key, _)| *key as i16 == api_key).map(|(_, v)| *v)
}

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
    /// The connection's listener and authenticated principal.
    pub session: &'a Session,
}

impl RequestContext<'_> {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The request header's client id ("" when null), which quotas key on.
    pub fn client_id(&self) -> &str {
        self.header.client_id.as_ref().map_or("", |c| c.as_str())
    }
}

/// Encodes a response frame: size, response header, body.
pub fn encode<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &R,
) -> Result<Response, String> {
    brook_protocol::frame::encode_response(correlation_id, version, response)
        .map(Response::Bytes)
        .map_err(|e| e.to_string())
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
        let request: $req = crate::request::take($body)?;
        // Request-time quota (KIP-124) on every API but Produce and Fetch,
        // which have byte-rate quotas; the response carries the throttle.
        let handling = $handler(&$ctx, request);
        let (mut response, throttle) =
            crate::quota::request_time(&$ctx.node.quotas, $ctx.session, $ctx.header, handling).await;
        if throttle > 0 {
            #[allow(unused_imports)]
            use crate::quota::{NoThrottleField, SetThrottleField};
            (&mut crate::quota::ThrottleSlot(&mut response)).set(throttle);
        }
        {
            #[allow(unused_imports)]
            use crate::metrics::requests::{CountErrors, NoErrorCounts};
            (&crate::metrics::requests::ErrorSlot(&response))
                .count(&$ctx.node.metrics.requests, $ctx.header.request_api_key);
        }
        Ok(encode($ctx.header.correlation_id, version, &response).map(Some)?)
    }};
}

/// Runs the handler of a request decoded by [`crate::request::decode_request`]
/// and encodes the answer. `Ok(None)` means no response (acks=0 produce).
/// `Err` means a malformed request.
pub async fn dispatch(
    broker: &Arc<Node>,
    key: ApiKey,
    header: &RequestHeader,
    session: &Session,
    body: RequestKind,
    request_bytes: usize,
) -> Result<Option<Response>, DispatchError> {
    let ctx = RequestContext { node: broker, header, session };
    match key {
        ApiKey::Produce => {
            let request: ProduceRequest = crate::request::take(body)?;
            let acks = request.acks;
            let mut response = produce::handle(&ctx, request).await;
            ctx.node.metrics.requests.response_errors(header.request_api_key, &response);
            // producer_byte_rate: the request's bytes, recorded after the append (Kafka too).
            let throttle = ctx.node.quotas.record(
                crate::quota::QuotaType::Produce,
                session,
                ctx.client_id(),
                request_bytes as f64,
                crate::clock::now_ms(),
            );
            crate::quota::note_throttle(throttle);
            response.throttle_time_ms = throttle;
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
            let request: FetchRequest = crate::request::take(body)?;
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
        ApiKey::WriteTxnMarkers => route!(ctx, body, WriteTxnMarkersRequest, write_txn_markers::handle),
        ApiKey::DescribeProducers => route!(ctx, body, DescribeProducersRequest, describe_producers::handle),
        ApiKey::TxnOffsetCommit => route!(ctx, body, TxnOffsetCommitRequest, txn_offset_commit::handle),
        ApiKey::AddPartitionsToTxn => route!(ctx, body, AddPartitionsToTxnRequest, add_partitions_to_txn::handle),
        ApiKey::AddOffsetsToTxn => route!(ctx, body, AddOffsetsToTxnRequest, add_offsets_to_txn::handle),
        ApiKey::EndTxn => route!(ctx, body, EndTxnRequest, end_txn::handle),
        ApiKey::DescribeTransactions => route!(ctx, body, DescribeTransactionsRequest, describe_transactions::handle),
        ApiKey::ListTransactions => route!(ctx, body, ListTransactionsRequest, list_transactions::handle),
        ApiKey::AlterClientQuotas => route!(ctx, body, AlterClientQuotasRequest, alter_client_quotas::handle),
        ApiKey::DescribeClientQuotas => {
            route!(ctx, body, DescribeClientQuotasRequest, describe_client_quotas::handle)
        }
        ApiKey::DescribeAcls => route!(ctx, body, DescribeAclsRequest, describe_acls::handle),
        ApiKey::CreateAcls => route!(ctx, body, CreateAclsRequest, create_acls::handle),
        ApiKey::DeleteAcls => route!(ctx, body, DeleteAclsRequest, delete_acls::handle),
        ApiKey::SaslHandshake => route!(ctx, body, SaslHandshakeRequest, sasl_handshake::handle),
        ApiKey::SaslAuthenticate => route!(ctx, body, SaslAuthenticateRequest, sasl_authenticate::handle),
        ApiKey::DescribeUserScramCredentials => {
            route!(ctx, body, DescribeUserScramCredentialsRequest, describe_user_scram_credentials::handle)
        }
        ApiKey::AlterUserScramCredentials => {
            route!(ctx, body, AlterUserScramCredentialsRequest, alter_user_scram_credentials::handle)
        }
        other => Err(format!("api {other:?} is not served").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_versions_are_within_the_protocol_crates() {
        for (key, v) in SERVED {
            let known = key.valid_versions();
            assert!(v.min <= v.max && v.min >= known.min && v.max <= known.max, "{key:?}: {v:?}");
        }
        assert_eq!(versions(ApiKey::Produce as i16), Some(Versions::new(3, 12)));
        assert_eq!(versions(9999), None);
    }
}
