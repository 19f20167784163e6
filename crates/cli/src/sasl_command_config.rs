//! The SASL part of `--command-config`: a Kafka client properties file
//! (`security.protocol=SASL_PLAINTEXT`, `sasl.mechanism=SCRAM-SHA-512`,
//! `sasl.jaas.config=... username="u" password="p";` or
//! `sasl.username`/`sasl.password`). Its login becomes every client's
//! default for this process.

use std::path::Path;

use anyhow::Context;
use brook_security::sasl::client_config::SaslClientConfig;
use brook_security::SecurityProtocol;

/// `name=value` lines (Java properties: `#`/`!` comments, `=` or `:`).
fn properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect()
}

/// Reads the file; with a SASL `security.protocol`, sets the default login.
pub fn apply(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let pairs = properties(&text);
    let protocol = match pairs.iter().rev().find(|(k, _)| k == "security.protocol") {
        Some((_, v)) => v.parse::<SecurityProtocol>().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        None => SecurityProtocol::Plaintext,
    };
    if protocol.uses_tls() {
        anyhow::bail!("{}: security.protocol={protocol} needs TLS, which this build's CLI does not do", path.display());
    }
    if protocol.uses_sasl() {
        let sasl = SaslClientConfig::from_properties(&pairs).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        brook_client::cluster::set_default_sasl(sasl);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_lines() {
        let p = properties("# c\nsecurity.protocol=SASL_PLAINTEXT\nsasl.jaas.config = a required x=\"y=z\";\n\n");
        assert_eq!(p[0], ("security.protocol".into(), "SASL_PLAINTEXT".into()));
        assert_eq!(p[1].1, "a required x=\"y=z\";");
    }
}
