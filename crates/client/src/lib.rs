//! An async Rust client for Kafka-compatible brokers.

pub mod connection;
pub mod error;

pub use error::{ClientError, Result};
