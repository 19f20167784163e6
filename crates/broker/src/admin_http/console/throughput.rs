//! GET /api/metrics/summary: totals the page turns into live rates by
//! polling. Read from this broker's own `/metrics` text (so the chart shows
//! exactly what Prometheus would scrape), matched by the Kafka JMX names
//! the metrics are named after: BrokerTopicMetrics BytesIn, BytesOut and
//! MessagesIn. A metric the broker does not export yet is `null`, and the
//! page says so.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use crate::Node;

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses the text exposition format (comments skipped, bad lines ignored).
pub fn parse_samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, rest) = match line.find('{') {
            Some(open) => match line.rfind('}') {
                Some(close) if close > open => (&line[..close + 1], &line[close + 1..]),
                _ => continue,
            },
            None => match line.split_once(' ') {
                Some((n, r)) => (n, r),
                None => continue,
            },
        };
        let Some(value) = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) else { continue };
        let (name, labels) = match head.split_once('{') {
            Some((n, l)) => (n, parse_labels(l.trim_end_matches('}'))),
            None => (head, Vec::new()),
        };
        out.push(Sample { name: name.to_string(), labels, value });
    }
    out
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 2..];
        let mut value = String::new();
        let mut end = after.len();
        let mut chars = after.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((name, value));
        rest = &after[end.min(after.len())..];
    }
    out
}

/// A metric name without separators and case, so `kafka_server_brokertopicmetrics_bytesin_total`
/// and `kafka_server_broker_topic_metrics_bytes_in_per_sec_total` compare alike.
fn squash(name: &str) -> String {
    name.chars().filter(|c| *c != '_').collect::<String>().to_ascii_lowercase()
}

/// The total of a BrokerTopicMetrics counter (`what`: "bytesin", "bytesout",
/// "messagesin"): the all-topics series if there is one (no topic label),
/// else the sum of the per-topic series. `None` if not exported.
pub fn broker_topic_total(samples: &[Sample], what: &str) -> Option<f64> {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            let n = squash(&s.name);
            let Some(rest) = n.strip_prefix("kafkaserverbrokertopicmetrics") else { return false };
            // BytesInPerSec, BytesIn, BytesIn_total; not ReplicationBytesIn or the _created stamp.
            rest.starts_with(what) && !n.ends_with("created")
        })
        .collect();
    if matching.is_empty() {
        return None;
    }
    let aggregate: Vec<&&Sample> = matching.iter().filter(|s| !s.labels.iter().any(|(k, _)| k == "topic")).collect();
    Some(if aggregate.is_empty() {
        matching.iter().map(|s| s.value).sum()
    } else {
        aggregate.iter().map(|s| s.value).sum()
    })
}

pub fn summarize(text: &str, now_ms: i64) -> Value {
    let samples = parse_samples(text);
    let connections: f64 = samples
        .iter()
        .filter(|s| squash(&s.name).starts_with("kafkaserversocketservermetricsconnectioncount"))
        .map(|s| s.value)
        .sum();
    let mut families: Vec<String> = samples.iter().map(|s| s.name.clone()).collect();
    families.sort();
    families.dedup();
    json!({
        "time_ms": now_ms,
        "bytes_in": broker_topic_total(&samples, "bytesin"),
        "bytes_out": broker_topic_total(&samples, "bytesout"),
        "messages_in": broker_topic_total(&samples, "messagesin"),
        "connections": connections,
        "metric_names": families,
    })
}

pub fn summary(node: &Node) -> Value {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    summarize(&crate::metrics::render(node), now_ms)
}

/// This broker's replica sizes of `topic` by partition, from its Kafka
/// `kafka.log:type=Log,name=Size` metric when it is exported.
pub fn local_log_sizes(node: &Node, topic: &str) -> HashMap<i32, f64> {
    sizes_from(&parse_samples(&crate::metrics::render(node)), topic)
}

pub fn sizes_from(samples: &[Sample], topic: &str) -> HashMap<i32, f64> {
    let mut out = HashMap::new();
    for s in samples {
        if !squash(&s.name).starts_with("kafkaloglogsize") {
            continue;
        }
        let labels: BTreeMap<&str, &str> = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if labels.get("topic") != Some(&topic) {
            continue;
        }
        if let Some(p) = labels.get("partition").and_then(|p| p.parse::<i32>().ok()) {
            out.insert(p, s.value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP kafka_server_socket_server_metrics_connection_count Open client connections
# TYPE kafka_server_socket_server_metrics_connection_count gauge
kafka_server_socket_server_metrics_connection_count{listener="PLAINTEXT"} 3
kafka_server_socket_server_metrics_connection_count{listener="INTERNAL"} 2
kafka_server_brokertopicmetrics_bytesin_total{topic="a"} 100
kafka_server_brokertopicmetrics_bytesin_total{topic="b \"q\""} 50
kafka_server_brokertopicmetrics_bytesin_created{topic="a"} 1700000000.0
kafka_server_brokertopicmetrics_replicationbytesin_total 999
kafka_server_brokertopicmetrics_messagesin_total 7
kafka_server_brokertopicmetrics_messagesin_total{topic="a"} 7
kafka_log_log_size{topic="a",partition="0"} 4096
kafka_log_log_size{topic="a",partition="1"} 10
kafka_log_log_size{topic="b",partition="0"} 1
garbage line
"#;

    #[test]
    fn parses_the_text_format() {
        let s = parse_samples(TEXT);
        assert_eq!(s[0].name, "kafka_server_socket_server_metrics_connection_count");
        assert_eq!(s[0].labels, vec![("listener".to_string(), "PLAINTEXT".to_string())]);
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[3].labels[0].1, "b \"q\"");
        assert!(!s.iter().any(|x| x.name == "garbage"));
    }

    #[test]
    fn totals_prefer_the_all_topics_series_and_skip_replication() {
        let s = parse_samples(TEXT);
        assert_eq!(broker_topic_total(&s, "bytesin"), Some(150.0));
        assert_eq!(broker_topic_total(&s, "messagesin"), Some(7.0));
        assert_eq!(broker_topic_total(&s, "bytesout"), None);
        // The all-topics series under its own name (`..._alltopics_total`, no topic label).
        let named = parse_samples(
            "kafka_server_brokertopicmetrics_bytesout_total{topic=\"a\"} 30\n\
             kafka_server_brokertopicmetrics_bytesout_total{topic=\"b\"} 12\n\
             kafka_server_brokertopicmetrics_bytesout_alltopics_total 42\n",
        );
        assert_eq!(broker_topic_total(&named, "bytesout"), Some(42.0));
        let v = summarize(TEXT, 5);
        assert_eq!(v["connections"], 5.0);
        assert_eq!(v["bytes_out"], Value::Null);
        let sizes = sizes_from(&s, "a");
        assert_eq!(sizes.get(&0), Some(&4096.0));
        assert_eq!(sizes.len(), 2);
    }
}
