//! `brook topic create|list|describe|delete|alter-config`.

use brook_client::admin::{Admin, RESOURCE_TOPIC};
use clap::Subcommand;
use serde_json::json;

use super::{parse_pair, Output};

#[derive(Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, default_value_t = 1)]
        replication_factor: i16,
        /// Topic config, e.g. --config retention.ms=60000 (repeatable).
        #[arg(long = "config", value_name = "NAME=VALUE")]
        configs: Vec<String>,
    },
    /// List topics.
    List,
    /// Partitions, leaders and configs of a topic.
    Describe { name: String },
    /// Delete a topic.
    Delete { name: String },
    /// Set or delete topic configs.
    AlterConfig {
        name: String,
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        #[arg(long = "delete", value_name = "NAME")]
        delete: Vec<String>,
    },
}

pub async fn run(admin: &Admin, command: TopicCommand, output: Output) -> anyhow::Result<()> {
    match command {
        TopicCommand::Create { name, partitions, replication_factor, configs } => {
            let pairs = configs.iter().map(|c| parse_pair(c)).collect::<anyhow::Result<Vec<_>>>()?;
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            admin.create_topic(&name, partitions, replication_factor, &refs).await?;
            match output {
                Output::Json => println!("{}", json!({"created": name, "partitions": partitions})),
                Output::Human => println!("Created topic {name} with {partitions} partition(s)."),
            }
        }
        TopicCommand::List => {
            let topics = admin.list_topics().await?;
            match output {
                Output::Json => println!(
                    "{}",
                    json!(topics
                        .iter()
                        .map(|t| json!({"name": t.name, "partitions": t.partitions.len(), "internal": t.is_internal}))
                        .collect::<Vec<_>>())
                ),
                Output::Human => {
                    for t in topics {
                        println!(
                            "{}\t{} partition(s){}",
                            t.name,
                            t.partitions.len(),
                            if t.is_internal { "\tinternal" } else { "" }
                        );
                    }
                }
            }
        }
        TopicCommand::Describe { name } => {
            let topic = admin.describe_topic(&name).await?;
            let configs = admin.describe_configs(RESOURCE_TOPIC, &name).await?;
            let partitions: Vec<(i32, i64, i64)> = {
                let tps: Vec<(String, i32)> = topic.partitions.iter().map(|p| (name.clone(), p.partition)).collect();
                // Offline partitions (no leader) have no offsets to show: -1.
                let live: Vec<(String, i32)> =
                    topic.partitions.iter().filter(|p| p.leader >= 0).map(|p| (name.clone(), p.partition)).collect();
                let start = admin.list_offsets(&live, -2).await?;
                let end = admin.list_offsets(&live, -1).await?;
                let get = |m: &std::collections::HashMap<(String, i32), i64>, tp| m.get(tp).copied().unwrap_or(-1);
                tps.iter().map(|tp| (tp.1, get(&start, tp), get(&end, tp))).collect()
            };
            match output {
                Output::Json => println!(
                    "{}",
                    json!({
                        "name": name,
                        "id": uuid_string(&topic.id),
                        "partitions": topic.partitions.iter().zip(&partitions).map(|(p, (_, s, e))| json!({
                            "partition": p.partition, "leader": p.leader, "leader_epoch": p.leader_epoch,
                            "replicas": p.replicas, "isr": p.isr, "log_start_offset": s, "log_end_offset": e})).collect::<Vec<_>>(),
                        "configs": configs.iter().map(|c| (c.name.clone(), json!(c.value))).collect::<serde_json::Map<_, _>>(),
                    })
                ),
                Output::Human => {
                    println!("Topic: {name}\tId: {}\tPartitions: {}", uuid_string(&topic.id), topic.partitions.len());
                    for (p, (_, s, e)) in topic.partitions.iter().zip(&partitions) {
                        println!(
                            "  partition {}\tleader {}\tepoch {}\treplicas {:?}\tisr {:?}\toffsets {}..{}",
                            p.partition, p.leader, p.leader_epoch, p.replicas, p.isr, s, e
                        );
                    }
                    // As kafka-topics --describe: the settings that differ from
                    // Kafka's defaults (the JSON output has them all).
                    const DEFAULT_CONFIG: i8 = 5;
                    let set: Vec<_> = configs.into_iter().filter(|c| c.source != DEFAULT_CONFIG).collect();
                    println!("Configs:{}", if set.is_empty() { " (all defaults)" } else { "" });
                    for c in set {
                        println!("  {}={}", c.name, c.value.unwrap_or_default());
                    }
                }
            }
        }
        TopicCommand::Delete { name } => {
            admin.delete_topic(&name).await?;
            match output {
                Output::Json => println!("{}", json!({"deleted": name})),
                Output::Human => println!("Deleted topic {name}."),
            }
        }
        TopicCommand::AlterConfig { name, set, delete } => {
            if set.is_empty() && delete.is_empty() {
                anyhow::bail!("nothing to change: give --set NAME=VALUE and/or --delete NAME");
            }
            let pairs = set.iter().map(|c| parse_pair(c)).collect::<anyhow::Result<Vec<_>>>()?;
            admin.alter_configs(RESOURCE_TOPIC, &name, &pairs, &delete).await?;
            match output {
                Output::Json => println!("{}", json!({"altered": name})),
                Output::Human => println!("Updated configs of topic {name}."),
            }
        }
    }
    Ok(())
}

pub fn uuid_string(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
