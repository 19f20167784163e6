//! `brook user add|list|remove`: SCRAM users (KIP-554), what Kafka does with
//! `kafka-configs.sh --entity-type users --alter --add-config
//! 'SCRAM-SHA-512=[iterations=8192,password=...]'`. The password is salted
//! and hashed on this side; the broker never sees it.

use brook_client::admin::Admin;
use brook_security::sasl::scram::ScramMechanism;
use clap::Subcommand;
use serde_json::json;

use super::Output;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a SCRAM user, or set a new password.
    Add {
        user: String,
        #[arg(long)]
        password: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
        /// PBKDF2 iterations (4096..=16384).
        #[arg(long, default_value_t = 4096)]
        iterations: i32,
    },
    /// SCRAM users and their mechanisms (all, or the ones named).
    List { users: Vec<String> },
    /// Remove a user's credential for one mechanism.
    Remove {
        user: String,
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
    },
}

fn mechanism(name: &str) -> anyhow::Result<ScramMechanism> {
    ScramMechanism::from_name(&name.to_ascii_uppercase())
        .ok_or_else(|| anyhow::anyhow!("unknown SCRAM mechanism '{name}' (SCRAM-SHA-256 or SCRAM-SHA-512)"))
}

pub async fn run(admin: &Admin, cmd: UserCommand, output: Output) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { user, password, mechanism: m, iterations } => {
            let m = mechanism(&m)?;
            admin.upsert_scram_user(&user, &password, m, iterations).await?;
            match output {
                Output::Json => println!("{}", json!({"user": user, "mechanism": m.name(), "iterations": iterations})),
                Output::Human => println!("SCRAM user '{user}' set for {m} ({iterations} iterations)"),
            }
        }
        UserCommand::Remove { user, mechanism: m } => {
            let m = mechanism(&m)?;
            admin.delete_scram_user(&user, m).await?;
            match output {
                Output::Json => println!("{}", json!({"user": user, "mechanism": m.name(), "removed": true})),
                Output::Human => println!("SCRAM credential {m} of '{user}' removed"),
            }
        }
        UserCommand::List { users } => {
            let listed = admin.describe_scram_users(&users).await?;
            match output {
                Output::Json => {
                    let rows: Vec<_> = listed
                        .iter()
                        .map(|u| {
                            json!({"user": u.user, "credentials": u.credentials.iter()
                                .map(|(m, i)| json!({"mechanism": m.name(), "iterations": i})).collect::<Vec<_>>()})
                        })
                        .collect();
                    println!("{}", serde_json::Value::Array(rows));
                }
                Output::Human => {
                    println!("{:<24} MECHANISMS", "USER");
                    for u in &listed {
                        let mechs: Vec<String> =
                            u.credentials.iter().map(|(m, i)| format!("{m} (iterations={i})")).collect();
                        println!("{:<24} {}", u.user, mechs.join(", "));
                    }
                }
            }
        }
    }
    Ok(())
}
