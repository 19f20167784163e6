//! A client's SASL settings from Kafka client properties (a
//! `--command-config` file): `sasl.mechanism` and either `sasl.jaas.config`
//! (`...PlainLoginModule required username="u" password="p";` or
//! `...ScramLoginModule ...`) or librdkafka's `sasl.username` /
//! `sasl.password`.

use super::jaas::JaasConfig;
use super::{SaslError, PLAIN, SUPPORTED_MECHANISMS};

#[derive(Clone, PartialEq, Eq)]
pub struct SaslClientConfig {
    pub mechanism: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslClientConfig {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslClientConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish()
    }
}

impl SaslClientConfig {
    /// Reads the SASL settings out of client properties (later pairs win).
    /// `sasl.mechanism` defaults to GSSAPI in Kafka; Brook's client needs it set
    /// (PLAIN is assumed only when just a username and password are given).
    pub fn from_properties(pairs: &[(String, String)]) -> Result<SaslClientConfig, SaslError> {
        let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
        let mechanism = get("sasl.mechanism").or_else(|| get("sasl.mechanisms")).unwrap_or_else(|| PLAIN.to_string());
        if !SUPPORTED_MECHANISMS.contains(&mechanism.as_str()) {
            return Err(SaslError::new(format!(
                "sasl.mechanism={mechanism} is not supported (use {})",
                SUPPORTED_MECHANISMS.join(", ")
            )));
        }
        let (username, password) = match get("sasl.jaas.config") {
            Some(text) => {
                let jaas = JaasConfig::parse(&text)?;
                let expected = if mechanism == PLAIN { "PlainLoginModule" } else { "ScramLoginModule" };
                if !jaas.login_module.ends_with(expected) {
                    return Err(SaslError::new(format!(
                        "sasl.jaas.config uses {}, but sasl.mechanism={mechanism} needs {expected}",
                        jaas.login_module
                    )));
                }
                (jaas.option("username").map(str::to_string), jaas.option("password").map(str::to_string))
            }
            None => (get("sasl.username"), get("sasl.password")),
        };
        match (username, password) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(SaslClientConfig { mechanism, username, password })
            }
            _ => Err(SaslError::new(
                "SASL needs a username and a password: sasl.jaas.config=... username=\"u\" password=\"p\"; \
                 or sasl.username / sasl.password",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn jaas_and_librdkafka_styles() {
        let c = SaslClientConfig::from_properties(&pairs(&[
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s";"#,
            ),
        ]))
        .unwrap();
        assert_eq!((c.mechanism.as_str(), c.username.as_str(), c.password.as_str()), ("SCRAM-SHA-512", "alice", "s"));
        let c = SaslClientConfig::from_properties(&pairs(&[("sasl.username", "bob"), ("sasl.password", "p")])).unwrap();
        assert_eq!(c.mechanism, "PLAIN");
        assert!(!format!("{c:?}").contains("\"p\""));
        assert!(SaslClientConfig::from_properties(&pairs(&[("sasl.mechanism", "GSSAPI")])).is_err());
        assert!(SaslClientConfig::from_properties(&pairs(&[("sasl.username", "bob")])).is_err());
        assert!(SaslClientConfig::from_properties(&pairs(&[
            ("sasl.mechanism", "PLAIN"),
            ("sasl.jaas.config", r#"x.ScramLoginModule required username="a" password="b";"#),
        ]))
        .is_err());
    }
}
