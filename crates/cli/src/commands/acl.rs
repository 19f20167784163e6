//! `brook acl add|list|remove`, in the spirit of `kafka-acls.sh`: principals
//! (`--allow-principal User:alice`, `--deny-principal`), hosts, operations
//! and resources (`--topic`, `--group`, `--cluster`, `--transactional-id`,
//! `--resource-pattern-type`). Every combination of them is one ACL (or one
//! filter), as kafka-acls.sh builds them.

use brook_client::admin::Admin;
use brook_security::acl::{
    AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType, CLUSTER_NAME, WILDCARD,
};
use clap::{Args, Subcommand};
use serde_json::json;

use super::Output;

#[derive(Subcommand)]
pub enum AclCommand {
    /// Add ACLs: each principal × host × operation × resource.
    Add(AclArgs),
    /// List ACLs (all, or those of the given resources / principal).
    List(ListArgs),
    /// Remove the ACLs matching the given resources, principals, hosts and operations.
    Remove(AclArgs),
}

#[derive(Args, Default)]
pub struct Resources {
    /// A topic (repeatable). `*` is every topic.
    #[arg(long)]
    topic: Vec<String>,
    /// A consumer group (repeatable). `*` is every group.
    #[arg(long)]
    group: Vec<String>,
    /// The cluster.
    #[arg(long)]
    cluster: bool,
    /// A transactional id (repeatable).
    #[arg(long)]
    transactional_id: Vec<String>,
}

impl Resources {
    fn list(&self) -> Vec<(ResourceType, String)> {
        let mut out = Vec::new();
        out.extend(self.topic.iter().map(|t| (ResourceType::Topic, t.clone())));
        out.extend(self.group.iter().map(|g| (ResourceType::Group, g.clone())));
        if self.cluster {
            out.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
        }
        out.extend(self.transactional_id.iter().map(|t| (ResourceType::TransactionalId, t.clone())));
        out
    }
}

#[derive(Args)]
pub struct AclArgs {
    #[command(flatten)]
    resources: Resources,
    /// literal or prefixed.
    #[arg(long, default_value = "literal")]
    resource_pattern_type: String,
    /// A principal to allow (repeatable), e.g. User:alice, or User:* for everyone.
    #[arg(long)]
    allow_principal: Vec<String>,
    /// A principal to deny (repeatable).
    #[arg(long)]
    deny_principal: Vec<String>,
    /// Hosts the allow ACLs apply to (default: every host).
    #[arg(long)]
    allow_host: Vec<String>,
    /// Hosts the deny ACLs apply to (default: every host).
    #[arg(long)]
    deny_host: Vec<String>,
    /// An operation (repeatable): Read, Write, Create, Delete, Alter, Describe,
    /// ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All.
    #[arg(long)]
    operation: Vec<String>,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    resources: Resources,
    /// any, match, literal or prefixed.
    #[arg(long, default_value = "any")]
    resource_pattern_type: String,
    /// Only the ACLs of this principal.
    #[arg(long)]
    principal: Option<String>,
}

fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> anyhow::Result<T> {
    s.parse::<T>().map_err(|e| anyhow::anyhow!(e))
}

/// (principal, host, permission) entries of an add/remove.
fn entries(args: &AclArgs) -> Vec<(String, String, AclPermission)> {
    let hosts = |h: &Vec<String>| if h.is_empty() { vec![WILDCARD.to_string()] } else { h.clone() };
    let mut out = Vec::new();
    for (principals, hosts, permission) in [
        (&args.allow_principal, hosts(&args.allow_host), AclPermission::Allow),
        (&args.deny_principal, hosts(&args.deny_host), AclPermission::Deny),
    ] {
        for p in principals {
            for h in &hosts {
                out.push((p.clone(), h.clone(), permission));
            }
        }
    }
    out
}

