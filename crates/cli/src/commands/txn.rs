//! `brook txn list|describe|abort`, like Kafka's `kafka-transactions.sh`:
//! list the transactions every coordinator knows, describe one, and abort a
//! hanging transaction on a partition (by its start offset, or with an
//! explicit producer id, epoch and coordinator epoch).

use brook_client::admin::transactions::{AbortTransactionSpec, TransactionDescription, TransactionListing};
use brook_client::admin::Admin;
use clap::{Args, Subcommand};
use serde_json::json;

use super::Output;

#[derive(Subcommand)]
pub enum TxnCommand {
    /// Transactions known to every broker's transaction coordinator.
    List {
        /// Only transactions in this state (repeatable), e.g. Ongoing.
        #[arg(long = "state")]
        states: Vec<String>,
        /// Only this producer id (repeatable).
        #[arg(long = "producer-id")]
        producer_ids: Vec<i64>,
    },
    /// State, producer, timeout, start time and partitions of one transactional id.
    Describe { transactional_id: String },
    /// Abort a hanging transaction on one partition (writes its ABORT marker).
    Abort(AbortArgs),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["start_offset", "producer_id"])))]
pub struct AbortArgs {
    #[arg(long)]
    pub topic: String,
    #[arg(long)]
    pub partition: i32,
    /// First offset of the open transaction (see DescribeProducers): its producer is looked up.
    #[arg(long, conflicts_with_all = ["producer_epoch", "coordinator_epoch"])]
    pub start_offset: Option<i64>,
    /// The producer whose transaction to abort (with --producer-epoch and --coordinator-epoch).
    #[arg(long, requires_all = ["producer_epoch", "coordinator_epoch"])]
    pub producer_id: Option<i64>,
    #[arg(long)]
    pub producer_epoch: Option<i16>,
    /// The transaction coordinator's epoch; a negative value is sent as 0, as Kafka's tool does.
    #[arg(long, allow_hyphen_values = true)]
    pub coordinator_epoch: Option<i32>,
}

/// How an abort names its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AbortTarget {
    StartOffset(i64),
    Explicit(AbortTransactionSpec),
}

impl AbortArgs {
    fn target(&self) -> anyhow::Result<AbortTarget> {
        match (self.start_offset, self.producer_id, self.producer_epoch, self.coordinator_epoch) {
            (Some(offset), None, None, None) if offset >= 0 => Ok(AbortTarget::StartOffset(offset)),
            (Some(offset), None, None, None) => anyhow::bail!("--start-offset must be >= 0, got {offset}"),
            (None, Some(producer_id), Some(producer_epoch), Some(coordinator_epoch)) => {
                Ok(AbortTarget::Explicit(AbortTransactionSpec {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    producer_id,
                    producer_epoch,
                    coordinator_epoch: coordinator_epoch.max(0),
                }))
            }
            _ => anyhow::bail!(
                "give either --start-offset, or --producer-id with --producer-epoch and --coordinator-epoch"
            ),
        }
    }
}

pub async fn run(admin: &Admin, command: TxnCommand, output: Output) -> anyhow::Result<()> {
    match command {
        TxnCommand::List { states, producer_ids } => {
            let listings = admin.list_transactions(&states, &producer_ids).await?;
            match output {
                Output::Json => println!("{}", listing_json(&listings)),
                Output::Human => print!("{}", listing_table(&listings)),
            }
        }
        TxnCommand::Describe { transactional_id } => {
            let description = admin.describe_transaction(&transactional_id).await?;
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            match output {
                Output::Json => println!("{}", description_json(&description, now_ms)),
                Output::Human => print!("{}", description_table(&description, now_ms)),
            }
        }
        TxnCommand::Abort(args) => {
            let spec = match args.target()? {
                AbortTarget::Explicit(spec) => spec,
                AbortTarget::StartOffset(offset) => {
                    admin.abort_spec_at_start_offset(&args.topic, args.partition, offset).await?
                }
            };
            admin.abort_transaction(&spec).await?;
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"topic": spec.topic, "partition": spec.partition, "producer_id": spec.producer_id,
                           "producer_epoch": spec.producer_epoch, "coordinator_epoch": spec.coordinator_epoch,
                           "aborted": true})
                ),
                Output::Human => println!(
                    "Aborted the transaction of producer {} (epoch {}, coordinator epoch {}) on {}-{}",
                    spec.producer_id, spec.producer_epoch, spec.coordinator_epoch, spec.topic, spec.partition
                ),
            }
        }
    }
    Ok(())
}

/// Columns of `kafka-transactions.sh list`.
fn listing_table(listings: &[TransactionListing]) -> String {
    let mut rows = vec![row(&["TransactionalId", "Coordinator", "ProducerId", "TransactionState"])];
    for l in listings {
        rows.push(vec![
            l.transactional_id.clone(),
            l.coordinator.to_string(),
            l.producer_id.to_string(),
            l.state.clone(),
        ]);
    }
    table(&rows)
}

fn listing_json(listings: &[TransactionListing]) -> serde_json::Value {
    json!(listings
        .iter()
        .map(|l| json!({"transactional_id": l.transactional_id, "coordinator": l.coordinator,
                        "producer_id": l.producer_id, "state": l.state}))
        .collect::<Vec<_>>())
}

/// How long the current transaction has been open; `None` when none is.
fn duration_ms(d: &TransactionDescription, now_ms: i64) -> Option<i64> {
    (d.start_time_ms >= 0).then(|| (now_ms - d.start_time_ms).max(0))
}

