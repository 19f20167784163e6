//! Log compaction on real files: latest value per key with offsets kept,
//! tombstones removed only after their delete horizon, producer metadata
//! kept, followers replicating a compacted leader, and every crash state of
//! a swap opening to a log that holds each key's latest value.

use std::collections::BTreeMap;
use std::path::Path;

use brook_protocol::batch::{self, build_batch, build_batch_with_producer};
use brook_protocol::records;
use brook_storage::cleaner::{self, CleanerSettings};
use brook_storage::compaction_state;
use brook_storage::config::LogConfig;
use brook_storage::PartitionLog;
use parking_lot::Mutex;

const NOW: i64 = 1_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        compact: true,
        delete: false,
        min_cleanable_dirty_ratio: 0.01,
        delete_retention_ms: 1000,
        ..LogConfig::default()
    }
}

fn settings() -> CleanerSettings {
    CleanerSettings { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: f64::MAX }
}

/// Opens the log with everything on disk committed (an opened log's high
/// watermark starts at its log start; no replication here).
fn open(dir: &Path, clean_shutdown: bool) -> PartitionLog {
    let mut log = PartitionLog::open(dir, config(), Some(0), None, clean_shutdown).unwrap();
    log.set_high_watermark(log.log_end_offset());
    log
}

/// Every record (offset, key, value) from the log start to the high watermark.
fn read_records(log: &PartitionLog) -> Vec<(i64, Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let slice = log.read(offset, 1 << 20, true).unwrap();
        let Some(region) = slice.region else { break };
        let mut buf = vec![0u8; region.length];
        std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
        let mut at = 0;
        let mut next = offset;
        while let Some(size) = batch::batch_size(&buf[at..]) {
            if at + size > buf.len() {
                break;
            }
            let bytes = &buf[at..at + size];
            let header = batch::validate_stored(bytes).unwrap();
            let payload = records::payload(bytes, &header).unwrap();
            for r in records::parse_records(&payload, header.record_count).unwrap() {
                let o = header.base_offset + r.offset_delta as i64;
                if o >= offset {
                    out.push((o, r.key.unwrap_or_default().to_vec(), r.value.map(<[u8]>::to_vec)));
                }
            }
            next = header.last_offset() + 1;
            at += size;
        }
        assert!(next > offset, "no progress at {offset}");
        offset = next;
    }
    out
}

/// Latest value per key (None = tombstone) of what was written.
type Expected = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn write(log: &mut PartitionLog, expected: &mut Expected, keys: usize, rounds: usize, tag: &str) {
    for round in 0..rounds {
        let batch_records: Vec<(Vec<u8>, Vec<u8>)> = (0..keys)
            .map(|k| (format!("key-{k:03}").into_bytes(), format!("{tag}-{round}-{k}").into_bytes()))
            .collect();
        for chunk in batch_records.chunks(4) {
            let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> =
                chunk.iter().map(|(k, v)| (Some(k.as_slice()), Some(v.as_slice()))).collect();
            log.append_as_leader(&build_batch(&refs, NOW), 0, NOW).unwrap();
            for (k, v) in chunk {
                expected.insert(k.clone(), Some(v.clone()));
            }
        }
    }
    // No replication here: everything written is committed.
    log.set_high_watermark(log.log_end_offset());
}

fn tombstone(log: &mut PartitionLog, expected: &mut Expected, key: &str) {
    log.append_as_leader(&build_batch(&[(Some(key.as_bytes()), None)], NOW), 0, NOW).unwrap();
    log.set_high_watermark(log.log_end_offset());
    expected.insert(key.as_bytes().to_vec(), None);
}

/// Checks the log against `expected`: exactly the latest record per key
/// (tombstones only where `tombstones_kept`), offsets strictly increasing.
fn check(log: &PartitionLog, expected: &Expected, tombstones_kept: bool) {
    let records = read_records(log);
    for pair in records.windows(2) {
        assert!(pair[0].0 < pair[1].0, "offsets must increase: {} then {}", pair[0].0, pair[1].0);
    }
    let mut latest: Expected = BTreeMap::new();
    for (_, k, v) in &records {
        latest.insert(k.clone(), v.clone());
    }
    let wanted: Expected =
        expected.iter().filter(|(_, v)| tombstones_kept || v.is_some()).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(latest, wanted);
}

