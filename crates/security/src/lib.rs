//! Who is on the other end of a connection, and what it may do: Kafka's
//! security protocols, principals, TLS, SASL and the authorizer's pure rules.
//! The broker, the quorum and the client wire these pieces into their
//! connections; `stream` is the one byte stream (plain or TLS) they share.

pub mod client_properties;
pub mod listener_tls;
pub mod principal;
pub mod principal_mapping;
pub mod sasl;
pub mod stream;
pub mod tls;

pub use principal::{KafkaPrincipal, SecurityProtocol};
