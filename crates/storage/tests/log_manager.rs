//! LogManager on real directories: the high-watermark checkpoint
//! (`replication-offset-checkpoint`) written with the others and applied at
//! open, after clean and unclean shutdowns, missing, damaged, or above a
//! tail that recovery cut.

use std::path::{Path, PathBuf};

use brook_protocol::batch::build_batch;
use brook_storage::checkpoint;
use brook_storage::config::LogConfig;
use brook_storage::log_manager::{HIGH_WATERMARK_FILE, LOG_START_FILE};
use brook_storage::{LogManager, TopicPartition};

const TOPIC_ID: [u8; 16] = [7; 16];

fn open(dir: &Path) -> LogManager {
    LogManager::open(vec![dir.to_path_buf()], &|_| LogConfig::default()).unwrap().0
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// Appends `n` one-record batches to `t-0` (created if needed).
fn append(logs: &LogManager, n: usize) {
    let log = logs.get_or_create(&tp(), TOPIC_ID, LogConfig::default()).unwrap();
    let mut log = log.lock();
    for i in 0..n {
        log.append_as_leader(&build_batch(&[(None, Some(format!("v{i}").as_bytes()))], 1000), 0, 1000).unwrap();
    }
}

fn set_hw(logs: &LogManager, hw: i64) {
    logs.get(&tp()).unwrap().lock().set_high_watermark(hw);
}

/// (log start, high watermark, log end) of `t-0`.
fn offsets(logs: &LogManager) -> (i64, i64, i64) {
    let log = logs.get(&tp()).unwrap();
    let log = log.lock();
    (log.log_start_offset(), log.high_watermark(), log.log_end_offset())
}

fn segment_file(dir: &Path) -> PathBuf {
    dir.join("t-0").join(format!("{:020}.log", 0))
}

#[test]
fn a_new_log_starts_with_its_high_watermark_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path());
    append(&logs, 0);
    assert_eq!(offsets(&logs), (0, 0, 0));
}

#[test]
fn the_checkpointed_high_watermark_survives_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path());
    append(&logs, 10);
    set_hw(&logs, 6);
    logs.shutdown().unwrap();
    drop(logs);
    let entries = checkpoint::read_offsets(&dir.path().join(HIGH_WATERMARK_FILE)).unwrap();
    assert_eq!(entries, vec![("t".to_string(), 0, 6)]);
    let logs = open(dir.path());
    assert_eq!(offsets(&logs), (0, 6, 10));
}

#[test]
fn an_unclean_restart_starts_at_the_last_checkpointed_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path());
    append(&logs, 10);
    set_hw(&logs, 6);
    logs.checkpoint().unwrap();
    // Later progress that no checkpoint saw is not trusted after a crash.
    append(&logs, 5);
    set_hw(&logs, 12);
    drop(logs);
    let logs = open(dir.path());
    assert_eq!(offsets(&logs), (0, 6, 15));
}

#[test]
fn without_a_checkpoint_entry_the_high_watermark_is_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path());
    append(&logs, 10);
    set_hw(&logs, 8);
    logs.get(&tp()).unwrap().lock().delete_records_before(4).unwrap();
    logs.shutdown().unwrap();
    drop(logs);
    // No file at all (as written by a version before the checkpoint).
    std::fs::remove_file(dir.path().join(HIGH_WATERMARK_FILE)).unwrap();
    let logs = open(dir.path());
    assert_eq!(offsets(&logs), (4, 4, 10));
    logs.shutdown().unwrap();
    drop(logs);
    // A file without this partition's entry.
    checkpoint::write_offsets(&dir.path().join(HIGH_WATERMARK_FILE), &[("other".to_string(), 0, 9)]).unwrap();
    let logs = open(dir.path());
    assert_eq!(offsets(&logs), (4, 4, 10));
}

#[test]
fn a_checkpoint_above_a_tail_cut_by_recovery_is_capped_at_the_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path());
    append(&logs, 10);
    set_hw(&logs, 10);
    logs.checkpoint().unwrap();
    drop(logs);
    // A torn write: the last batch lost its final bytes.
    let segment = segment_file(dir.path());
    let len = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(len - 5).unwrap();
    let logs = open(dir.path());
    assert_eq!(offsets(&logs), (0, 9, 9));
    // And the next checkpoint says so.
    logs.checkpoint().unwrap();
    let entries = checkpoint::read_offsets(&dir.path().join(HIGH_WATERMARK_FILE)).unwrap();
    assert_eq!(entries, vec![("t".to_string(), 0, 9)]);
}

#[test]
fn a_damaged_checkpoint_is_ignored_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path());
    append(&logs, 10);
    set_hw(&logs, 10);
    logs.shutdown().unwrap();
    drop(logs);
    let path = dir.path().join(HIGH_WATERMARK_FILE);
    for garbage in ["garbage", "0\n1\nt 0 not-a-number\n", "0\n5\nt 0 3\n", "", "0\n1\nt 0 -7\n"] {
        std::fs::write(&path, garbage).unwrap();
        let logs = open(dir.path());
        let (start, hw, end) = offsets(&logs);
        assert_eq!((start, end), (0, 10));
        assert_eq!(hw, 0, "{garbage:?}: the log start");
        // Opening rewrote the file from the logs as they are now.
        assert_eq!(checkpoint::read_offsets(&path).unwrap(), vec![("t".to_string(), 0, 0)]);
        set_hw(&logs, 10);
        logs.shutdown().unwrap();
    }
}

#[test]
fn a_log_created_again_after_a_delete_never_inherits_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path());
    append(&logs, 10);
    set_hw(&logs, 10);
    logs.get(&tp()).unwrap().lock().delete_records_before(8).unwrap();
    logs.checkpoint().unwrap();
    logs.delete(&tp()).unwrap();
    // Recreated (e.g. a topic of the same name), written, then a crash
    // before any periodic checkpoint.
    append(&logs, 3);
    drop(logs);
    let logs = open(dir.path());
    assert_eq!(offsets(&logs), (0, 0, 3), "neither the old log start nor the old high watermark");
    let starts = checkpoint::read_offsets(&dir.path().join(LOG_START_FILE)).unwrap();
    assert_eq!(starts, vec![("t".to_string(), 0, 0)]);
}
