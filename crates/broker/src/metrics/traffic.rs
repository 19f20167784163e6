//! Data traffic, Kafka's `kafka.server:type=BrokerTopicMetrics` MBeans, and
//! log flush time (`kafka.log:type=LogFlushStats`).
//!
//! Per-topic counters are handed to each [`crate::replication::Partition`]
//! when it is created ([`TopicTraffic`]), so produce and fetch count with
//! atomic adds on handles they already hold: no lookup, no allocation, no
//! look inside the records (messages come from the batch header's count).
//!
//! Kafka has each meter once per topic and once without a topic tag (all
//! topics). Both under one name would double under `sum()`, so the
//! all-topics series have their own names (`..._alltopics_total`).
//! Replication traffic is broker-wide only, as in Kafka, and is not in
//! bytes in / out (Kafka neither counts follower fetches in BytesOutPerSec
//! nor follower appends in BytesInPerSec).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::latency::TimeHistogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

pub struct TrafficMetrics {
    bytes_in: Family<TopicLabel, Counter>,
    bytes_out: Family<TopicLabel, Counter>,
    messages_in: Family<TopicLabel, Counter>,
    all_bytes_in: Counter,
    all_bytes_out: Counter,
    all_messages_in: Counter,
    replication_bytes_in: Counter,
    replication_bytes_out: Counter,
    flush_time: TimeHistogram,
}

/// One topic's counters, held by each of its partitions on this broker.
#[derive(Clone, Default)]
pub struct TopicTraffic {
    bytes_in: Counter,
    bytes_out: Counter,
    messages_in: Counter,
    all_bytes_in: Counter,
    all_bytes_out: Counter,
    all_messages_in: Counter,
    replication_bytes_in: Counter,
    replication_bytes_out: Counter,
}

impl TopicTraffic {
    /// A batch appended as leader (a produce, or a coordinator's write).
    #[inline]
    pub fn produced(&self, bytes: usize, records: i32) {
        self.bytes_in.inc_by(bytes as u64);
        self.all_bytes_in.inc_by(bytes as u64);
        let records = records.max(0) as u64;
        self.messages_in.inc_by(records);
        self.all_messages_in.inc_by(records);
    }

    /// Record bytes in a consumer's fetch response.
    #[inline]
    pub fn fetched(&self, bytes: usize) {
        self.bytes_out.inc_by(bytes as u64);
        self.all_bytes_out.inc_by(bytes as u64);
    }

    /// Record bytes sent to a follower replica.
    #[inline]
    pub fn replicated_out(&self, bytes: usize) {
        self.replication_bytes_out.inc_by(bytes as u64);
    }

    /// Record bytes appended by this broker's replica fetcher.
    #[inline]
    pub fn replicated_in(&self, bytes: usize) {
        self.replication_bytes_in.inc_by(bytes as u64);
    }
}

