//! Brook's wire-protocol layer, the single one of the workspace: framing
//! (for the broker's handlers, its replica fetcher and the client alike),
//! the pieces of the Kafka protocol that sit on the hot paths and are
//! therefore hand-written (record batch header view, Fetch response
//! encoding with file regions), Kafka's error codes and the clock. Message
//! structs come from the `kafka-protocol` crate.

pub mod batch;
pub mod clock;
pub mod error_code;
pub mod fetch_response;
pub mod frame;
pub mod records;

pub use kafka_protocol;
