//! FindCoordinator, versions 0..=4: a group's coordinator is the leader of
//! its `__consumer_offsets` partition. Creates `__consumer_offsets` on first
//! use, as Kafka does. Transaction coordinators (key type 1) are not
//! available: no transactions.

use brook_protocol::error_code as ec;
use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::find_coordinator_response::Coordinator;
use brook_protocol::kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{str_bytes, RequestContext, Versions};
use crate::coordinator::group::coordinator::OffsetsTopicChange;
use crate::coordinator::group::store;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::Node;
use tracing::{info, warn};

/// Creates `__consumer_offsets` on first use (or makes an older one compacted).
async fn ensure_offsets_topic(node: &Node) -> Result<(), ErrorCode> {
    match node.groups.offsets_topic_change(node.config.offsets_replication_factor) {
        None => Ok(()),
        Some(OffsetsTopicChange::Compact(request)) => {
            match node.submit(request).await {
                Ok(_) => info!("{OFFSETS_TOPIC} is now compacted"),
                Err(e) => warn!(error = %e.message, "cannot make {OFFSETS_TOPIC} compacted"),
            }
            Ok(())
        }
        Some(OffsetsTopicChange::Create(request)) => match node.submit(request).await {
            Ok(_) => {
                info!(partitions = node.groups.offsets_partitions(), "created {OFFSETS_TOPIC}");
                Ok(())
            }
            Err(e) if e.code == ec::TOPIC_ALREADY_EXISTS => Ok(()),
            Err(e) => {
                warn!(error = %e.message, "cannot create {OFFSETS_TOPIC}");
                Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
            }
        },
    }
}

/// The coordinator of `key`: (node id, host, port).
async fn locate(ctx: &RequestContext<'_>, key_type: i8, key: &str) -> Result<(i32, String, u16), (i16, &'static str)> {
    if key_type != 0 {
        return Err((ec::COORDINATOR_NOT_AVAILABLE, "transactions are not supported"));
    }
    let broker = ctx.node;
    ensure_offsets_topic(broker).await.map_err(|code| (code.code(), "the offsets topic is not available"))?;
    let image = broker.image();
    let partition = store::partition_for(key, broker.groups.offsets_partitions());
    let leader = image.topic(OFFSETS_TOPIC).and_then(|t| t.partitions.get(&partition)).map_or(-1, |p| p.leader);
    match image.brokers.get(&leader).filter(|b| !b.fenced) {
        Some(b) => Ok((b.id, b.host.clone(), b.port)),
        None => Err((ec::COORDINATOR_NOT_AVAILABLE, "the group's offsets partition has no leader")),
    }
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    if ctx.version() >= 4 {
        let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
        for key in &request.coordinator_keys {
            coordinators.push(match locate(ctx, request.key_type, key.as_str()).await {
                Ok((node, host, port)) => Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(node))
                    .with_host(str_bytes(&host))
                    .with_port(port as i32),
                Err((code, message)) => Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message))),
            });
        }
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match locate(ctx, request.key_type, request.key.as_str()).await {
        Ok((node, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(node))
            .with_host(str_bytes(&host))
            .with_port(port as i32),
        Err((code, message)) => {
            let mut response =
                FindCoordinatorResponse::default().with_error_code(code).with_node_id(BrokerId(-1)).with_port(-1);
            if ctx.version() >= 1 {
                response.error_message = Some(str_bytes(message));
            }
            response
        }
    }
}
