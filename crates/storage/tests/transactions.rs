//! Transactions in the log, on real files: open transactions bound the last
//! stable offset, markers end them, aborts go into the segment's
//! `.txnindex` and come back to read_committed readers; all of it survives
//! restarts, replication and truncation; the cleaner removes aborted records.

use std::path::Path;

use brook_protocol::batch::{build_batch, build_transactional_batch, ControlType};
use brook_storage::cleaner::{self, CleanerSettings};
use brook_storage::config::LogConfig;
use brook_storage::txn_index::AbortedTxn;
use brook_storage::{PartitionLog, StorageError};
use parking_lot::Mutex;

const NOW: i64 = 1_000_000;

fn config() -> LogConfig {
    LogConfig { segment_bytes: 4096, index_interval_bytes: 256, ..LogConfig::default() }
}

fn open(dir: &Path, config: LogConfig, clean: bool) -> PartitionLog {
    PartitionLog::open(dir, config, Some(0), None, clean).unwrap()
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, key: &str, value: &str) -> Vec<u8> {
    build_transactional_batch(&[(Some(key.as_bytes()), Some(value.as_bytes()))], NOW, pid, epoch, seq)
}

fn commit_all(log: &mut PartitionLog) {
    let end = log.log_end_offset();
    log.set_high_watermark(end);
}

#[test]
fn open_transactions_hold_the_last_stable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    log.append_as_leader(&build_batch(&[(None, Some(b"plain"))], NOW), 0, NOW).unwrap(); // 0
    log.append_as_leader(&txn_batch(7, 0, 0, "a", "1"), 0, NOW).unwrap(); // 1
    log.append_as_leader(&txn_batch(8, 0, 0, "b", "1"), 0, NOW).unwrap(); // 2
    log.append_as_leader(&txn_batch(7, 0, 1, "a", "2"), 0, NOW).unwrap(); // 3
    commit_all(&mut log);
    assert_eq!(log.last_stable_offset(), 1);

    // Producer 7 aborts: offset 4. Still unstable until the watermark passes it.
    assert_eq!(log.append_marker(7, 0, 5, ControlType::Abort, 0, NOW).unwrap(), Some(4));
    assert_eq!(log.last_stable_offset(), 1);
    commit_all(&mut log);
    assert_eq!(log.last_stable_offset(), 2, "producer 8 is still open at 2");

    // A retried marker writes nothing; a stale coordinator or producer epoch is fenced.
    assert_eq!(log.append_marker(7, 0, 5, ControlType::Abort, 0, NOW).unwrap(), None);
    assert!(matches!(
        log.append_marker(7, 0, 4, ControlType::Abort, 0, NOW),
        Err(StorageError::CoordinatorFenced { .. })
    ));
    assert!(matches!(
        log.append_marker(8, -1, 5, ControlType::Commit, 0, NOW),
        Err(StorageError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(log.log_end_offset(), 5);

    // Producer 8 commits at 5.
    assert_eq!(log.append_marker(8, 0, 5, ControlType::Commit, 0, NOW).unwrap(), Some(5));
    commit_all(&mut log);
    assert_eq!(log.last_stable_offset(), 6);

    let (slice, aborted) = log.read_committed(0, 1 << 20, true).unwrap();
    assert!(slice.region.is_some());
    assert_eq!(slice.last_stable_offset, 6);
    assert_eq!(aborted, vec![AbortedTxn { producer_id: 7, first_offset: 1, last_offset: 4, last_stable_offset: 2 }]);
    // Past the abort, nothing to report.
    assert!(log.read_committed(5, 1 << 20, true).unwrap().1.is_empty());
    // Clients may not produce control batches.
    let marker = brook_protocol::batch::build_control_batch(ControlType::Commit, 9, 0, 0, NOW);
    assert!(matches!(log.append_as_leader(&marker, 0, NOW), Err(StorageError::ControlBatchFromClient)));
    // A non-transactional write from a producer inside a transaction is refused.
    log.append_as_leader(&txn_batch(9, 0, 0, "c", "1"), 0, NOW).unwrap();
    let plain = brook_protocol::batch::build_batch_with_producer(&[(None, Some(b"x"))], NOW, 9, 0, 1);
    assert!(matches!(log.append_as_leader(&plain, 0, NOW), Err(StorageError::InvalidTxnState { .. })));
}

#[test]
fn transactions_and_aborts_survive_restarts_replication_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    for i in 0..3 {
        log.append_as_leader(&txn_batch(1, 0, i, "k", "aborted"), 0, NOW).unwrap();
        // 0..=2
    }
    log.append_marker(1, 0, 0, ControlType::Abort, 0, NOW).unwrap(); // 3
    log.append_as_leader(&txn_batch(2, 0, 0, "k", "open"), 0, NOW).unwrap(); // 4
    commit_all(&mut log);
    assert_eq!(log.last_stable_offset(), 4);

    // A crash (no clean shutdown, no snapshot): everything is replayed.
    drop(log);
    let mut log = open(dir.path(), config(), false);
    commit_all(&mut log);
    assert_eq!(log.last_stable_offset(), 4);
    assert_eq!(log.read_committed(0, 1 << 20, true).unwrap().1.len(), 1);
    assert!(log.producers().in_transaction(2));

    // A clean shutdown (snapshot at the log end) keeps the open transaction too.
    log.close().unwrap();
    drop(log);
    let mut log = open(dir.path(), config(), true);
    commit_all(&mut log);
    assert_eq!(log.last_stable_offset(), 4);

    // A follower copying this log learns the same state.
    let follower_dir = tempfile::tempdir().unwrap();
    let mut follower = open(follower_dir.path(), config(), false);
    let slice = log.read_for_replica(0, 1 << 20).unwrap();
    let region = slice.region.unwrap();
    let mut bytes = vec![0u8; region.length];
    std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut bytes, region.position).unwrap();
    follower.append_as_follower(&bytes, NOW).unwrap();
    commit_all(&mut follower);
    assert_eq!(follower.last_stable_offset(), 4);
    assert_eq!(follower.read_committed(0, 1 << 20, true).unwrap().1, log.read_committed(0, 1 << 20, true).unwrap().1);

    // Truncating the follower below the abort marker reopens that transaction
    // and drops its index entry.
    follower.truncate_to(3).unwrap();
    commit_all(&mut follower);
    assert_eq!(follower.last_stable_offset(), 0);
    assert!(follower.producers().in_transaction(1));
    assert!(!follower.producers().in_transaction(2));
    let (_, aborted) = follower.read_committed(0, 1 << 20, true).unwrap();
    assert!(aborted.is_empty());
}