fn clean(log: PartitionLog, now: i64) -> (PartitionLog, Option<cleaner::CleanStats>) {
    let shared = Mutex::new(log);
    let stats = cleaner::clean(&shared, now, &settings()).unwrap();
    (shared.into_inner(), stats)
}

#[test]
fn keeps_latest_per_key_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), false);
    let mut expected = Expected::new();
    write(&mut log, &mut expected, 20, 30, "a");
    log.roll().unwrap();
    let before = log.size_bytes();
    let end = log.log_end_offset();
    let (log, stats) = clean(log, NOW);
    let stats = stats.expect("a dirty log is cleaned");
    assert!(stats.records_removed > 500, "{stats:?}");
    assert!(log.size_bytes() * 5 < before, "{} of {before} bytes left", log.size_bytes());
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.log_start_offset(), 0);
    check(&log, &expected, true);
    let records = read_records(&log);
    assert_eq!(records.len(), 20);
    // Nothing dirty left: the next pass does nothing.
    let (mut log, stats) = clean(log, NOW);
    assert_eq!(stats, None);
    // Appends continue at the right offset, and a restart keeps everything.
    write(&mut log, &mut expected, 5, 1, "b");
    assert_eq!(log.log_end_offset(), end + 5);
    drop(log);
    let log = open(dir.path(), false);
    check(&log, &expected, true);
    assert_eq!(log.log_end_offset(), end + 5);
}

#[test]
fn active_segment_is_never_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log =
        PartitionLog::open(dir.path(), LogConfig { segment_bytes: 1 << 30, ..config() }, Some(0), None, false).unwrap();
    let mut expected = Expected::new();
    write(&mut log, &mut expected, 5, 10, "a");
    let (log, stats) = clean(log, NOW);
    assert_eq!(stats, None);
    assert_eq!(read_records(&log).len(), 50);
}

#[test]
fn tombstones_survive_until_their_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), false);
    let mut expected = Expected::new();
    write(&mut log, &mut expected, 10, 10, "a");
    tombstone(&mut log, &mut expected, "key-003");
    tombstone(&mut log, &mut expected, "key-007");
    log.roll().unwrap();
    let (log, stats) = clean(log, NOW);
    assert!(stats.is_some());
    // First pass: the tombstones are kept, with a horizon NOW + 1000.
    check(&log, &expected, true);
    let (log, stats) = clean(log, NOW + 500);
    assert_eq!(stats, None, "horizon not reached yet");
    check(&log, &expected, true);
    let (log, stats) = clean(log, NOW + 1001);
    assert!(stats.is_some(), "a due horizon forces a pass");
    check(&log, &expected, false);
    assert_eq!(read_records(&log).len(), 8);
    // Reopened after a crash, the gaps compaction left are accepted.
    drop(log);
    let log = open(dir.path(), false);
    check(&log, &expected, false);
}

#[test]
fn producer_metadata_survives_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), false);
    // Producer 7's only batch: both records are superseded later.
    let first = build_batch_with_producer(&[(Some(b"k1"), Some(b"old")), (Some(b"k2"), Some(b"old"))], NOW, 7, 0, 0);
    log.append_as_leader(&first, 0, NOW).unwrap();
    let newer = build_batch(&[(Some(b"k1"), Some(b"new")), (Some(b"k2"), Some(b"new"))], NOW);
    log.append_as_leader(&newer, 0, NOW).unwrap();
    log.set_high_watermark(log.log_end_offset());
    log.roll().unwrap();
    let (mut log, stats) = clean(log, NOW);
    assert!(stats.is_some());
    // An empty batch keeps producer 7's offsets and sequence.
    let header = log.batch_header(0).unwrap().expect("empty batch kept");
    assert_eq!((header.record_count, header.last_offset_delta, header.producer_id), (0, 1, 7));
    assert_eq!(read_records(&log).len(), 2);
    // Consumers are not handed a response of record-less batches; followers are.
    let consumer_first = log.read(0, 1 << 20, true).unwrap().region.unwrap();
    let follower_first = log.read_for_replica(0, 1 << 20).unwrap().region.unwrap();
    assert!(consumer_first.position > follower_first.position);
    // A retry of producer 7's batch is still a duplicate, after a restart too.
    assert!(log.append_as_leader(&first, 0, NOW).unwrap().duplicate);
    drop(log);
    std::fs::remove_file(dir.path().join(format!("{:020}.snapshot", 4))).ok();
    let mut log = open(dir.path(), false);
    assert!(log.append_as_leader(&first, 0, NOW).unwrap().duplicate);
}