fn print_acls(acls: &[AclBinding], output: Output) {
    match output {
        Output::Json => println!(
            "{}",
            json!(acls
                .iter()
                .map(|a| json!({
                    "resource_type": a.resource_type.name(),
                    "resource_name": a.resource_name,
                    "pattern_type": a.pattern_type.name(),
                    "principal": a.principal,
                    "host": a.host,
                    "operation": a.operation.name(),
                    "permission": a.permission.name(),
                }))
                .collect::<Vec<_>>())
        ),
        Output::Human => {
            for a in acls {
                println!("{a}");
            }
        }
    }
}

pub async fn run(admin: &Admin, command: AclCommand, output: Output) -> anyhow::Result<()> {
    match command {
        AclCommand::Add(args) => {
            let pattern_type: PatternType = parse(&args.resource_pattern_type)?;
            let resources = args.resources.list();
            anyhow::ensure!(
                !resources.is_empty(),
                "name a resource: --topic, --group, --cluster or --transactional-id"
            );
            let entries = entries(&args);
            anyhow::ensure!(!entries.is_empty(), "name a principal: --allow-principal or --deny-principal");
            anyhow::ensure!(!args.operation.is_empty(), "name an operation: --operation");
            let mut acls = Vec::new();
            for (resource_type, name) in &resources {
                for (principal, host, permission) in &entries {
                    for op in &args.operation {
                        acls.push(AclBinding {
                            resource_type: *resource_type,
                            resource_name: name.clone(),
                            pattern_type,
                            principal: principal.clone(),
                            host: host.clone(),
                            operation: parse(op)?,
                            permission: *permission,
                        });
                    }
                }
            }
            admin.create_acls(&acls).await?;
            if output == Output::Human {
                println!("Added {} ACL(s):", acls.len());
            }
            print_acls(&acls, output);
        }
        AclCommand::List(args) => {
            let pattern_type: PatternType = parse(&args.resource_pattern_type)?;
            let mut filters: Vec<AclFilter> = args
                .resources
                .list()
                .into_iter()
                .map(|(resource_type, name)| AclFilter {
                    resource_type,
                    resource_name: Some(name),
                    pattern_type,
                    ..AclFilter::any()
                })
                .collect();
            if filters.is_empty() {
                filters.push(AclFilter { pattern_type, ..AclFilter::any() });
            }
            let mut acls = Vec::new();
            for mut filter in filters {
                filter.principal = args.principal.clone();
                acls.extend(admin.describe_acls(&filter).await?);
            }
            print_acls(&acls, output);
        }
        AclCommand::Remove(args) => {
            let pattern_type: PatternType = parse(&args.resource_pattern_type)?;
            let resources = args.resources.list();
            anyhow::ensure!(
                !resources.is_empty(),
                "name a resource: --topic, --group, --cluster or --transactional-id"
            );
            let operations: Vec<AclOperation> = if args.operation.is_empty() {
                vec![AclOperation::Any]
            } else {
                args.operation.iter().map(|o| parse(o)).collect::<anyhow::Result<_>>()?
            };
            let entries: Vec<(Option<String>, Option<String>, AclPermission)> = {
                let given = entries(&args);
                if given.is_empty() {
                    vec![(None, None, AclPermission::Any)]
                } else {
                    given.into_iter().map(|(p, h, perm)| (Some(p), Some(h), perm)).collect()
                }
            };
            let mut filters = Vec::new();
            for (resource_type, name) in &resources {
                for (principal, host, permission) in &entries {
                    for operation in &operations {
                        filters.push(AclFilter {
                            resource_type: *resource_type,
                            resource_name: Some(name.clone()),
                            pattern_type,
                            principal: principal.clone(),
                            host: host.clone(),
                            operation: *operation,
                            permission: *permission,
                        });
                    }
                }
            }
            let deleted = admin.delete_acls(&filters).await?;
            if output == Output::Human {
                println!("Removed {} ACL(s):", deleted.len());
            }
            print_acls(&deleted, output);
        }
    }
    Ok(())
}
