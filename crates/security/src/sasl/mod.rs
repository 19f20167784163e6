//! SASL mechanisms as pure, synchronous state machines: bytes in, bytes out,
//! no IO. The broker's authenticator feeds them the tokens of
//! SaslAuthenticate requests; Brook's client drives the client halves.
//!
//! - [`plain`]: SASL/PLAIN (RFC 4616), checked against JAAS-configured users.
//! - [`scram`]: SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) with
//!   salted credentials from the metadata log.
//! - [`jaas`]: Kafka's `sasl.jaas.config` strings.

pub mod client_config;
pub mod jaas;
pub mod plain;
pub mod scram;

/// Why an authentication exchange failed. The message goes back to the
/// client in SaslAuthenticate's error message, so it says nothing a client
/// should not learn (no hint whether the user or the password was wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SaslError(pub String);

impl SaslError {
    pub fn new(message: impl Into<String>) -> SaslError {
        SaslError(message.into())
    }
}

/// The mechanisms Brook implements, with Kafka's names.
pub const PLAIN: &str = "PLAIN";
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
pub const SCRAM_SHA_512: &str = "SCRAM-SHA-512";
pub const SUPPORTED_MECHANISMS: &[&str] = &[PLAIN, SCRAM_SHA_256, SCRAM_SHA_512];

/// A server half of one exchange: each client token gets a challenge (or
/// the final server message) until the exchange is complete.
pub trait SaslServer: Send {
    /// Processes one client token. `Ok(Step::Challenge)` expects another
    /// token; `Ok(Step::Done)` carries the authenticated user name and the
    /// last token for the client (empty for PLAIN).
    fn step(&mut self, token: &[u8]) -> Result<Step, SaslError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Challenge(Vec<u8>),
    Done { user: String, token: Vec<u8> },
}
