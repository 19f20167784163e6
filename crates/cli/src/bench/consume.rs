//! `brook bench consume`: the counterpart of kafka-consumer-perf-test.

use std::time::{Duration, Instant};

use brook_client::consumer::{Consumer, ConsumerConfig, OffsetReset};
use serde_json::json;

use super::report::Meter;
use crate::commands::Output;
use crate::progress::Throughput;

#[derive(clap::Args)]
pub struct ConsumeBenchArgs {
    #[arg(long, default_value = "brook-bench")]
    pub topic: String,
    /// Stop after this many records (default: everything present at start).
    #[arg(long)]
    pub num_records: Option<u64>,
    /// Stop when nothing arrives for this long.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    #[arg(long, default_value_t = 4_194_304)]
    pub max_partition_fetch_bytes: i32,
    /// Bytes per fetch response (responses up to ~32 MiB reuse heap memory).
    #[arg(long, default_value_t = 16_777_216)]
    pub fetch_max_bytes: i32,
}

pub async fn run(bootstrap: &str, args: ConsumeBenchArgs, output: Output) -> anyhow::Result<()> {
    let mut config = ConsumerConfig::new(bootstrap);
    config.auto_offset_reset = OffsetReset::Earliest;
    config.max_partition_fetch_bytes = args.max_partition_fetch_bytes;
    config.fetch_max_bytes = args.fetch_max_bytes;
    let mut consumer = Consumer::new(config).await?;
    let topic = consumer.cluster().topic_or_fetch(&args.topic).await?;
    let partitions: Vec<(String, i32)> = topic.partitions.iter().map(|p| (args.topic.clone(), p.partition)).collect();
    let start = consumer.list_offsets(&partitions, -2).await?;
    let end = consumer.list_offsets(&partitions, -1).await?;
    let available: i64 = partitions.iter().map(|tp| end[tp] - start[tp]).sum();
    let target = args.num_records.unwrap_or(available.max(0) as u64);
    consumer.assign(partitions).await?;
    let mut meter = Meter::new();
    let mut last = Instant::now();
    let mut first_record: Option<Duration> = None;
    let progress = Throughput::new("consume", (target > 0).then_some(target));
    while meter.records < target {
        let records = consumer.poll(Duration::from_millis(500)).await?;
        if records.is_empty() {
            if last.elapsed() >= Duration::from_millis(args.timeout_ms) {
                break;
            }
            continue;
        }
        first_record.get_or_insert(meter.start.elapsed());
        last = Instant::now();
        let bytes_before = meter.bytes;
        for r in &records {
            meter.records += 1;
            meter.bytes +=
                r.value.as_ref().map_or(0, |v| v.len()) as u64 + r.key.as_ref().map_or(0, |k| k.len()) as u64;
        }
        // One update per fetched batch.
        progress.add(records.len() as u64, meter.bytes - bytes_before);
    }
    progress.finish();
    meter.summary(
        "consume",
        output,
        json!({"first_record_ms": first_record.map(|d| d.as_secs_f64() * 1000.0), "expected_records": target}),
    );
    Ok(())
}
