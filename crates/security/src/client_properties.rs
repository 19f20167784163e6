//! Kafka client security properties (a `--command-config` file, as Kafka's
//! tools take): `security.protocol` and the `ssl.*` settings, with
//! librdkafka's names accepted too (`ssl.ca.location`,
//! `ssl.certificate.location` + `ssl.key.location`). Other properties are
//! kept in `other` for the caller (and for SASL's `sasl.*`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::tls::{KeySource, TlsError, TlsSettings, TrustSource};
use crate::SecurityProtocol;

#[derive(Debug, Clone)]
pub struct ClientSecurity {
    pub protocol: SecurityProtocol,
    /// Present when the protocol uses TLS.
    pub tls: Option<TlsSettings>,
    /// Every property this module does not interpret.
    pub other: BTreeMap<String, String>,
}

impl Default for ClientSecurity {
    fn default() -> Self {
        ClientSecurity { protocol: SecurityProtocol::Plaintext, tls: None, other: BTreeMap::new() }
    }
}

fn err(property: &str, reason: impl Into<String>) -> TlsError {
    TlsError { property: property.to_string(), reason: reason.into() }
}

/// Names read here (besides Kafka's `ssl.*` list in `tls::SSL_PROPERTIES`).
const LIBRDKAFKA_SSL: &[&str] = &["ssl.ca.location", "ssl.certificate.location", "ssl.key.location"];

impl ClientSecurity {
    /// Parses `(name, value)` pairs (later ones win).
    pub fn from_properties(pairs: &[(String, String)]) -> Result<ClientSecurity, TlsError> {
        let mut props: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in pairs {
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        let protocol = match props.get("security.protocol") {
            Some(p) => p.parse::<SecurityProtocol>().map_err(|e| err("security.protocol", e))?,
            None => SecurityProtocol::Plaintext,
        };
        let mut own: BTreeMap<String, String> = BTreeMap::new();
        let mut other = BTreeMap::new();
        for (k, v) in &props {
            if k == "security.protocol"
                || crate::tls::SSL_PROPERTIES.contains(&k.as_str())
                || LIBRDKAFKA_SSL.contains(&k.as_str())
            {
                own.insert(k.clone(), v.clone());
            } else {
                other.insert(k.clone(), v.clone());
            }
        }
        if own.get("ssl.endpoint.identification.algorithm").is_some_and(|v| v.eq_ignore_ascii_case("none")) {
            own.insert("ssl.endpoint.identification.algorithm".into(), String::new());
        }
        let tls = if protocol.uses_tls() {
            let mut settings = TlsSettings::from_properties(&|n| own.get(n).cloned())?;
            if let Some(ca) = own.get("ssl.ca.location") {
                if settings.truststore.is_some() {
                    return Err(err("ssl.ca.location", "give either it or ssl.truststore.location"));
                }
                settings.truststore = Some(TrustSource::File(PathBuf::from(ca)));
            }
            match (own.get("ssl.certificate.location"), own.get("ssl.key.location")) {
                (None, None) => {}
                (Some(cert), Some(key)) => {
                    if settings.keystore.is_some() {
                        return Err(err("ssl.certificate.location", "give either it or ssl.keystore.location"));
                    }
                    settings.keystore = Some(KeySource::Files { chain: PathBuf::from(cert), key: PathBuf::from(key) });
                }
                (Some(_), None) => return Err(err("ssl.key.location", "required with ssl.certificate.location")),
                (None, Some(_)) => return Err(err("ssl.certificate.location", "required with ssl.key.location")),
            }
            Some(settings)
        } else {
            None
        };
        Ok(ClientSecurity { protocol, tls, other })
    }

    /// The rustls client config, when the protocol uses TLS.
    pub fn tls_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>, TlsError> {
        self.tls.as_ref().map(TlsSettings::client_config).transpose()
    }
}

/// Reads a Java properties file (`name=value`, `#`/`!` comments).
pub fn parse_properties_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) =
            line.split_once(['=', ':']).ok_or_else(|| format!("line {}: expected NAME=VALUE, got '{line}'", n + 1))?;
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientSecurity, TlsError> {
        ClientSecurity::from_properties(&parse_properties_file(text).unwrap())
    }

    #[test]
    fn kafka_and_librdkafka_names() {
        let c = parse(
            "security.protocol=SSL\nssl.truststore.location=/ca.pem\nssl.keystore.location=/me.pem\nclient.id=x\n",
        )
        .unwrap();
        assert_eq!(c.protocol, SecurityProtocol::Ssl);
        let tls = c.tls.unwrap();
        assert_eq!(tls.truststore, Some(TrustSource::File("/ca.pem".into())));
        assert_eq!(tls.keystore, Some(KeySource::File("/me.pem".into())));
        assert!(tls.verify_hostname);
        assert_eq!(c.other.get("client.id").map(String::as_str), Some("x"));

        let c = parse(
            "security.protocol=ssl\nssl.ca.location=/ca.pem\nssl.certificate.location=/c.pem\nssl.key.location=/k.pem\nssl.endpoint.identification.algorithm=none\n",
        )
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.keystore, Some(KeySource::Files { chain: "/c.pem".into(), key: "/k.pem".into() }));
        assert_eq!(tls.truststore, Some(TrustSource::File("/ca.pem".into())));
        assert!(!tls.verify_hostname);

        let plain = parse("").unwrap();
        assert_eq!(plain.protocol, SecurityProtocol::Plaintext);
        assert!(plain.tls.is_none());
        assert!(parse("security.protocol=TLS").is_err());
        assert!(parse("security.protocol=SSL\nssl.certificate.location=/c.pem").is_err());
        assert!(parse("security.protocol=SSL\nssl.ca.location=/a\nssl.truststore.location=/b").is_err());
    }
}
