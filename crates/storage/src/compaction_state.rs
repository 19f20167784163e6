//! What log compaction leaves in a partition directory, which the log
//! itself must read when it opens (so the log never depends on the
//! cleaner, only on this):
//! - `cleaner-state`: the cleaner's progress ([`CleanerState`]), whose
//!   `gaps_below` tells recovery where offsets may legitimately skip;
//! - `.cleaning/`: output of a pass that never swapped in (discarded);
//! - `<base>.<end>.swap`: a cleaned segment whose swap a crash interrupted
//!   (completed by [`finish_interrupted_swaps`]);
//! - `<base>.<end>.txnswap`: that cleaned segment's aborted-transaction
//!   index (possibly empty), written before the `.swap` and installed
//!   before it: the cleaner may have removed abort markers, so the old
//!   segments' `.txnindex` files must never survive into the new segment.

use std::path::Path;

use tracing::warn;

use crate::error::Result;
use crate::file_io::{atomic_write, fsync_dir};
use crate::segment::file_name;

/// Per-partition file holding the cleaner's progress.
pub const STATE_FILE: &str = "cleaner-state";
/// Where cleaned segments are written before they are swapped in.
pub(crate) const CLEANING_DIR: &str = ".cleaning";

/// The cleaner's progress on one log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanerState {
    /// Everything below this offset has been through a cleaning (Kafka's
    /// cleaner checkpoint); the dirty section starts here.
    pub cleaned_upto: i64,
    /// Offsets below this may have gaps (compacted here or on the leader):
    /// recovery accepts a batch that does not follow its predecessor densely.
    pub gaps_below: i64,
    /// Earliest delete horizon of the tombstones and transaction markers
    /// kept by the last pass: a pass is due when it passes.
    pub tombstone_horizon: Option<i64>,
}

impl CleanerState {
    /// Reads `cleaner-state`; missing means never cleaned. An unreadable
    /// file allows gaps everywhere, so recovery never cuts compacted data.
    pub fn load(dir: &Path) -> Result<CleanerState> {
        let text = match std::fs::read_to_string(dir.join(STATE_FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CleanerState::default()),
            Err(e) => return Err(e.into()),
        };
        let numbers: Vec<i64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        match numbers.as_slice() {
            [1, cleaned, gaps, horizon] => Ok(CleanerState {
                cleaned_upto: *cleaned,
                gaps_below: *gaps,
                tombstone_horizon: (*horizon >= 0).then_some(*horizon),
            }),
            _ => {
                warn!(dir = %dir.display(), "unreadable cleaner state; treating the whole log as compacted");
                Ok(CleanerState { cleaned_upto: 0, gaps_below: i64::MAX, tombstone_horizon: Some(0) })
            }
        }
    }

    pub fn persist(&self, dir: &Path) -> Result<()> {
        let text = format!("1\n{} {} {}\n", self.cleaned_upto, self.gaps_below, self.tombstone_horizon.unwrap_or(-1));
        Ok(atomic_write(&dir.join(STATE_FILE), text.as_bytes())?)
    }
}

pub(crate) fn swap_name(base: i64, end: i64) -> String {
    format!("{base:020}.{end:020}.swap")
}

pub(crate) fn txn_swap_name(base: i64, end: i64) -> String {
    format!("{base:020}.{end:020}.txnswap")
}

fn parse_range_name(name: &str, suffix: &str) -> Option<(i64, i64)> {
    let (base, end) = name.strip_suffix(suffix)?.split_once('.')?;
    (base.len() == 20 && end.len() == 20).then(|| Some((base.parse().ok()?, end.parse().ok()?))).flatten()
}

fn parse_swap_name(name: &str) -> Option<(i64, i64)> {
    parse_range_name(name, ".swap")
}

/// At open: discards cleaning output that was never swapped in, and
/// completes swaps a crash interrupted (the `.swap` file replaces every
/// segment that starts in its range). A swap's `.txnswap` is installed
/// first, as the cleaner does: while it exists no old segment's
/// `.txnindex` may stand in for the cleaned segment's; once it is gone
/// (installed), the `<base>.txnindex` is the cleaned segment's. A
/// `.txnswap` without its `.swap` belongs to a pass that never swapped.
pub fn finish_interrupted_swaps(dir: &Path) -> Result<()> {
    let cleaning = dir.join(CLEANING_DIR);
    if cleaning.exists() {
        std::fs::remove_dir_all(&cleaning)?;
    }
    let mut swaps = Vec::new();
    let mut txn_swaps = Vec::new();
    let mut bases = Vec::new();
    let mut txn_bases = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        if let Some(range) = parse_swap_name(&name) {
            swaps.push((range, name));
        } else if let Some(range) = parse_range_name(&name, ".txnswap") {
            txn_swaps.push(range);
        } else if let Some(base) = name.strip_suffix(".log").and_then(|s| s.parse::<i64>().ok()) {
            bases.push(base);
        } else if let Some(base) = name.strip_suffix(".txnindex").and_then(|s| s.parse::<i64>().ok()) {
            txn_bases.push(base);
        }
    }
    for ((base, end), name) in &swaps {
        let (base, end) = (*base, *end);
        for old in bases.iter().filter(|b| **b >= base && **b < end) {
            for suffix in ["log", "index", "timeindex"] {
                let _ = std::fs::remove_file(dir.join(file_name(*old, suffix)));
            }
        }
        if txn_swaps.contains(&(base, end)) {
            for old in txn_bases.iter().filter(|b| **b >= base && **b < end) {
                let _ = std::fs::remove_file(dir.join(file_name(*old, "txnindex")));
            }
            let txn_swap = dir.join(txn_swap_name(base, end));
            if std::fs::metadata(&txn_swap)?.len() == 0 {
                std::fs::remove_file(&txn_swap)?;
            } else {
                std::fs::rename(&txn_swap, dir.join(file_name(base, "txnindex")))?;
            }
        }
        std::fs::rename(dir.join(name), dir.join(file_name(base, "log")))?;
        warn!(dir = %dir.display(), base, end, "completed a cleaned-segment swap interrupted by a crash");
    }
    for range in txn_swaps.iter().filter(|r| !swaps.iter().any(|(s, _)| s == *r)) {
        std::fs::remove_file(dir.join(txn_swap_name(range.0, range.1)))?;
    }
    fsync_dir(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_names_round_trip() {
        assert_eq!(parse_swap_name(&swap_name(5, 1234)), Some((5, 1234)));
        assert_eq!(parse_swap_name("00000000000000000005.log"), None);
        assert_eq!(parse_swap_name("x.y.swap"), None);
        assert_eq!(parse_swap_name(&txn_swap_name(5, 1234)), None);
        assert_eq!(parse_range_name(&txn_swap_name(5, 1234), ".txnswap"), Some((5, 1234)));
    }

    #[test]
    fn cleaner_state_round_trips_and_tolerates_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CleanerState::load(dir.path()).unwrap(), CleanerState::default());
        let state = CleanerState { cleaned_upto: 10, gaps_below: 12, tombstone_horizon: Some(99) };
        state.persist(dir.path()).unwrap();
        assert_eq!(CleanerState::load(dir.path()).unwrap(), state);
        std::fs::write(dir.path().join(STATE_FILE), "garbage").unwrap();
        assert_eq!(CleanerState::load(dir.path()).unwrap().gaps_below, i64::MAX);
    }
}
