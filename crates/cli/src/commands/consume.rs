//! `brook consume TOPIC`: print records with a format string.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use brook_client::consumer::{Assignor, Consumer, ConsumerConfig, OffsetReset};
use brook_client::ConsumerRecord;

use crate::progress::Throughput;

#[derive(clap::Args)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Start at the earliest offset (when there is no committed offset).
    #[arg(long)]
    pub from_beginning: bool,
    /// Start at this offset (needs --partition; not with --group).
    #[arg(long)]
    pub offset: Option<i64>,
    /// Only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// Consume as a member of this group (committing as it goes).
    #[arg(long)]
    pub group: Option<String>,
    /// Exit after this many records.
    #[arg(long)]
    pub max_messages: Option<usize>,
    /// Exit when no record arrives for this long.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Group assignor: range, roundrobin or cooperative-sticky.
    #[arg(long, default_value = "range")]
    pub assignor: String,
    /// Output format: %k key, %v value, %o offset, %p partition, %t timestamp,
    /// %h headers (k=v,...), %T topic, \n and \t escapes.
    #[arg(long, default_value = "%v")]
    pub format: String,
}

pub fn format_record(format: &str, r: &ConsumerRecord) -> String {
    let text = |b: &Option<bytes::Bytes>| {
        b.as_ref().map(|v| String::from_utf8_lossy(v).to_string()).unwrap_or_else(|| "null".into())
    };
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('%', Some(&n)) => {
                chars.next();
                match n {
                    'k' => out.push_str(&text(&r.key)),
                    'v' => out.push_str(&text(&r.value)),
                    'o' => out.push_str(&r.offset.to_string()),
                    'p' => out.push_str(&r.partition.to_string()),
                    't' => out.push_str(&r.timestamp.to_string()),
                    'T' => out.push_str(&r.topic),
                    'h' => out.push_str(
                        &r.headers.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(","),
                    ),
                    '%' => out.push('%'),
                    other => {
                        out.push('%');
                        out.push(other);
                    }
                }
            }
            ('\\', Some('n')) => {
                chars.next();
                out.push('\n');
            }
            ('\\', Some('t')) => {
                chars.next();
                out.push('\t');
            }
            _ => out.push(c),
        }
    }
    out
}

pub async fn run(bootstrap: &str, args: ConsumeArgs) -> anyhow::Result<()> {
    if args.offset.is_some() && (args.partition.is_none() || args.group.is_some()) {
        anyhow::bail!("--offset needs --partition and cannot be used with --group");
    }
    let mut config = ConsumerConfig::new(bootstrap);
    config.group_id = args.group.clone();
    config.assignors = vec![match args.assignor.as_str() {
        "range" => Assignor::Range,
        "roundrobin" => Assignor::RoundRobin,
        "cooperative-sticky" => Assignor::CooperativeSticky,
        other => anyhow::bail!("unknown assignor '{other}' (range, roundrobin, cooperative-sticky)"),
    }];
    config.auto_offset_reset = if args.from_beginning { OffsetReset::Earliest } else { OffsetReset::Latest };
    let mut consumer = Consumer::new(config).await?;
    let topic = consumer.cluster().topic_or_fetch(&args.topic).await?;
    if args.group.is_some() {
        consumer.subscribe(&[&args.topic]).await?;
    } else {
        let partitions: Vec<(String, i32)> = match args.partition {
            Some(p) => {
                if !topic.partitions.iter().any(|x| x.partition == p) {
                    anyhow::bail!("topic '{}' has no partition {p}", args.topic);
                }
                vec![(args.topic.clone(), p)]
            }
            None => topic.partitions.iter().map(|p| (args.topic.clone(), p.partition)).collect(),
        };
        consumer.assign(partitions).await?;
        if let (Some(offset), Some(p)) = (args.offset, args.partition) {
            consumer.seek((args.topic.clone(), p), offset);
        }
    }
    let mut printed = 0usize;
    let mut next_offsets: std::collections::HashMap<(String, i32), i64> = std::collections::HashMap::new();
    let mut last_record = Instant::now();
    // Records printed against --max-messages, or a spinner without it.
    let progress = Throughput::new("consume", args.max_messages.map(|m| m as u64));
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let mut text = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if records.is_empty() {
            if args.timeout_ms.is_some_and(|t| last_record.elapsed() >= Duration::from_millis(t)) {
                break;
            }
            continue;
        }
        last_record = Instant::now();
        // A poll's records go out in one write, so a bar on the same terminal
        // is lifted once per batch rather than per line.
        text.clear();
        let (mut done, mut bytes, printed_before) = (false, 0u64, printed);
        for r in &records {
            writeln!(text, "{}", format_record(&args.format, r))?;
            printed += 1;
            bytes += r.value.as_ref().map_or(0, |v| v.len()) as u64 + r.key.as_ref().map_or(0, |k| k.len()) as u64;
            next_offsets.insert((r.topic.to_string(), r.partition), r.offset + 1);
            if args.max_messages.is_some_and(|m| printed >= m) {
                done = true;
                break;
            }
        }
        let write = || -> std::io::Result<()> {
            let mut out = std::io::stdout().lock();
            out.write_all(&text)?;
            out.flush()
        };
        if stdout_is_terminal && !progress.is_hidden() {
            progress.bar().suspend(write)?;
        } else {
            write()?;
        }
        progress.add((printed - printed_before) as u64, bytes);
        if done {
            break;
        }
        if args.group.is_some() {
            // Commit exactly what was printed.
            let offsets: Vec<_> = next_offsets.drain().collect();
            consumer.commit_offsets(&offsets).await?;
        }
    }
    progress.finish();
    if args.group.is_some() && !next_offsets.is_empty() {
        let offsets: Vec<_> = next_offsets.drain().collect();
        consumer.commit_offsets(&offsets).await?;
    }
    consumer.close().await?;
    Ok(())
}
