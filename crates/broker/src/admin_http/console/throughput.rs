//! GET /api/metrics/summary: this broker's running totals, which the page
//! turns into live rates by polling. They are the counters `/metrics`
//! exports (BrokerTopicMetrics BytesIn, BytesOut and MessagesIn over all
//! topics, connections by listener), read directly.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::metrics::ListenerLabels;
use crate::Node;

pub fn summary(node: &Node) -> Value {
    let (bytes_in, bytes_out, messages_in) = node.metrics.traffic.all_topics();
    let connections: i64 = node
        .config
        .client_listeners
        .iter()
        .map(|l| node.metrics.connections.get_or_create(&ListenerLabels { listener: l.name.clone() }).get())
        .sum();
    json!({
        "time_ms": crate::clock::now_ms(),
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "messages_in": messages_in,
        "connections": connections,
    })
}

/// This broker's replica sizes of `topic`, by partition (the replicas it hosts).
pub fn local_log_sizes(node: &Node, topic: &str) -> HashMap<i32, u64> {
    node.replicas
        .hosted()
        .iter()
        .filter(|p| p.tp.topic == topic)
        .map(|p| (p.tp.partition, p.snapshot().size_bytes))
        .collect()
}
