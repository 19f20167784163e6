//! Broker metrics, named after Kafka's JMX MBeans as the Prometheus JMX
//! exporter renders them (`kafka.server:type=X,name=Y` becomes
//! `kafka_server_x_y`), so dashboards and alerts written for Kafka
//! translate. Hot paths only touch pre-registered atomics (handles cached
//! where they are used); state that already exists elsewhere (partitions,
//! ISR, groups) is read at scrape time, never duplicated.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::Node;

pub mod cluster;
pub mod latency;
pub mod requests;
pub mod runtime;
pub mod traffic;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: String,
}

/// Every metric the broker updates as it works.
pub struct BrokerMetrics {
    registry: Registry,
    /// Cluster-state counters and caches (cluster.rs).
    pub cluster: cluster::ClusterMetrics,
    /// kafka.server:type=socket-server-metrics,listener=L connection-count
    pub connections: Family<ListenerLabels, Gauge>,
    /// kafka.network:type=RequestMetrics (requests.rs)
    pub requests: requests::RequestMetrics,
    /// kafka.server:type=BrokerTopicMetrics, LogFlushStats (traffic.rs);
    /// its per-topic handles are given to each partition.
    pub traffic: Arc<traffic::TrafficMetrics>,
}

impl BrokerMetrics {
    pub fn new() -> Arc<BrokerMetrics> {
        let mut registry = Registry::default();
        let cluster = cluster::ClusterMetrics::new(&mut registry);
        let connections = Family::<ListenerLabels, Gauge>::default();
        registry.register(
            "kafka_server_socket_server_metrics_connection_count",
            "Open client connections, by listener",
            connections.clone(),
        );
        let requests = requests::RequestMetrics::new();
        requests.register(&mut registry);
        let traffic = Arc::new(traffic::TrafficMetrics::new());
        traffic.register(&mut registry);
        traffic.observe_flushes();
        runtime::RuntimeCollector::register(&mut registry);
        Arc::new(BrokerMetrics { registry, connections, requests, traffic, cluster })
    }

    /// Counts a connection on `listener` until the returned guard is dropped.
    pub fn connection_opened(&self, listener: &str) -> ConnectionGuard {
        let gauge = self.connections.get_or_create(&ListenerLabels { listener: listener.to_string() }).clone();
        gauge.inc();
        ConnectionGuard(gauge)
    }
}

/// Decrements the connection count when the connection ends.
pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A /metrics scrape: first the partition leaders' high watermarks that
/// group lag needs (bounded by [`cluster::REMOTE_WAIT`]), then [`render`]
/// on a blocking thread (one lock pair per hosted partition: milliseconds
/// with thousands of partitions, kept off the async workers).
pub async fn scrape(node: &Arc<Node>) -> String {
    cluster::refresh_remote_watermarks(node).await;
    let node = node.clone();
    tokio::task::spawn_blocking(move || render(&node)).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "rendering metrics failed");
        String::new()
    })
}

/// The Prometheus text exposition of every metric of `node`.
pub fn render(node: &Node) -> String {
    let mut out = String::with_capacity(64 * 1024);
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    // Cluster state is read now, into a registry of its own (cluster.rs).
    let state = cluster::collect(node);
    let encoded = encode_registry(&mut out, &node.metrics.registry)
        .and_then(|_| encode_registry(&mut out, &state))
        .and_then(|_| encode_eof(&mut out));
    if let Err(e) = encoded {
        tracing::warn!(error = %e, "encoding metrics failed");
    }
    out
}

#[cfg(test)]
mod cost {
    use std::time::{Duration, Instant};

    /// What one produce request costs the metrics: the request record
    /// (counter + two histograms) and a partition's traffic (four atomic
    /// adds). Run with `--ignored --nocapture`; prints nanoseconds.
    #[test]
    #[ignore]
    fn hot_path_cost() {
        let m = super::BrokerMetrics::new();
        let topic = m.traffic.topic("t");
        let n = 1_000_000u32;
        let started = Instant::now();
        for i in 0..n {
            m.requests.record(0, Duration::from_nanos(i as u64 * 7), Duration::from_micros(i as u64 % 5000));
            topic.produced(1000, 10);
        }
        let per = started.elapsed().as_nanos() / n as u128;
        println!("metrics per produce request: {per} ns");
    }
}

/// The text exposition of what `register` registers (unit tests).
#[cfg(test)]
pub(crate) fn encode_registered(register: impl FnOnce(&mut Registry)) -> String {
    let mut registry = Registry::default();
    register(&mut registry);
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
    out
}