#[test]
fn compressed_batches_are_cleaned_in_their_codec() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), false);
    let mut expected = Expected::new();
    for round in 0..20 {
        let values: Vec<Vec<u8>> = (0..5).map(|k| format!("r{round}-k{k}").into_bytes()).collect();
        let keys: Vec<Vec<u8>> = (0..5).map(|k| format!("key-{k}").into_bytes()).collect();
        let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> =
            keys.iter().zip(&values).map(|(k, v)| (Some(k.as_slice()), Some(v.as_slice()))).collect();
        let lz4 =
            records::recompress(&build_batch(&refs, NOW), batch::Compression::Lz4, records::CodecLevels::default())
                .unwrap();
        log.append_as_leader(&lz4, 0, NOW).unwrap();
        for (k, v) in keys.iter().zip(values) {
            expected.insert(k.clone(), Some(v));
        }
    }
    log.set_high_watermark(log.log_end_offset());
    log.roll().unwrap();
    let (log, stats) = clean(log, NOW);
    assert!(stats.is_some());
    check(&log, &expected, true);
    let header = log.batch_header(log.log_end_offset() - 1).unwrap().unwrap();
    assert_eq!(header.compression().unwrap(), batch::Compression::Lz4);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn log_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

/// The states a crash can leave a swap in, rebuilt from a real cleaning:
/// output never renamed, `.swap` beside all old segments, `.swap` with some
/// old segments already deleted. Each opens to the latest value per key.
#[test]
fn every_crash_state_of_a_swap_opens_correctly() {
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("original");
    let mut log = open(&original, false);
    let mut expected = Expected::new();
    write(&mut log, &mut expected, 8, 40, "a");
    log.roll().unwrap();
    drop(log);
    let before = log_files(&original);
    let cleaned_dir = root.path().join("cleaned");
    copy_dir(&original, &cleaned_dir);
    let log = open(&cleaned_dir, true);
    let (log, stats) = clean(log, NOW);
    assert!(stats.is_some());
    drop(log);
    let after = log_files(&cleaned_dir);
    assert!(after.len() < before.len(), "{before:?} -> {after:?}");
    let cleaned_first = &after[0];
    let base: i64 = cleaned_first.trim_end_matches(".log").parse().unwrap();
    // Segments over half of segment.bytes are cleaned one per group, so the
    // first group is exactly the first segment: its swap covers [base, next base).
    for name in &before[..2] {
        assert!(std::fs::metadata(original.join(name)).unwrap().len() > 1024);
    }
    assert_eq!(base, 0);
    let end: i64 = before[1].trim_end_matches(".log").parse().unwrap();
    let gaps = std::fs::read(cleaned_dir.join(compaction_state::STATE_FILE)).unwrap();

    // 1. Output written under .cleaning/ but never swapped: discarded.
    let state1 = root.path().join("s1");
    copy_dir(&original, &state1);
    std::fs::create_dir_all(state1.join(".cleaning")).unwrap();
    std::fs::write(state1.join(".cleaning").join(cleaned_first), b"partial garbage").unwrap();
    let log = open(&state1, false);
    check(&log, &expected, true);
    assert!(!state1.join(".cleaning").exists());
    drop(log);

    // 2. The .swap is durable, every old segment still there.
    // 3. The .swap is durable, the first old segments already deleted.
    for (name, delete_old) in [("s2", 0usize), ("s3", 1)] {
        let state = root.path().join(name);
        copy_dir(&original, &state);
        std::fs::write(state.join(compaction_state::STATE_FILE), &gaps).unwrap();
        let swap = format!("{base:020}.{end:020}.swap");
        std::fs::copy(cleaned_dir.join(cleaned_first), state.join(&swap)).unwrap();
        for old in before.iter().take(delete_old) {
            std::fs::remove_file(state.join(old)).unwrap();
        }
        let log = open(&state, false);
        check(&log, &expected, true);
        assert!(!state.join(&swap).exists());
    }
}

