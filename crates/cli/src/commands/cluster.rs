//! `brook cluster info`: brokers (fenced or not), the active controller and
//! the metadata quorum (leader, epoch, each voter's lag).

use brook_client::admin::Admin;
use serde_json::json;

use super::Output;

pub async fn info(admin: &Admin, output: Output) -> anyhow::Result<()> {
    let cluster = admin.describe_cluster().await?;
    // The quorum leader is the active controller, also when it is not a broker.
    let quorum = admin.describe_quorum().await;
    let controller = quorum.as_ref().map_or(cluster.controller, |q| q.leader);
    match output {
        Output::Json => println!(
            "{}",
            json!({
                "cluster_id": cluster.cluster_id,
                "controller": controller,
                "brokers": cluster.brokers.iter()
                    .map(|b| json!({"id": b.id, "address": b.address, "fenced": b.fenced}))
                    .collect::<Vec<_>>(),
                "quorum": quorum.as_ref().ok().map(|q| json!({
                    "leader": q.leader,
                    "epoch": q.epoch,
                    "high_watermark": q.high_watermark,
                    "voters": q.voters.iter()
                        .map(|(id, end, lag)| json!({"id": id, "log_end_offset": end, "lag": lag}))
                        .collect::<Vec<_>>(),
                })),
            })
        ),
        Output::Human => {
            println!("Cluster id: {}\nActive controller: {controller}\nBrokers:", cluster.cluster_id);
            for b in &cluster.brokers {
                println!("  {}\t{}{}", b.id, b.address, if b.fenced { "\t(fenced)" } else { "" });
            }
            match &quorum {
                Ok(q) => {
                    println!(
                        "Metadata quorum: leader {} epoch {} high watermark {}",
                        q.leader, q.epoch, q.high_watermark
                    );
                    for (id, end, lag) in &q.voters {
                        println!("  voter {id}\tlog end {end}\tlag {lag}");
                    }
                }
                Err(e) => println!("Metadata quorum: unavailable ({e})"),
            }
        }
    }
    Ok(())
}
