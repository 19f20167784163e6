//! The Brook broker: configuration, the network server and connection loop,
//! one handler per Kafka API, replication (the only way into a hosted
//! replica), the purgatory for delayed requests, and the group coordinator.
//! Storage and metadata live in their own crates.
//!
//! - `node.rs`: the node's shared context; `startup.rs`: starting it;
//!   `jobs.rs`: its background work; `clock.rs`: its clock.
//! - `server.rs` / `connection.rs` / `handlers/`: the client listener.
//! - `replication/`: hosted replicas (leader and follower), the pure ISR
//!   rules, the replica fetcher.
//! - `purgatory.rs`: requests waiting for a watermark or data.
//! - `coordinator/`: consumer groups.
//! - `quota/`: client quotas (rates, throttling).
//! - `admin_http/`: the admin HTTP listener (/metrics, /health, the console);
//!   `metrics/`: the broker's metrics.

// The connection's future nests every handler's (the quota wrappers add levels).
#![recursion_limit = "256"]

pub mod admin_http;
pub mod authenticator;
pub mod authorization;
pub mod broker_link;
pub mod clock;
pub mod config;
pub mod connection;
pub mod coordinator;
pub mod handlers;
pub mod jobs;
pub mod meta_properties;
pub mod metrics;
pub mod node;
pub mod purgatory;
pub mod quota;
pub mod replication;
pub mod request;
pub mod sasl_config;
pub mod sendfile;
pub mod server;
pub mod session;
pub mod startup;
pub mod txn_verifier;

pub use config::BrokerConfig;
pub use node::Node;
