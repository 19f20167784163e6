//! The group coordinator: a pure state machine per group ([`state`]), the
//! record format it persists in `__consumer_offsets` ([`store`]), and the
//! driver that owns the groups, parks requests and writes the log
//! ([`coordinator`]).

pub mod coordinator;
pub mod state;
pub mod store;

pub use coordinator::{GroupCoordinator, OffsetsConfig, OFFSETS_TOPIC};
