//! The SASL state of one connection on a SASL_PLAINTEXT or SASL_SSL
//! listener, as Kafka's SaslServerAuthenticator runs it:
//!
//! ```text
//! Handshake ──SaslHandshake(ok)──▶ Exchange ──SaslAuthenticate…(done)──▶ Authenticated
//!   │ ApiVersions served              │ failure: error response, close      │ SaslHandshake v1+ (KIP-368
//!   │ anything else: close            │ anything else: close                │ re-authentication) ──▶ Exchange
//! ```
//!
//! Before authentication only ApiVersions, SaslHandshake and
//! SaslAuthenticate are served; any other request closes the connection
//! (with a log line). SaslHandshake v0 switches the exchange to raw tokens
//! (4-byte size + token, no Kafka header), as old clients expect. With
//! `connections.max.reauth.ms` a session expires: an expired connection is
//! closed at its next request unless that request starts re-authentication,
//! which must keep the mechanism and the principal.
//!
//! This is plain state without IO or clocks (the caller passes `now_ms`):
//! the connection loop asks [`Authenticator::gate`] what to do with each
//! frame, and the SaslHandshake / SaslAuthenticate handlers drive the
//! transitions. Not thread-safe: one per connection.

use std::sync::Arc;

use brook_protocol::kafka_protocol::messages::{
    ApiKey, RequestHeader, RequestKind, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use brook_security::sasl::plain::PlainServer;
use brook_security::sasl::scram::{ScramCredential, ScramMechanism, ScramServer};
use brook_security::sasl::{SaslServer, Step, PLAIN};
use brook_security::{KafkaPrincipal, SecurityProtocol};

use crate::handlers::{self, Response};
use crate::session::Session;

/// Where the authenticator looks users up: PLAIN passwords from the
/// listener's JAAS entry, SCRAM credentials from the metadata image.
pub trait CredentialStore: Send + Sync {
    fn plain_password(&self, listener: &str, user: &str) -> Option<String>;
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential>;
}

/// What the connection does with a request frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Dispatch it as usual.
    Serve,
    /// A SaslHandshake that the authenticator answers.
    Handshake,
    /// A SaslAuthenticate that the authenticator answers.
    Authenticate,
    /// Close the connection; the reason is logged.
    Close(String),
}

enum State {
    /// Not a SASL listener: nothing to authenticate.
    Open,
    /// Waiting for SaslHandshake (ApiVersions allowed).
    Handshake,
    /// A mechanism is chosen; tokens flow in SaslAuthenticate requests, or
    /// raw after a v0 handshake.
    Exchange {
        server: Box<dyn SaslServer>,
        raw: bool,
    },
    /// Re-authentication asked for another mechanism: the next
    /// SaslAuthenticate fails with this message (Kafka's REAUTH_BAD_MECHANISM).
    BadReauthMechanism(String),
    Authenticated,
    /// Authentication failed; the connection is being closed.
    Failed,
}

/// A completed exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub principal: KafkaPrincipal,
    /// The last server token for the client.
    pub token: Vec<u8>,
    /// KIP-368's `session_lifetime_ms` (0: no expiry).
    pub session_lifetime_ms: i64,
    pub reauthenticated: bool,
}

/// A step of an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send this challenge; more tokens follow.
    Challenge(Vec<u8>),
    Done(Authenticated),
    /// Send SASL_AUTHENTICATION_FAILED with this message, then close.
    Failed(String),
}

pub struct Authenticator {
    listener: String,
    mechanisms: Vec<String>,
    max_reauth_ms: i64,
    credentials: Arc<dyn CredentialStore>,
    state: State,
    /// The mechanism of the current (or first) exchange.
    mechanism: Option<String>,
    /// The principal of the first authentication: re-authentication keeps it.
    principal: Option<KafkaPrincipal>,
    /// Whether the client sent SaslAuthenticate v1+ (it can re-authenticate).
    supports_reauth: bool,
    /// When the session expires (ms), if it does.
    expires_at_ms: Option<i64>,
    reauthenticating: bool,
}

