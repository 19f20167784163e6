//! A Kafka-protocol connection from this broker to another broker's client
//! listener: what the replica fetcher, the transaction coordinator's marker
//! sender and produce-time transaction checks speak over. One request at a
//! time; every exchange is bounded by a timeout.

use std::time::Duration;

use brook_protocol::frame;
use brook_protocol::kafka_protocol::protocol::{Request, StrBytes};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

use brook_protocol::kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use brook_security::sasl::client_config::{SaslClientConfig, SaslClientExchange};
use brook_security::stream::Stream;

/// How long a connect or one request/response exchange may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The client side of TLS for inter-broker connections (`None`: plain TCP),
/// built from the inter-broker listener's `ssl.*` properties; and the SASL
/// login (`sasl.mechanism.inter.broker.protocol` with the listener's JAAS
/// username/password) when that listener is SASL_PLAINTEXT or SASL_SSL.
#[derive(Clone, Default)]
pub struct LinkTls(pub Option<Arc<rustls::ClientConfig>>, pub Option<SaslClientConfig>);

impl std::fmt::Debug for LinkTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "LinkTls(TLS)" } else { "LinkTls(plain)" })
    }
}

pub struct BrokerLink {
    stream: Stream,
    correlation_id: i32,
    client_id: StrBytes,
    max_response_bytes: usize,
}

impl BrokerLink {
    pub async fn connect(
        addr: &str,
        client_id: String,
        max_response_bytes: usize,
        tls: &LinkTls,
    ) -> std::io::Result<BrokerLink> {
        let stream = Stream::connect(addr, tls.0.as_ref(), IO_TIMEOUT).await?;
        let mut link =
            BrokerLink { stream, correlation_id: 0, client_id: StrBytes::from_string(client_id), max_response_bytes };
        if let Some(sasl) = &tls.1 {
            link.authenticate(sasl).await?;
        }
        Ok(link)
    }

    /// SaslHandshake v1, then SaslAuthenticate v1 until the exchange is done.
    async fn authenticate(&mut self, sasl: &SaslClientConfig) -> std::io::Result<()> {
        let refused = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
        let mechanism = StrBytes::from_string(sasl.mechanism.clone());
        let handshake = self.send(1, &SaslHandshakeRequest::default().with_mechanism(mechanism)).await?;
        if handshake.error_code != 0 {
            return Err(refused(format!("inter-broker SASL mechanism {} refused", sasl.mechanism)));
        }
        let mut exchange = SaslClientExchange::new(sasl).map_err(|e| refused(e.0))?;
        let mut server_token = bytes::Bytes::new();
        while let Some(token) = exchange.next(&server_token).map_err(|e| refused(e.0))? {
            let response = self.send(1, &SaslAuthenticateRequest::default().with_auth_bytes(token.into())).await?;
            if response.error_code != 0 {
                let message = response.error_message.map(|m| m.to_string()).unwrap_or_default();
                return Err(refused(format!("inter-broker SASL authentication failed: {message}")));
            }
            server_token = response.auth_bytes;
        }
        Ok(())
    }

    /// Sends `request` at `version` and waits for its answer.
    pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> std::io::Result<R::Response> {
        let invalid = |e: frame::FrameError| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string());
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let request = frame::encode_request(version, self.correlation_id, &self.client_id, request).map_err(invalid)?;
        let max = self.max_response_bytes;
        let exchange = async {
            self.stream.write_all(&request).await?;
            self.stream.flush().await?;
            frame::read_response_frame(&mut self.stream, max).await
        };
        let body = tokio::time::timeout(IO_TIMEOUT, exchange)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "broker did not answer"))??;
        frame::decode_response::<R>(version, Some(self.correlation_id), body).map_err(invalid)
    }
}
