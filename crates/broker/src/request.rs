//! Decoding of one request frame (without its size prefix): the API key
//! and version checked against what Brook serves, the request header, then
//! the body. This is all the broker reads from a client before a handler
//! runs; it needs no [`crate::Node`], so the fuzz targets (fuzz/) drive
//! exactly the code the connection uses.

use brook_protocol::frame::REQUEST_HEADER_MIN_BYTES;
use brook_protocol::kafka_protocol::messages::*;
use brook_protocol::kafka_protocol::protocol::Decodable;
use bytes::Bytes;

use crate::handlers::{self, Versions};

/// A decoded request: its API, header and body.
#[derive(Debug)]
pub struct DecodedRequest {
    pub key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// Why a frame is not a request Brook can handle.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {0} bytes is shorter than a request header")]
    Short(usize),
    #[error("unknown api key {0}")]
    UnknownApi(i16),
    #[error("unsupported version {version} of api {api_key} (supported {min}..={max})")]
    UnsupportedVersion { api_key: i16, version: i16, min: i16, max: i16, correlation_id: i32 },
    #[error("malformed request (api {api_key} v{version}): {reason}")]
    Malformed { api_key: i16, version: i16, reason: String },
}

/// Decodes `frame` (a request without its 4-byte size prefix): header,
/// then body.
pub fn decode_request(mut frame: Bytes) -> Result<DecodedRequest, DecodeError> {
    let (key, header) = decode_header(&mut frame)?;
    let body = decode_body(key, header.request_api_version, &mut frame)?;
    Ok(DecodedRequest { key, header, body })
}

