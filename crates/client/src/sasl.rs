//! The client half of SASL: after ApiVersions, SaslHandshake v1 and
//! SaslAuthenticate exchanges for PLAIN or SCRAM-SHA-256/512, checking the
//! broker's final SCRAM signature (it must know the credential too).
//! Re-authentication (KIP-368) is not done: a connection closed by the
//! broker when its session ends is reopened (and re-authenticated) by
//! [`crate::Cluster`] on next use.

use brook_security::sasl::client_config::{SaslClientConfig, SaslClientExchange};
use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use crate::connection::BrokerConnection;
use crate::error::{ClientError, Result};

/// Kafka's SASL_AUTHENTICATION_FAILED.
const SASL_AUTHENTICATION_FAILED: i16 = 58;

fn failed(message: impl Into<String>) -> ClientError {
    ClientError::from_code(SASL_AUTHENTICATION_FAILED, message.into())
}

async fn exchange_token(conn: &BrokerConnection, token: Vec<u8>) -> Result<SaslAuthenticateResponse> {
    let response = conn.send(2, &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token))).await?;
    if response.error_code != 0 {
        let message = response.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
        return Err(ClientError::from_code(response.error_code, format!("SASL authentication failed: {message}")));
    }
    Ok(response)
}

/// Authenticates `conn` with `sasl`. Returns the session lifetime the broker
/// granted (0: none).
pub async fn authenticate(conn: &BrokerConnection, sasl: &SaslClientConfig) -> Result<i64> {
    let handshake = conn
        .send(1, &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(sasl.mechanism.clone())))
        .await?;
    if handshake.error_code != 0 {
        let enabled: Vec<String> = handshake.mechanisms.iter().map(|m| m.to_string()).collect();
        return Err(ClientError::from_code(
            handshake.error_code,
            format!("SASL mechanism {} refused; the broker offers {}", sasl.mechanism, enabled.join(", ")),
        ));
    }
    let mut exchange = SaslClientExchange::new(sasl).map_err(|e| ClientError::InvalidArgument(e.0))?;
    let mut server_token = Bytes::new();
    let mut lifetime_ms = 0;
    while let Some(token) = exchange.next(&server_token).map_err(|e| failed(e.0))? {
        let response = exchange_token(conn, token).await?;
        lifetime_ms = response.session_lifetime_ms;
        server_token = response.auth_bytes;
    }
    Ok(lifetime_ms)
}
