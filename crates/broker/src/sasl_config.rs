//! SASL settings of the broker, with Kafka's property names:
//!
//! - `sasl.enabled.mechanisms`, per listener
//!   `listener.name.<listener>.sasl.enabled.mechanisms`;
//! - PLAIN users from a JAAS entry, most specific first:
//!   `listener.name.<listener>.plain.sasl.jaas.config`,
//!   `plain.sasl.jaas.config`, `sasl.jaas.config`, e.g.
//!   `org.apache.kafka.common.security.plain.PlainLoginModule required
//!   username="admin" password="admin-secret" user_admin="admin-secret";`
//!   (`user_<name>` are the users; `username`/`password` are what this broker
//!   presents when it connects to another one);
//! - `connections.max.reauth.ms` (KIP-368; 0 = no re-authentication),
//!   per listener too;
//! - `sasl.mechanism.inter.broker.protocol`.
//!
//! JAAS entries hold passwords, so they are not in the property table that
//! DescribeConfigs lists. SCRAM users live in the metadata log (KIP-554),
//! not here.

use std::collections::BTreeMap;

use brook_security::sasl::client_config::SaslClientConfig;
use brook_security::sasl::jaas::JaasConfig;
use brook_security::sasl::{PLAIN, SCRAM_SHA_256, SCRAM_SHA_512, SUPPORTED_MECHANISMS};

use crate::config::ConfigError;

const LISTENER_PREFIX: &str = "listener.name.";

/// Whether `name` is a SASL property outside the property table (JAAS
/// entries and listener-prefixed settings). Values are checked by
/// [`SaslConfig::from_properties`].
pub fn is_sasl_property(name: &str) -> bool {
    let name = match name.strip_prefix(LISTENER_PREFIX).and_then(|rest| rest.split_once('.')) {
        Some((_listener, setting)) => {
            if setting == "sasl.enabled.mechanisms" || setting == "connections.max.reauth.ms" {
                return true;
            }
            setting
        }
        None => name,
    };
    name == "sasl.jaas.config"
        || name
            .strip_suffix(".sasl.jaas.config")
            .is_some_and(|m| SUPPORTED_MECHANISMS.iter().any(|s| s.eq_ignore_ascii_case(m)))
}

#[derive(Debug, Clone, Default)]
pub struct SaslConfig {
    enabled_mechanisms: Vec<String>,
    /// By lower-case listener name.
    listener_mechanisms: BTreeMap<String, Vec<String>>,
    /// PLAIN users (name → password): "" for the unprefixed entry, else by
    /// lower-case listener name.
    plain_users: BTreeMap<String, BTreeMap<String, String>>,
    /// The unprefixed PLAIN entry's own username/password.
    pub plain_client: Option<(String, String)>,
    pub max_reauth_ms: i64,
    listener_max_reauth_ms: BTreeMap<String, i64>,
    pub inter_broker_mechanism: String,
    /// This broker's own logins (JAAS `username`/`password`) by (lower-case
    /// listener or "", mechanism), for connecting to other brokers.
    client_logins: BTreeMap<(String, String), (String, String)>,
}

fn mechanisms(name: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let list: Vec<String> = value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    for m in &list {
        if !SUPPORTED_MECHANISMS.contains(&m.as_str()) {
            return Err(ConfigError::Invalid {
                name: name.to_string(),
                reason: format!(
                    "unsupported SASL mechanism '{m}' (Brook supports {})",
                    SUPPORTED_MECHANISMS.join(", ")
                ),
            });
        }
    }
    Ok(list)
}

fn reauth_ms(name: &str, value: &str) -> Result<i64, ConfigError> {
    value.trim().parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| ConfigError::Invalid {
        name: name.to_string(),
        reason: "expected a non-negative number of milliseconds".into(),
    })
}

fn scram_jaas(name: &str, value: &str) -> Result<JaasConfig, ConfigError> {
    let jaas = JaasConfig::parse(value).map_err(|e| ConfigError::Invalid { name: name.to_string(), reason: e.0 })?;
    if !jaas.login_module.ends_with("ScramLoginModule") {
        return Err(ConfigError::Invalid {
            name: name.to_string(),
            reason: format!(
                "expected org.apache.kafka.common.security.scram.ScramLoginModule, not {}",
                jaas.login_module
            ),
        });
    }
    Ok(jaas)
}

