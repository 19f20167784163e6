//! FindCoordinator, versions 0..=4: a group's coordinator (key type 0) is
//! the leader of its `__consumer_offsets` partition, a transactional id's
//! (key type 1) the leader of its `__transaction_state` partition. Creates
//! either topic on first use, as Kafka does.

use brook_protocol::error_code as ec;
use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::find_coordinator_response::Coordinator;
use brook_protocol::kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{str_bytes, RequestContext, Versions};
use crate::coordinator::group::coordinator::OffsetsTopicChange;
use crate::coordinator::group::store;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::txn::TRANSACTION_STATE_TOPIC;
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

/// Creates `__transaction_state` on first use.
async fn ensure_transaction_state_topic(node: &Node) -> Result<(), ErrorCode> {
    let Some(request) = node.transactions.state_topic_request(node.live_brokers().len()) else { return Ok(()) };
    match node.submit(request).await {
        Ok(_) => {
            info!(partitions = node.transactions.config().num_partitions, "created {TRANSACTION_STATE_TOPIC}");
            Ok(())
        }
        Err(e) if e.code == ec::TOPIC_ALREADY_EXISTS => Ok(()),
        Err(e) => {
            warn!(error = %e.message, "cannot create {TRANSACTION_STATE_TOPIC}");
            Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
        }
    }
}

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

/// The coordinator of `key`: (node id, host, port).
async fn locate(ctx: &RequestContext<'_>, key_type: i8, key: &str) -> Result<(i32, String, u16), (i16, &'static str)> {
    let broker = ctx.node;
    let (topic, partition) = match key_type {
        GROUP_KEY => {
            ensure_offsets_topic(broker).await.map_err(|code| (code.code(), "the offsets topic is not available"))?;
            (OFFSETS_TOPIC, store::partition_for(key, broker.groups.offsets_partitions()))
        }
        TRANSACTION_KEY => {
            if key.is_empty() {
                return Err((ec::INVALID_REQUEST, "empty transactional id"));
            }
            ensure_transaction_state_topic(broker)
                .await
                .map_err(|code| (code.code(), "the transaction state topic is not available"))?;
            (TRANSACTION_STATE_TOPIC, broker.transactions.partition_of(key))
        }
        _ => return Err((ec::INVALID_REQUEST, "unknown coordinator key type")),
    };
    let image = broker.image();
    let leader = image.topic(topic).and_then(|t| t.partitions.get(&partition)).map_or(-1, |p| p.leader);
    // The coordinator's endpoint on the listener this client came in on.
    match image
        .brokers
        .get(&leader)
        .filter(|b| !b.fenced)
        .and_then(|b| Some((b.id, b.endpoint(&ctx.session.listener)?)))
    {
        Some((id, (host, port))) => Ok((id, host.to_string(), port)),
        None => Err((ec::COORDINATOR_NOT_AVAILABLE, "the coordinator's partition has no leader")),
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
