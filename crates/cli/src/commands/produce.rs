//! `brook produce TOPIC`: one record per input line.

use std::io::BufRead;
use std::path::PathBuf;

use brook_client::producer::{Producer, ProducerConfig, ProducerRecord};
use brook_client::Compression;
use serde_json::json;

use super::{parse_pair, Output};
use crate::progress;

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

/// The size of a regular file (not a pipe, FIFO or terminal), for a bar with a length.
fn regular_file_size(file: &std::fs::File) -> Option<u64> {
    file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len())
}

pub async fn run(bootstrap: &str, args: ProduceArgs, output: Output) -> anyhow::Result<()> {
    let mut config = ProducerConfig::new(bootstrap);
    config.compression = args.compression.parse::<Compression>()?;
    config.acks = parse_acks(&args.acks)?;
    config.enable_idempotence = config.acks == -1;
    let headers = args.headers.iter().map(|h| parse_pair(h)).collect::<anyhow::Result<Vec<_>>>()?;
    let producer = Producer::new(config).await?;
    producer.cluster().topic_or_fetch(&args.topic).await?;
    let (reader, input): (Box<dyn BufRead>, _) = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let size = regular_file_size(&file);
            (Box::new(std::io::BufReader::new(file)), size)
        }
        // `< lines.txt`: stdin is the file itself, its size known too.
        None => {
            let size = std::os::fd::AsFd::as_fd(&std::io::stdin())
                .try_clone_to_owned()
                .ok()
                .and_then(|fd| regular_file_size(&std::fs::File::from(fd)));
            (Box::new(std::io::BufReader::new(std::io::stdin())), size)
        }
    };
    let typed = args.file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdin());
    let progress = if typed { progress::Input::hidden() } else { progress::Input::new("produce", input) };
    // Counts handed to the bar every 256 lines, not per record.
    let (mut lines_pending, mut bytes_pending) = (0u64, 0u64);
    let mut deliveries = Vec::new();
    for line in reader.lines() {
        let line = line?;
        lines_pending += 1;
        bytes_pending += line.len() as u64 + 1;
        if lines_pending == 256 {
            progress.add(lines_pending, bytes_pending);
            (lines_pending, bytes_pending) = (0, 0);
        }
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
    progress.add(lines_pending, bytes_pending);
    producer.flush().await?;
    let count = deliveries.len();
    for d in deliveries {
        d.wait().await?;
    }
    progress.finish();
    match output {
        Output::Json => println!("{}", json!({"topic": args.topic, "records": count})),
        Output::Human => eprintln!("Produced {count} record(s) to {}.", args.topic),
    }
    Ok(())
}
