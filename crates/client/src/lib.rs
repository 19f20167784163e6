//! An async Rust client for Kafka-compatible brokers (Brook, Apache Kafka,
//! Redpanda): [`Producer`], [`Consumer`] and [`Admin`] over one shared
//! [`Cluster`] view.

pub mod admin;
pub mod cluster;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod partitioner;
pub mod producer;
pub mod records;
pub mod sasl;

pub use cluster::{ClientConfig, Cluster};
pub use error::{ClientError, Result};
pub use records::{Compression, ConsumerRecord, Header};
