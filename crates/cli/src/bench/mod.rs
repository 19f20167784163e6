//! `brook bench`: load generators and micro-benchmarks. Each reports the
//! raw-hardware reference measured in the same run next to its figure.

pub mod append;
