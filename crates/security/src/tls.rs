//! TLS with rustls from Kafka's `ssl.*` properties (PEM only): the server
//! side of SSL/SASL_SSL listeners (with certificate reload), the client side
//! of brokers, controllers and clients, and the subject DN of a peer
//! certificate for the principal.
//!
//! Properties read (Kafka's names): `ssl.keystore.type` (PEM),
//! `ssl.keystore.location` (key + chain in one PEM file) or
//! `ssl.keystore.certificate.chain` + `ssl.keystore.key` (inline PEM),
//! `ssl.key.password` (refused: encrypted keys are not supported),
//! `ssl.truststore.type` (PEM), `ssl.truststore.location` /
//! `ssl.truststore.certificates`, `ssl.client.auth`,
//! `ssl.endpoint.identification.algorithm` (client side).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{property}: {reason}")]
pub struct TlsError {
    pub property: String,
    pub reason: String,
}

fn err(property: &str, reason: impl Into<String>) -> TlsError {
    TlsError { property: property.to_string(), reason: reason.into() }
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Required,
    Requested,
    None,
}

/// Where the node's own key and chain come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    /// Chain and key in separate PEM files (librdkafka's names).
    Files {
        chain: PathBuf,
        key: PathBuf,
    },
    Inline {
        chain: String,
        key: String,
    },
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    File(PathBuf),
    Inline(String),
}

/// The `ssl.*` settings of one listener (or one client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub keystore: Option<KeySource>,
    pub truststore: Option<TrustSource>,
    pub client_auth: ClientAuth,
    /// Client side: check the server's certificate names the host dialled
    /// (`ssl.endpoint.identification.algorithm=https`, Kafka's default).
    pub verify_hostname: bool,
}

/// The properties [`TlsSettings::from_properties`] reads.
pub const SSL_PROPERTIES: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.client.auth",
    "ssl.endpoint.identification.algorithm",
    "ssl.principal.mapping.rules",
];

