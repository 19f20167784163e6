//! `brook bench e2e`: produce-to-consume latency at a fixed rate. Each
//! record carries its send time; a consumer in the same process reads the
//! partition from its end and records now minus that time.

use std::time::{Duration, Instant};

use brook_client::consumer::{Consumer, ConsumerConfig, OffsetReset};
use brook_client::producer::{Producer, ProducerConfig, ProducerRecord};
use bytes::{BufMut, BytesMut};
use serde_json::json;

use super::produce::ensure_topic;
use super::report::Meter;
use crate::commands::produce::parse_acks;
use crate::commands::Output;
use crate::progress::Throughput;

#[derive(clap::Args)]
pub struct E2eBenchArgs {
    #[arg(long, default_value = "brook-e2e")]
    pub topic: String,
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Records per second.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    #[arg(long, default_value = "1")]
    pub acks: String,
}

pub async fn run(bootstrap: &str, args: E2eBenchArgs, output: Output) -> anyhow::Result<()> {
    ensure_topic(bootstrap, &args.topic, 1).await?;
    let mut config = ConsumerConfig::new(bootstrap);
    config.auto_offset_reset = OffsetReset::Latest;
    config.fetch_max_wait = Duration::from_millis(100);
    let mut consumer = Consumer::new(config).await?;
    consumer.assign(vec![(args.topic.clone(), 0)]).await?;
    let end = consumer.list_offsets(&[(args.topic.clone(), 0)], -1).await?;
    consumer.seek((args.topic.clone(), 0), end[&(args.topic.clone(), 0)]);
    let origin = Instant::now();
    let total = args.rate * args.duration_secs;
    let (bootstrap_owned, topic, size, rate) =
        (bootstrap.to_string(), args.topic.clone(), args.record_size.max(8), args.rate.max(1));
    let acks = parse_acks(&args.acks)?;
    let producer_task = tokio::spawn(async move {
        let mut config = ProducerConfig::new(&bootstrap_owned);
        config.acks = acks;
        config.enable_idempotence = false;
        config.linger = Duration::ZERO;
        let producer = Producer::new(config).await?;
        let start = Instant::now();
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
            }
            let mut value = BytesMut::with_capacity(size);
            value.put_u64(origin.elapsed().as_nanos() as u64);
            value.resize(size, b'e');
            producer.send(ProducerRecord::new(topic.clone()).value(value.freeze())).await?;
        }
        producer.flush().await?;
        anyhow::Ok(())
    });
    let mut meter = Meter::new();
    let mut idle = Instant::now();
    // Records received by the consumer against those the producer will send.
    let progress = Throughput::new("e2e", Some(total));
    while meter.records < total && idle.elapsed() < Duration::from_secs(10) {
        let (records_before, bytes_before) = (meter.records, meter.bytes);
        for r in consumer.poll(Duration::from_millis(200)).await? {
            let Some(v) = r.value.as_ref().filter(|v| v.len() >= 8) else { continue };
            let sent = u64::from_be_bytes(v[..8].try_into().unwrap());
            let now = origin.elapsed().as_nanos() as u64;
            meter.record_latency(Duration::from_nanos(now.saturating_sub(sent)));
            meter.records += 1;
            meter.bytes += v.len() as u64;
            idle = Instant::now();
        }
        // One update per poll.
        progress.add(meter.records - records_before, meter.bytes - bytes_before);
    }
    progress.finish();
    producer_task.await??;
    meter.summary(
        "e2e",
        output,
        json!({"rate": args.rate, "record_size": args.record_size, "expected_records": total}),
    );
    Ok(())
}
