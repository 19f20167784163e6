//! Shared reporting for the load generators: a summary with hdrhistogram
//! latency percentiles, human or JSON (the live bar is `crate::progress`).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

use crate::commands::Output;

pub struct Meter {
    pub start: Instant,
    pub records: u64,
    pub bytes: u64,
    /// Latencies in microseconds.
    pub latency_us: Histogram<u64>,
}

impl Meter {
    pub fn new() -> Meter {
        Meter {
            start: Instant::now(),
            records: 0,
            bytes: 0,
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3).unwrap(),
        }
    }

    pub fn record_latency(&mut self, latency: Duration) {
        let _ = self.latency_us.record((latency.as_micros() as u64).max(1));
    }

    pub fn summary(&self, what: &str, output: Output, extra: serde_json::Value) {
        let secs = self.start.elapsed().as_secs_f64();
        let q = |x: f64| self.latency_us.value_at_quantile(x) as f64 / 1000.0;
        let has_latency = !self.latency_us.is_empty();
        let mut value = json!({
            "benchmark": what,
            "records": self.records,
            "bytes": self.bytes,
            "seconds": secs,
            "records_per_sec": self.records as f64 / secs,
            "mb_per_sec": self.bytes as f64 / secs / 1e6,
        });
        if has_latency {
            value["latency_ms"] = json!({"p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "p99_9": q(0.999),
                                         "max": self.latency_us.max() as f64 / 1000.0, "mean": self.latency_us.mean() / 1000.0});
        }
        if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                v.insert(k.clone(), x.clone());
            }
        }
        match output {
            Output::Json => println!("{value}"),
            Output::Human => {
                println!(
                    "{what}: {} records in {:.2} s: {:.0} records/s, {:.2} MB/s",
                    self.records,
                    secs,
                    self.records as f64 / secs,
                    self.bytes as f64 / secs / 1e6
                );
                if has_latency {
                    println!(
                        "latency ms: p50 {:.2}, p95 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}",
                        q(0.5),
                        q(0.95),
                        q(0.99),
                        q(0.999),
                        self.latency_us.max() as f64 / 1000.0
                    );
                }
            }
        }
    }
}
