//! Support for the broker's integration tests.
// Each test binary uses part of the harness.
#![allow(dead_code)]

pub mod cluster;
