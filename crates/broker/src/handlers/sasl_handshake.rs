//! SaslHandshake, versions 0..=1: the client names its SASL mechanism.
//! On a SASL listener the connection's [`Authenticator`] answers it
//! ([`respond`]): v1 is followed by SaslAuthenticate requests, v0 by raw
//! tokens. Anywhere else (a PLAINTEXT listener, or after authentication by a
//! client that cannot re-authenticate) it is answered ILLEGAL_SASL_STATE by
//! [`handle`], as Kafka's KafkaApis does.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use tracing::info;

use super::{str_bytes, RequestContext, Versions};
use crate::authenticator::Authenticator;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 1);

pub async fn handle(_ctx: &RequestContext<'_>, _request: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(error_code::ILLEGAL_SASL_STATE)
}

/// The authenticator's answer, and whether the connection closes after it
/// (an unsupported mechanism).
pub fn respond(
    auth: &mut Authenticator,
    version: i16,
    request: &SaslHandshakeRequest,
) -> (SaslHandshakeResponse, Option<String>) {
    let mechanism = request.mechanism.as_str();
    let outcome = auth.handshake(version, mechanism);
    let enabled = auth.mechanisms().iter().map(|m| str_bytes(m)).collect();
    let response = SaslHandshakeResponse::default().with_mechanisms(enabled);
    match outcome {
        Ok(()) => (response.with_error_code(error_code::NONE), None),
        Err(reason) => {
            info!(mechanism, enabled = ?auth.mechanisms(), "SASL handshake refused");
            (response.with_error_code(error_code::UNSUPPORTED_SASL_MECHANISM), Some(reason))
        }
    }
}
