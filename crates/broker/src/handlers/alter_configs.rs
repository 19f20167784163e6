//! AlterConfigs, versions 0..=2 (legacy): the listed configs replace all
//! overrides of the resource. Persisted as metadata records.

use std::collections::BTreeMap;

use brook_protocol::kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use brook_protocol::kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::configs::{alter, outcome_fields};
use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 2);

pub async fn handle(ctx: &RequestContext<'_>, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    let authz = ctx.authz();
    for resource in request.resources {
        let changes: BTreeMap<String, Option<String>> = resource
            .configs
            .iter()
            .map(|c| (c.name.as_str().to_string(), c.value.as_ref().map(|v| v.as_str().to_string())))
            .collect();
        // Kafka: ALTER_CONFIGS on the topic or the cluster.
        let refusal = authz.config_refusal(Op::AlterConfigs, resource.resource_type, resource.resource_name.as_str());
        let outcome = if let Some(e) = refusal {
            Err(e)
        } else {
            alter(
                ctx.node,
                resource.resource_type,
                resource.resource_name.as_str(),
                &changes,
                true,
                request.validate_only,
            )
            .await
        };
        let (code, message) = outcome_fields(outcome, resource.resource_name.as_str(), request.validate_only);
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}
