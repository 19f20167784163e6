//! PartitionLog behaviour on real files: append/read, rolling, retention,
//! DeleteRecords, idempotent duplicates, restart, and crash recovery of torn
//! and corrupt tails.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use brook_protocol::batch::{self, build_batch, build_batch_with_producer, BatchHeader};
use brook_storage::config::LogConfig;
use brook_storage::{PartitionLog, StorageError};

fn config() -> LogConfig {
    LogConfig { segment_bytes: 1024, index_interval_bytes: 128, ..LogConfig::default() }
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i:05}-{}", "x".repeat(40)).into_bytes()
}

fn append_n(log: &mut PartitionLog, n: usize, ts: i64) {
    for i in 0..n {
        let v = value(i);
        let batch = build_batch(&[(Some(b"k"), Some(&v))], ts);
        log.append_as_leader(&batch, 0, ts).unwrap();
    }
}

/// Reads every batch from offset 0 through the region API and checks CRCs.
fn read_all(log: &PartitionLog) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let slice = log.read(offset, 1 << 20, true).unwrap();
        let region = slice.region.expect("data below HW");
        let mut buf = vec![0u8; region.length];
        std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
        let mut at = 0;
        while let Some(size) = batch::batch_size(&buf[at..]) {
            if at + size > buf.len() {
                break;
            }
            let header = batch::validate(&buf[at..at + size], usize::MAX).unwrap();
            if header.last_offset() >= offset {
                out.push(header);
            }
            at += size;
        }
        offset = out.last().unwrap().last_offset() + 1;
    }
    out
}

fn reopen(dir: &Path, clean: bool) -> PartitionLog {
    PartitionLog::open(dir, config(), Some(0), None, clean).unwrap()
}

#[test]
fn append_roll_read_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config(), None, None, false).unwrap();
    append_n(&mut log, 100, 1000);
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(log.log_end_offset(), 100);
    assert!(log.segment_count() > 3, "segment.bytes=1024 must roll");
    let headers = read_all(&log);
    assert_eq!(headers.len(), 100);
    assert!(headers.iter().enumerate().all(|(i, h)| h.base_offset == i as i64));
    // Reading from the middle of the log starts at the batch holding the offset.
    let slice = log.read(57, 10, true).unwrap();
    let region = slice.region.unwrap();
    let mut head = [0u8; 61];
    std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut head, region.position).unwrap();
    assert_eq!(BatchHeader::parse(&head).unwrap().base_offset, 57);
    assert!(region.length >= BatchHeader::parse(&head).unwrap().size_bytes(), "at least one whole batch");
    // Out of range on both sides.
    assert!(matches!(log.read(101, 100, true), Err(StorageError::OffsetOutOfRange { .. })));
    assert!(log.read(100, 100, true).unwrap().region.is_none());
    log.close().unwrap();
    drop(log);
    let mut log = reopen(dir.path(), true);
    assert_eq!(log.log_end_offset(), 100);
    assert_eq!(log.high_watermark(), 0, "an opened log knows nothing committed until told");
    assert!(read_all(&log).is_empty());
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(read_all(&log).len(), 100);
}

#[test]
fn recovery_truncates_torn_tail_and_corrupt_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), None, None, false).unwrap();
    append_n(&mut log, 10, 1000);
    drop(log); // no close: unclean
    let seg = dir.path().join(format!("{:020}.log", 0));
    let len = std::fs::metadata(&seg).unwrap().len();
    // Torn write: half a batch at the end.
    let torn = build_batch(&[(None, Some(b"torn"))], 1);
    OpenOptions::new().append(true).open(&seg).unwrap().write_all(&torn[..torn.len() / 2]).unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), Some(0), None, false).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len);
    assert!(log.recovery_stats().bytes_truncated > 0);
    // New appends continue the offsets without reuse.
    append_n(&mut log, 1, 1000);
    assert_eq!(log.log_end_offset(), 11);
    drop(log);
    // Flip a byte inside batch 5's payload: recovery cuts there.
    let data = std::fs::read(&seg).unwrap();
    let mut at = 0;
    for _ in 0..5 {
        at += batch::batch_size(&data[at..]).unwrap();
    }
    let mut corrupt = data.clone();
    corrupt[at + 70] ^= 0x55;
    std::fs::write(&seg, &corrupt).unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), Some(0), None, false).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    log.set_high_watermark(5);
    assert_eq!(read_all(&log).len(), 5);
}

