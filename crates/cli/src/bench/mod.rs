//! `brook bench`: load generators and micro-benchmarks. Each reports the
//! raw-hardware reference measured in the same run next to its figure
//! (append), or the standard throughput/latency summary (produce, consume, e2e).

pub mod append;
pub mod consume;
pub mod e2e;
pub mod produce;
pub mod report;
