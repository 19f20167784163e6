//! Brook's wire-protocol layer: the pieces of the Kafka protocol that sit on
//! the hot paths and are therefore hand-written (record batch header view,
//! Fetch response encoding with file regions), plus the table of supported
//! API versions. Message structs come from the `kafka-protocol` crate.

pub mod api_versions;
pub mod batch;
pub mod clock;
pub mod error_code;
pub mod fetch_response;
pub mod frame;
pub mod records;

pub use kafka_protocol;