#[test]
fn retention_by_size_and_time_moves_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.retention_bytes = 2048;
    let mut log = PartitionLog::open(dir.path(), cfg.clone(), None, None, false).unwrap();
    append_n(&mut log, 100, 1000);
    log.set_high_watermark(log.log_end_offset());
    let before = log.segment_count();
    let deleted = log.apply_retention(2000, i64::MAX / 2).unwrap();
    assert!(deleted > 0 && log.segment_count() < before);
    assert!(log.size_bytes() <= 2048 + 1024);
    assert!(log.log_start_offset() > 0);
    assert!(matches!(log.read(0, 100, true), Err(StorageError::OffsetOutOfRange { .. })));
    // Time: everything is older than retention.ms → all deleted, log end kept.
    cfg.retention_bytes = -1;
    cfg.retention_ms = 10;
    log.set_config(cfg);
    log.apply_retention(100_000, i64::MAX / 2).unwrap();
    assert_eq!(log.log_start_offset(), 100);
    assert_eq!(log.log_end_offset(), 100);
    append_n(&mut log, 1, 100_000);
    assert_eq!(log.log_end_offset(), 101);
}

#[test]
fn delete_records_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config(), None, None, false).unwrap();
    for i in 0..50 {
        let v = value(i);
        log.append_as_leader(&build_batch(&[(None, Some(&v))], 1000 + i as i64 * 10), 0, 0).unwrap();
    }
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(log.offset_for_timestamp(1205).unwrap(), Some((21, 1210)));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1000)));
    assert_eq!(log.offset_for_timestamp(5000).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((49, 1490)));
    assert_eq!(log.delete_records_before(30).unwrap(), 30);
    assert!(matches!(log.read(29, 100, true), Err(StorageError::OffsetOutOfRange { .. })));
    assert!(log.read(30, 100, true).unwrap().region.is_some());
    assert!(log.delete_records_before(51).is_err());
}

#[test]
fn idempotent_duplicates_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config(), None, None, false).unwrap();
    let b0 = build_batch_with_producer(&[(None, Some(b"a")), (None, Some(b"b"))], 1, 42, 0, 0);
    let b1 = build_batch_with_producer(&[(None, Some(b"c"))], 1, 42, 0, 2);
    assert_eq!(log.append_as_leader(&b0, 0, 1).unwrap().base_offset, 0);
    assert_eq!(log.append_as_leader(&b1, 0, 1).unwrap().base_offset, 2);
    drop(log); // unclean: producer state rebuilt from the log
    let mut log = reopen(dir.path(), false);
    let dup = log.append_as_leader(&b0, 0, 1).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.base_offset, 0);
    assert_eq!(log.log_end_offset(), 3);
    let gap = build_batch_with_producer(&[(None, Some(b"z"))], 1, 42, 0, 9);
    assert!(matches!(log.append_as_leader(&gap, 0, 1), Err(StorageError::OutOfOrderSequence { .. })));
    log.close().unwrap();
    drop(log);
    let mut log = reopen(dir.path(), true);
    assert!(log.append_as_leader(&b1, 0, 1).unwrap().duplicate);
}