impl Authenticator {
    pub fn new(
        listener: &str,
        protocol: SecurityProtocol,
        mechanisms: Vec<String>,
        max_reauth_ms: i64,
        credentials: Arc<dyn CredentialStore>,
    ) -> Authenticator {
        Authenticator {
            listener: listener.to_string(),
            mechanisms,
            max_reauth_ms,
            credentials,
            state: if protocol.uses_sasl() { State::Handshake } else { State::Open },
            mechanism: None,
            principal: None,
            supports_reauth: false,
            expires_at_ms: None,
            reauthenticating: false,
        }
    }

    /// Whether the next frame is a raw SASL token (after SaslHandshake v0).
    pub fn expects_raw_token(&self) -> bool {
        matches!(self.state, State::Exchange { raw: true, .. })
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Authenticated | State::Open)
    }

    pub fn mechanisms(&self) -> &[String] {
        &self.mechanisms
    }

    /// Decides what to do with a request of `api_key`.
    pub fn gate(&self, api_key: ApiKey, now_ms: i64) -> Gate {
        let during =
            |phase: &str| Gate::Close(format!("Unexpected Kafka request of type {api_key:?} during SASL {phase}"));
        match &self.state {
            State::Open => Gate::Serve,
            State::Failed => Gate::Close("authentication failed".into()),
            State::Handshake => match api_key {
                ApiKey::ApiVersions if !self.reauthenticating => Gate::Serve,
                ApiKey::SaslHandshake => Gate::Handshake,
                _ => during("handshake"),
            },
            State::Exchange { raw: false, .. } | State::BadReauthMechanism(_) => match api_key {
                ApiKey::SaslAuthenticate => Gate::Authenticate,
                _ => during("authentication"),
            },
            State::Exchange { raw: true, .. } => during("authentication (raw tokens expected)"),
            State::Authenticated => {
                if api_key == ApiKey::SaslHandshake && self.supports_reauth {
                    return Gate::Handshake;
                }
                match self.expires_at_ms {
                    Some(at) if now_ms >= at => Gate::Close(format!(
                        "SASL session of {} expired (connections.max.reauth.ms={}) and the client did not re-authenticate",
                        self.principal.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                        self.max_reauth_ms
                    )),
                    _ => Gate::Serve,
                }
            }
        }
    }

    /// Handles SaslHandshake: `Ok` with the error code for the response
    /// (NONE or UNSUPPORTED_SASL_MECHANISM); after UNSUPPORTED_SASL_MECHANISM
    /// the connection is closed, as in Kafka.
    pub fn handshake(&mut self, version: i16, mechanism: &str) -> Result<(), String> {
        if matches!(self.state, State::Authenticated) {
            // KIP-368: a handshake on an authenticated connection starts re-authentication.
            self.reauthenticating = true;
        }
        if !self.mechanisms.iter().any(|m| m == mechanism) {
            self.state = State::Failed;
            return Err(format!("Unsupported SASL mechanism {mechanism}"));
        }
        if self.reauthenticating && self.mechanism.as_deref() != Some(mechanism) {
            self.state = State::BadReauthMechanism(format!(
                "SASL mechanism '{mechanism}' requested by client is not supported for re-authentication of mechanism '{}'",
                self.mechanism.as_deref().unwrap_or_default()
            ));
            return Ok(());
        }
        let Some(server) = new_server(mechanism, &self.listener, self.credentials.clone()) else {
            self.state = State::Failed;
            return Err(format!("Unsupported SASL mechanism {mechanism}"));
        };
        self.mechanism = Some(mechanism.to_string());
        self.state = State::Exchange { server, raw: version == 0 };
        Ok(())
    }

    /// Feeds one client token (from SaslAuthenticate `version`, or raw with
    /// `version` None).
    pub fn authenticate(&mut self, version: Option<i16>, token: &[u8], now_ms: i64) -> AuthStep {
        if version.is_some_and(|v| v > 0) {
            self.supports_reauth = true;
        }
        let mechanism = self.mechanism.clone().unwrap_or_default();
        let what = if self.reauthenticating { "re-authentication" } else { "authentication" };
        let step = match &mut self.state {
            State::Exchange { server, .. } => server.step(token),
            State::BadReauthMechanism(message) => {
                let message = message.clone();
                self.state = State::Failed;
                return AuthStep::Failed(message);
            }
            _ => {
                self.state = State::Failed;
                return AuthStep::Failed(format!("Unexpected SaslAuthenticate during SASL {what}"));
            }
        };
        match step {
            Ok(Step::Challenge(challenge)) => AuthStep::Challenge(challenge),
            Ok(Step::Done { user, token }) => {
                let principal = KafkaPrincipal::user(user);
                if let Some(previous) = self.principal.as_ref().filter(|_| self.reauthenticating) {
                    if *previous != principal {
                        let message = format!(
                            "Cannot change principals during re-authentication from {}.{}: {}.{}",
                            previous.principal_type, previous.name, principal.principal_type, principal.name
                        );
                        self.state = State::Failed;
                        return AuthStep::Failed(message);
                    }
                }
                let lifetime = self.max_reauth_ms.max(0);
                self.expires_at_ms = (lifetime > 0).then(|| now_ms.saturating_add(lifetime));
                self.principal = Some(principal.clone());
                self.state = State::Authenticated;
                let reauthenticated = std::mem::take(&mut self.reauthenticating);
                // Clients of SaslAuthenticate v0 cannot learn the lifetime; their
                // connection is still closed once it expires, as in Kafka.
                let session_lifetime_ms = if version.is_some_and(|v| v > 0) { lifetime } else { 0 };
                AuthStep::Done(Authenticated { principal, token, session_lifetime_ms, reauthenticated })
            }
            Err(e) => {
                self.state = State::Failed;
                tracing::debug!(mechanism, error = %e, "SASL {what} failed");
                AuthStep::Failed(e.0)
            }
        }
    }
}

