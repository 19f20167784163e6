//! DescribeCluster, versions 0..=1: cluster id, controller and brokers.

use brook_protocol::kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use brook_protocol::kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, RequestContext};

pub async fn handle(ctx: &RequestContext<'_>, _request: DescribeClusterRequest) -> DescribeClusterResponse {
    let broker = ctx.broker;
    let advertised = &broker.config.advertised;
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(&broker.image().cluster_id))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(broker.config.node_id))
            .with_host(str_bytes(&advertised.host))
            .with_port(advertised.port as i32)]);
    if ctx.version() >= 1 {
        response.endpoint_type = 1; // brokers
    }
    response
}