impl TlsSettings {
    /// Reads Kafka's `ssl.*` properties through `get` (unset: `None`).
    pub fn from_properties(get: &dyn Fn(&str) -> Option<String>) -> Result<TlsSettings, TlsError> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        for store in ["ssl.keystore.type", "ssl.truststore.type"] {
            if let Some(t) = set(store) {
                if !t.eq_ignore_ascii_case("PEM") {
                    return Err(err(store, format!("'{t}' is not supported; only PEM")));
                }
            }
        }
        if set("ssl.key.password").is_some() {
            return Err(err(
                "ssl.key.password",
                "encrypted private keys are not supported; give an unencrypted PEM key (PKCS#8, PKCS#1 or SEC1)",
            ));
        }
        let keystore =
            match (set("ssl.keystore.location"), set("ssl.keystore.certificate.chain"), set("ssl.keystore.key")) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                    return Err(err(
                        "ssl.keystore.location",
                        "give either a keystore file or ssl.keystore.certificate.chain + ssl.keystore.key, not both",
                    ))
                }
                (Some(path), None, None) => Some(KeySource::File(PathBuf::from(path))),
                (None, Some(chain), Some(key)) => Some(KeySource::Inline { chain, key }),
                (None, Some(_), None) => {
                    return Err(err("ssl.keystore.key", "required with ssl.keystore.certificate.chain"))
                }
                (None, None, Some(_)) => {
                    return Err(err("ssl.keystore.certificate.chain", "required with ssl.keystore.key"))
                }
                (None, None, None) => None,
            };
        let truststore = match (set("ssl.truststore.location"), set("ssl.truststore.certificates")) {
            (Some(_), Some(_)) => {
                return Err(err("ssl.truststore.location", "give either it or ssl.truststore.certificates, not both"))
            }
            (Some(path), None) => Some(TrustSource::File(PathBuf::from(path))),
            (None, Some(pem)) => Some(TrustSource::Inline(pem)),
            (None, None) => None,
        };
        let client_auth = match set("ssl.client.auth").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("none") => ClientAuth::None,
            Some("required") => ClientAuth::Required,
            Some("requested") => ClientAuth::Requested,
            Some(other) => return Err(err("ssl.client.auth", format!("'{other}' is not required, requested or none"))),
        };
        let verify_hostname = match get("ssl.endpoint.identification.algorithm") {
            None => true,
            Some(v) if v.trim().is_empty() => false,
            Some(v) if v.trim().eq_ignore_ascii_case("https") => true,
            Some(v) => {
                return Err(err("ssl.endpoint.identification.algorithm", format!("'{v}' is not https or empty")))
            }
        };
        Ok(TlsSettings { keystore, truststore, client_auth, verify_hostname })
    }

    /// Files whose change should reload the config.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        match &self.keystore {
            Some(KeySource::File(p)) => out.push(p.clone()),
            Some(KeySource::Files { chain, key }) => out.extend([chain.clone(), key.clone()]),
            _ => {}
        }
        if let Some(TrustSource::File(p)) = &self.truststore {
            out.push(p.clone());
        }
        out
    }

    fn key_and_chain(&self) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, TlsError> {
        let (pem, property) = match &self.keystore {
            None => return Ok(None),
            Some(KeySource::File(path)) => (read(path, "ssl.keystore.location")?, "ssl.keystore.location"),
            Some(KeySource::Inline { chain, key }) => (format!("{key}\n{chain}"), "ssl.keystore.certificate.chain"),
            Some(KeySource::Files { chain, key }) => (
                format!("{}\n{}", read(key, "ssl.key.location")?, read(chain, "ssl.certificate.location")?),
                "ssl.certificate.location",
            ),
        };
        if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err(err(property, "the private key is encrypted; encrypted keys are not supported"));
        }
        let chain = certs(&pem, property)?;
        let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| err(property, format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}")))?;
        Ok(Some((chain, key)))
    }

    fn roots(&self) -> Result<Option<RootCertStore>, TlsError> {
        let (pem, property) = match &self.truststore {
            None => return Ok(None),
            Some(TrustSource::File(path)) => (read(path, "ssl.truststore.location")?, "ssl.truststore.location"),
            Some(TrustSource::Inline(pem)) => (pem.clone(), "ssl.truststore.certificates"),
        };
        let mut roots = RootCertStore::empty();
        for cert in certs(&pem, property)? {
            roots.add(cert).map_err(|e| err(property, format!("not a usable CA certificate: {e}")))?;
        }
        Ok(Some(roots))
    }

    /// The server side of a TLS listener.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let (chain, key) = self
            .key_and_chain()?
            .ok_or_else(|| err("ssl.keystore.location", "a TLS listener needs its certificate and key"))?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| err("ssl", e.to_string()))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let roots = self.roots()?.ok_or_else(|| {
                    err("ssl.truststore.location", "ssl.client.auth=required|requested needs a truststore")
                })?;
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let verifier = if auth == ClientAuth::Requested { verifier.allow_unauthenticated() } else { verifier };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| err("ssl.truststore", e.to_string()))?)
            }
        };
        let config =
            builder.with_single_cert(chain, key).map_err(|e| err("ssl.keystore", format!("key and chain: {e}")))?;
        Ok(Arc::new(config))
    }

    /// The client side: trusts the truststore (else the system's CAs) and
    /// presents the keystore's certificate when one is configured.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let roots = match self.roots()? {
            Some(r) => r,
            None => system_roots()?,
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| err("ssl", e.to_string()))?;
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| err("ssl.truststore", e.to_string()))?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName(inner)))
        };
        let config = match self.key_and_chain()? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| err("ssl.keystore", format!("key and chain: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path, property: &str) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| err(property, format!("{}: {e}", path.display())))
}

fn certs(pem: &str, property: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(property, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(err(property, "no CERTIFICATE in the PEM"));
    }
    Ok(certs)
}

/// The system's CA bundle (Debian's path), for clients without a truststore.
fn system_roots() -> Result<RootCertStore, TlsError> {
    let path = Path::new("/etc/ssl/certs/ca-certificates.crt");
    let pem = read(path, "ssl.truststore.location (none given; the system CAs)")?;
    let mut roots = RootCertStore::empty();
    let (_, _) = roots.add_parsable_certificates(CertificateDer::pem_slice_iter(pem.as_bytes()).flatten());
    Ok(roots)
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain must be
/// trusted, but may name any host.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A server config that follows its files: new connections get a config
/// rebuilt when a keystore or truststore file changed (checked at most once
/// a second, on accept). A file that does not load is logged and the
/// previous config kept.
pub struct ReloadingServerConfig {
    settings: TlsSettings,
    state: std::sync::Mutex<ReloadState>,
}

struct ReloadState {
    config: Arc<ServerConfig>,
    stamps: Vec<Option<SystemTime>>,
    checked: Instant,
}

const RELOAD_CHECK: Duration = Duration::from_secs(1);

impl ReloadingServerConfig {
    pub fn new(settings: TlsSettings) -> Result<ReloadingServerConfig, TlsError> {
        let config = settings.server_config()?;
        let stamps = stamps(&settings.files());
        Ok(ReloadingServerConfig {
            settings,
            state: std::sync::Mutex::new(ReloadState { config, stamps, checked: Instant::now() }),
        })
    }

    /// The config for a new connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let now = stamps(&self.settings.files());
            if now != state.stamps {
                state.stamps = now;
                match self.settings.server_config() {
                    Ok(config) => {
                        tracing::info!(files = ?self.settings.files(), "TLS certificates changed; reloaded");
                        state.config = config;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificates changed but do not load; keeping the previous ones")
                    }
                }
            }
        }
        state.config.clone()
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files.iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
}

/// The subject DN of a DER certificate in RFC 2253 form, as Java's
/// `X500Principal.getName()` gives it: most specific RDN first, no spaces
/// (`CN=alice,OU=eng,O=corp`).
pub fn subject_dn(cert: &[u8]) -> Result<String, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).map_err(|e| format!("bad certificate: {e}"))?;
    let mut rdns = Vec::new();
    for rdn in parsed.subject().iter() {
        let mut parts = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let name = match oid.as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.9" => "STREET".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                "0.9.2342.19200300.100.1.1" => "UID".to_string(),
                other => other.to_string(),
            };
            let value = match attr.as_str() {
                Ok(s) => escape_rfc2253(s),
                Err(_) => {
                    format!("#{}", attr.attr_value().as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
                }
            };
            parts.push(format!("{name}={value}"));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<TlsSettings, TlsError> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        TlsSettings::from_properties(&|n| map.get(n).cloned())
    }

    #[test]
    fn kafkas_ssl_properties() {
        let s = settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", "/k.pem"),
            ("ssl.truststore.location", "/t.pem"),
            ("ssl.client.auth", "required"),
        ])
        .unwrap();
        assert_eq!(s.keystore, Some(KeySource::File("/k.pem".into())));
        assert_eq!(s.truststore, Some(TrustSource::File("/t.pem".into())));
        assert_eq!(s.client_auth, ClientAuth::Required);
        assert!(s.verify_hostname);
        assert_eq!(s.files(), vec![PathBuf::from("/k.pem"), PathBuf::from("/t.pem")]);
        let inline = settings(&[
            ("ssl.keystore.certificate.chain", "C"),
            ("ssl.keystore.key", "K"),
            ("ssl.truststore.certificates", "T"),
            ("ssl.endpoint.identification.algorithm", ""),
        ])
        .unwrap();
        assert_eq!(inline.keystore, Some(KeySource::Inline { chain: "C".into(), key: "K".into() }));
        assert!(!inline.verify_hostname);
        assert_eq!(inline.client_auth, ClientAuth::None);
        for bad in [
            &[("ssl.keystore.type", "JKS")][..],
            &[("ssl.key.password", "x")],
            &[("ssl.keystore.key", "K")],
            &[("ssl.client.auth", "always")],
            &[("ssl.keystore.location", "/k"), ("ssl.keystore.key", "K")],
            &[("ssl.endpoint.identification.algorithm", "ldap")],
        ] {
            assert!(settings(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn missing_files_and_keys_are_config_errors() {
        let s = settings(&[("ssl.keystore.location", "/no/such/file.pem")]).unwrap();
        let e = s.server_config().unwrap_err();
        assert!(e.reason.contains("/no/such/file.pem"), "{e}");
        assert!(settings(&[]).unwrap().server_config().is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, "not pem").unwrap();
        let s = settings(&[("ssl.keystore.location", path.to_str().unwrap())]).unwrap();
        assert!(s.server_config().is_err());
    }

    #[test]
    fn rfc2253_escapes() {
        assert_eq!(escape_rfc2253("Tkac, Adam"), "Tkac\\, Adam");
        assert_eq!(escape_rfc2253(" #x "), "\\ #x\\ ");
        assert_eq!(escape_rfc2253("a+b"), "a\\+b");
    }
}
