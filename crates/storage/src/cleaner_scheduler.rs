//! When and which logs the cleaner compacts (Kafka's `LogCleanerManager`
//! policy, simplified): each round takes the candidate logs, skips those in
//! failure backoff, cleans the due ones (forced first, then the dirtiest),
//! at most `log.cleaner.threads` at a time, each on its own thread.
//!
//! The owner (the broker) calls [`CleanerScheduler::run_once`] every
//! `log.cleaner.backoff.ms` with the logs whose high watermark is known to
//! be committed: the cleaner only ever compacts below it.

use std::collections::HashMap;

use parking_lot::Mutex;
use tracing::{info, warn};

use crate::cleaner::{self, Cleanability, CleanerSettings};
use crate::log_manager::{SharedLog, TopicPartition};

/// A log whose pass failed is left alone this long, so a broken log cannot
/// starve the others (its error is logged once per attempt).
pub const FAILURE_BACKOFF_MS: i64 = 10 * 60 * 1000;

/// Logs whose last pass failed, and until when they are skipped.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    until: HashMap<TopicPartition, i64>,
}

impl Backoff {
    /// Records a failed pass at `now_ms`: the log is skipped for [`FAILURE_BACKOFF_MS`].
    pub fn failed(&mut self, tp: &TopicPartition, now_ms: i64) {
        self.until.insert(tp.clone(), now_ms.saturating_add(FAILURE_BACKOFF_MS));
    }

    /// Whether `tp` is still backed off at `now_ms`.
    pub fn blocks(&self, tp: &TopicPartition, now_ms: i64) -> bool {
        self.until.get(tp).is_some_and(|until| *until > now_ms)
    }

    /// Forgets the backoffs that ended by `now_ms`.
    pub fn expire(&mut self, now_ms: i64) {
        self.until.retain(|_, until| *until > now_ms);
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

/// Which of the `due` logs a round cleans: none in backoff, forced ones
/// first, then by dirty ratio (highest first; ties by partition, for a
/// stable order), at most `threads`. Pure: the scheduling policy in one place.
pub fn choose<T>(
    due: Vec<(TopicPartition, Cleanability, T)>,
    backoff: &Backoff,
    now_ms: i64,
    threads: usize,
) -> Vec<(TopicPartition, Cleanability, T)> {
    let mut chosen: Vec<_> = due.into_iter().filter(|(tp, ..)| !backoff.blocks(tp, now_ms)).collect();
    chosen.sort_by(|(a_tp, a, _), (b_tp, b, _)| {
        b.forced.cmp(&a.forced).then(b.dirty_ratio.total_cmp(&a.dirty_ratio)).then_with(|| a_tp.cmp(b_tp))
    });
    chosen.truncate(threads);
    chosen
}

/// The log cleaner's scheduling: configuration plus the failure backoff
/// kept between rounds. Shared by reference (`run_once` takes `&self`).
#[derive(Debug)]
pub struct CleanerScheduler {
    settings: CleanerSettings,
    /// `log.cleaner.threads`: logs cleaned concurrently in one round.
    threads: usize,
    /// `log.cleaner.enable`.
    enable: bool,
    backoff: Mutex<Backoff>,
    /// What the cleaner did, for metrics (Kafka's LogCleaner gauges).
    stats: Mutex<CleanerStats>,
}

/// The cleaner's activity since start and in its last round: what Kafka's
/// `kafka.log:type=LogCleaner` and `LogCleanerManager` gauges report.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CleanerStats {
    /// Completed cleaning passes (one log each).
    pub passes: u64,
    /// Bytes of segments read and rewritten by passes, and bytes written.
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// The last round that cleaned something: bytes written / read, in percent.
    pub last_recopy_percent: f64,
    /// The longest pass of that round, in seconds.
    pub last_max_clean_secs: f64,
    /// The dirtiest due log's dirty ratio at the last round, in percent
    /// (0 when no log was due).
    pub max_dirty_percent: f64,
}

impl CleanerStats {
    /// Folds in one round: its passes' (bytes read, bytes written, seconds),
    /// and the highest dirty ratio among the logs that were due.
    pub fn record_round(&mut self, passes: &[(u64, u64, f64)], max_dirty_ratio: f64) {
        self.max_dirty_percent = max_dirty_ratio * 100.0;
        if passes.is_empty() {
            return;
        }
        let read: u64 = passes.iter().map(|p| p.0).sum();
        let written: u64 = passes.iter().map(|p| p.1).sum();
        self.passes += passes.len() as u64;
        self.bytes_read += read;
        self.bytes_written += written;
        self.last_recopy_percent = if read == 0 { 0.0 } else { 100.0 * written as f64 / read as f64 };
        self.last_max_clean_secs = passes.iter().map(|p| p.2).fold(0.0, f64::max);
    }
}

impl CleanerScheduler {
    pub fn new(settings: CleanerSettings, threads: usize, enable: bool) -> CleanerScheduler {
        CleanerScheduler {
            settings,
            threads,
            enable,
            backoff: Mutex::new(Backoff::default()),
            stats: Mutex::new(CleanerStats::default()),
        }
    }

