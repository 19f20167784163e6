//! Wall-clock milliseconds since the Unix epoch: Kafka's timestamp unit.
//! The one clock of the workspace; pure state machines take the time as an
//! argument instead of reading it.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
