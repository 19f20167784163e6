//! CreateTopics, versions 2..=7, with configs, manual assignments (kept
//! exactly as given, checked as Kafka does) and validate_only.

use std::collections::BTreeMap;

use brook_metadata::controller;
use brook_metadata::requests::{ControllerReply, ControllerRequest};
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use brook_protocol::kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use tracing::info;

use super::configs::topic_entries;
use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(2, 7);

pub async fn handle(ctx: &RequestContext<'_>, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let broker = ctx.node;
    let mut results = Vec::with_capacity(request.topics.len());
    // Kafka: CREATE on the cluster, or else on each topic.
    let authz = ctx.authz();
    let cluster_create = authz.cluster(Op::Create);
    for topic in &request.topics {
        let name = topic.name.as_str();
        let configs: BTreeMap<String, String> = topic
            .configs
            .iter()
            .map(|c| {
                (c.name.as_str().to_string(), c.value.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default())
            })
            .collect();
        let (num_partitions, replication_factor) = (topic.num_partitions, topic.replication_factor);
        let entries: Vec<(i32, Vec<i32>)> =
            topic.assignments.iter().map(|a| (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect())).collect();
        // Each list goes to its partition index, whatever the request's order.
        let assignment = controller::assignment_by_partition(num_partitions, replication_factor, &entries);
        let outcome = match &assignment {
            _ if !cluster_create && !authz.topic(Op::Create, name) => {
                Err(brook_metadata::controller::ControllerError::new(
                    error_code::TOPIC_AUTHORIZATION_FAILED,
                    "Authorization failed.",
                ))
            }
            Err(e) => Err(e.clone()),
            Ok(assignment) => {
                let create = ControllerRequest::CreateTopic {
                    name: name.to_string(),
                    num_partitions,
                    replication_factor,
                    configs: configs.clone(),
                    assignment: assignment.clone(),
                    default_partitions: broker.config.num_partitions,
                    default_replication: broker.config.default_replication_factor,
                };
                broker.execute(create, request.validate_only).await.map(|reply| match reply {
                    ControllerReply::TopicCreated { topic_id } => topic_id.parse().unwrap_or_default(),
                    _ => uuid::Uuid::nil(),
                })
            }
        };
        let assignment = assignment.unwrap_or_default();
        let mut result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_error_message(None);
        match outcome {
            Ok(id) => {
                info!(topic = name, validate_only = request.validate_only, "created topic");
                super::configs::note_inert_configs(configs.keys().map(String::as_str));
                result.topic_id = id;
                let image = broker.image();
                let (partitions, replication) = if !assignment.is_empty() {
                    (assignment.len() as i32, assignment[0].len() as i16)
                } else {
                    (
                        if num_partitions == -1 { broker.config.num_partitions } else { num_partitions },
                        if replication_factor == -1 {
                            broker.config.default_replication_factor
                        } else {
                            replication_factor
                        },
                    )
                };
                result.num_partitions = partitions;
                result.replication_factor = replication;
                if ctx.version() >= 5 && !request.validate_only && !authz.topic(Op::DescribeConfigs, name) {
                    result.topic_config_error_code = error_code::TOPIC_AUTHORIZATION_FAILED;
                } else if ctx.version() >= 5 && !request.validate_only {
                    result.configs = topic_entries(broker, &image, name).map(|entries| {
                        entries
                            .into_iter()
                            .map(|e| {
                                CreatableTopicConfigs::default()
                                    .with_name(str_bytes(&e.name))
                                    .with_value(Some(str_bytes(&e.value)))
                                    .with_config_source(e.source)
                                    .with_read_only(e.read_only)
                            })
                            .collect()
                    });
                }
            }
            Err(e) => {
                info!(topic = name, error = %e.message, "create topic refused");
                result.error_code = e.code;
                result.error_message = Some(str_bytes(&e.message));
            }
        }
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}
