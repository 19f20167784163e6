//! The transaction coordinator (KIP-98, KIP-890): a pure state machine per
//! transactional id ([`state`]), the record format it persists in
//! `__transaction_state` ([`store`]), the sender of COMMIT/ABORT markers to
//! partition leaders ([`markers`]), and the driver that owns the
//! transactional ids of the partitions this broker leads ([`coordinator`]).
//!
//! What the rest of the broker relies on:
//! - Partition leaders check a transactional produce (KIP-890 part 1) by
//!   asking the id's coordinator, [`TransactionCoordinator::locate`], with
//!   AddPartitionsToTxn v4 `verify_only` (NONE: the partition is in the
//!   ongoing transaction of that producer id and epoch; TRANSACTION_ABORTABLE:
//!   it is not; or PRODUCER_FENCED / INVALID_PRODUCER_ID_MAPPING /
//!   CONCURRENT_TRANSACTIONS for all), or, for a TV2 producer, v5 without
//!   `verify_only` to add it. When this broker is the coordinator it may
//!   call [`TransactionCoordinator::verify_partitions`] /
//!   [`TransactionCoordinator::add_partitions`] directly.
//! - Markers arrive at partition leaders as WriteTxnMarkers v1, one marker
//!   per request: producer id, the epoch of the Prepare state (TV2 and
//!   fencing bump it, so it can exceed the producer's last data epoch),
//!   the result, and the coordinator epoch (the `__transaction_state`
//!   partition's leader epoch, growing with each new coordinator). The
//!   sender retries every error except INVALID_PRODUCER_EPOCH and
//!   TRANSACTION_COORDINATOR_FENCED (it gives up: a newer coordinator or
//!   producer owns the transaction) and UNSUPPORTED_FOR_MESSAGE_FORMAT /
//!   UNSUPPORTED_VERSION (taken as written). A transaction's Complete state is
//!   written only after every partition acknowledged its marker.

pub mod coordinator;
pub mod markers;
pub mod state;
pub mod store;

pub use coordinator::{TransactionConfig, TransactionCoordinator, TRANSACTION_STATE_TOPIC};