#[test]
fn follower_accepts_a_compacted_leader_log() {
    let root = tempfile::tempdir().unwrap();
    let mut leader = open(&root.path().join("leader"), false);
    let mut expected = Expected::new();
    write(&mut leader, &mut expected, 6, 30, "a");
    leader.roll().unwrap();
    let (leader, stats) = clean(leader, NOW);
    assert!(stats.is_some());
    let follower_dir = root.path().join("follower");
    let mut follower = open(&follower_dir, false);
    let mut offset = 0;
    while offset < leader.log_end_offset() {
        let slice = leader.read_for_replica(offset, 4096).unwrap();
        let Some(region) = slice.region else { break };
        let mut buf = vec![0u8; region.length];
        std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
        follower.append_as_follower(&buf, NOW).unwrap();
        offset = follower.log_end_offset();
    }
    assert_eq!(follower.log_end_offset(), leader.log_end_offset());
    follower.set_high_watermark(follower.log_end_offset());
    check(&follower, &expected, true);
    // An unclean restart recovers the gapped segments without cutting them.
    drop(follower);
    let follower = open(&follower_dir, false);
    assert_eq!(follower.log_end_offset(), leader.log_end_offset());
    check(&follower, &expected, true);
}

#[test]
fn truncation_into_a_compacted_gap_keeps_the_log_end_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), false);
    let mut expected = Expected::new();
    write(&mut log, &mut expected, 4, 40, "a");
    log.roll().unwrap();
    let end = log.log_end_offset();
    let (mut log, stats) = clean(log, NOW);
    assert!(stats.is_some());
    // Cut where compaction left a gap: just below the log end, inside the
    // last cleaned segment's removed tail.
    let cut = end - 2;
    log.truncate_to(cut).unwrap();
    assert_eq!(log.log_end_offset(), cut);
    drop(log);
    let mut log = open(dir.path(), false);
    assert_eq!(log.log_end_offset(), cut, "the log end must not move back after a restart");
    let appended = log.append_as_leader(&build_batch(&[(Some(b"key-000"), Some(b"after"))], NOW), 0, NOW).unwrap();
    assert_eq!(appended.base_offset, cut);
}

#[test]
fn a_pass_stops_when_the_log_is_truncated_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), false);
    let mut expected = Expected::new();
    write(&mut log, &mut expected, 4, 40, "a");
    log.roll().unwrap();
    log.mark_deleted();
    let (_log, stats) = clean(log, NOW);
    assert_eq!(stats, None, "a deleted log is not cleaned");
}

