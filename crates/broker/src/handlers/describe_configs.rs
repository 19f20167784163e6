//! DescribeConfigs, versions 1..=4, for topics (2) and this broker (4).
//! A topic answers with every topic config Kafka defines, each with its
//! source and, as synonyms, every layer down to Kafka's default.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use brook_protocol::kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::configs::{broker_entries, is_our_broker, topic_entries, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(1, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let image = ctx.node.image();
    let version = ctx.version();
    let mut results = Vec::with_capacity(request.resources.len());
    let authz = ctx.authz();
    for resource in request.resources {
        let name = resource.resource_name.as_str();
        // Kafka: DESCRIBE_CONFIGS on the topic or the cluster.
        let refusal = authz.config_refusal(Op::DescribeConfigs, resource.resource_type, name);
        let entries = match resource.resource_type {
            _ if refusal.is_some() => Err(refusal.map(|e| (e.code, e.message)).unwrap_or_default()),
            RESOURCE_TOPIC => topic_entries(ctx.node, &image, name)
                .ok_or((error_code::UNKNOWN_TOPIC_OR_PARTITION, format!("Topic '{name}' does not exist."))),
            RESOURCE_BROKER if is_our_broker(ctx.node, name) => Ok(broker_entries(ctx.node, &image)),
            RESOURCE_BROKER => Err((error_code::INVALID_REQUEST, format!("Unknown broker '{name}'"))),
            other => Err((error_code::INVALID_REQUEST, format!("Unsupported resource type {other}"))),
        };
        let mut result = DescribeConfigsResult::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        match entries {
            Err((code, message)) => {
                result.error_code = code;
                result.error_message = Some(str_bytes(&message));
            }
            Ok(entries) => {
                let keys = resource.configuration_keys.as_ref();
                result.configs = entries
                    .into_iter()
                    .filter(|e| keys.is_none_or(|k| k.iter().any(|n| n.as_str() == e.name)))
                    .map(|e| {
                        let mut r = DescribeConfigsResourceResult::default()
                            .with_name(str_bytes(&e.name))
                            .with_value(Some(str_bytes(&e.value)))
                            .with_read_only(e.read_only)
                            .with_config_source(e.source);
                        if request.include_synonyms {
                            r.synonyms = e
                                .synonyms
                                .iter()
                                .map(|(name, value, source)| {
                                    DescribeConfigsSynonym::default()
                                        .with_name(str_bytes(name))
                                        .with_value(Some(str_bytes(value)))
                                        .with_source(*source)
                                })
                                .collect();
                        }
                        if version >= 3 {
                            r.config_type = e.config_type;
                            if request.include_documentation {
                                r.documentation = Some(str_bytes(e.doc));
                            }
                        }
                        r
                    })
                    .collect();
            }
        }
        results.push(result);
    }
    DescribeConfigsResponse::default().with_results(results)
}