/// The broker's users: PLAIN from the listener's JAAS entry, SCRAM from
/// the node's current metadata image.
pub struct NodeCredentials(pub Arc<crate::Node>);

impl CredentialStore for NodeCredentials {
    fn plain_password(&self, listener: &str, user: &str) -> Option<String> {
        self.0.config.sasl.plain_password(listener, user)
    }

    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.0.image().scram_credentials.get(user)?.get(&mechanism).cloned()
    }
}

/// The authenticator of a new connection on `session`'s listener.
pub fn for_session(node: &Arc<crate::Node>, session: &Session) -> Authenticator {
    let sasl = &node.config.sasl;
    Authenticator::new(
        &session.listener,
        session.security_protocol,
        sasl.mechanisms(&session.listener).to_vec(),
        sasl.max_reauth_ms(&session.listener),
        Arc::new(NodeCredentials(node.clone())),
    )
}

/// Answers a SaslHandshake or SaslAuthenticate frame (body after the
/// header) that [`Authenticator::gate`] routed here. Returns the response
/// and, if the connection must close after it, why.
pub fn answer(
    auth: &mut Authenticator,
    session: &mut Session,
    key: ApiKey,
    header: &RequestHeader,
    body: RequestKind,
    now_ms: i64,
) -> Result<(Response, Option<String>), String> {
    let version = header.request_api_version;
    let correlation_id = header.correlation_id;
    match key {
        ApiKey::SaslHandshake => {
            let request: SaslHandshakeRequest = crate::request::take(body)?;
            let (response, close) = handlers::sasl_handshake::respond(auth, version, &request);
            Ok((handlers::encode(correlation_id, version, &response)?, close))
        }
        ApiKey::SaslAuthenticate => {
            let request: SaslAuthenticateRequest = crate::request::take(body)?;
            let (response, close) =
                handlers::sasl_authenticate::respond(auth, session, Some(version), &request.auth_bytes, now_ms);
            Ok((handlers::encode(correlation_id, version, &response)?, close))
        }
        other => Err(format!("{other:?} is not part of SASL authentication")),
    }
}