#[test]
fn rejects_bad_batches_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config(), None, None, false).unwrap();
    let mut bad = build_batch(&[(None, Some(b"a"))], 1);
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(log.append_as_leader(&bad, 0, 1).is_err());
    let big = build_batch(&[(None, Some(&vec![0u8; 2000]))], 1);
    assert!(matches!(log.append_as_leader(&big, 0, 1), Err(StorageError::RecordListTooLarge { .. })));
    let mut two = build_batch(&[(None, Some(b"a"))], 1);
    two.extend(build_batch(&[(None, Some(b"b"))], 1));
    assert!(log.append_as_leader(&two, 0, 1).is_err());
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn oversized_batch_without_min_one_batch_returns_nothing_not_later_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config(), None, None, false).unwrap();
    // Offset 0: a large batch that fills segment 0; offset 1 lands in the next segment.
    log.append_as_leader(&build_batch(&[(None, Some(&vec![1u8; 900]))], 1), 0, 1).unwrap();
    log.append_as_leader(&build_batch(&[(None, Some(&vec![2u8; 900]))], 1), 0, 1).unwrap();
    log.append_as_leader(&build_batch(&[(None, Some(b"small"))], 1), 0, 1).unwrap();
    log.set_high_watermark(log.log_end_offset());
    assert!(log.segment_count() >= 2);
    let slice = log.read(0, 100, false).unwrap();
    assert!(slice.region.is_none(), "must not skip to a later segment's data");
    let slice = log.read(0, 100, true).unwrap();
    let region = slice.region.unwrap();
    let mut head = [0u8; 61];
    std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut head, region.position).unwrap();
    assert_eq!(BatchHeader::parse(&head).unwrap().base_offset, 0);
}

#[test]
fn retention_ignores_missing_timestamps_and_search_respects_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.retention_ms = 60_000;
    let mut log = PartitionLog::open(dir.path(), cfg, None, None, false).unwrap();
    for _ in 0..30 {
        log.append_as_leader(&build_batch(&[(None, Some(&vec![0u8; 100]))], -1), 0, 1).unwrap();
    }
    log.set_high_watermark(log.log_end_offset());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert_eq!(log.apply_retention(now, i64::MAX / 2).unwrap(), 0, "timestamp -1 falls back to file mtime");
    assert_eq!(log.log_start_offset(), 0);

    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), None, None, false).unwrap();
    for i in 0..100 {
        log.append_as_leader(&build_batch(&[(None, Some(b"v"))], 1000 + i), 0, 1).unwrap();
    }
    log.set_high_watermark(100);
    log.delete_records_before(50).unwrap();
    assert_eq!(log.offset_for_timestamp(900).unwrap(), Some((50, 1050)), "search starts at the log start");
}

/// Randomized crash recovery: append, cut the newest segment file at a random
/// byte (a torn write), or flip a random byte in it, reopen as after an
/// unclean shutdown, and check that the log is always a valid prefix of what
/// was written, with dense offsets, and keeps accepting appends.
#[test]
fn random_torn_and_corrupt_tails_recover_to_a_valid_prefix() {
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            segment_bytes: 512 + (next() % 2048),
            index_interval_bytes: 64 + (next() % 512),
            ..LogConfig::default()
        };
        let mut log = PartitionLog::open(dir.path(), cfg.clone(), None, None, false).unwrap();
        let mut written: Vec<Vec<u8>> = Vec::new(); // payload per offset
        for _ in 0..(20 + next() % 80) {
            let len = 1 + (next() % 200) as usize;
            let payload: Vec<u8> = (0..len).map(|i| (i as u64 ^ next()) as u8).collect();
            let batch = build_batch(&[(None, Some(&payload))], 1000 + written.len() as i64);
            assert_eq!(log.append_as_leader(&batch, 0, 1).unwrap().base_offset, written.len() as i64);
            written.push(payload);
        }
        drop(log); // unclean: no close
        let mut segments: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        segments.sort();
        let newest = segments.last().unwrap().clone();
        let mut data = std::fs::read(&newest).unwrap();
        if !data.is_empty() {
            let at = (next() as usize) % data.len();
            if round % 2 == 0 {
                data.truncate(at); // torn write
            } else {
                data[at] ^= 1 + (next() % 255) as u8; // corruption
            }
            std::fs::write(&newest, &data).unwrap();
        }
        let mut log = PartitionLog::open(dir.path(), cfg, Some(0), None, false).unwrap();
        let end = log.log_end_offset();
        assert!(end <= written.len() as i64, "round {round}: log grew");
        log.set_high_watermark(end);
        let headers = if end > 0 { read_all(&log) } else { Vec::new() };
        assert_eq!(headers.len() as i64, end, "round {round}: dense offsets up to the end");
        for (i, h) in headers.iter().enumerate() {
            assert_eq!(h.base_offset, i as i64);
            let slice = log.read(h.base_offset, 1 << 20, true).unwrap();
            let region = slice.region.unwrap();
            let mut buf = vec![0u8; h.size_bytes()];
            std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
            let expected = build_batch(&[(None, Some(&written[i]))], 1000 + i as i64);
            assert_eq!(&buf[61..], &expected[61..], "round {round}: record {i} unchanged");
        }
        // Appends continue right after the surviving prefix.
        let batch = build_batch(&[(None, Some(b"after"))], 1);
        assert_eq!(log.append_as_leader(&batch, 0, 1).unwrap().base_offset, end);
    }
}

