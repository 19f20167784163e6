//! IncrementalAlterConfigs, versions 0..=1: SET (0) and DELETE (1) per
//! config; APPEND (2) and SUBTRACT (3) add items to or remove them from a
//! list config (`cleanup.policy`, the throttled-replica lists), starting
//! from its current value. On any other config they get INVALID_CONFIG, as
//! in Kafka.

use std::collections::BTreeMap;

use brook_metadata::controller::ControllerError;
use brook_metadata::topic_config::{self, Kind};
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use brook_protocol::kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::configs::{alter, outcome_fields, RESOURCE_TOPIC};
use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The new value of a list config after APPEND (2) or SUBTRACT (3).
fn edit_list(
    ctx: &RequestContext<'_>,
    resource_type: i8,
    resource: &str,
    name: &str,
    op: i8,
    items: &str,
) -> Result<String, ControllerError> {
    let def = if resource_type == RESOURCE_TOPIC {
        topic_config::definition(name)
    } else {
        topic_config::for_broker_property(name)
    };
    if !matches!(def.map(|d| d.kind), Some(Kind::List(_) | Kind::ReplicaList)) {
        return Err(ControllerError::new(
            error_code::INVALID_CONFIG,
            format!("Config value append/subtract is not allowed for config key: {name}, it is not a list"),
        ));
    }
    // Kafka starts from the resource's own setting, else the config's default
    // (not a broker-level default of a topic config).
    let image = ctx.node.image();
    let own = if resource_type == RESOURCE_TOPIC {
        image.topic(resource).and_then(|t| t.configs.get(name).cloned())
    } else {
        image.broker_configs.get(name).cloned()
    };
    let current = own.unwrap_or_else(|| def.map_or(String::new(), |d| d.default.to_string()));
    let mut list: Vec<String> = topic_config::list_items(&current).into_iter().map(str::to_string).collect();
    for item in topic_config::list_items(items) {
        if op == 2 && !list.iter().any(|i| i == item) {
            list.push(item.to_string());
        } else if op == 3 {
            list.retain(|i| i != item);
        }
    }
    Ok(list.join(","))
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 1);

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    let authz = ctx.authz();
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
                op @ (2 | 3) => {
                    let items = c.value.as_ref().map(|v| v.as_str()).unwrap_or_default();
                    match edit_list(ctx, resource.resource_type, resource.resource_name.as_str(), &name, op, items) {
                        Ok(value) => {
                            changes.insert(name, Some(value));
                        }
                        Err(e) => invalid = Some(e),
                    }
                }
                op => {
                    invalid = Some(ControllerError::new(
                        error_code::INVALID_REQUEST,
                        format!("Unknown config operation {op}"),
                    ))
                }
            }
        }
        // Kafka: ALTER_CONFIGS on the topic or the cluster, before anything else.
        if let Some(e) = authz.config_refusal(Op::AlterConfigs, resource.resource_type, resource.resource_name.as_str())
        {
            invalid = Some(e);
        }
        let outcome = match invalid {
            Some(e) => Err(e),
            None => {
                alter(
                    ctx.node,
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
