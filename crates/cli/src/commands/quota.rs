//! `brook quota set|describe`: client quotas (producer_byte_rate,
//! consumer_byte_rate, request_percentage, ...) of users, client ids and
//! their defaults, through AlterClientQuotas / DescribeClientQuotas.

use anyhow::bail;
use brook_client::admin::{Admin, QuotaEntity, QuotaMatch};
use serde_json::json;

use super::{parse_pair, Output};

/// Which entity: a user, a client id, an ip, or their defaults.
#[derive(clap::Args, Debug, Default)]
pub struct EntityArgs {
    /// A user (the principal's name, e.g. alice for User:alice; ANONYMOUS without authentication).
    #[arg(long, conflicts_with = "user_default")]
    user: Option<String>,
    /// The default user entity: every user without its own quota.
    #[arg(long)]
    user_default: bool,
    /// A client id.
    #[arg(long, conflicts_with = "client_id_default")]
    client_id: Option<String>,
    /// The default client-id entity: every client id without its own quota.
    #[arg(long)]
    client_id_default: bool,
    /// An IP address (connection_creation_rate only).
    #[arg(long, conflicts_with = "ip_default")]
    ip: Option<String>,
    /// The default ip entity.
    #[arg(long)]
    ip_default: bool,
}

impl EntityArgs {
    /// (entity type, name or None for default, given?) of each type.
    fn parts(&self) -> Vec<(&'static str, Option<String>)> {
        let mut out = Vec::new();
        for (t, name, default) in [
            ("user", &self.user, self.user_default),
            ("client-id", &self.client_id, self.client_id_default),
            ("ip", &self.ip, self.ip_default),
        ] {
            if let Some(n) = name {
                out.push((t, Some(n.clone())));
            } else if default {
                out.push((t, None));
            }
        }
        out
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum QuotaCommand {
    /// Set and/or remove quota values of one entity, e.g.
    /// `brook quota set --client-id c1 producer_byte_rate=1048576`.
    Set {
        #[command(flatten)]
        entity: EntityArgs,
        /// KEY=VALUE to set (producer_byte_rate, consumer_byte_rate, request_percentage, ...).
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// A key to remove (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
        /// Check with the controller's rules, change nothing.
        #[arg(long)]
        validate_only: bool,
    },
    /// Quotas of the entities matching the given parts (all without any).
    Describe {
        #[command(flatten)]
        entity: EntityArgs,
        /// Only entities with exactly the given entity types.
        #[arg(long)]
        strict: bool,
        /// Ask this broker (id) rather than any.
        #[arg(long)]
        broker: Option<i32>,
    },
}

fn entity_string(entity: &QuotaEntity) -> String {
    let parts: Vec<String> =
        entity.iter().map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>"))).collect();
    parts.join(", ")
}

pub async fn run(admin: &Admin, command: QuotaCommand, output: Output) -> anyhow::Result<()> {
    match command {
        QuotaCommand::Set { entity, values, delete, validate_only } => {
            let entity: QuotaEntity = entity.parts().into_iter().map(|(t, n)| (t.to_string(), n)).collect();
            if entity.is_empty() {
                bail!("name an entity: --user, --user-default, --client-id, --client-id-default, --ip or --ip-default");
            }
            if values.is_empty() && delete.is_empty() {
                bail!("nothing to change: give KEY=VALUE pairs and/or --delete KEY");
            }
            let mut set = Vec::new();
            for v in &values {
                let (k, v) = parse_pair(v)?;
                let value: f64 = v.trim().parse().map_err(|_| anyhow::anyhow!("{k}: '{v}' is not a number"))?;
                set.push((k, value));
            }
            admin.alter_client_quotas(&entity, &set, &delete, validate_only).await?;
            match output {
                Output::Json => {
                    println!("{}", json!({"entity": entity_string(&entity), "validate_only": validate_only}))
                }
                Output::Human => println!(
                    "{} quotas of {}",
                    if validate_only { "Validated" } else { "Updated" },
                    entity_string(&entity)
                ),
            }
        }
        QuotaCommand::Describe { entity, strict, broker } => {
            let components: Vec<(String, QuotaMatch)> = entity
                .parts()
                .into_iter()
                .map(|(t, n)| (t.to_string(), n.map_or(QuotaMatch::Default, QuotaMatch::Exact)))
                .collect();
            let entries = admin.describe_client_quotas(&components, strict, broker).await?;
            match output {
                Output::Json => {
                    let list: Vec<_> = entries
                        .iter()
                        .map(|e| {
                            let entity: serde_json::Map<String, serde_json::Value> =
                                e.entity.iter().map(|(t, n)| (t.clone(), json!(n))).collect();
                            let values: serde_json::Map<String, serde_json::Value> =
                                e.values.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                            json!({"entity": entity, "values": values})
                        })
                        .collect();
                    println!("{}", json!(list));
                }
                Output::Human => {
                    for e in &entries {
                        let values: Vec<String> = e.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        println!("{}: {}", entity_string(&e.entity), values.join(", "));
                    }
                }
            }
        }
    }
    Ok(())
}
