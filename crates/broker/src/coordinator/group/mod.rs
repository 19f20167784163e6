//! The group coordinator: a pure state machine per group ([`state`]), the
//! record format it persists in `__consumer_offsets` ([`store`]), and the
//! driver that owns the groups, parks requests and writes the log
//! ([`coordinator`]).

pub mod state;
