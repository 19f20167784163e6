//! The tokio runtime's counterparts of Kafka's thread-pool idle ratios, read
//! at scrape time from tokio's stable `RuntimeMetrics` (no `tokio_unstable`),
//! plus the build info gauge.
//!
//! Kafka has network threads (`NetworkProcessorAvgIdlePercent`) and request
//! handler threads (`RequestHandlerAvgIdlePercent`); Brook runs both jobs on
//! the same tokio workers, so both names report the same value: the share
//! of the workers' time not spent polling tasks, over the window since the
//! previous sample (at least [`MIN_WINDOW`]; a scrape sooner gets the last
//! value). Like Kafka's, it is a ratio from 0 to 1 despite "percent". The
//! raw busy-time counter is exported too, for `rate()` over any window.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use tokio::runtime::Handle;

/// Shortest window an idle ratio is computed over.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    busy: Duration,
}

/// Idle ratio state: the last sample and the ratio computed at it.
#[derive(Debug, Default)]
struct IdleWindow {
    last: Option<Sample>,
    ratio: Option<f64>,
}

impl IdleWindow {
    /// Takes a sample of `workers` workers' total busy time; returns the
    /// idle ratio of the latest window of at least [`MIN_WINDOW`].
    fn sample(&mut self, now: Instant, busy: Duration, workers: usize) -> Option<f64> {
        match self.last {
            None => self.last = Some(Sample { at: now, busy }),
            Some(prev) => {
                let elapsed = now.saturating_duration_since(prev.at);
                if elapsed >= MIN_WINDOW && workers > 0 {
                    let capacity = elapsed.as_secs_f64() * workers as f64;
                    let busy_delta = busy.saturating_sub(prev.busy).as_secs_f64();
                    self.ratio = Some((1.0 - busy_delta / capacity).clamp(0.0, 1.0));
                    self.last = Some(Sample { at: now, busy });
                }
            }
        }
        self.ratio
    }
}

fn busy_total(handle: &Handle) -> (Duration, usize) {
    let metrics = handle.metrics();
    let workers = metrics.num_workers();
    let busy = (0..workers).map(|w| metrics.worker_total_busy_duration(w)).sum();
    (busy, workers)
}

#[derive(Debug, Default)]
pub struct RuntimeCollector {
    window: Mutex<IdleWindow>,
}

impl RuntimeCollector {
    /// Registers the runtime collector and `brook_build_info`. Called in the
    /// runtime, it takes the first sample, so the first scrape already has
    /// an idle ratio once [`MIN_WINDOW`] has passed.
    pub fn register(registry: &mut Registry) {
        let collector = RuntimeCollector::default();
        if let Ok(handle) = Handle::try_current() {
            let (busy, workers) = busy_total(&handle);
            collector.window.lock().sample(Instant::now(), busy, workers);
        }
        registry.register_collector(Box::new(collector));
        let build = Family::<VersionLabel, Gauge>::default();
        build.get_or_create(&VersionLabel { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("brook_build_info", "Always 1; the version label is Brook's", build);
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: ConstGauge<f64>) -> std::fmt::Result {
    value.encode(encoder.encode_descriptor(name, help, None, value.metric_type())?)
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(handle) = Handle::try_current() else { return Ok(()) };
        let metrics = handle.metrics();
        let (busy, workers) = busy_total(&handle);
        let idle = self.window.lock().sample(Instant::now(), busy, workers);
        if let Some(idle) = idle {
            let help = "Share of tokio worker time idle over the last scrape window (0..1); Brook's";
            gauge(
                &mut encoder,
                "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent",
                &format!("{help} request handlers are tokio tasks"),
                ConstGauge::new(idle),
            )?;
            gauge(
                &mut encoder,
                "kafka_network_socketserver_networkprocessoravgidlepercent",
                &format!("{help} network processing runs on the same workers"),
                ConstGauge::new(idle),
            )?;
        }
        let busy_counter = ConstCounter::new(busy.as_secs_f64());
        busy_counter.encode(encoder.encode_descriptor(
            "brook_tokio_worker_busy_seconds",
            "Seconds tokio workers spent polling tasks, summed over workers",
            None,
            busy_counter.metric_type(),
        )?)?;
        gauge(&mut encoder, "brook_tokio_workers", "Tokio worker threads", ConstGauge::new(workers as f64))?;
        gauge(
            &mut encoder,
            "brook_tokio_alive_tasks",
            "Tokio tasks alive (connections, fetchers, jobs, parked requests)",
            ConstGauge::new(metrics.num_alive_tasks() as f64),
        )?;
        gauge(
            &mut encoder,
            "brook_tokio_global_queue_depth",
            "Tasks waiting in the tokio runtime's global queue",
            ConstGauge::new(metrics.global_queue_depth() as f64),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_ratio_over_windows_of_at_least_a_second() {
        let mut w = IdleWindow::default();
        let t0 = Instant::now();
        assert_eq!(w.sample(t0, Duration::ZERO, 2), None);
        // Too soon: no window yet.
        assert_eq!(w.sample(t0 + Duration::from_millis(10), Duration::from_millis(5), 2), None);
        // 2 workers × 2 s = 4 s of capacity, 1 s busy: 75% idle.
        let r = w.sample(t0 + Duration::from_secs(2), Duration::from_secs(1), 2).unwrap();
        assert!((r - 0.75).abs() < 1e-9, "{r}");
        // A quick rescrape keeps the last value.
        assert_eq!(w.sample(t0 + Duration::from_millis(2100), Duration::from_secs(2), 2), Some(r));
        // Fully busy, then clamped.
        let r = w.sample(t0 + Duration::from_secs(3), Duration::from_secs(10), 2).unwrap();
        assert_eq!(r, 0.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renders_runtime_gauges_and_build_info() {
        let mut registry = Registry::default();
        RuntimeCollector::register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("brook_tokio_workers 2"), "{out}");
        assert!(out.contains("brook_tokio_worker_busy_seconds_total "), "{out}");
        assert!(out.contains("brook_tokio_alive_tasks "), "{out}");
        assert!(out.contains(&format!("brook_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))), "{out}");
    }
}
