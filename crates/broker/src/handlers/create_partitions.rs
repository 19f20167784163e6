//! CreatePartitions, versions 0..=3: grow a topic's partition count, placing
//! the new partitions automatically or on the given replica lists.

use brook_metadata::requests::ControllerRequest;
use brook_protocol::kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use brook_protocol::kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use tracing::info;

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 3);

pub async fn handle(ctx: &RequestContext<'_>, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    let authz = ctx.authz();
    for topic in &request.topics {
        let name = topic.name.as_str();
        // Kafka: ALTER on the topic.
        if !authz.topic(Op::Alter, name) {
            results.push(
                CreatePartitionsTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_code(brook_protocol::error_code::TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(str_bytes("The topic authorization is failed."))),
            );
            continue;
        }
        // The controller checks the lists (registered brokers, counts) and keeps them as given.
        let assignment =
            topic.assignments.as_ref().map(|a| a.iter().map(|a| a.broker_ids.iter().map(|b| b.0).collect()).collect());
        let create = ControllerRequest::CreatePartitions { name: name.to_string(), count: topic.count, assignment };
        let outcome = ctx.node.execute(create, request.validate_only).await.map(|_| ());
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
