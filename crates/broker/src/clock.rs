//! The node's clock: wall-clock milliseconds, as Kafka timestamps are.
pub use brook_protocol::clock::now_ms;
