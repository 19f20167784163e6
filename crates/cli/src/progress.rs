//! Progress bars and live status for long commands (`bench`, `produce`,
//! `consume --max-messages`, `cluster reassign|drain --wait`), drawn on stderr
//! with indicatif. Only on a terminal: when stderr is piped or redirected,
//! with `--quiet`, or with `BROOK_NO_PROGRESS` set, every bar is hidden, so
//! what scripts read (stdout, and stderr's own lines) stays byte for byte the
//! same. Callers push counts at batch granularity, never per record.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no bar for the rest of the process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether bars are drawn: stderr is a terminal, no `--quiet`, and
/// `BROOK_NO_PROGRESS` unset or empty (the NO_COLOR convention).
pub fn enabled() -> bool {
    !QUIET.load(Ordering::Relaxed)
        && std::env::var_os("BROOK_NO_PROGRESS").is_none_or(|v| v.is_empty())
        && std::io::stderr().is_terminal()
}

/// A bar on stderr (a spinner when `len` is unknown), or a hidden one.
pub fn bar(len: Option<u64>, style: ProgressStyle, prefix: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr())
        .with_style(style)
        .with_prefix(prefix.to_string());
    // Keeps the elapsed time and spinner moving while nothing arrives (and
    // draws at once: style and prefix must be set before).
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A style from a template of ours; a bad template is a bug, caught by the unit test.
pub fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("valid progress template").progress_chars("=> ")
}

const RECORDS_BAR: &str = "{prefix} [{bar:20}] {pos}/{len} records, {rates}, {elapsed} (eta {eta})";
const RECORDS_SPINNER: &str = "{spinner} {prefix} {pos} records, {rates}, {elapsed}";

/// Records and bytes moved by one or more tasks: records done against a
/// total (or a spinner without one), bytes, and the average rates since the
/// start in records/s and MB/s (10^6 bytes, as the summaries print).
#[derive(Clone)]
pub struct Throughput {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
}

impl Throughput {
    pub fn new(what: &str, total_records: Option<u64>) -> Throughput {
        let bytes = Arc::new(AtomicU64::new(0));
        let shown = bytes.clone();
        let rates = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let secs = state.elapsed().as_secs_f64().max(1e-3);
            let b = shown.load(Ordering::Relaxed) as f64;
            let _ =
                write!(w, "{:.1} MB, {:.0} records/s, {:.1} MB/s", b / 1e6, state.pos() as f64 / secs, b / secs / 1e6);
        };
        let template = if total_records.is_some() { RECORDS_BAR } else { RECORDS_SPINNER };
        let bar = bar(total_records, style(template).with_key("rates", rates), what);
        Throughput { bar, bytes }
    }

    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Adds a batch's worth of records and bytes.
    pub fn add(&self, records: u64, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.bar.inc(records);
    }

    /// Removes the bar so the summary that follows stands alone.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }
}

/// Input read by `brook produce`: bytes read against the input's size when it
/// is a regular file (a spinner otherwise), records sent, and the rates.
pub struct Input {
    bar: ProgressBar,
    records: Arc<AtomicU64>,
}

const INPUT_BAR: &str =
    "{prefix} [{bar:20}] {binary_bytes}/{binary_total_bytes}, {records}, {binary_bytes_per_sec}, {elapsed} (eta {eta})";
const INPUT_SPINNER: &str = "{spinner} {prefix} {binary_bytes} read, {records}, {binary_bytes_per_sec}, {elapsed}";

impl Input {
    pub fn new(what: &str, size: Option<u64>) -> Input {
        let records = Arc::new(AtomicU64::new(0));
        let shown = records.clone();
        let key = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let n = shown.load(Ordering::Relaxed);
            let _ = write!(w, "{n} records, {:.0} records/s", n as f64 / state.elapsed().as_secs_f64().max(1e-3));
        };
        let template = if size.is_some() { INPUT_BAR } else { INPUT_SPINNER };
        let bar = bar(size, style(template).with_key("records", key), what);
        Input { bar, records }
    }

    /// No bar at all (lines typed on a terminal: a redrawn status line would garble them).
    pub fn hidden() -> Input {
        Input { bar: ProgressBar::hidden(), records: Arc::new(AtomicU64::new(0)) }
    }

    pub fn add(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bar.inc(bytes);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// One task's running totals, handed to a shared [`Throughput`] at most every
/// 100 ms: a hot loop calls [`Tally::report`] every batch with its totals.
pub struct Tally {
    records: u64,
    bytes: u64,
    last: Instant,
}

impl Tally {
    pub fn new() -> Tally {
        Tally { records: 0, bytes: 0, last: Instant::now() }
    }

    /// `records`/`bytes` are this task's totals so far; `force` pushes now (at the end).
    pub fn report(&mut self, progress: &Throughput, records: u64, bytes: u64, force: bool) {
        if progress.is_hidden() || (!force && self.last.elapsed() < Duration::from_millis(100)) {
            return;
        }
        progress.add(records.saturating_sub(self.records), bytes.saturating_sub(self.bytes));
        (self.records, self.bytes, self.last) = (records, bytes, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_hidden_bars_count_nothing_visible() {
        set_quiet(true);
        for total in [Some(10), None] {
            let t = Throughput::new("test", total);
            assert!(t.is_hidden(), "--quiet hides every bar");
            let mut tally = Tally::new();
            tally.report(&t, 5, 500, true);
            t.finish();
        }
        // The templates themselves, drawn into a hidden target, must parse.
        for template in [RECORDS_BAR, RECORDS_SPINNER, INPUT_BAR, INPUT_SPINNER] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }
}
