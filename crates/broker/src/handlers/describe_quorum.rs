//! DescribeQuorum, versions 0..=1: the metadata quorum as the active
//! controller reports it (leader, epoch, high watermark, each voter's log
//! end offset). Any broker answers by asking the active controller.

use brook_metadata::quorum::rpc::SubmitError;
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::describe_quorum_response::{PartitionData, ReplicaState, TopicData};
use brook_protocol::kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};

use super::{str_bytes, topic_name, RequestContext, Versions};
use crate::authorization::Op;
use crate::node::CONTROLLER_TIMEOUT;

/// Kafka's name for the metadata log's topic.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 1);

pub async fn handle(ctx: &RequestContext<'_>, _request: DescribeQuorumRequest) -> DescribeQuorumResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.authz().cluster(Op::Describe) {
        return DescribeQuorumResponse::default().with_error_code(error_code::CLUSTER_AUTHORIZATION_FAILED);
    }
    let status = match ctx.node.controller.describe_quorum(CONTROLLER_TIMEOUT).await {
        Ok(s) => s,
        Err(e) => {
            let (code, message) = match e {
                SubmitError::Refused(e) => (e.code, e.message),
                SubmitError::NotController { .. } => (error_code::NOT_CONTROLLER, "no active controller".to_string()),
                SubmitError::Unavailable(why) => (error_code::REQUEST_TIMED_OUT, why),
            };
            let mut response = DescribeQuorumResponse::default().with_error_code(code);
            if ctx.version() >= 2 {
                response.error_message = Some(str_bytes(&message));
            }
            return response;
        }
    };
    let voters = status
        .voters
        .iter()
        .map(|v| {
            ReplicaState::default()
                .with_replica_id(BrokerId(v.id))
                .with_log_end_offset(v.log_end_offset)
                .with_last_fetch_timestamp(-1)
                .with_last_caught_up_timestamp(-1)
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(status.leader_id))
        .with_leader_epoch(status.leader_epoch)
        .with_high_watermark(status.high_watermark)
        .with_current_voters(voters);
    DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name(METADATA_TOPIC))
        .with_partitions(vec![partition])])
}