fn plain_jaas(name: &str, value: &str) -> Result<JaasConfig, ConfigError> {
    let jaas = JaasConfig::parse(value).map_err(|e| ConfigError::Invalid { name: name.to_string(), reason: e.0 })?;
    if !jaas.login_module.ends_with("PlainLoginModule") {
        return Err(ConfigError::Invalid {
            name: name.to_string(),
            reason: format!(
                "PLAIN users come from org.apache.kafka.common.security.plain.PlainLoginModule, not {} \
                 (SCRAM users are created with AlterUserScramCredentials, e.g. `brook user add`)",
                jaas.login_module
            ),
        });
    }
    Ok(jaas)
}

impl SaslConfig {
    /// Reads the SASL settings out of validated broker properties.
    pub fn from_properties(
        props: &BTreeMap<String, String>,
        default_mechanisms: &str,
    ) -> Result<SaslConfig, ConfigError> {
        let mut config = SaslConfig {
            enabled_mechanisms: mechanisms(
                "sasl.enabled.mechanisms",
                props.get("sasl.enabled.mechanisms").map_or(default_mechanisms, String::as_str),
            )?,
            max_reauth_ms: props
                .get("connections.max.reauth.ms")
                .map_or(Ok(0), |v| reauth_ms("connections.max.reauth.ms", v))?,
            inter_broker_mechanism: props
                .get("sasl.mechanism.inter.broker.protocol")
                .cloned()
                .unwrap_or_else(|| PLAIN.into()),
            ..SaslConfig::default()
        };
        mechanisms("sasl.mechanism.inter.broker.protocol", &config.inter_broker_mechanism)?;
        // Unprefixed PLAIN entry: plain.sasl.jaas.config wins over sasl.jaas.config.
        for name in ["sasl.jaas.config", "plain.sasl.jaas.config"] {
            if let Some(value) = props.get(name) {
                let jaas = plain_jaas(name, value)?;
                config.plain_users.insert(String::new(), jaas.plain_users());
                config.plain_client =
                    jaas.option("username").zip(jaas.option("password")).map(|(u, p)| (u.into(), p.into()));
                config.add_login("", PLAIN, &jaas);
            }
        }
        for m in [SCRAM_SHA_256, SCRAM_SHA_512] {
            let name = format!("{}.sasl.jaas.config", m.to_ascii_lowercase());
            if let Some(value) = props.get(&name) {
                config.add_login("", m, &scram_jaas(&name, value)?);
            }
        }
        for (name, value) in props {
            let Some((listener, setting)) = name.strip_prefix(LISTENER_PREFIX).and_then(|r| r.split_once('.')) else {
                continue;
            };
            let listener = listener.to_ascii_lowercase();
            match setting {
                "sasl.enabled.mechanisms" => {
                    config.listener_mechanisms.insert(listener, mechanisms(name, value)?);
                }
                "connections.max.reauth.ms" => {
                    config.listener_max_reauth_ms.insert(listener, reauth_ms(name, value)?);
                }
                s if s.eq_ignore_ascii_case("plain.sasl.jaas.config") || s == "sasl.jaas.config" => {
                    let jaas = plain_jaas(name, value)?;
                    config.plain_users.insert(listener.clone(), jaas.plain_users());
                    config.add_login(&listener, PLAIN, &jaas);
                }
                s => {
                    for m in [SCRAM_SHA_256, SCRAM_SHA_512] {
                        if s.eq_ignore_ascii_case(&format!("{m}.sasl.jaas.config")) {
                            config.add_login(&listener, m, &scram_jaas(name, value)?);
                        }
                    }
                }
            }
        }
        Ok(config)
    }

    fn add_login(&mut self, listener: &str, mechanism: &str, jaas: &JaasConfig) {
        if let (Some(u), Some(p)) = (jaas.option("username"), jaas.option("password")) {
            self.client_logins.insert((listener.to_string(), mechanism.to_string()), (u.to_string(), p.to_string()));
        }
    }

    /// How this broker logs in to other brokers on the SASL inter-broker
    /// listener: `sasl.mechanism.inter.broker.protocol` with the username and
    /// password of that listener's JAAS entry for the mechanism.
    pub fn inter_broker_login(&self, listener: &str) -> Result<SaslClientConfig, ConfigError> {
        let mechanism = &self.inter_broker_mechanism;
        let invalid =
            |reason: String| ConfigError::Invalid { name: "sasl.mechanism.inter.broker.protocol".into(), reason };
        if !self.mechanisms(listener).contains(mechanism) {
            return Err(invalid(format!("{mechanism} is not enabled on the inter-broker listener {listener}")));
        }
        let lower = listener.to_ascii_lowercase();
        let (username, password) = self
            .client_logins
            .get(&(lower.clone(), mechanism.clone()))
            .or_else(|| self.client_logins.get(&(String::new(), mechanism.clone())))
            .cloned()
            .ok_or_else(|| {
                invalid(format!(
                    "the inter-broker listener {listener} is SASL: set listener.name.{lower}.{}.sasl.jaas.config \
                     with username and password",
                    mechanism.to_ascii_lowercase()
                ))
            })?;
        Ok(SaslClientConfig { mechanism: mechanism.clone(), username, password })
    }