/// Handles one raw token (after SaslHandshake v0): the reply is the
/// server's token, size-prefixed; a failure closes the connection without
/// a reply, as Kafka does for these clients.
pub fn raw_exchange(
    auth: &mut Authenticator,
    session: &mut Session,
    token: &[u8],
    now_ms: i64,
) -> Result<Vec<u8>, String> {
    let (response, close) = handlers::sasl_authenticate::respond(auth, session, None, token, now_ms);
    if let Some(reason) = close {
        return Err(reason);
    }
    let mut out = Vec::with_capacity(4 + response.auth_bytes.len());
    out.extend_from_slice(&(response.auth_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&response.auth_bytes);
    Ok(out)
}

fn new_server(mechanism: &str, listener: &str, credentials: Arc<dyn CredentialStore>) -> Option<Box<dyn SaslServer>> {
    if mechanism == PLAIN {
        let listener = listener.to_string();
        return Some(Box::new(PlainServer::new(move |user: &str| credentials.plain_password(&listener, user))));
    }
    let m = ScramMechanism::from_name(mechanism)?;
    Some(Box::new(ScramServer::new(m, move |user: &str| credentials.scram_credential(user, m))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_security::sasl::plain::client_message;
    use brook_security::sasl::scram::ScramClient;

    struct Users;

    impl CredentialStore for Users {
        fn plain_password(&self, _listener: &str, user: &str) -> Option<String> {
            ["alice", "bob"].contains(&user).then(|| format!("{user}-secret"))
        }

        fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
            (user == "carol").then(|| ScramCredential::from_password(mechanism, "carol-secret", b"salty", 4096))
        }
    }

    fn sasl(reauth_ms: i64) -> Authenticator {
        let mechanisms = vec!["PLAIN".into(), "SCRAM-SHA-512".into()];
        Authenticator::new("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext, mechanisms, reauth_ms, Arc::new(Users))
    }

    fn login_plain(a: &mut Authenticator, user: &str, password: &str, now: i64) -> AuthStep {
        assert_eq!(a.gate(ApiKey::SaslHandshake, now), Gate::Handshake);
        a.handshake(1, "PLAIN").unwrap();
        assert_eq!(a.gate(ApiKey::SaslAuthenticate, now), Gate::Authenticate);
        a.authenticate(Some(2), &client_message(user, password), now)
    }

    #[test]
    fn plaintext_listeners_serve_everything() {
        let a = Authenticator::new("PLAINTEXT", SecurityProtocol::Plaintext, vec![], 0, Arc::new(Users));
        assert_eq!(a.gate(ApiKey::Produce, 0), Gate::Serve);
        assert!(a.is_authenticated());
    }

    #[test]
    fn only_versions_and_handshake_before_authentication() {
        let a = sasl(0);
        assert_eq!(a.gate(ApiKey::ApiVersions, 0), Gate::Serve);
        assert_eq!(a.gate(ApiKey::SaslHandshake, 0), Gate::Handshake);
        assert!(matches!(a.gate(ApiKey::Metadata, 0), Gate::Close(m) if m.contains("Metadata")));
        assert!(matches!(a.gate(ApiKey::SaslAuthenticate, 0), Gate::Close(_)));
        assert!(!a.is_authenticated());
    }

    #[test]
    fn plain_login_then_requests_are_served() {
        let mut a = sasl(0);
        let AuthStep::Done(done) = login_plain(&mut a, "alice", "alice-secret", 0) else { panic!() };
        assert_eq!(done.principal.to_string(), "User:alice");
        assert_eq!(done.session_lifetime_ms, 0);
        assert_eq!(a.gate(ApiKey::Produce, i64::MAX), Gate::Serve);
        // SaslAuthenticate after success goes to the handler (ILLEGAL_SASL_STATE).
        assert_eq!(a.gate(ApiKey::SaslAuthenticate, 0), Gate::Serve);
    }

    #[test]
    fn bad_password_unknown_user_and_unsupported_mechanism_fail() {
        let mut a = sasl(0);
        assert!(matches!(login_plain(&mut a, "alice", "nope", 0), AuthStep::Failed(_)));
        assert!(matches!(a.gate(ApiKey::Metadata, 0), Gate::Close(_)));
        let mut a = sasl(0);
        assert!(matches!(login_plain(&mut a, "mallory", "x", 0), AuthStep::Failed(_)));
        let mut a = sasl(0);
        assert!(a.handshake(1, "SCRAM-SHA-256").is_err());
        assert!(matches!(a.gate(ApiKey::SaslAuthenticate, 0), Gate::Close(_)));
    }

    #[test]
    fn requests_during_the_exchange_close_the_connection() {
        let mut a = sasl(0);
        a.handshake(1, "SCRAM-SHA-512").unwrap();
        assert!(matches!(a.gate(ApiKey::Produce, 0), Gate::Close(_)));
        assert!(matches!(a.gate(ApiKey::ApiVersions, 0), Gate::Close(_)));
    }

    #[test]
    fn scram_login_over_raw_tokens_after_a_v0_handshake() {
        let mut a = sasl(0);
        a.handshake(0, "SCRAM-SHA-512").unwrap();
        assert!(a.expects_raw_token());
        let mut client = ScramClient::new(ScramMechanism::Sha512, "carol", "carol-secret");
        let AuthStep::Challenge(first) = a.authenticate(None, &client.first(), 0) else { panic!() };
        let last = client.respond(&first).unwrap();
        let AuthStep::Done(done) = a.authenticate(None, &last, 0) else { panic!() };
        client.finish(&done.token).unwrap();
        assert_eq!(done.principal.name, "carol");
        assert!(!a.expects_raw_token());
    }

    #[test]
    fn sessions_expire_and_re_authentication_renews_them() {
        let mut a = sasl(1000);
        let AuthStep::Done(done) = login_plain(&mut a, "alice", "alice-secret", 10_000) else { panic!() };
        assert_eq!(done.session_lifetime_ms, 1000);
        assert_eq!(a.gate(ApiKey::Fetch, 10_999), Gate::Serve);
        assert!(matches!(a.gate(ApiKey::Fetch, 11_000), Gate::Close(m) if m.contains("expired")));
        // Re-authentication is allowed even once expired, and renews the session.
        let AuthStep::Done(again) = login_plain(&mut a, "alice", "alice-secret", 11_500) else { panic!() };
        assert!(again.reauthenticated);
        assert_eq!(a.gate(ApiKey::Fetch, 12_000), Gate::Serve);
        assert!(matches!(a.gate(ApiKey::Fetch, 12_500), Gate::Close(_)));
    }

    #[test]
    fn re_authentication_keeps_principal_and_mechanism() {
        let mut a = sasl(1000);
        login_plain(&mut a, "alice", "alice-secret", 0);
        let AuthStep::Failed(m) = login_plain(&mut a, "bob", "bob-secret", 10) else { panic!() };
        assert!(m.contains("Cannot change principals"), "{m}");

        let mut a = sasl(1000);
        login_plain(&mut a, "alice", "alice-secret", 0);
        a.handshake(1, "SCRAM-SHA-512").unwrap();
        let AuthStep::Failed(m) = a.authenticate(Some(2), b"n,,n=alice,r=x", 10) else { panic!() };
        assert!(m.contains("not supported for re-authentication"), "{m}");
    }

    #[test]
    fn v0_clients_cannot_re_authenticate_and_get_no_lifetime() {
        let mut a = sasl(1000);
        a.handshake(1, "PLAIN").unwrap();
        let AuthStep::Done(done) = a.authenticate(Some(0), &client_message("alice", "alice-secret"), 0) else {
            panic!()
        };
        assert_eq!(done.session_lifetime_ms, 0);
        assert_eq!(a.gate(ApiKey::SaslHandshake, 0), Gate::Serve);
        assert!(matches!(a.gate(ApiKey::Fetch, 1000), Gate::Close(_)));
    }
}
