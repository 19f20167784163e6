//! Who is on the other end of a connection, and what it may do: Kafka's
//! security protocols, principals, TLS, SASL and the authorizer's pure rules.
//! Nothing here does network IO of its own; the broker, the quorum and the
//! client wire these pieces into their connections.

pub mod principal;
pub mod sasl;

pub use principal::{KafkaPrincipal, SecurityProtocol};
pub mod acl;
