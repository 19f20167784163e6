//! Coordinators: per-group membership and offsets ([`group`]), and
//! transactions ([`txn`]). Both keep their state in an internal compacted
//! topic and read it back with [`state_log`].

pub mod group;
pub mod state_log;
pub mod txn;
