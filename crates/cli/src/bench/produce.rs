//! `brook bench produce`: the counterpart of kafka-producer-perf-test,
//! usable against any Kafka-compatible broker.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use brook_client::admin::Admin;
use brook_client::producer::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};
use brook_client::Compression;
use bytes::Bytes;
use serde_json::json;

use super::report::Meter;
use crate::commands::produce::parse_acks;
use crate::commands::Output;
use crate::progress::{Tally, Throughput};

#[derive(clap::Args, Clone)]
pub struct ProduceBenchArgs {
    #[arg(long, default_value = "brook-bench")]
    pub topic: String,
    /// Bytes per record value.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Records to send (per producer); ignored with --duration-secs.
    #[arg(long, default_value_t = 1_000_000)]
    pub num_records: u64,
    /// Run for this long instead of a record count.
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Target records/s per producer; -1 = as fast as possible.
    #[arg(long, default_value_t = -1)]
    pub throughput: i64,
    /// Partitions when the topic has to be created.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    #[arg(long, default_value = "1")]
    pub acks: String,
    #[arg(long, default_value = "none")]
    pub compression: String,
    #[arg(long, default_value_t = 1_048_576)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Concurrent producers (each its own connection).
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Idempotent producer (needs acks=all).
    #[arg(long)]
    pub idempotence: bool,
    /// `repeated`: one payload for every record, as Kafka's perf tool (a
    /// codec squeezes it to almost nothing); `random-text`: distinct random
    /// text per record (a pool of 4096), which compresses about as text does.
    #[arg(long, default_value = "repeated", value_parser = ["repeated", "random-text"])]
    pub payload: String,
}

/// Distinct random-text payloads (xorshift over a 36-letter alphabet).
fn random_text_payloads(record_size: usize, count: usize) -> Vec<Bytes> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            (0..record_size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b"abcdefghijklmnopqrstuvwxyz0123456789"[(state % 36) as usize]
                })
                .collect::<Vec<u8>>()
                .into()
        })
        .collect()
}

pub async fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin = Admin::new(bootstrap).await?;
    if admin.describe_topic(topic).await.is_err() {
        admin.create_topic(topic, partitions, 1, &[]).await?;
    }
    Ok(())
}

pub async fn run(bootstrap: &str, args: ProduceBenchArgs, output: Output) -> anyhow::Result<()> {
    ensure_topic(bootstrap, &args.topic, args.partitions).await?;
    // Acknowledged records, all producers together.
    let total_records = args.duration_secs.is_none().then(|| args.num_records * args.producers.max(1) as u64);
    let progress = Throughput::new("produce", total_records);
    let mut tasks = Vec::new();
    for _ in 0..args.producers.max(1) {
        let (bootstrap, args, progress) = (bootstrap.to_string(), args.clone(), progress.clone());
        tasks.push(tokio::spawn(async move { one_producer(&bootstrap, &args, &progress).await }));
    }
    let mut total = Meter::new();
    for t in tasks {
        let m = t.await??;
        total.records += m.records;
        total.bytes += m.bytes;
        total.latency_us.add(&m.latency_us).ok();
    }
    progress.finish();
    total.summary(
        "produce",
        output,
        json!({"record_size": args.record_size, "partitions": args.partitions, "acks": args.acks,
               "compression": args.compression, "producers": args.producers, "batch_size": args.batch_size, "linger_ms": args.linger_ms}),
    );
    Ok(())
}

async fn one_producer(bootstrap: &str, args: &ProduceBenchArgs, progress: &Throughput) -> anyhow::Result<Meter> {
    let mut config = ProducerConfig::new(bootstrap);
    config.acks = parse_acks(&args.acks)?;
    config.enable_idempotence = args.idempotence;
    config.compression = args.compression.parse::<Compression>()?;
    config.batch_size = args.batch_size;
    config.linger = Duration::from_millis(args.linger_ms);
    config.buffer_memory = (64 << 20).max(args.batch_size * 8);
    let producer = Producer::new(config).await?;
    let payloads: Vec<Bytes> = if args.payload == "random-text" {
        random_text_payloads(args.record_size, 4096)
    } else {
        // One compressible but not trivial payload, like the Kafka perf tool's.
        vec![(0..args.record_size)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 + i / 13) % 36])
            .collect::<Vec<u8>>()
            .into()]
    };
    let mut meter = Meter::new();
    let mut pending: VecDeque<(Instant, DeliveryFuture)> = VecDeque::new();
    let end = args.duration_secs.map(|d| Instant::now() + Duration::from_secs(d));
    let mut sent: u64 = 0;
    let mut tally = Tally::new();
    loop {
        if end.map_or(sent >= args.num_records, |e| Instant::now() >= e) {
            break;
        }
        if args.throughput > 0 {
            let due = meter.start + Duration::from_secs_f64(sent as f64 / args.throughput as f64);
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
            }
        }
        let payload = payloads[(sent as usize) % payloads.len()].clone();
        let record = ProducerRecord::new(args.topic.clone()).value(payload);
        pending.push_back((Instant::now(), producer.send(record).await?));
        sent += 1;
        drain(&mut pending, &mut meter, args.record_size)?;
        // The bar at batch granularity: a clock read every 64 records (every record when rate-limited).
        if args.throughput > 0 || sent.is_multiple_of(64) {
            tally.report(progress, meter.records, meter.bytes, false);
        }
    }
    producer.flush().await?;
    drain(&mut pending, &mut meter, args.record_size)?;
    tally.report(progress, meter.records, meter.bytes, true);
    Ok(meter)
}

fn drain(pending: &mut VecDeque<(Instant, DeliveryFuture)>, meter: &mut Meter, size: usize) -> anyhow::Result<()> {
    while let Some((sent_at, future)) = pending.front() {
        match future.try_get() {
            None => break,
            Some(result) => {
                result?;
                meter.record_latency(sent_at.elapsed());
                meter.records += 1;
                meter.bytes += size as u64;
                pending.pop_front();
            }
        }
    }
    Ok(())
}
