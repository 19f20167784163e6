//! `brook produce TOPIC`: one record per input line.

use std::io::BufRead;
use std::path::PathBuf;

use brook_client::producer::{Producer, ProducerConfig, ProducerRecord};
use brook_client::Compression;
use serde_json::json;

use super::{parse_pair, Output};

#[derive(clap::Args)]
pub struct ProduceArgs {
    pub topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Split each line into key and value at the first occurrence of this string.
    #[arg(long)]
    pub key_separator: Option<String>,
    /// Header for every record (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Write every record to this partition (default: by key, or sticky for keyless).
    #[arg(long)]
    pub partition: Option<i32>,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// 0, 1 or all.
    #[arg(long, default_value = "all")]
    pub acks: String,
}

pub fn parse_acks(acks: &str) -> anyhow::Result<i16> {
    match acks {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        other => anyhow::bail!("--acks must be 0, 1 or all, got '{other}'"),
    }
}

pub async fn run(bootstrap: &str, args: ProduceArgs, output: Output) -> anyhow::Result<()> {
    let mut config = ProducerConfig::new(bootstrap);
    config.compression = args.compression.parse::<Compression>()?;
    config.acks = parse_acks(&args.acks)?;
    config.enable_idempotence = config.acks == -1;
    let headers = args.headers.iter().map(|h| parse_pair(h)).collect::<anyhow::Result<Vec<_>>>()?;
    let producer = Producer::new(config).await?;
    producer.cluster().topic_or_fetch(&args.topic).await?;
    let reader: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut deliveries = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let mut record = ProducerRecord::new(args.topic.clone());
        match args.key_separator.as_deref().and_then(|sep| line.split_once(sep)) {
            Some((k, v)) => record = record.key(k.to_string()).value(v.to_string()),
            None => record = record.value(line),
        }
        for (k, v) in &headers {
            record = record.header(k.clone(), v.clone());
        }
        if let Some(p) = args.partition {
            record = record.partition(p);
        }
        deliveries.push(producer.send(record).await?);
    }
    producer.flush().await?;
    let count = deliveries.len();
    for d in deliveries {
        d.wait().await?;
    }
    match output {
        Output::Json => println!("{}", json!({"topic": args.topic, "records": count})),
        Output::Human => eprintln!("Produced {count} record(s) to {}.", args.topic),
    }
    Ok(())
}
