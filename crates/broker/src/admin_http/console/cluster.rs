//! GET /api/cluster: brokers, controller and quorum, from this node's
//! metadata image and the quorum status the active controller reports
//! (what DescribeCluster and DescribeQuorum answer).

use std::sync::Arc;

use brook_metadata::MetadataImage;
use serde_json::{json, Value};

use super::ApiResult;
use crate::node::CONTROLLER_TIMEOUT;
use crate::Node;

pub async fn overview(node: &Arc<Node>) -> ApiResult {
    let image = node.image();
    let (quorum, quorum_error) = match node.controller.describe_quorum(CONTROLLER_TIMEOUT).await {
        Ok(q) => (
            json!({
                "leader": q.leader_id,
                "epoch": q.leader_epoch,
                "high_watermark": q.high_watermark,
                "voters": q.voters.iter().map(|v| json!({
                    "id": v.id, "log_end_offset": v.log_end_offset, "lag": v.lag,
                })).collect::<Vec<_>>(),
            }),
            Value::Null,
        ),
        Err(e) => (Value::Null, Value::String(format!("{e:?}"))),
    };
    let controller = quorum.get("leader").and_then(Value::as_i64).unwrap_or(-1) as i32;
    Ok(describe(&image, controller, node.config.node_id, quorum, quorum_error))
}

/// The overview from an image (pure, so it can be tested).
pub fn describe(image: &MetadataImage, controller: i32, this_node: i32, quorum: Value, quorum_error: Value) -> Value {
    let brokers: Vec<Value> = image
        .brokers
        .values()
        .map(|b| {
            json!({
                "id": b.id,
                "host": b.host,
                "port": b.port,
                "fenced": b.fenced,
                "is_controller": b.id == controller,
                "endpoints": b.endpoints.iter().map(|e| json!({
                    "listener": e.listener, "security_protocol": e.security_protocol, "host": e.host, "port": e.port,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut partitions = 0;
    let mut under_replicated = 0;
    let mut offline = 0;
    for topic in image.topics.values() {
        for p in topic.partitions.values() {
            partitions += 1;
            if p.isr.len() < p.replicas.len() {
                under_replicated += 1;
            }
            if p.leader < 0 {
                offline += 1;
            }
        }
    }
    json!({
        "cluster_id": image.cluster_id,
        "version": env!("CARGO_PKG_VERSION"),
        "node_id": this_node,
        "controller": controller,
        "brokers": brokers,
        "quorum": quorum,
        "quorum_error": quorum_error,
        "topics": image.topics.len(),
        "partitions": partitions,
        "under_replicated_partitions": under_replicated,
        "offline_partitions": offline,
        "metadata_offset": image.last_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_metadata::image::BrokerImage;

    #[test]
    fn brokers_with_fenced_and_controller_flags() {
        let mut image = MetadataImage::default();
        for (id, fenced) in [(1, false), (2, true), (3, false)] {
            image.brokers.insert(
                id,
                BrokerImage {
                    id,
                    incarnation: "x".into(),
                    host: "127.0.0.1".into(),
                    port: 9090 + id as u16,
                    fenced,
                    endpoints: vec![],
                },
            );
        }
        let v = describe(&image, 3, 1, Value::Null, Value::Null);
        let brokers = v["brokers"].as_array().unwrap();
        assert_eq!(brokers.len(), 3);
        assert_eq!(brokers[1]["fenced"], true);
        assert_eq!(brokers[2]["is_controller"], true);
        assert_eq!(brokers[0]["is_controller"], false);
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    }
}
