//! IncrementalAlterConfigs, versions 0..=1: SET (0) and DELETE (1) per
//! config. APPEND (2) and SUBTRACT (3) apply to list configs, and none of the
//! configs Brook supports is a list, so they get INVALID_CONFIG (as Kafka
//! answers for non-list configs).

use std::collections::BTreeMap;

use brook_metadata::controller::ControllerError;
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use brook_protocol::kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::configs::{alter, outcome_fields};
use super::RequestContext;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let mut changes = BTreeMap::new();
        let mut invalid = None;
        for c in &resource.configs {
            let name = c.name.as_str().to_string();
            match c.config_operation {
                0 => {
                    changes.insert(name, Some(c.value.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default()));
                }
                1 => {
                    changes.insert(name, None);
                }
                op => {
                    invalid = Some(ControllerError::new(
                        error_code::INVALID_CONFIG,
                        format!("Operation {op} is only valid for list configs; {name} is not one"),
                    ))
                }
            }
        }
        let outcome = match invalid {
            Some(e) => Err(e),
            None => {
                alter(
                    ctx.broker,
                    resource.resource_type,
                    resource.resource_name.as_str(),
                    &changes,
                    false,
                    request.validate_only,
                )
                .await
            }
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