    /// The mechanisms a listener accepts.
    pub fn mechanisms(&self, listener: &str) -> &[String] {
        self.listener_mechanisms.get(&listener.to_ascii_lowercase()).unwrap_or(&self.enabled_mechanisms)
    }

    /// A PLAIN user's password on a listener.
    pub fn plain_password(&self, listener: &str, user: &str) -> Option<String> {
        self.plain_users
            .get(&listener.to_ascii_lowercase())
            .or_else(|| self.plain_users.get(""))
            .and_then(|users| users.get(user))
            .cloned()
    }

    /// `connections.max.reauth.ms` of a listener (0: sessions never expire).
    pub fn max_reauth_ms(&self, listener: &str) -> i64 {
        self.listener_max_reauth_ms.get(&listener.to_ascii_lowercase()).copied().unwrap_or(self.max_reauth_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#;

    #[test]
    fn listener_settings_override_the_defaults() {
        let c = SaslConfig::from_properties(
            &props(&[
                ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
                ("listener.name.sasl_plaintext.sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256"),
                ("listener.name.sasl_plaintext.plain.sasl.jaas.config", JAAS),
                ("connections.max.reauth.ms", "5000"),
                ("listener.name.other.connections.max.reauth.ms", "0"),
            ]),
            "PLAIN",
        )
        .unwrap();
        assert_eq!(c.mechanisms("SASL_PLAINTEXT"), ["PLAIN", "SCRAM-SHA-256"]);
        assert_eq!(c.mechanisms("SASL_SSL"), ["SCRAM-SHA-512"]);
        assert_eq!(c.plain_password("SASL_PLAINTEXT", "alice").as_deref(), Some("alice-secret"));
        assert_eq!(c.plain_password("SASL_SSL", "alice"), None);
        assert_eq!(c.max_reauth_ms("SASL_PLAINTEXT"), 5000);
        assert_eq!(c.max_reauth_ms("OTHER"), 0);
    }

    #[test]
    fn unprefixed_jaas_and_errors() {
        let c = SaslConfig::from_properties(&props(&[("sasl.jaas.config", JAAS)]), "PLAIN").unwrap();
        assert_eq!(c.plain_password("ANY", "admin").as_deref(), Some("admin-secret"));
        assert_eq!(c.plain_client, Some(("admin".into(), "admin-secret".into())));
        assert!(SaslConfig::from_properties(&props(&[("sasl.enabled.mechanisms", "GSSAPI")]), "PLAIN").is_err());
        assert!(SaslConfig::from_properties(&props(&[("sasl.jaas.config", "x required;")]), "PLAIN").is_err());
        assert!(SaslConfig::from_properties(&props(&[("sasl.jaas.config", "broken")]), "PLAIN").is_err());
        assert!(SaslConfig::from_properties(&props(&[("connections.max.reauth.ms", "-1")]), "PLAIN").is_err());
        assert!(is_sasl_property("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"));
        assert!(is_sasl_property("listener.name.x.sasl.enabled.mechanisms"));
        assert!(!is_sasl_property("listener.name.x.ssl.keystore.location"));
        assert!(!is_sasl_property("gssapi.sasl.jaas.config"));
    }

    #[test]
    fn inter_broker_logins() {
        let c = SaslConfig::from_properties(
            &props(&[
                ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"),
                (
                    "listener.name.internal.scram-sha-512.sasl.jaas.config",
                    r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="b";"#,
                ),
            ]),
            "PLAIN,SCRAM-SHA-512",
        )
        .unwrap();
        let login = c.inter_broker_login("INTERNAL").unwrap();
        assert_eq!((login.mechanism.as_str(), login.username.as_str()), ("SCRAM-SHA-512", "broker"));
        assert!(c.inter_broker_login("OTHER").is_err());
        let plain =
            SaslConfig::from_properties(&props(&[("listener.name.internal.plain.sasl.jaas.config", JAAS)]), "PLAIN")
                .unwrap();
        assert_eq!(plain.inter_broker_login("INTERNAL").unwrap().username, "admin");
        assert!(SaslConfig::from_properties(
            &props(&[("listener.name.x.scram-sha-256.sasl.jaas.config", JAAS)]),
            "PLAIN"
        )
        .is_err());
    }
}
