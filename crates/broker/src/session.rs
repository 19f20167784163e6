//! Who a connection belongs to: the listener it came in on, its security
//! protocol, the peer address and the principal it authenticated as. Every
//! handler sees it through [`crate::handlers::RequestContext`], so the
//! authorizer and the quotas can key on the principal.

use std::net::SocketAddr;

use brook_security::{KafkaPrincipal, SecurityProtocol};

#[derive(Debug, Clone)]
pub struct Session {
    /// The listener's name (`PLAINTEXT`, `SASL_SSL`, `INTERNAL`, ...).
    pub listener: String,
    pub security_protocol: SecurityProtocol,
    pub peer: Option<SocketAddr>,
    /// `User:ANONYMOUS` until (or unless) the connection authenticates.
    pub principal: KafkaPrincipal,
}

impl Session {
    /// A connection on a PLAINTEXT listener: anonymous for its whole life.
    pub fn plaintext(listener: &str, peer: Option<SocketAddr>) -> Session {
        Session {
            listener: listener.to_string(),
            security_protocol: SecurityProtocol::Plaintext,
            peer,
            principal: KafkaPrincipal::anonymous(),
        }
    }

    /// A new connection on a listener speaking `protocol`: anonymous until
    /// TLS (a client certificate) or SASL says otherwise.
    pub fn new(listener: &str, protocol: SecurityProtocol, peer: Option<SocketAddr>) -> Session {
        Session {
            listener: listener.to_string(),
            security_protocol: protocol,
            peer,
            principal: KafkaPrincipal::anonymous(),
        }
    }
}
