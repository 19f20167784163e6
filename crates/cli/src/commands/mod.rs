//! Client-side subcommands: each talks to a broker through `brook-client`.

pub mod cluster;
pub mod consume;
pub mod group;
pub mod produce;
pub mod reassign;
pub mod tls;
pub mod topic;
pub mod txn;
pub mod user;

/// Human tables by default; JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Output {
    #[default]
    Human,
    Json,
}

/// `KEY=VALUE` → pair, with a clear error.
pub fn parse_pair(s: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = s.split_once('=').ok_or_else(|| anyhow::anyhow!("expected NAME=VALUE, got '{s}'"))?;
    Ok((k.trim().to_string(), v.to_string()))
}