/// Bytes a follower's fetch would carry from `offset`.
fn replica_bytes(log: &PartitionLog, offset: i64) -> Vec<u8> {
    let slice = log.read_for_replica(offset, 1 << 20).unwrap();
    let Some(region) = slice.region else { return Vec::new() };
    let mut buf = vec![0u8; region.length];
    std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
    buf
}

#[test]
fn follower_replicates_offsets_epochs_and_producer_state() {
    let (ldir, fdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut leader = PartitionLog::open(ldir.path(), config(), Some(0), None, true).unwrap();
    let mut follower = PartitionLog::open(fdir.path(), config(), Some(0), None, true).unwrap();
    append_n(&mut leader, 10, 5);
    let b = build_batch_with_producer(&[(None, Some(b"p0")), (None, Some(b"p1"))], 5, 77, 0, 0);
    leader.append_as_leader(&b, 3, 5).unwrap();
    // Replica reads go to the log end; consumer reads stop at the high watermark.
    leader.set_high_watermark(4);
    assert!(leader.read(4, 1 << 20, true).unwrap().region.is_none());
    // A partial trailing batch (size-limited fetch) is left for the next fetch.
    let bytes = replica_bytes(&leader, 0);
    let whole = follower.append_as_follower(&bytes[..bytes.len() - 7], 5).unwrap();
    assert!(whole >= 1);
    assert_eq!(follower.log_end_offset(), whole as i64, "one record per batch");
    // Fetch after fetch (segments roll at 1 KiB) until caught up.
    for _ in 0..50 {
        if follower.log_end_offset() == leader.log_end_offset() {
            break;
        }
        let bytes = replica_bytes(&leader, follower.log_end_offset());
        follower.append_as_follower(&bytes, 5).unwrap();
    }
    assert_eq!(follower.log_end_offset(), 12);
    assert_eq!(follower.end_offset_for_epoch(0), (0, 10), "epoch 0 ends where epoch 3 begins");
    assert_eq!(follower.latest_epoch(), Some(3));
    // The follower, now leader, still deduplicates the producer's retry.
    let dup = follower.append_as_leader(&b, 4, 6).unwrap();
    assert!(dup.duplicate && dup.base_offset == 10);
    // Batches must continue the log exactly.
    assert!(matches!(
        follower.append_as_follower(&replica_bytes(&leader, 0), 5),
        Err(StorageError::NonContiguous { expected: 12, found: 0 })
    ));
    // A corrupt batch is refused and nothing is appended.
    let mut bad = replica_bytes(&leader, 10);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    follower.truncate_to(10).unwrap();
    assert!(follower.append_as_follower(&bad, 5).is_err());
    assert_eq!(follower.log_end_offset(), 10);

    // Behind the leader's log start: the replica restarts there, empty.
    leader.set_high_watermark(leader.log_end_offset());
    leader.delete_records_before(11).unwrap();
    follower.truncate_fully_and_start_at(11).unwrap();
    assert_eq!((follower.log_start_offset(), follower.log_end_offset()), (11, 11));
    assert!(follower.producers().is_empty());
    let from_start = replica_bytes(&leader, 11);
    // 11 is inside the producer's batch at 10: the replica starts at its base.
    assert_eq!(follower.append_as_follower(&from_start, 6).unwrap(), 1);
    assert_eq!((follower.log_start_offset(), follower.log_end_offset()), (10, 12));
    drop(follower);
    let reopened = PartitionLog::open(fdir.path(), config(), Some(12), None, true).unwrap();
    assert_eq!(reopened.log_end_offset(), 12);
}

/// Retention may move the log start past the high watermark when the
/// offsets between are a compacted gap (here: a follower truncated into
/// one); the watermark moves with it, never below the log start.
#[test]
fn retention_over_a_gap_raises_the_high_watermark_to_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { retention_ms: 1000, ..config() };
    let mut log = PartitionLog::open(dir.path(), cfg, Some(0), None, false).unwrap();
    // As replicated from a compacted leader: offsets 0-4, then 10-14.
    let record: (Option<&[u8]>, Option<&[u8]>) = (Some(b"k"), Some(b"v"));
    let mut chunk = build_batch(&[record; 5], 1000);
    let mut second = chunk.clone();
    second[..8].copy_from_slice(&10i64.to_be_bytes());
    chunk.extend_from_slice(&second);
    assert_eq!(log.append_as_follower(&chunk, 1000).unwrap(), 2);
    log.set_high_watermark(6);
    // Cut inside the gap: the segment ends at 5, a new one starts at 7.
    log.truncate_to(7).unwrap();
    assert_eq!((log.log_end_offset(), log.high_watermark()), (7, 6));
    assert_eq!(log.apply_retention(1_000_000, i64::MAX / 2).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 7);
    assert_eq!(log.high_watermark(), 7, "log start <= high watermark <= log end");
}