/// Randomized: rounds of appends (updates, tombstones, several producers),
/// rolls, cleaning passes at advancing clocks, and unclean reopens, in a
/// seeded random order. After every step the log holds, for every key, its
/// latest write (tombstones possibly gone once their horizon passed),
/// offsets strictly increase, and the log end never moves.
#[test]
fn random_appends_cleanings_and_reopens_keep_every_latest_value() {
    let mut seed: u64 = 0xc1ea_4e55_0bad_f00d;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut removed = 0;
    for round in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), false);
        let mut expected = Expected::new();
        let mut now = NOW;
        let keys = 3 + next(40);
        let mut sequences = [0i32; 3];
        for step in 0..60 {
            match next(10) {
                0..=5 => {
                    let count = 1 + next(6) as usize;
                    let mut kv = Vec::new();
                    for _ in 0..count {
                        let key = format!("key-{}", next(keys)).into_bytes();
                        let value = (next(8) != 0).then(|| format!("r{round}-s{step}-{}", next(1000)).into_bytes());
                        kv.push((key, value));
                    }
                    let refs: Vec<(Option<&[u8]>, Option<&[u8]>)> =
                        kv.iter().map(|(k, v)| (Some(k.as_slice()), v.as_deref())).collect();
                    // Producer -1 is not idempotent; 0 and 1 are, with their sequences.
                    let producer = next(3) as usize;
                    let (id, sequence) =
                        if producer == 0 { (-1, -1) } else { (producer as i64 - 1, sequences[producer]) };
                    sequences[producer] += count as i32;
                    let batch = build_batch_with_producer(&refs, now, id, 0, sequence);
                    log.append_as_leader(&batch, 0, now).unwrap();
                    log.set_high_watermark(log.log_end_offset());
                    for (k, v) in kv {
                        expected.insert(k, v);
                    }
                }
                6 => log.roll().unwrap(),
                7 | 8 => {
                    now += next(1500) as i64;
                    let end = log.log_end_offset();
                    let shared = Mutex::new(log);
                    if let Some(stats) = cleaner::clean(&shared, now, &settings()).unwrap() {
                        removed += stats.records_removed;
                    }
                    log = shared.into_inner();
                    assert_eq!(log.log_end_offset(), end, "round {round} step {step}: cleaning moved the log end");
                }
                _ => {
                    let end = log.log_end_offset();
                    drop(log);
                    log = open(dir.path(), false);
                    assert_eq!(log.log_end_offset(), end, "round {round} step {step}: reopen moved the log end");
                }
            }
            // Tombstones may be gone; every live key's latest value must be there.
            let records = read_records(&log);
            for pair in records.windows(2) {
                assert!(pair[0].0 < pair[1].0, "round {round} step {step}: offsets must increase");
            }
            let mut latest = Expected::new();
            for (_, k, v) in &records {
                latest.insert(k.clone(), v.clone());
            }
            for (k, v) in &expected {
                match v {
                    Some(_) => assert_eq!(latest.get(k), Some(v), "round {round} step {step}: key {k:?}"),
                    None => assert!(
                        latest.get(k).is_none_or(|l| l.is_none()),
                        "round {round} step {step}: deleted key {k:?} came back"
                    ),
                }
            }
        }
    }
    assert!(removed > 100, "the passes removed only {removed} records");
}

#[test]
fn the_scheduler_cleans_due_logs_and_backs_off_a_failing_one() {
    use std::sync::Arc;

    use brook_storage::cleaner_scheduler::{CleanerScheduler, FAILURE_BACKOFF_MS};
    use brook_storage::TopicPartition;

    let root = tempfile::tempdir().unwrap();
    let mut logs = Vec::new();
    for name in ["good", "broken"] {
        let mut log = open(&root.path().join(format!("{name}-0")), false);
        write(&mut log, &mut Expected::new(), 8, 40, name);
        log.roll().unwrap();
        logs.push((TopicPartition::new(name, 0), Arc::new(Mutex::new(log))));
    }
    // A bit flipped inside the broken log's first batch: its pass fails the CRC check.
    let segment = root.path().join("broken-0").join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[80] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    let size = |i: usize| logs[i].1.lock().size_bytes();
    let (good_before, broken_before) = (size(0), size(1));

    CleanerScheduler::new(settings(), 2, false).run_once(logs.clone(), NOW);
    assert_eq!(size(0), good_before, "a disabled cleaner cleans nothing");

    let scheduler = CleanerScheduler::new(settings(), 2, true);
    scheduler.run_once(logs.clone(), NOW);
    assert!(size(0) < good_before, "the dirty log was cleaned");
    assert_eq!(size(1), broken_before);
    assert_eq!(scheduler.backed_off(), 1, "the failing log backs off");
    // Repaired, it is still left alone until its backoff ends, then cleaned.
    bytes[80] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    scheduler.run_once(logs.clone(), NOW + FAILURE_BACKOFF_MS - 1);
    assert_eq!(size(1), broken_before);
    assert_eq!(scheduler.backed_off(), 1);
    scheduler.run_once(logs.clone(), NOW + FAILURE_BACKOFF_MS);
    assert!(size(1) < broken_before, "retried once its backoff ended");
    assert_eq!(scheduler.backed_off(), 0);
}
