//! ElectLeaders, versions 0..=2: preferred leader election, carried out by
//! the active controller. Unclean elections are refused (Brook never elects
//! a replica outside the ISR).

use std::collections::BTreeMap;

use brook_metadata::requests::{ControllerReply, ControllerRequest};
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use brook_protocol::kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{str_bytes, topic_name, RequestContext, Versions};
use crate::authorization::Op;

const PREFERRED: i8 = 0;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 2);

pub async fn handle(ctx: &RequestContext<'_>, request: ElectLeadersRequest) -> ElectLeadersResponse {
    let wanted: Option<Vec<(String, i32)>> = request
        .topic_partitions
        .as_ref()
        .map(|ts| ts.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.to_string(), *p))).collect());
    // Kafka: ALTER on the cluster.
    let allowed = ctx.authz().cluster(Op::Alter);
    let outcomes: Vec<((String, i32), i16, String)> = if !allowed {
        let refused = |tp| (tp, error_code::CLUSTER_AUTHORIZATION_FAILED, String::new());
        let outcomes = wanted.clone().unwrap_or_default().into_iter().map(refused).collect();
        if wanted.is_none() || ctx.version() >= 1 {
            return ElectLeadersResponse::default().with_error_code(error_code::CLUSTER_AUTHORIZATION_FAILED);
        }
        outcomes
    } else if ctx.version() >= 1 && request.election_type != PREFERRED {
        let message = "unclean leader election is not supported".to_string();
        wanted
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|tp| (tp, error_code::ELIGIBLE_LEADERS_NOT_AVAILABLE, message.clone()))
            .collect()
    } else {
        match ctx.node.submit(ControllerRequest::ElectPreferredLeaders { partitions: wanted.clone() }).await {
            Ok(ControllerReply::Elections(list)) => {
                list.into_iter().map(|(tp, code)| (tp, code, String::new())).collect()
            }
            Ok(_) => Vec::new(),
            Err(e) => {
                return ElectLeadersResponse::default().with_error_code(e.code);
            }
        }
    };
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, partition), code, message) in outcomes {
        // Asked for everything: report only partitions whose leader changed (Kafka's answer).
        if wanted.is_none() && code != error_code::NONE {
            continue;
        }
        by_topic.entry(topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(code)
                .with_error_message((!message.is_empty()).then(|| str_bytes(&message))),
        );
    }
    ElectLeadersResponse::default().with_replica_election_results(
        by_topic
            .into_iter()
            .map(|(t, ps)| ReplicaElectionResult::default().with_topic(topic_name(&t)).with_partition_result(ps))
            .collect(),
    )
}
