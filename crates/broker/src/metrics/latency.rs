//! A lock-free latency histogram in milliseconds, for hot paths.
//! prometheus-client's `Histogram` takes a write lock per observation,
//! which every connection handling the same API would contend on; this one
//! is two relaxed atomic adds (its bucket, the sum). The count is the sum
//! of the buckets, computed at scrape time, so `_count` always equals the
//! `+Inf` bucket.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds in milliseconds: sub-millisecond appends up to a
/// long-polling fetch's 30 s cap; one more bucket is +Inf.
pub const BUCKETS_MS: [f64; 17] =
    [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0];

/// The same bounds in nanoseconds, for comparing without floats.
const BOUNDS_NS: [u64; 17] = {
    let mut out = [0u64; 17];
    let micros: [u64; 17] = [
        100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
        5_000_000, 10_000_000, 30_000_000,
    ];
    let mut i = 0;
    while i < 17 {
        out[i] = micros[i] * 1_000;
        i += 1;
    }
    out
};

#[derive(Debug, Default)]
struct Inner {
    /// Per bucket (not cumulative); the last is +Inf.
    buckets: [AtomicU64; 18],
    sum_ns: AtomicU64,
}

#[derive(Debug, Clone, Default)]
pub struct TimeHistogram(Arc<Inner>);

impl TimeHistogram {
    #[inline]
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // Prometheus buckets are `le`: a value on a bound goes in that bucket.
        let i = BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.0.buckets[i].fetch_add(1, Relaxed);
        self.0.sum_ns.fetch_add(ns, Relaxed);
    }
}

impl TypedMetric for TimeHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for TimeHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = BUCKETS_MS
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX)) // rendered as +Inf
            .zip(self.0.buckets.iter().map(|b| b.load(Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum_ms = self.0.sum_ns.load(Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum_ms, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn buckets_are_le_and_count_matches_inf() {
        let h = TimeHistogram::default();
        h.observe(Duration::from_micros(100)); // on the 0.1 ms bound
        h.observe(Duration::from_micros(101));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60)); // beyond the last bound
        let mut registry = Registry::default();
        registry.register("t", "t", h.clone());
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        for line in [
            "t_bucket{le=\"0.1\"} 1",
            "t_bucket{le=\"0.25\"} 2",
            "t_bucket{le=\"2.5\"} 2",
            "t_bucket{le=\"5.0\"} 3",
            "t_bucket{le=\"30000.0\"} 3",
            "t_bucket{le=\"+Inf\"} 4",
            "t_count 4",
            "t_sum 60003.201",
        ] {
            assert!(out.contains(line), "missing {line} in\n{out}");
        }
        assert_eq!(BOUNDS_NS[0], 100_000);
        assert_eq!(BOUNDS_NS.len(), BUCKETS_MS.len());
        for (ns, ms) in BOUNDS_NS.iter().zip(BUCKETS_MS) {
            assert_eq!(*ns as f64 / 1e6, ms);
        }
    }
}