    /// One round: cleans the due `candidates` (logs whose high watermark is
    /// known), each on its own scoped thread, and returns when all are done.
    /// A failed pass is logged and backs its log off for [`FAILURE_BACKOFF_MS`].
    /// Blocking file IO: call it from a blocking thread.
    pub fn run_once(&self, candidates: Vec<(TopicPartition, SharedLog)>, now_ms: i64) {
        if !self.enable {
            return;
        }
        let skipped = {
            let mut backoff = self.backoff.lock();
            backoff.expire(now_ms);
            backoff.clone()
        };
        // Backed-off logs are skipped before their lock is taken.
        let due: Vec<(TopicPartition, Cleanability, SharedLog)> = candidates
            .into_iter()
            .filter(|(tp, _)| !skipped.blocks(tp, now_ms))
            .filter_map(|(tp, log)| {
                let c = cleaner::cleanability(&log.lock(), now_ms)?;
                Some((tp, c, log))
            })
            .collect();
        let max_dirty_ratio = due.iter().map(|(_, c, _)| c.dirty_ratio).fold(0.0, f64::max);
        let due = choose(due, &skipped, now_ms, self.threads);
        let settings = self.settings;
        let passes = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for (tp, c, log) in &due {
                let ratio = c.dirty_ratio;
                let passes = &passes;
                scope.spawn(move || {
                    let started = std::time::Instant::now();
                    let outcome = cleaner::clean(log, now_ms, &settings);
                    if let Ok(Some(stats)) = &outcome {
                        passes.lock().push((stats.bytes_before, stats.bytes_after, started.elapsed().as_secs_f64()));
                    }
                    match outcome {
                        Ok(Some(stats)) => info!(
                            partition = %tp,
                            dirty_ratio = format!("{ratio:.3}"),
                            segments = format!("{} -> {}", stats.segments_before, stats.segments_after),
                            bytes = format!("{} -> {}", stats.bytes_before, stats.bytes_after),
                            records_removed = stats.records_removed,
                            cleaned_upto = stats.cleaned_upto,
                            "cleaned log"
                        ),
                        Ok(None) => {}
                        Err(e) => {
                            warn!(partition = %tp, error = %e, "log cleaning failed; retrying in 10 minutes");
                            self.backoff.lock().failed(tp, now_ms);
                        }
                    }
                });
            }
        });
        self.stats.lock().record_round(&passes.into_inner(), max_dirty_ratio);
    }

    /// The cleaner's activity so far (metrics).
    pub fn stats(&self) -> CleanerStats {
        *self.stats.lock()
    }

    /// Logs currently backed off after a failure (metrics, tests).
    pub fn backed_off(&self) -> usize {
        self.backoff.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(name: &str) -> TopicPartition {
        TopicPartition::new(name, 0)
    }

    fn due(name: &str, forced: bool, dirty_ratio: f64) -> (TopicPartition, Cleanability, ()) {
        (tp(name), Cleanability { dirty_ratio, forced }, ())
    }

    fn names(chosen: &[(TopicPartition, Cleanability, ())]) -> Vec<&str> {
        chosen.iter().map(|(tp, ..)| tp.topic.as_str()).collect()
    }

    #[test]
    fn stats_fold_rounds_and_keep_the_last_round_gauges() {
        let mut s = CleanerStats::default();
        s.record_round(&[(1000, 250, 0.5), (1000, 750, 2.0)], 0.8);
        assert_eq!((s.passes, s.bytes_read, s.bytes_written), (2, 2000, 1000));
        assert_eq!(s.last_recopy_percent, 50.0);
        assert_eq!(s.last_max_clean_secs, 2.0);
        assert!((s.max_dirty_percent - 80.0).abs() < 1e-9);
        // A round with nothing cleaned keeps the totals and last-pass gauges.
        s.record_round(&[], 0.0);
        assert_eq!((s.passes, s.last_recopy_percent, s.max_dirty_percent), (2, 50.0, 0.0));
    }

    #[test]
    fn forced_first_then_dirtiest_within_the_thread_count() {
        let candidates = vec![
            due("a", false, 0.6),
            due("b", true, 0.1),
            due("c", false, 0.9),
            due("d", true, 0.5),
            due("e", false, 0.6),
        ];
        let none = Backoff::default();
        assert_eq!(names(&choose(candidates.clone(), &none, 0, 10)), ["d", "b", "c", "a", "e"]);
        assert_eq!(names(&choose(candidates.clone(), &none, 0, 3)), ["d", "b", "c"]);
        assert!(choose(candidates, &none, 0, 0).is_empty());
    }

    #[test]
    fn a_failed_log_is_skipped_until_its_backoff_ends() {
        let mut backoff = Backoff::default();
        backoff.failed(&tp("c"), 1_000);
        let candidates = vec![due("a", false, 0.6), due("c", true, 0.9)];
        assert_eq!(names(&choose(candidates.clone(), &backoff, 1_000, 10)), ["a"]);
        let last_blocked = 1_000 + FAILURE_BACKOFF_MS - 1;
        assert_eq!(names(&choose(candidates.clone(), &backoff, last_blocked, 10)), ["a"]);
        backoff.expire(last_blocked);
        assert_eq!(backoff.len(), 1);
        let free = 1_000 + FAILURE_BACKOFF_MS;
        assert_eq!(names(&choose(candidates, &backoff, free, 10)), ["c", "a"]);
        backoff.expire(free);
        assert!(backoff.is_empty());
        // Failing again starts a new backoff from the new failure.
        backoff.failed(&tp("c"), free);
        assert!(backoff.blocks(&tp("c"), free + FAILURE_BACKOFF_MS - 1));
        assert!(!backoff.blocks(&tp("a"), free));
    }
}
