//! The transaction coordinator (KIP-98, KIP-890): a pure state machine per
//! transactional id ([`state`]), the record format it persists in
//! `__transaction_state` ([`store`]), the sender of COMMIT/ABORT markers to
//! partition leaders ([`markers`]), and the driver that owns the
//! transactional ids of the partitions this broker leads ([`coordinator`]).

pub mod coordinator;
pub mod markers;
pub mod state;
pub mod store;

pub use coordinator::{TransactionConfig, TransactionCoordinator, TRANSACTION_STATE_TOPIC};
