//! Kafka's principal (`User:alice`) and the four security protocols a
//! listener can speak.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An authenticated identity, as Kafka names it: a type (`User` for every
/// built-in authenticator) and a name. Unauthenticated connections are
/// `User:ANONYMOUS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

impl KafkaPrincipal {
    pub const USER_TYPE: &'static str = "User";
    pub const ANONYMOUS_NAME: &'static str = "ANONYMOUS";

    pub fn user(name: impl Into<String>) -> KafkaPrincipal {
        KafkaPrincipal { principal_type: Self::USER_TYPE.to_string(), name: name.into() }
    }

    pub fn anonymous() -> KafkaPrincipal {
        Self::user(Self::ANONYMOUS_NAME)
    }

    pub fn is_anonymous(&self) -> bool {
        self.principal_type == Self::USER_TYPE && self.name == Self::ANONYMOUS_NAME
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a principal (expected Type:name, e.g. User:alice)")]
pub struct BadPrincipal(String);

impl FromStr for KafkaPrincipal {
    type Err = BadPrincipal;

    /// Parses `User:alice` (the name may itself contain ':').
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((t, n)) if !t.is_empty() && !n.is_empty() => {
                Ok(KafkaPrincipal { principal_type: t.to_string(), name: n.to_string() })
            }
            _ => Err(BadPrincipal(s.to_string())),
        }
    }
}

/// What a listener speaks (`listener.security.protocol.map` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SecurityProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            other => Err(format!("unknown security protocol '{other}' (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_parse_and_print_as_kafka_does() {
        let p: KafkaPrincipal = "User:CN=alice,O=x:y".parse().unwrap();
        assert_eq!(p.name, "CN=alice,O=x:y");
        assert_eq!(p.to_string(), "User:CN=alice,O=x:y");
        assert!(KafkaPrincipal::anonymous().is_anonymous());
        assert!("alice".parse::<KafkaPrincipal>().is_err());
        assert!(":alice".parse::<KafkaPrincipal>().is_err());
    }

    #[test]
    fn security_protocols() {
        assert_eq!("sasl_ssl".parse::<SecurityProtocol>().unwrap(), SecurityProtocol::SaslSsl);
        assert!(SecurityProtocol::SaslSsl.uses_tls() && SecurityProtocol::SaslSsl.uses_sasl());
        assert!(!SecurityProtocol::Plaintext.uses_tls());
        assert!("TLS".parse::<SecurityProtocol>().is_err());
    }
}