#[test]
fn follower_writes_a_fetch_of_many_batches_across_segment_rolls() {
    let (ldir, fdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut leader = PartitionLog::open(ldir.path(), config(), Some(0), None, true).unwrap();
    let mut follower = PartitionLog::open(fdir.path(), config(), Some(0), None, true).unwrap();
    // 60 batches of ~90 bytes: about five 1 KiB segments on the leader.
    append_n(&mut leader, 60, 5);
    leader.set_high_watermark(leader.log_end_offset());
    // The whole leader log as one fetch answer: rolls fall inside it.
    let mut all = Vec::new();
    let mut next = 0;
    while next < leader.log_end_offset() {
        let chunk = replica_bytes(&leader, next);
        let mut at = 0;
        while let Some(size) = batch::batch_size(&chunk[at..]).filter(|s| at + s <= chunk.len()) {
            next = BatchHeader::parse(&chunk[at..]).unwrap().last_offset() + 1;
            at += size;
        }
        all.extend_from_slice(&chunk[..at]);
    }
    assert_eq!(follower.append_as_follower(&all, 5).unwrap(), 60, "every batch in one call");
    assert_eq!(follower.log_end_offset(), 60);
    assert_eq!(follower.segment_count(), leader.segment_count(), "rolls where the leader rolled");
    // Each segment file stays within segment.bytes, as the leader's do.
    let mut sizes: Vec<u64> = std::fs::read_dir(fdir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    sizes.sort();
    assert!(sizes.iter().all(|s| *s <= 1024), "segment sizes {sizes:?}");
    // Every batch reads back, and survives an unclean reopen (indexes rebuilt).
    follower.set_high_watermark(60);
    assert_eq!(read_all(&follower).len(), 60);
    drop(follower);
    let mut reopened = reopen(fdir.path(), false);
    reopened.set_high_watermark(60);
    assert_eq!(reopened.log_end_offset(), 60);
    assert_eq!(read_all(&reopened).len(), 60);
}
