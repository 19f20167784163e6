//! `brook cluster reassign|reassignments|drain`: move partition replicas
//! between brokers (AlterPartitionReassignments) while they are written.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use brook_client::admin::Admin;
use clap::Args;
use serde_json::json;

use super::Output;
use crate::progress;

#[derive(Args)]
pub struct ReassignArgs {
    pub topic: String,
    #[arg(long)]
    pub partition: i32,
    /// Target replicas, e.g. --replicas 2,3 (the first is preferred leader).
    #[arg(long, value_delimiter = ',', required_unless_present = "cancel")]
    pub replicas: Vec<i32>,
    /// Cancel the partition's ongoing reassignment instead.
    #[arg(long, conflicts_with = "replicas")]
    pub cancel: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Args, Clone, Copy)]
pub struct WaitArgs {
    /// Wait until every partition has moved (a progress bar on a terminal);
    /// without it the command returns once the controller accepted the plan.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting (non-zero exit, naming the partitions still moving) after this long.
    #[arg(long, default_value_t = 600, requires = "wait")]
    pub wait_timeout_secs: u64,
}

fn report(
    output: Output,
    outcomes: &[((String, i32), i16, Option<String>)],
    plan: &[(String, i32, Option<Vec<i32>>)],
) -> anyhow::Result<()> {
    let failed: Vec<_> = outcomes.iter().filter(|(_, code, _)| *code != 0).collect();
    match output {
        Output::Json => println!(
            "{}",
            json!(plan
                .iter()
                .map(|(t, p, r)| {
                    let outcome = outcomes.iter().find(|((tt, pp), ..)| tt == t && pp == p);
                    json!({"topic": t, "partition": p, "replicas": r,
                           "error_code": outcome.map_or(0, |o| o.1), "error": outcome.and_then(|o| o.2.clone())})
                })
                .collect::<Vec<_>>())
        ),
        Output::Human => {
            for (t, p, r) in plan {
                println!("{t}-{p} -> {}", r.as_ref().map_or("cancelled".to_string(), |r| format!("{r:?}")));
            }
        }
    }
    if let Some(((t, p), code, message)) = failed.first() {
        anyhow::bail!("reassigning {t}-{p} failed with error {code}: {}", message.clone().unwrap_or_default());
    }
    Ok(())
}

pub async fn reassign(admin: &Admin, args: ReassignArgs, output: Output) -> anyhow::Result<()> {
    let target = if args.cancel { None } else { Some(args.replicas) };
    let plan = vec![(args.topic, args.partition, target)];
    let outcomes = admin.reassign(&plan).await?;
    report(output, &outcomes, &plan)?;
    wait_for(admin, "reassign", &plan, args.wait).await
}

pub async fn list(admin: &Admin, output: Output) -> anyhow::Result<()> {
    let ongoing = admin.list_reassignments().await?;
    match output {
        Output::Json => println!(
            "{}",
            json!(ongoing
                .iter()
                .map(|(t, p, r, a, rm)| json!({"topic": t, "partition": p, "replicas": r, "adding": a, "removing": rm}))
                .collect::<Vec<_>>())
        ),
        Output::Human => {
            for (t, p, r, a, rm) in &ongoing {
                println!("{t}-{p}\treplicas {r:?}\tadding {a:?}\tremoving {rm:?}");
            }
        }
    }
    Ok(())
}

/// Moves every replica off `broker`: each to the live broker holding the
/// fewest replicas that the partition does not already use.
pub async fn drain(admin: &Admin, broker: i32, wait: WaitArgs, output: Output) -> anyhow::Result<()> {
    let cluster = admin.describe_cluster().await?;
    let live: Vec<i32> = cluster.brokers.iter().filter(|b| !b.fenced && b.id != broker).map(|b| b.id).collect();
    let topics = admin.list_topics().await?;
    let mut load: HashMap<i32, usize> = live.iter().map(|b| (*b, 0)).collect();
    for t in &topics {
        for p in &t.partitions {
            for r in &p.replicas {
                if let Some(n) = load.get_mut(r) {
                    *n += 1;
                }
            }
        }
    }
    let mut plan = Vec::new();
    for t in &topics {
        for p in t.partitions.iter().filter(|p| p.replicas.contains(&broker)) {
            let Some(&to) = live.iter().filter(|b| !p.replicas.contains(b)).min_by_key(|b| (load[*b], **b)) else {
                anyhow::bail!("no live broker can take {}-{}'s replica from broker {broker}", t.name, p.partition);
            };
            *load.get_mut(&to).expect("live broker") += 1;
            let target: Vec<i32> = p.replicas.iter().map(|r| if *r == broker { to } else { *r }).collect();
            plan.push((t.name.clone(), p.partition, Some(target)));
        }
    }
    if plan.is_empty() {
        if matches!(output, Output::Human) {
            println!("Broker {broker} holds no replicas.");
        } else {
            println!("[]");
        }
        return Ok(());
    }
    let outcomes = admin.reassign(&plan).await?;
    report(output, &outcomes, &plan)?;
    wait_for(admin, "drain", &plan, wait).await
}

/// With `--wait`: polls until every partition of the plan is done, showing
/// how many have moved. Done means no longer listed as reassigning and, for a
/// move, the replica set equal to the target's (both answers may come from
/// brokers whose metadata lags; together they cannot claim a move too early).
async fn wait_for(
    admin: &Admin,
    what: &str,
    plan: &[(String, i32, Option<Vec<i32>>)],
    wait: WaitArgs,
) -> anyhow::Result<()> {
    if !wait.wait || plan.is_empty() {
        return Ok(());
    }
    let bar = progress::bar(
        Some(plan.len() as u64),
        progress::style("{spinner} {prefix} [{bar:20}] {pos}/{len} partitions moved, {elapsed} {msg}"),
        what,
    );
    let deadline = Instant::now() + Duration::from_secs(wait.wait_timeout_secs);
    loop {
        let ongoing = admin.list_reassignments().await?;
        let topics = admin.list_topics().await?;
        let moving: Vec<String> = plan
            .iter()
            .filter(|(t, p, target)| {
                let listed = ongoing.iter().any(|(ot, op, ..)| ot == t && op == p);
                let replicas = topics
                    .iter()
                    .find(|m| &m.name == t)
                    .and_then(|m| m.partitions.iter().find(|x| x.partition == *p))
                    .map(|x| x.replicas.clone());
                let placed = match (target, replicas) {
                    (None, _) => true,
                    (Some(target), Some(mut now)) => {
                        let mut target = target.clone();
                        target.sort_unstable();
                        now.sort_unstable();
                        target == now
                    }
                    (Some(_), None) => false,
                };
                listed || !placed
            })
            .map(|(t, p, _)| format!("{t}-{p}"))
            .collect();
        bar.set_position((plan.len() - moving.len()) as u64);
        if moving.is_empty() {
            bar.finish_and_clear();
            return Ok(());
        }
        let shown = moving.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        bar.set_message(format!("(moving: {shown}{})", if moving.len() > 3 { ", ..." } else { "" }));
        if Instant::now() >= deadline {
            bar.abandon();
            anyhow::bail!(
                "{} partition(s) still moving after {} s: {}",
                moving.len(),
                wait.wait_timeout_secs,
                moving.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
