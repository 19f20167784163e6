//! The Brook broker: configuration, the network server and connection loop,
//! one handler per Kafka API, and the replica manager that owns hosted
//! partitions. Storage and metadata live in their own crates.

pub mod broker;
pub mod config;
pub mod connection;
pub mod coordinator;
pub mod handlers;
pub mod meta_properties;
pub mod replica_fetcher;
pub mod replica_manager;
pub mod sendfile;
pub mod server;

pub use broker::Broker;
pub use config::BrokerConfig;