#[test]
fn the_cleaner_removes_aborted_records_and_keeps_committed_values() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        LogConfig { segment_bytes: 300, compact: true, delete: false, min_cleanable_dirty_ratio: 0.01, ..config() };
    let mut log = open(dir.path(), config, false);
    log.append_as_leader(&build_batch(&[(Some(b"k"), Some(b"committed"))], NOW), 0, NOW).unwrap();
    for i in 0..4 {
        log.append_as_leader(&txn_batch(3, 0, i, "k", "aborted"), 0, NOW).unwrap();
    }
    log.append_marker(3, 0, 0, ControlType::Abort, 0, NOW).unwrap();
    for i in 0..6 {
        let key = format!("other-{i}");
        log.append_as_leader(&build_batch(&[(Some(key.as_bytes()), Some(b"v"))], NOW), 0, NOW).unwrap();
    }
    commit_all(&mut log);
    assert!(log.segment_count() > 2);
    let shared = Mutex::new(log);
    let stats = cleaner::clean(
        &shared,
        NOW,
        &CleanerSettings { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: f64::MAX },
    )
    .unwrap()
    .expect("a pass ran");
    assert!(stats.records_removed >= 4, "{stats:?}");
    let log = shared.into_inner();
    // What remains: the committed value of k (the aborted ones never shadow it).
    let mut values = Vec::new();
    let mut offset = 0;
    while offset < log.high_watermark() {
        let slice = log.read(offset, 1 << 20, true).unwrap();
        let Some(region) = slice.region else { break };
        let mut buf = vec![0u8; region.length];
        std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
        let mut at = 0;
        let mut next = offset;
        while let Some(size) = brook_protocol::batch::batch_size(&buf[at..]).filter(|s| at + s <= buf.len()) {
            let bytes = &buf[at..at + size];
            let header = brook_protocol::batch::validate_stored(bytes).unwrap();
            if !header.is_control() {
                let payload = brook_protocol::records::payload(bytes, &header).unwrap();
                for r in brook_protocol::records::parse_records(&payload, header.record_count).unwrap() {
                    values.push((r.key.unwrap().to_vec(), r.value.unwrap().to_vec()));
                }
            }
            next = header.last_offset() + 1;
            at += size;
        }
        offset = next;
    }
    assert!(values.contains(&(b"k".to_vec(), b"committed".to_vec())), "{values:?}");
    assert!(!values.iter().any(|(_, v)| v == b"aborted"), "{values:?}");
}
