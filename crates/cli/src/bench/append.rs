//! `brook bench append`: throughput of the log's append path (validation,
//! offset assignment, positioned write, indexing) straight into a
//! `PartitionLog`, next to `dd` writing the same number of bytes to the same
//! directory. No network: this isolates the storage engine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use brook_protocol::batch::build_batch;
use brook_storage::{LogConfig, PartitionLog};
use indicatif::ProgressBar;

use crate::progress;

#[derive(clap::Args)]
pub struct AppendArgs {
    /// Directory to write in (a fresh subdirectory is created and removed).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Total bytes to append, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// Bytes per record batch (as a producer would send).
    #[arg(long, default_value_t = 16384)]
    pub batch_bytes: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 16)]
    pub records_per_batch: usize,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
}

fn median(mut figures: Vec<Figure>) -> Figure {
    figures.sort_by(|a, b| a.mib_per_s.total_cmp(&b.mib_per_s));
    figures.swap_remove(figures.len() / 2)
}

struct Figure {
    mib_per_s: f64,
    seconds: f64,
}

/// Flushes earlier runs' dirty pages so their writeback does not slow the next run.
fn settle() {
    let _ = Command::new("sync").status();
}

fn dd(dir: &Path, size_mib: u64, fdatasync: bool, bar: &ProgressBar) -> anyhow::Result<Figure> {
    bar.set_message(if fdatasync { "dd conv=fdatasync" } else { "dd (page cache)" });
    settle();
    let file = dir.join("dd.bin");
    let mut cmd = Command::new("dd");
    cmd.arg("if=/dev/zero").arg(format!("of={}", file.display())).arg("bs=1M").arg(format!("count={size_mib}"));
    if fdatasync {
        cmd.arg("conv=fdatasync");
    }
    let start = Instant::now();
    let out = cmd.output().context("running dd")?;
    let seconds = start.elapsed().as_secs_f64();
    std::fs::remove_file(&file).ok();
    // dd is another process: its bytes count once it is done.
    bar.inc(size_mib << 20);
    if !out.status.success() {
        bail!("dd failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(Figure { mib_per_s: size_mib as f64 / seconds, seconds })
}

fn append(dir: &Path, args: &AppendArgs, fsync_at_end: bool, bar: &ProgressBar) -> anyhow::Result<Figure> {
    bar.set_message(if fsync_at_end { "brook append + fsync" } else { "brook append (page cache)" });
    let phase_end = bar.position() + (args.size_mib << 20);
    let log_dir = dir.join("bench-0");
    let _ = std::fs::remove_dir_all(&log_dir);
    let mut log = PartitionLog::open(&log_dir, LogConfig::default(), None, None, false)?;
    let value_bytes = (args.batch_bytes / args.records_per_batch).saturating_sub(8).max(1);
    let value = vec![b'x'; value_bytes];
    let records: Vec<(Option<&[u8]>, Option<&[u8]>)> =
        (0..args.records_per_batch).map(|_| (None, Some(&value[..]))).collect();
    let batch = build_batch(&records, 1_700_000_000_000);
    let total = args.size_mib * 1024 * 1024;
    settle();
    let batches = total / batch.len() as u64;
    let start = Instant::now();
    for i in 1..=batches {
        log.append_as_leader(&batch, 0, 1_700_000_000_000)?;
        // Every 256 batches (4 MiB at the default size), not per batch.
        if i % 256 == 0 {
            bar.inc(256 * batch.len() as u64);
        }
    }
    if fsync_at_end {
        log.flush()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    bar.set_position(phase_end);
    drop(log);
    std::fs::remove_dir_all(&log_dir).ok();
    let mib = (batches * batch.len() as u64) as f64 / (1024.0 * 1024.0);
    Ok(Figure { mib_per_s: mib / seconds, seconds })
}

pub fn run(args: AppendArgs) -> anyhow::Result<()> {
    let dir = args.dir.join(format!("brook-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> anyhow::Result<()> {
        println!(
            "log append benchmark: {} MiB in {}-byte batches of {} records, dir {}",
            args.size_mib,
            args.batch_bytes,
            args.records_per_batch,
            dir.display()
        );
        // Interleaved repetitions; the median of each resists page-cache and writeback noise.
        let (mut dd_cache, mut brook_cache, mut dd_sync, mut brook_sync) = (vec![], vec![], vec![], vec![]);
        // Bytes written by all four measurements of every run.
        let repeat = args.repeat.max(1);
        let bar = progress::bar(
            Some(4 * repeat as u64 * (args.size_mib << 20)),
            progress::style(
                "{prefix} {msg:26} [{bar:20}] {binary_bytes}/{binary_total_bytes}, {binary_bytes_per_sec}, {elapsed}",
            ),
            &format!("run 1/{repeat}"),
        );
        for run in 1..=repeat {
            bar.set_prefix(format!("run {run}/{repeat}"));
            dd_cache.push(dd(&dir, args.size_mib, false, &bar)?);
            brook_cache.push(append(&dir, &args, false, &bar)?);
            dd_sync.push(dd(&dir, args.size_mib, true, &bar)?);
            brook_sync.push(append(&dir, &args, true, &bar)?);
        }
        bar.finish_and_clear();
        let (dd_cache, brook_cache, dd_sync, brook_sync) =
            (median(dd_cache), median(brook_cache), median(dd_sync), median(brook_sync));
        println!("(median of {} runs each)", args.repeat.max(1));
        println!("{:<44} {:>10} {:>9}", "measurement", "MiB/s", "seconds");
        println!("{:<44} {:>10.0} {:>9.2}", "dd bs=1M (page cache)", dd_cache.mib_per_s, dd_cache.seconds);
        println!(
            "{:<44} {:>10.0} {:>9.2}",
            "brook PartitionLog append (page cache)", brook_cache.mib_per_s, brook_cache.seconds
        );
        println!("{:<44} {:>10.0} {:>9.2}", "dd bs=1M conv=fdatasync", dd_sync.mib_per_s, dd_sync.seconds);
        println!(
            "{:<44} {:>10.0} {:>9.2}",
            "brook PartitionLog append + final fsync", brook_sync.mib_per_s, brook_sync.seconds
        );
        println!("append / dd (page cache): {:.0}%", 100.0 * brook_cache.mib_per_s / dd_cache.mib_per_s);
        println!("append / dd (fdatasync):  {:.0}%", 100.0 * brook_sync.mib_per_s / dd_sync.mib_per_s);
        Ok(())
    })();
    std::fs::remove_dir_all(&dir).ok();
    result
}
