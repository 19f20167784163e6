//! SaslAuthenticate, versions 0..=2: one SASL token each way. The
//! connection's [`Authenticator`] runs the exchange ([`respond`]); a failure
//! is answered SASL_AUTHENTICATION_FAILED with a message and the connection
//! closed. v1+ carries KIP-368's `session_lifetime_ms`. Outside an exchange
//! it is answered ILLEGAL_SASL_STATE ([`handle`]), as Kafka does.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use bytes::Bytes;
use tracing::{info, warn};

use super::{str_bytes, RequestContext, Versions};
use crate::authenticator::{AuthStep, Authenticator};
use crate::session::Session;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 2);

pub async fn handle(_ctx: &RequestContext<'_>, _request: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(error_code::ILLEGAL_SASL_STATE)
        .with_error_message(Some(str_bytes("SaslAuthenticate request received outside a SASL exchange")))
}

/// Feeds the request's token to the authenticator. On success the
/// session's principal becomes the authenticated user. Returns the
/// response and, after a failure, why the connection closes.
pub fn respond(
    auth: &mut Authenticator,
    session: &mut Session,
    version: Option<i16>,
    token: &[u8],
    now_ms: i64,
) -> (SaslAuthenticateResponse, Option<String>) {
    let peer = session.peer.map(|p| p.to_string()).unwrap_or_default();
    match auth.authenticate(version, token, now_ms) {
        AuthStep::Challenge(challenge) => {
            (SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(challenge)), None)
        }
        AuthStep::Done(done) => {
            if done.reauthenticated {
                info!(%peer, listener = %session.listener, principal = %done.principal, session_lifetime_ms = done.session_lifetime_ms, "SASL re-authentication succeeded");
            } else {
                info!(%peer, listener = %session.listener, principal = %done.principal, session_lifetime_ms = done.session_lifetime_ms, "SASL authentication succeeded");
            }
            session.principal = done.principal;
            let response = SaslAuthenticateResponse::default()
                .with_auth_bytes(Bytes::from(done.token))
                .with_session_lifetime_ms(done.session_lifetime_ms);
            (response, None)
        }
        AuthStep::Failed(message) => {
            warn!(%peer, listener = %session.listener, reason = %message, "Failed authentication");
            let response = SaslAuthenticateResponse::default()
                .with_error_code(error_code::SASL_AUTHENTICATION_FAILED)
                .with_error_message(Some(str_bytes(&message)));
            (response, Some(format!("SASL authentication failed: {message}")))
        }
    }
}
