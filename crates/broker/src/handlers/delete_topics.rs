//! DeleteTopics, versions 1..=6 (by name, or by id from v6). The metadata
//! record is committed first; the logs are deleted as the image is applied.

use brook_metadata::requests::ControllerRequest;
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use brook_protocol::kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use tracing::info;
use uuid::Uuid;

use super::{str_bytes, topic_name, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(1, 6);

pub async fn handle(ctx: &RequestContext<'_>, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut targets: Vec<(Option<String>, Uuid)> =
        request.topic_names.iter().map(|n| (Some(n.as_str().to_string()), Uuid::nil())).collect();
    targets.extend(request.topics.iter().map(|t| (t.name.as_ref().map(|n| n.as_str().to_string()), t.topic_id)));
    let mut responses = Vec::with_capacity(targets.len());
    // Kafka: DELETE on each topic; by id, a topic without DESCRIBE stays unknown.
    let authz = ctx.authz();
    for (name, id) in targets {
        let name = name.or_else(|| ctx.node.image().topic_by_id(&id).map(|t| t.name.clone()));
        let mut result = DeletableTopicResult::default().with_topic_id(id);
        match name {
            None => result.error_code = error_code::UNKNOWN_TOPIC_ID,
            Some(name) if !id.is_nil() && !authz.topic(Op::Describe, &name) => {
                result.error_code = error_code::UNKNOWN_TOPIC_ID
            }
            Some(name) if !authz.topic(Op::Delete, &name) => {
                result.name = Some(topic_name(&name));
                result.error_code = error_code::TOPIC_AUTHORIZATION_FAILED;
            }
            Some(name) => {
                result.name = Some(topic_name(&name));
                let known_id = ctx.node.image().topic(&name).map(|t| t.id);
                match ctx.node.execute(ControllerRequest::DeleteTopic { name: name.clone() }, false).await {
                    Ok(_) => {
                        let deleted_id = known_id.unwrap_or(id);
                        info!(topic = %name, "deleted topic");
                        result.topic_id = deleted_id;
                    }
                    Err(e) => {
                        result.error_code = e.code;
                        if ctx.version() >= 5 {
                            result.error_message = Some(str_bytes(&e.message));
                        }
                    }
                }
            }
        }
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
