//! `brook group list|describe|reset-offsets`.

use std::collections::BTreeMap;

use brook_client::admin::Admin;
use clap::Subcommand;
use serde_json::json;

use super::Output;

#[derive(Subcommand)]
pub enum GroupCommand {
    /// List consumer groups.
    List,
    /// Members, assignments, committed offsets, log end offsets and lag.
    Describe { group: String },
    /// Move a group's committed offsets (refused while the group has live members).
    ResetOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        #[arg(long, group = "target")]
        to_earliest: bool,
        #[arg(long, group = "target")]
        to_latest: bool,
        #[arg(long, group = "target")]
        to_offset: Option<i64>,
        /// Milliseconds since the epoch: the first offset at or after it.
        #[arg(long, group = "target")]
        to_timestamp: Option<i64>,
        /// Only print what would be committed.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(admin: &Admin, command: GroupCommand, output: Output) -> anyhow::Result<()> {
    match command {
        GroupCommand::List => {
            let listing = admin.list_groups().await?;
            for error in &listing.errors {
                eprintln!("warning: groups of {error} are missing");
            }
            let groups = listing.groups;
            match output {
                Output::Json => println!(
                    "{}",
                    json!(groups
                        .iter()
                        .map(|(g, s, t)| json!({"group": g, "state": s, "protocol_type": t}))
                        .collect::<Vec<_>>())
                ),
                Output::Human => {
                    for (g, s, _) in groups {
                        println!("{g}\t{s}");
                    }
                }
            }
        }
        GroupCommand::Describe { group } => {
            let info = admin.describe_group(&group).await?;
            let committed = admin.group_offsets(&group).await?;
            let mut owners: BTreeMap<(String, i32), String> = BTreeMap::new();
            for m in &info.members {
                for tp in &m.assignment {
                    owners.insert(tp.clone(), m.member_id.clone());
                }
            }
            let mut partitions: Vec<(String, i32)> = committed.keys().cloned().collect();
            partitions.extend(owners.keys().cloned());
            partitions.sort();
            partitions.dedup();
            let ends =
                if partitions.is_empty() { Default::default() } else { admin.list_offsets(&partitions, -1).await? };
            let rows: Vec<serde_json::Value> = partitions
                .iter()
                .map(|tp| {
                    let c = committed.get(tp).copied();
                    let end = ends.get(tp).copied();
                    json!({"topic": tp.0, "partition": tp.1, "committed_offset": c, "log_end_offset": end,
                           "lag": c.zip(end).map(|(c, e)| e - c), "member": owners.get(tp)})
                })
                .collect();
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"group": group, "state": info.state, "protocol": info.protocol,
                           "members": info.members.iter().map(|m| json!({"member_id": m.member_id, "instance_id": m.instance_id,
                               "client_id": m.client_id, "host": m.host,
                               "assignment": m.assignment.iter().map(|(t, p)| format!("{t}-{p}")).collect::<Vec<_>>()})).collect::<Vec<_>>(),
                           "partitions": rows})
                ),
                Output::Human => {
                    println!(
                        "Group: {group}\tState: {}\tProtocol: {}\tMembers: {}",
                        info.state,
                        info.protocol,
                        info.members.len()
                    );
                    for m in &info.members {
                        let parts: Vec<String> = m.assignment.iter().map(|(t, p)| format!("{t}-{p}")).collect();
                        println!("  member {} ({}) {}", m.member_id, m.client_id, parts.join(","));
                    }
                    println!(
                        "{:<24} {:>9} {:>16} {:>16} {:>10}  MEMBER",
                        "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"
                    );
                    for r in rows {
                        let show = |v: &serde_json::Value| if v.is_null() { "-".to_string() } else { v.to_string() };
                        println!(
                            "{:<24} {:>9} {:>16} {:>16} {:>10}  {}",
                            r["topic"].as_str().unwrap_or_default(),
                            r["partition"],
                            show(&r["committed_offset"]),
                            show(&r["log_end_offset"]),
                            show(&r["lag"]),
                            r["member"].as_str().unwrap_or("-")
                        );
                    }
                }
            }
        }
        GroupCommand::ResetOffsets { group, topic, to_earliest, to_latest, to_offset, to_timestamp, dry_run } => {
            let meta = admin.describe_topic(&topic).await?;
            let partitions: Vec<(String, i32)> = meta.partitions.iter().map(|p| (topic.clone(), p.partition)).collect();
            let targets: Vec<((String, i32), i64)> = if let Some(offset) = to_offset {
                partitions.iter().map(|tp| (tp.clone(), offset)).collect()
            } else {
                let spec = match (to_earliest, to_latest, to_timestamp) {
                    (true, _, _) => -2,
                    (_, true, _) => -1,
                    (_, _, Some(ts)) => ts,
                    _ => anyhow::bail!("choose one of --to-earliest, --to-latest, --to-offset, --to-timestamp"),
                };
                let found = admin.list_offsets(&partitions, spec).await?;
                let latest = if spec >= 0 { admin.list_offsets(&partitions, -1).await? } else { Default::default() };
                partitions
                    .iter()
                    .map(|tp| {
                        let o = found[tp];
                        // No record at or after the timestamp: the log end.
                        (tp.clone(), if o < 0 { latest.get(tp).copied().unwrap_or(0) } else { o })
                    })
                    .collect()
            };
            if !dry_run {
                admin.set_group_offsets(&group, &targets).await?;
            }
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"group": group, "dry_run": dry_run,
                           "offsets": targets.iter().map(|((t, p), o)| json!({"topic": t, "partition": p, "offset": o})).collect::<Vec<_>>()})
                ),
                Output::Human => {
                    for ((t, p), o) in &targets {
                        println!("{t}-{p}\t{o}");
                    }
                    if dry_run {
                        println!("(dry run: nothing committed)");
                    }
                }
            }
        }
    }
    Ok(())
}
