//! FindCoordinator, versions 0..=4: this broker coordinates every group
//! (single node). Creates `__consumer_offsets` on first use, as Kafka does.
//! Transaction coordinators (key type 1) are not available: no transactions.

use brook_protocol::error_code as ec;
use brook_protocol::kafka_protocol::messages::find_coordinator_response::Coordinator;
use brook_protocol::kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use brook_protocol::kafka_protocol::protocol::StrBytes;

use super::{str_bytes, RequestContext};

fn locate(ctx: &RequestContext<'_>, key_type: i8) -> Result<(), (i16, &'static str)> {
    if key_type != 0 {
        return Err((ec::COORDINATOR_NOT_AVAILABLE, "transactions are not supported"));
    }
    ctx.broker.groups.ensure_offsets_topic(ctx.broker).map_err(|code| (code, "the offsets topic is not available"))
}

pub async fn handle(ctx: &RequestContext<'_>, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let broker = ctx.broker;
    let (node, host, port) = (
        BrokerId(broker.config.node_id),
        str_bytes(&broker.config.advertised.host),
        broker.config.advertised.port as i32,
    );
    if ctx.version() >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key: &StrBytes| match locate(ctx, request.key_type) {
                Ok(()) => Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(node)
                    .with_host(host.clone())
                    .with_port(port),
                Err((code, message)) => Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message))),
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match locate(ctx, request.key_type) {
        Ok(()) => FindCoordinatorResponse::default().with_node_id(node).with_host(host).with_port(port),
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