fn partitions_text(d: &TransactionDescription) -> String {
    d.partitions.iter().map(|(t, p)| format!("{t}-{p}")).collect::<Vec<_>>().join(",")
}

/// Columns of `kafka-transactions.sh describe`.
fn description_table(d: &TransactionDescription, now_ms: i64) -> String {
    let none = || "None".to_string();
    table(&[
        row(&[
            "CoordinatorId",
            "TransactionalId",
            "ProducerId",
            "ProducerEpoch",
            "TransactionState",
            "TransactionTimeoutMs",
            "CurrentTransactionStartTimeMs",
            "TransactionDurationMs",
            "TopicPartitions",
        ]),
        vec![
            d.coordinator.to_string(),
            d.transactional_id.clone(),
            d.producer_id.to_string(),
            d.producer_epoch.to_string(),
            d.state.clone(),
            d.timeout_ms.to_string(),
            if d.start_time_ms >= 0 { d.start_time_ms.to_string() } else { none() },
            duration_ms(d, now_ms).map_or_else(none, |ms| ms.to_string()),
            partitions_text(d),
        ],
    ])
}

fn description_json(d: &TransactionDescription, now_ms: i64) -> serde_json::Value {
    json!({"coordinator": d.coordinator, "transactional_id": d.transactional_id, "producer_id": d.producer_id,
           "producer_epoch": d.producer_epoch, "state": d.state, "timeout_ms": d.timeout_ms,
           "start_time_ms": (d.start_time_ms >= 0).then_some(d.start_time_ms),
           "duration_ms": duration_ms(d, now_ms),
           "partitions": d.partitions.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect::<Vec<_>>()})
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Left-aligned columns separated by two spaces, one line per row.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: TxnCommand,
    }

    fn abort(args: &[&str]) -> Result<AbortTarget, String> {
        let mut argv = vec!["brook", "abort", "--topic", "t", "--partition", "1"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).map_err(|e| e.kind().to_string())?.command {
            TxnCommand::Abort(a) => a.target().map_err(|e| e.to_string()),
            _ => Err("not abort".into()),
        }
    }

    #[test]
    fn abort_by_start_offset_or_explicit_producer() {
        assert_eq!(abort(&["--start-offset", "40"]), Ok(AbortTarget::StartOffset(40)));
        let explicit =
            abort(&["--producer-id", "7", "--producer-epoch", "2", "--coordinator-epoch", "-1"]).expect("explicit");
        assert_eq!(
            explicit,
            AbortTarget::Explicit(AbortTransactionSpec {
                topic: "t".into(),
                partition: 1,
                producer_id: 7,
                producer_epoch: 2,
                coordinator_epoch: 0
            })
        );
    }

    #[test]
    fn abort_refuses_incomplete_or_mixed_arguments() {
        assert!(abort(&[]).is_err(), "one of the two forms is required");
        assert!(abort(&["--producer-id", "7"]).is_err(), "epochs are required with a producer id");
        assert!(abort(&["--producer-id", "7", "--producer-epoch", "2"]).is_err());
        assert!(abort(&[
            "--start-offset",
            "4",
            "--producer-id",
            "7",
            "--producer-epoch",
            "2",
            "--coordinator-epoch",
            "0"
        ])
        .is_err());
        assert!(abort(&["--start-offset", "-3"]).is_err());
    }

    #[test]
    fn list_filters_repeat() {
        let cli = Cli::try_parse_from([
            "brook",
            "list",
            "--state",
            "Ongoing",
            "--state",
            "PrepareAbort",
            "--producer-id",
            "5",
        ])
        .expect("parses");
        let TxnCommand::List { states, producer_ids } = cli.command else { panic!("list") };
        assert_eq!(states, vec!["Ongoing", "PrepareAbort"]);
        assert_eq!(producer_ids, vec![5]);
    }

    fn description(start_time_ms: i64) -> TransactionDescription {
        TransactionDescription {
            coordinator: 2,
            transactional_id: "tx-1".into(),
            state: "Ongoing".into(),
            producer_id: 1000,
            producer_epoch: 3,
            timeout_ms: 60_000,
            start_time_ms,
            partitions: vec![("a".into(), 0), ("b".into(), 3)],
        }
    }

    #[test]
    fn describe_output() {
        let text = description_table(&description(1_000), 4_500);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cells, vec!["2", "tx-1", "1000", "3", "Ongoing", "60000", "1000", "3500", "a-0,b-3"]);
        // Columns line up under their headers.
        assert_eq!(lines[0].find("ProducerId"), lines[1].find("1000"));
        let idle = description_table(&description(-1), 4_500);
        assert!(idle.lines().nth(1).unwrap().contains("None"));
        let j = description_json(&description(-1), 4_500);
        assert!(j["start_time_ms"].is_null() && j["duration_ms"].is_null());
        assert_eq!(description_json(&description(1_000), 4_500)["duration_ms"], 3_500);
    }

    #[test]
    fn list_output() {
        let listings = vec![TransactionListing {
            coordinator: 1,
            transactional_id: "tx-1".into(),
            producer_id: 1000,
            state: "Ongoing".into(),
        }];
        let text = listing_table(&listings);
        assert_eq!(
            text.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
            vec!["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
        );
        assert_eq!(
            text.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>(),
            vec!["tx-1", "1", "1000", "Ongoing"]
        );
        assert_eq!(listing_json(&listings)[0]["state"], "Ongoing");
        assert_eq!(listing_table(&[]).lines().count(), 1, "header only");
    }
}
