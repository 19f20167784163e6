//! The TLS side of one SSL or SASL_SSL listener: the (reloading) server
//! config, the handshake with a time limit, and the client certificate's
//! principal through `ssl.principal.mapping.rules`.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::principal_mapping::PrincipalMapper;
use crate::stream::Stream;
use crate::tls::{subject_dn, ReloadingServerConfig, TlsError, TlsSettings};
use crate::{KafkaPrincipal, SecurityProtocol};

/// How long a client may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ListenerTls {
    config: ReloadingServerConfig,
    mapper: PrincipalMapper,
    protocol: SecurityProtocol,
}

impl ListenerTls {
    /// From the listener's effective `ssl.*` properties.
    pub fn new(protocol: SecurityProtocol, get: &dyn Fn(&str) -> Option<String>) -> Result<ListenerTls, TlsError> {
        let settings = TlsSettings::from_properties(get)?;
        let rules = get("ssl.principal.mapping.rules").unwrap_or_else(|| "DEFAULT".to_string());
        let mapper = PrincipalMapper::parse(&rules)
            .map_err(|e| TlsError { property: "ssl.principal.mapping.rules".into(), reason: e.to_string() })?;
        Ok(ListenerTls { config: ReloadingServerConfig::new(settings)?, mapper, protocol })
    }

    /// Runs the handshake. On an SSL listener a client certificate gives the
    /// principal (its subject DN through the mapping rules); on SASL_SSL the
    /// principal is left to SASL, as Kafka does.
    pub async fn handshake(&self, tcp: TcpStream) -> Result<(Stream, Option<KafkaPrincipal>), String> {
        let config = self.config.current();
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, Stream::accept(tcp, config))
            .await
            .map_err(|_| "handshake timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if self.protocol != SecurityProtocol::Ssl {
            return Ok((stream, None));
        }
        let Some(cert) = stream.peer_certificate() else { return Ok((stream, None)) };
        let dn = subject_dn(&cert)?;
        let name = self.mapper.apply(&dn).map_err(|e| e.to_string())?;
        Ok((stream, Some(KafkaPrincipal::user(name))))
    }
}