/// Decodes the header at the start of `frame`, leaving the body: the API
/// key and version must be served. The connection checks authentication
/// between header and body, so an unauthenticated client's bodies are
/// never decoded.
pub fn decode_header(frame: &mut Bytes) -> Result<(ApiKey, RequestHeader), DecodeError> {
    if frame.len() < REQUEST_HEADER_MIN_BYTES {
        return Err(DecodeError::Short(frame.len()));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Some(Versions { min, max }) = handlers::versions(api_key) else {
        return Err(DecodeError::UnknownApi(api_key));
    };
    let key = ApiKey::try_from(api_key).map_err(|_| DecodeError::UnknownApi(api_key))?;
    if version < min || version > max {
        return Err(DecodeError::UnsupportedVersion { api_key, version, min, max, correlation_id });
    }
    let header = RequestHeader::decode(frame, key.request_header_version(version))
        .map_err(|e| malformed(api_key, version, e))?;
    Ok((key, header))
}

/// Decodes the body of a request of `key` at `version` (a served one).
pub fn decode_body(key: ApiKey, version: i16, body: &mut Bytes) -> Result<RequestKind, DecodeError> {
    RequestKind::decode(key, body, version).map_err(|e| malformed(key as i16, version, e))
}

fn malformed(api_key: i16, version: i16, e: impl std::fmt::Display) -> DecodeError {
    // `{:#}` keeps the cause (which field) after kafka-protocol's context line.
    DecodeError::Malformed { api_key, version, reason: format!("{e:#}") }
}

/// The typed request inside a [`RequestKind`]: how a handler's route takes
/// its body out of the decoded request.
pub trait FromKind: Sized {
    fn from_kind(kind: RequestKind) -> Option<Self>;
}

/// The body of a decoded request as `R`, or why it is not one.
pub fn take<R: FromKind>(kind: RequestKind) -> Result<R, String> {
    R::from_kind(kind).ok_or_else(|| format!("request body is not a {}", std::any::type_name::<R>()))
}

macro_rules! from_kind {
    ($($variant:ident => $ty:ty,)*) => {
        $(impl FromKind for $ty {
            fn from_kind(kind: RequestKind) -> Option<Self> {
                match kind {
                    RequestKind::$variant(r) => Some(r),
                    _ => None,
                }
            }
        })*

        /// The default (empty) request of `key`: for tests and the fuzz
        /// corpus generator.
        pub fn default_request(key: ApiKey) -> RequestKind {
            match key {
                $(ApiKey::$variant => RequestKind::$variant(<$ty>::default()),)*
            }
        }
    };
}

// Every request kafka-protocol knows, so a new handler's route needs no
// edit here.
from_kind! {
    Produce => ProduceRequest,
    Fetch => FetchRequest,
    ListOffsets => ListOffsetsRequest,
    Metadata => MetadataRequest,
    OffsetCommit => OffsetCommitRequest,
    OffsetFetch => OffsetFetchRequest,
    FindCoordinator => FindCoordinatorRequest,
    JoinGroup => JoinGroupRequest,
    Heartbeat => HeartbeatRequest,
    LeaveGroup => LeaveGroupRequest,
    SyncGroup => SyncGroupRequest,
    DescribeGroups => DescribeGroupsRequest,
    ListGroups => ListGroupsRequest,
    SaslHandshake => SaslHandshakeRequest,
    ApiVersions => ApiVersionsRequest,
    CreateTopics => CreateTopicsRequest,
    DeleteTopics => DeleteTopicsRequest,
    DeleteRecords => DeleteRecordsRequest,
    InitProducerId => InitProducerIdRequest,
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
    AddPartitionsToTxn => AddPartitionsToTxnRequest,
    AddOffsetsToTxn => AddOffsetsToTxnRequest,
    EndTxn => EndTxnRequest,
    WriteTxnMarkers => WriteTxnMarkersRequest,
    TxnOffsetCommit => TxnOffsetCommitRequest,
    DescribeAcls => DescribeAclsRequest,
    CreateAcls => CreateAclsRequest,
    DeleteAcls => DeleteAclsRequest,
    DescribeConfigs => DescribeConfigsRequest,
    AlterConfigs => AlterConfigsRequest,
    AlterReplicaLogDirs => AlterReplicaLogDirsRequest,
    DescribeLogDirs => DescribeLogDirsRequest,
    SaslAuthenticate => SaslAuthenticateRequest,
    CreatePartitions => CreatePartitionsRequest,
    CreateDelegationToken => CreateDelegationTokenRequest,
    RenewDelegationToken => RenewDelegationTokenRequest,
    ExpireDelegationToken => ExpireDelegationTokenRequest,
    DescribeDelegationToken => DescribeDelegationTokenRequest,
    DeleteGroups => DeleteGroupsRequest,
    ElectLeaders => ElectLeadersRequest,
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
    AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
    ListPartitionReassignments => ListPartitionReassignmentsRequest,
    OffsetDelete => OffsetDeleteRequest,
    DescribeClientQuotas => DescribeClientQuotasRequest,
    AlterClientQuotas => AlterClientQuotasRequest,
    DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
    AlterUserScramCredentials => AlterUserScramCredentialsRequest,
    Vote => VoteRequest,
    BeginQuorumEpoch => BeginQuorumEpochRequest,
    EndQuorumEpoch => EndQuorumEpochRequest,
    DescribeQuorum => DescribeQuorumRequest,
    AlterPartition => AlterPartitionRequest,
    UpdateFeatures => UpdateFeaturesRequest,
    Envelope => EnvelopeRequest,
    FetchSnapshot => FetchSnapshotRequest,
    DescribeCluster => DescribeClusterRequest,
    DescribeProducers => DescribeProducersRequest,
    BrokerRegistration => BrokerRegistrationRequest,
    BrokerHeartbeat => BrokerHeartbeatRequest,
    UnregisterBroker => UnregisterBrokerRequest,
    DescribeTransactions => DescribeTransactionsRequest,
    ListTransactions => ListTransactionsRequest,
    AllocateProducerIds => AllocateProducerIdsRequest,
    ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
    ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
    ControllerRegistration => ControllerRegistrationRequest,
    GetTelemetrySubscriptions => GetTelemetrySubscriptionsRequest,
    PushTelemetry => PushTelemetryRequest,
    AssignReplicasToDirs => AssignReplicasToDirsRequest,
    ListConfigResources => ListConfigResourcesRequest,
    DescribeTopicPartitions => DescribeTopicPartitionsRequest,
    ShareGroupHeartbeat => ShareGroupHeartbeatRequest,
    ShareGroupDescribe => ShareGroupDescribeRequest,
    ShareFetch => ShareFetchRequest,
    ShareAcknowledge => ShareAcknowledgeRequest,
    AddRaftVoter => AddRaftVoterRequest,
    RemoveRaftVoter => RemoveRaftVoterRequest,
    UpdateRaftVoter => UpdateRaftVoterRequest,
    InitializeShareGroupState => InitializeShareGroupStateRequest,
    ReadShareGroupState => ReadShareGroupStateRequest,
    WriteShareGroupState => WriteShareGroupStateRequest,
    DeleteShareGroupState => DeleteShareGroupStateRequest,
    ReadShareGroupStateSummary => ReadShareGroupStateSummaryRequest,
    DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest,
    AlterShareGroupOffsets => AlterShareGroupOffsetsRequest,
    DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest,
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_protocol::frame::encode_request;
    use brook_protocol::kafka_protocol::protocol::StrBytes;

    fn frame_of(bytes: Bytes) -> Bytes {
        bytes.slice(4..)
    }

    #[test]
    fn decodes_every_served_api_and_version() {
        let client = StrBytes::from_static_str("c");
        for (key, versions) in handlers::SERVED {
            for version in versions.min..=versions.max {
                let header = RequestHeader::default()
                    .with_request_api_key(*key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(7)
                    .with_client_id(Some(client.clone()));
                let mut buf = bytes::BytesMut::new();
                use brook_protocol::kafka_protocol::protocol::Encodable;
                header.encode(&mut buf, key.request_header_version(version)).unwrap();
                default_request(*key).encode(&mut buf, version).unwrap();
                let decoded = decode_request(buf.freeze()).unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
                assert_eq!(decoded.key, *key);
                assert_eq!(decoded.header.correlation_id, 7);
            }
        }
    }

    #[test]
    fn refuses_bad_frames() {
        assert!(matches!(decode_request(Bytes::from_static(&[0; 5])), Err(DecodeError::Short(5))));
        let unknown = [0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(matches!(decode_request(Bytes::copy_from_slice(&unknown)), Err(DecodeError::UnknownApi(0x7f00))));
        let frame = encode_request(3, 5, &StrBytes::from_static_str("c"), &ApiVersionsRequest::default()).unwrap();
        let mut v99 = frame_of(frame).to_vec();
        v99[2..4].copy_from_slice(&99i16.to_be_bytes());
        assert!(matches!(
            decode_request(Bytes::from(v99)),
            Err(DecodeError::UnsupportedVersion { version: 99, correlation_id: 5, .. })
        ));
        let frame = encode_request(3, 5, &StrBytes::from_static_str("c"), &MetadataRequest::default()).unwrap();
        let truncated = frame_of(frame.slice(..frame.len() - 1));
        assert!(matches!(decode_request(truncated), Err(DecodeError::Malformed { api_key: 3, version: 3, .. })));
    }

    /// Found by fuzz/request_frame: a DescribeConfigs v3 request of 20 bytes
    /// declaring ~1.9 billion resources made kafka-protocol reserve 149 GB
    /// (the process aborted). The patched decoder (vendor/kafka-protocol)
    /// refuses counts beyond the bytes left.
    #[test]
    fn fuzz_huge_array_count_is_malformed() {
        let frame = [
            0x00, 0x20, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 0x73, 0x65, 0x00, 0x00, 0x65, 0x00, 0x00, 0x64,
            0x00, 0x00,
        ];
        let e = decode_request(Bytes::copy_from_slice(&frame)).unwrap_err();
        assert!(matches!(e, DecodeError::Malformed { api_key: 32, version: 3, .. }), "{e}");
        // The same for a compact (flexible version) array: Metadata v12.
        let frame = [0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07];
        let e = decode_request(Bytes::copy_from_slice(&frame)).unwrap_err();
        assert!(matches!(e, DecodeError::Malformed { api_key: 3, version: 12, .. }), "{e}");
    }

    #[test]
    fn take_checks_the_body_type() {
        let kind = RequestKind::Metadata(MetadataRequest::default());
        assert!(take::<ProduceRequest>(kind.clone()).is_err());
        assert_eq!(take::<MetadataRequest>(kind).unwrap(), MetadataRequest::default());
    }
}
