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

/// The client side of one exchange, whatever the mechanism: the first
/// token, then one answer per server token until the server's last one is
/// checked. Pure; the caller moves the tokens (SaslAuthenticate).
pub enum SaslClientExchange {
    Plain { token: Vec<u8>, sent: bool },
    Scram { client: super::scram::ScramClient, step: u8 },
}

impl SaslClientExchange {
    pub fn new(config: &SaslClientConfig) -> Result<SaslClientExchange, SaslError> {
        if config.mechanism == PLAIN {
            return Ok(SaslClientExchange::Plain {
                token: super::plain::client_message(&config.username, &config.password),
                sent: false,
            });
        }
        let m = super::scram::ScramMechanism::from_name(&config.mechanism)
            .ok_or_else(|| SaslError::new(format!("unsupported SASL mechanism {}", config.mechanism)))?;
        Ok(SaslClientExchange::Scram {
            client: super::scram::ScramClient::new(m, &config.username, &config.password),
            step: 0,
        })
    }

    /// The next token to send, given the server's last token (ignored for
    /// the first call). `None`: the exchange is complete and the server proved
    /// itself where the mechanism can (SCRAM).
    pub fn next(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        match self {
            SaslClientExchange::Plain { token, sent } => {
                if *sent {
                    return Ok(None);
                }
                *sent = true;
                Ok(Some(std::mem::take(token)))
            }
            SaslClientExchange::Scram { client, step } => {
                *step += 1;
                match *step {
                    1 => Ok(Some(client.first())),
                    2 => client.respond(server_token).map(Some),
                    3 => client.finish(server_token).map(|()| None),
                    _ => Err(SaslError::new("SCRAM exchange already complete")),
                }
            }
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

    #[test]
    fn exchanges_against_the_servers() {
        use crate::sasl::scram::{ScramCredential, ScramMechanism, ScramServer};
        use crate::sasl::{SaslServer, Step};
        let config = SaslClientConfig { mechanism: "SCRAM-SHA-256".into(), username: "u".into(), password: "p".into() };
        let credential = ScramCredential::from_password(ScramMechanism::Sha256, "p", b"salt", 4096);
        let mut server = ScramServer::new(ScramMechanism::Sha256, move |_: &str| Some(credential.clone()));
        let mut client = SaslClientExchange::new(&config).unwrap();
        let mut server_token = Vec::new();
        let mut rounds = 0;
        while let Some(token) = client.next(&server_token).unwrap() {
            rounds += 1;
            server_token = match server.step(&token).unwrap() {
                Step::Challenge(t) => t,
                Step::Done { user, token } => {
                    assert_eq!(user, "u");
                    token
                }
            };
        }
        assert_eq!(rounds, 2);
        let plain = SaslClientConfig { mechanism: "PLAIN".into(), username: "u".into(), password: "p".into() };
        let mut client = SaslClientExchange::new(&plain).unwrap();
        assert_eq!(client.next(b"").unwrap(), Some(b"\0u\0p".to_vec()));
        assert_eq!(client.next(b"").unwrap(), None);
    }
}