impl TrafficMetrics {
    pub fn new() -> TrafficMetrics {
        TrafficMetrics {
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            messages_in: Family::default(),
            all_bytes_in: Counter::default(),
            all_bytes_out: Counter::default(),
            all_messages_in: Counter::default(),
            replication_bytes_in: Counter::default(),
            replication_bytes_out: Counter::default(),
            flush_time: TimeHistogram::default(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        let topic_help = |what: &str, mbean: &str| {
            format!("{what}, by topic (kafka.server:type=BrokerTopicMetrics,name={mbean},topic=T)")
        };
        let all_help =
            |what: &str, mbean: &str| format!("{what}, all topics (kafka.server:type=BrokerTopicMetrics,name={mbean})");
        let in_what = "Record batch bytes appended by producers";
        let out_what = "Record bytes sent to consumers in fetch responses";
        let msg_what = "Records appended by producers, from batch header counts";
        registry.register(
            "kafka_server_brokertopicmetrics_bytesin",
            topic_help(in_what, "BytesInPerSec"),
            self.bytes_in.clone(),
        );
        registry.register(
            "kafka_server_brokertopicmetrics_bytesout",
            topic_help(out_what, "BytesOutPerSec"),
            self.bytes_out.clone(),
        );
        registry.register(
            "kafka_server_brokertopicmetrics_messagesin",
            topic_help(msg_what, "MessagesInPerSec"),
            self.messages_in.clone(),
        );
        registry.register(
            "kafka_server_brokertopicmetrics_bytesin_alltopics",
            all_help(in_what, "BytesInPerSec"),
            self.all_bytes_in.clone(),
        );
        registry.register(
            "kafka_server_brokertopicmetrics_bytesout_alltopics",
            all_help(out_what, "BytesOutPerSec"),
            self.all_bytes_out.clone(),
        );
        registry.register(
            "kafka_server_brokertopicmetrics_messagesin_alltopics",
            all_help(msg_what, "MessagesInPerSec"),
            self.all_messages_in.clone(),
        );
        registry.register(
            "kafka_server_brokertopicmetrics_replicationbytesin",
            "Record bytes appended by this broker's replica fetchers (kafka.server:type=BrokerTopicMetrics,name=ReplicationBytesInPerSec)",
            self.replication_bytes_in.clone(),
        );
        registry.register(
            "kafka_server_brokertopicmetrics_replicationbytesout",
            "Record bytes sent to follower replicas in fetch responses (kafka.server:type=BrokerTopicMetrics,name=ReplicationBytesOutPerSec)",
            self.replication_bytes_out.clone(),
        );
        registry.register(
            "kafka_log_logflushstats_logflushrateandtimems",
            "Milliseconds per log flush (fsync of the active segment and its indexes) (kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs)",
            self.flush_time.clone(),
        );
    }

    /// The counters for a partition of `topic`.
    pub fn topic(&self, topic: &str) -> TopicTraffic {
        let label = TopicLabel { topic: topic.to_string() };
        TopicTraffic {
            bytes_in: self.bytes_in.get_or_create(&label).clone(),
            bytes_out: self.bytes_out.get_or_create(&label).clone(),
            messages_in: self.messages_in.get_or_create(&label).clone(),
            all_bytes_in: self.all_bytes_in.clone(),
            all_bytes_out: self.all_bytes_out.clone(),
            all_messages_in: self.all_messages_in.clone(),
            replication_bytes_in: self.replication_bytes_in.clone(),
            replication_bytes_out: self.replication_bytes_out.clone(),
        }
    }

    /// Running totals over all topics: (bytes in, bytes out, messages in),
    /// what the console charts as rates.
    pub fn all_topics(&self) -> (u64, u64, u64) {
        (self.all_bytes_in.get(), self.all_bytes_out.get(), self.all_messages_in.get())
    }

    /// The topic is no longer hosted here: its series go (as Kafka removes
    /// a deleted topic's metrics); a recreated topic starts from zero.
    pub fn forget_topic(&self, topic: &str) {
        let label = TopicLabel { topic: topic.to_string() };
        self.bytes_in.remove(&label);
        self.bytes_out.remove(&label);
        self.messages_in.remove(&label);
    }

    /// Routes the storage layer's flush timings to this broker's histogram.
    /// Storage's hook is process-wide: with several brokers in one process
    /// (Rust tests), the first one created gets every flush.
    pub fn observe_flushes(&self) {
        let histogram = self.flush_time.clone();
        brook_storage::partition_log::set_flush_observer(Box::new(move |d: Duration| histogram.observe(d)));
    }
}

impl Default for TrafficMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(m: &TrafficMetrics) -> String {
        crate::metrics::encode_registered(|registry| m.register(registry))
    }

    #[test]
    fn topic_handles_count_per_topic_and_all_topics() {
        let m = TrafficMetrics::new();
        let a = m.topic("a");
        let a2 = m.topic("a"); // a second partition of the same topic
        let b = m.topic("b");
        a.produced(100, 3);
        a2.produced(50, 2);
        assert_eq!(m.all_topics(), (150, 0, 5));
        b.produced(10, 1);
        a.fetched(70);
        a.replicated_out(7);
        b.replicated_in(9);
        let out = render(&m);
        for line in [
            "kafka_server_brokertopicmetrics_bytesin_total{topic=\"a\"} 150",
            "kafka_server_brokertopicmetrics_bytesin_total{topic=\"b\"} 10",
            "kafka_server_brokertopicmetrics_messagesin_total{topic=\"a\"} 5",
            "kafka_server_brokertopicmetrics_bytesout_total{topic=\"a\"} 70",
            "kafka_server_brokertopicmetrics_bytesin_alltopics_total 160",
            "kafka_server_brokertopicmetrics_messagesin_alltopics_total 6",
            "kafka_server_brokertopicmetrics_bytesout_alltopics_total 70",
            "kafka_server_brokertopicmetrics_replicationbytesin_total 9",
            "kafka_server_brokertopicmetrics_replicationbytesout_total 7",
        ] {
            assert!(out.contains(line), "missing {line} in\n{out}");
        }
        m.forget_topic("a");
        let out = render(&m);
        assert!(!out.contains("topic=\"a\""), "{out}");
        assert!(out.contains("kafka_server_brokertopicmetrics_bytesin_alltopics_total 160"), "{out}");
    }

    #[test]
    fn detached_handles_count_nowhere() {
        let t = TopicTraffic::default();
        t.produced(1, 1);
        t.fetched(1);
    }
}
