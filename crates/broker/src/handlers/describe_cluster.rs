//! DescribeCluster, versions 0..=2: cluster id, controller and live brokers
//! (fenced ones too when asked, v2).
//! The controller named is the answering broker (see
//! `Broker::controller_id_for_clients`), as any broker forwards admin requests.

use brook_protocol::kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use brook_protocol::kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, RequestContext, Versions};

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 2);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let broker = ctx.node;
    let image = broker.image();
    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced || request.include_fenced_brokers)
        // Each broker's endpoint on the listener this client came in on.
        .filter_map(|b| {
            let (host, port) = b.endpoint(&ctx.session.listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_is_fenced(b.fenced)
                    .with_broker_id(BrokerId(b.id))
                    .with_host(str_bytes(host))
                    .with_port(port as i32),
            )
        })
        .collect();
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(&image.cluster_id))
        .with_controller_id(BrokerId(broker.controller_id_for_clients(&image)))
        .with_brokers(brokers);
    if ctx.version() >= 1 {
        response.endpoint_type = 1; // brokers
    }
    response
}
