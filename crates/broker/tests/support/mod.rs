//! Support for the broker's integration tests.

pub mod cluster;
