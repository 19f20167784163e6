//! Metadata, versions 0..=12: brokers, cluster id, controller, and topics
//! with partitions, leaders, leader epochs and topic ids. Unknown topics are
//! auto-created when the request allows it (v4+) and
//! `auto.create.topics.enable` is true.

use brook_protocol::error_code::ErrorCode;
use std::collections::BTreeMap;

use brook_metadata::requests::ControllerRequest;
use brook_metadata::{MetadataImage, TopicImage};
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use brook_protocol::kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use tracing::info;
use uuid::Uuid;

use super::{str_bytes, topic_name, RequestContext, Versions};
use crate::Node;

/// Creates `name` with the broker's defaults; `Ok` also if it already exists.
pub async fn auto_create(broker: &Node, name: &str) -> Result<(), ErrorCode> {
    let request = ControllerRequest::CreateTopic {
        name: name.to_string(),
        num_partitions: -1,
        replication_factor: -1,
        configs: BTreeMap::new(),
        assignment: Vec::new(),
        default_partitions: broker.config.num_partitions,
        default_replication: broker.config.default_replication_factor,
    };
    match broker.submit(request).await {
        Ok(_) => {
            info!(topic = name, "auto-created topic");
            Ok(())
        }
        Err(e) if e.code == error_code::TOPIC_ALREADY_EXISTS => Ok(()),
        Err(e) => {
            info!(topic = name, error = %e.message, "auto-create refused");
            Err(ErrorCode::from_code(e.code))
        }
    }
}

fn describe_topic(image: &MetadataImage, topic: &TopicImage) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(index, p)| {
            let offline = p
                .replicas
                .iter()
                .filter(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
                .map(|r| BrokerId(*r))
                .collect();
            MetadataResponsePartition::default()
                .with_error_code(if p.leader == -1 { error_code::LEADER_NOT_AVAILABLE } else { error_code::NONE })
                .with_offline_replicas(offline)
                .with_partition_index(*index)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
}

/// The image to describe: on a controller node, without leaders whose
/// process the quorum knows to be gone (see `Quorum::client_image`).
fn client_image(broker: &Node) -> std::sync::Arc<MetadataImage> {
    let image = broker.image();
    match &broker.quorum {
        Some(q) => q.client_image(image),
        None => image,
    }
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 12);

pub async fn handle(ctx: &RequestContext<'_>, request: MetadataRequest) -> MetadataResponse {
    let broker = ctx.node;
    let allow_auto_create =
        (ctx.version() < 4 || request.allow_auto_topic_creation) && broker.config.auto_create_topics;
    let mut topics = Vec::new();
    match &request.topics {
        None => {
            let image = client_image(broker);
            topics.extend(image.topics.values().map(|t| describe_topic(&image, t)));
        }
        Some(requested) => {
            for t in requested {
                let name = match &t.name {
                    Some(n) => n.as_str().to_string(),
                    None => match broker.image().topic_by_id(&t.topic_id) {
                        Some(topic) => topic.name.clone(),
                        None => {
                            topics.push(
                                MetadataResponseTopic::default()
                                    .with_error_code(error_code::UNKNOWN_TOPIC_ID)
                                    .with_topic_id(t.topic_id),
                            );
                            continue;
                        }
                    },
                };
                if broker.image().topic(&name).is_none() && allow_auto_create {
                    if let Err(code) = auto_create(broker, &name).await {
                        topics.push(
                            MetadataResponseTopic::default()
                                .with_error_code(code.code())
                                .with_name(Some(topic_name(&name))),
                        );
                        continue;
                    }
                }
                let image = client_image(broker);
                match image.topic(&name) {
                    Some(topic) => topics.push(describe_topic(&image, topic)),
                    None => topics.push(
                        MetadataResponseTopic::default()
                            .with_error_code(error_code::UNKNOWN_TOPIC_OR_PARTITION)
                            .with_name(Some(topic_name(&name)))
                            .with_topic_id(Uuid::nil()),
                    ),
                }
            }
        }
    }
    let image = broker.image();
    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        // Each broker's endpoint on the listener this client came in on.
        .filter_map(|b| {
            let (host, port) = b.endpoint(&ctx.session.listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(str_bytes(host))
                    .with_port(port as i32),
            )
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(&image.cluster_id)))
        .with_controller_id(BrokerId(broker.controller_id_for_clients(&image)))
        .with_topics(topics)
}
