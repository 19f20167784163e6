//! CreateTopics, versions 2..=7, with configs, manual assignments (checked
//! against live brokers) and validate_only.

use std::collections::BTreeMap;

use brook_metadata::controller::{self, ClusterDefaults, ControllerError, NewTopic};
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use brook_protocol::kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use tracing::info;

use super::configs::topic_entries;
use super::{str_bytes, RequestContext};

pub async fn handle(ctx: &RequestContext<'_>, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let broker = ctx.broker;
    let live = broker.live_brokers();
    let defaults = ClusterDefaults {
        num_partitions: broker.config.num_partitions,
        replication_factor: broker.config.default_replication_factor,
        live_brokers: &live,
    };
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.as_str();
        let configs: BTreeMap<String, String> = topic
            .configs
            .iter()
            .map(|c| {
                (c.name.as_str().to_string(), c.value.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default())
            })
            .collect();
        let (mut num_partitions, mut replication_factor) = (topic.num_partitions, topic.replication_factor);
        let mut outcome = Ok(());
        if !topic.assignments.is_empty() {
            if num_partitions != -1 || replication_factor != -1 {
                outcome = Err(ControllerError::new(
                    error_code::INVALID_REQUEST,
                    "Both numPartitions or replicationFactor and replicasAssignments were set.",
                ));
            } else if topic.assignments.iter().flat_map(|a| a.broker_ids.iter()).any(|b| !live.contains(&b.0)) {
                outcome = Err(ControllerError::new(
                    error_code::INVALID_REPLICA_ASSIGNMENT,
                    "Assignment names a broker that is not registered.",
                ));
            } else {
                num_partitions = topic.assignments.len() as i32;
                replication_factor = topic.assignments[0].broker_ids.len() as i16;
            }
        }
        let new = NewTopic { name, num_partitions, replication_factor, configs: &configs };
        let decide = |image: &_| controller::create_topic(image, &new, &defaults);
        let outcome = outcome.and_then(|_| {
            if request.validate_only {
                decide(&broker.image()).map(|(_, id)| id)
            } else {
                broker.commit(decide)
            }
        });
        let mut result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        match outcome {
            Ok(id) => {
                info!(topic = name, validate_only = request.validate_only, "created topic");
                result.topic_id = id;
                let image = broker.image();
                let partitions = if num_partitions == -1 { defaults.num_partitions } else { num_partitions };
                let replication =
                    if replication_factor == -1 { defaults.replication_factor } else { replication_factor };
                result.num_partitions = partitions;
                result.replication_factor = replication;
                if ctx.version() >= 5 && !request.validate_only {
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
