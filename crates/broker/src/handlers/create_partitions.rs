//! CreatePartitions, versions 0..=3: grow a topic's partition count.

use brook_metadata::controller::ControllerError;
use brook_metadata::requests::ControllerRequest;
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use brook_protocol::kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use tracing::info;

use super::{str_bytes, RequestContext, Versions};

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 3);

pub async fn handle(ctx: &RequestContext<'_>, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let live = ctx.node.live_brokers();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.as_str();
        let bad_assignment =
            topic.assignments.iter().flatten().flat_map(|a| a.broker_ids.iter()).any(|b| !live.contains(&b.0));
        let outcome = if bad_assignment {
            Err(ControllerError::new(
                error_code::INVALID_REPLICA_ASSIGNMENT,
                "Assignment names a broker that is not registered.",
            ))
        } else {
            let request_ = ControllerRequest::CreatePartitions { name: name.to_string(), count: topic.count };
            ctx.node.execute(request_, request.validate_only).await.map(|_| ())
        };
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        match outcome {
            Ok(()) => info!(topic = name, count = topic.count, "created partitions"),
            Err(e) => {
                result.error_code = e.code;
                result.error_message = Some(str_bytes(&e.message));
            }
        }
        results.push(result);
    }
    CreatePartitionsResponse::default().with_results(results)
}
