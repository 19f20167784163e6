//! `brook cluster info`.

use brook_client::admin::Admin;
use serde_json::json;

use super::Output;

pub async fn info(admin: &Admin, output: Output) -> anyhow::Result<()> {
    let (cluster_id, controller, brokers) = admin.describe_cluster().await?;
    match output {
        Output::Json => println!(
            "{}",
            json!({"cluster_id": cluster_id, "controller": controller,
                   "brokers": brokers.iter().map(|(id, addr)| json!({"id": id, "address": addr})).collect::<Vec<_>>()})
        ),
        Output::Human => {
            println!("Cluster id: {cluster_id}\nController: {controller}\nBrokers:");
            for (id, addr) in brokers {
                println!("  {id}\t{addr}");
            }
        }
    }
    Ok(())
}
