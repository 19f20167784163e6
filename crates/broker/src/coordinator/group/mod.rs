//! The group coordinator: a pure state machine per group ([`state`]), the
//! offsets of open transactions ([`txn_offsets`]), the record format it
//! persists in `__consumer_offsets` ([`store`]), the replay of that log
//! ([`load`]), and the driver that owns the groups, parks requests and
//! writes the log ([`coordinator`]).

pub mod coordinator;
pub mod load;
pub mod state;
pub mod store;
pub mod txn_offsets;

pub use coordinator::{GroupCoordinator, OffsetsConfig, OFFSETS_TOPIC};
