//! The cleaner removes transaction markers when it is safe, as Kafka's:
//! an empty transaction's marker gets a delete horizon in the first pass
//! that sees it so and goes in a pass after it, with its `.txnindex` entry;
//! a marker whose transaction still has a batch in the log stays. A
//! read_committed client (emulated as Kafka's consumer filters aborted
//! records) reads the same committed values before and after, across
//! clean and unclean restarts and every crash state of the swap.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;

use brook_protocol::batch::{self, build_batch, build_transactional_batch, ControlType};
use brook_protocol::records::{self, DELETE_HORIZON_FLAG};
use brook_storage::cleaner::{self, CleanStats, CleanerSettings};
use brook_storage::compaction_state;
use brook_storage::config::LogConfig;
use brook_storage::txn_index::{AbortedTxn, TxnIndex};
use brook_storage::PartitionLog;
use parking_lot::Mutex;

const NOW: i64 = 1_000_000;
const RETENTION: i64 = 1000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 512,
        index_interval_bytes: 128,
        compact: true,
        delete: false,
        min_cleanable_dirty_ratio: 0.01,
        delete_retention_ms: RETENTION,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, clean_shutdown: bool) -> PartitionLog {
    let mut log = PartitionLog::open(dir, config(), Some(0), None, clean_shutdown).unwrap();
    log.set_high_watermark(log.log_end_offset());
    log
}

fn clean(log: PartitionLog, now: i64) -> (PartitionLog, Option<CleanStats>) {
    let shared = Mutex::new(log);
    let settings = CleanerSettings { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: f64::MAX };
    let stats = cleaner::clean(&shared, now, &settings).unwrap();
    (shared.into_inner(), stats)
}

fn txn(log: &mut PartitionLog, pid: i64, seq: i32, key: &str, value: &str) -> i64 {
    let batch = build_transactional_batch(&[(Some(key.as_bytes()), Some(value.as_bytes()))], NOW, pid, 0, seq);
    log.append_as_leader(&batch, 0, NOW).unwrap().base_offset
}

fn plain(log: &mut PartitionLog, key: &str, value: &str) {
    log.append_as_leader(&build_batch(&[(Some(key.as_bytes()), Some(value.as_bytes()))], NOW), 0, NOW).unwrap();
}

fn marker(log: &mut PartitionLog, pid: i64, kind: ControlType) -> i64 {
    log.append_marker(pid, 0, 0, kind, 0, NOW).unwrap().expect("a marker was written")
}

/// Offsets of the log's transactions.
struct Layout {
    commit_emptied: i64,
    commit_kept: i64,
    abort_emptied: i64,
    abort_kept: i64,
    later_commits: [i64; 2],
    aborted_first: i64,
    kept_empty_batch: i64,
    open_txn: i64,
}

/// Producer 1 commits a and b, later overwritten (its marker empties);
/// producer 2 commits c, never overwritten; producer 3 aborts, then
/// commits e; producer 4 aborts with its last batch (kept empty, so the
/// abort marker stays); producer 5's transaction stays open.
fn write_log(log: &mut PartitionLog) -> Layout {
    txn(log, 1, 0, "a", "t1");
    txn(log, 1, 1, "b", "t1");
    let commit_emptied = marker(log, 1, ControlType::Commit);
    txn(log, 2, 0, "c", "t2");
    let commit_kept = marker(log, 2, ControlType::Commit);
    let aborted_first = txn(log, 3, 0, "d", "aborted");
    txn(log, 3, 1, "d", "aborted");
    let abort_emptied = marker(log, 3, ControlType::Abort);
    let kept_empty_batch = txn(log, 4, 0, "f", "aborted");
    let abort_kept = marker(log, 4, ControlType::Abort);
    txn(log, 3, 2, "e", "t3");
    let commit_e = marker(log, 3, ControlType::Commit);
    txn(log, 1, 2, "h", "t1b");
    let commit_h = marker(log, 1, ControlType::Commit);
    plain(log, "a", "plain");
    plain(log, "b", "plain");
    for i in 0..40 {
        plain(log, &format!("x{i}"), "v");
    }
    let open_txn = txn(log, 5, 0, "g", "open");
    for i in 0..10 {
        plain(log, &format!("y{i}"), "v");
    }
    log.set_high_watermark(log.log_end_offset());
    Layout {
        commit_emptied,
        commit_kept,
        abort_emptied,
        abort_kept,
        later_commits: [commit_e, commit_h],
        aborted_first,
        kept_empty_batch,
        open_txn,
    }
}

fn expected_values() -> BTreeMap<String, String> {
    let mut expected: BTreeMap<String, String> =
        [("a", "plain"), ("b", "plain"), ("c", "t2"), ("e", "t3"), ("h", "t1b")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    for i in 0..40 {
        expected.insert(format!("x{i}"), "v".into());
    }
    expected
}

/// What a read_committed Kafka consumer gets, fetch by fetch: within each
/// response, a producer's transactional batches are dropped from the first
/// offset of one of its aborted transactions until its abort marker.
fn committed_view(log: &PartitionLog) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut offset = log.log_start_offset();
    while offset < log.last_stable_offset() {
        let (slice, aborted) = log.read_committed(offset, 1 << 20, true).unwrap();
        let Some(region) = slice.region else { break };
        let mut buf = vec![0u8; region.length];
        std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
        let mut pending: VecDeque<AbortedTxn> = aborted.into();
        let mut aborted_producers = HashSet::new();
        let mut at = 0;
        let mut next = offset;
        while let Some(size) = batch::batch_size(&buf[at..]).filter(|s| at + s <= buf.len()) {
            let bytes = &buf[at..at + size];
            at += size;
            let header = batch::validate_stored(bytes).unwrap();
            next = header.last_offset() + 1;
            if header.has_producer_id() {
                while pending.front().is_some_and(|t| t.first_offset <= header.last_offset()) {
                    aborted_producers.insert(pending.pop_front().unwrap().producer_id);
                }
                if header.is_control() {
                    if matches!(batch::parse_control_batch(bytes), Some((ControlType::Abort, _))) {
                        aborted_producers.remove(&header.producer_id);
                    }
                    continue;
                }
                if header.is_transactional() && aborted_producers.contains(&header.producer_id) {
                    continue;
                }
            }
            let payload = records::payload(bytes, &header).unwrap();
            for r in records::parse_records(&payload, header.record_count).unwrap() {
                let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                values.insert(key, String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
        assert!(next > offset, "no progress at {offset}");
        offset = next;
    }
    values
}

/// (producer, first offset, marker offset) of the aborted transactions a
/// read_committed fetch from the log start is told about.
fn aborted_set(log: &PartitionLog) -> Vec<(i64, i64, i64)> {
    let (_, aborted) = log.read_committed(log.log_start_offset(), 1 << 20, true).unwrap();
    aborted.iter().map(|t| (t.producer_id, t.first_offset, t.last_offset)).collect()
}

/// Every entry of every `.txnindex` file in `dir`.
fn txn_index_files(dir: &Path) -> Vec<(i64, i64, i64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txnindex") {
            let index = TxnIndex::load(path).unwrap();
            out.extend(index.entries().iter().map(|t| (t.producer_id, t.first_offset, t.last_offset)));
        }
    }
    out.sort_unstable();
    out
}

/// The marker at `offset`, if the log still holds it.
fn marker_at(log: &PartitionLog, offset: i64) -> Option<batch::BatchHeader> {
    log.batch_header(offset).unwrap().filter(|h| h.base_offset == offset && h.is_control())
}

fn horizon_of(log: &PartitionLog, offset: i64) -> Option<i64> {
    let header = marker_at(log, offset).expect("marker present");
    (header.attributes & DELETE_HORIZON_FLAG != 0).then_some(header.base_timestamp)
}

/// The state every opening of the cleaned log must show.
fn check_after_markers_removed(log: &PartitionLog, layout: &Layout) {
    assert!(marker_at(log, layout.commit_emptied).is_none());
    assert!(marker_at(log, layout.abort_emptied).is_none());
    for kept in [layout.commit_kept, layout.abort_kept, layout.later_commits[0], layout.later_commits[1]] {
        assert!(marker_at(log, kept).is_some(), "marker at {kept} must stay");
    }
    assert_eq!(aborted_set(log), vec![(4, layout.kept_empty_batch, layout.abort_kept)]);
    assert_eq!(committed_view(log), expected_values());
    assert_eq!(log.last_stable_offset(), layout.open_txn);
    assert!(log.producers().in_transaction(5));
    for pid in 1..=4 {
        assert!(!log.producers().in_transaction(pid), "producer {pid} has no open transaction");
    }
    let open = log.batch_header(layout.open_txn).unwrap().unwrap();
    assert_eq!((open.base_offset, open.record_count, open.producer_id), (layout.open_txn, 1, 5));
}

#[test]
fn markers_go_after_their_horizon_once_their_transaction_is_empty() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let mut log = open(&dir, false);
    let layout = write_log(&mut log);
    assert!(log.segment_count() > 6, "{}", log.segment_count());
    let aborted_before =
        vec![(3, layout.aborted_first, layout.abort_emptied), (4, layout.kept_empty_batch, layout.abort_kept)];
    assert_eq!(aborted_set(&log), aborted_before);
    assert_eq!(committed_view(&log), expected_values());

    // First pass: aborted records and overwritten values go; every marker
    // stays, the empty transactions' ones stamped with a delete horizon.
    let (log, stats) = clean(log, NOW);
    let stats = stats.expect("a pass ran");
    assert_eq!(stats.markers_removed, 0, "{stats:?}");
    assert!(stats.records_removed >= 5, "{stats:?}");
    assert_eq!(horizon_of(&log, layout.commit_emptied), Some(NOW + RETENTION));
    assert_eq!(horizon_of(&log, layout.abort_emptied), Some(NOW + RETENTION));
    for untouched in [layout.commit_kept, layout.abort_kept, layout.later_commits[0], layout.later_commits[1]] {
        assert_eq!(horizon_of(&log, untouched), None, "marker at {untouched}");
    }
    // Producer 4's aborted batch is its last: kept as an empty header, so
    // its transaction is not empty.
    let kept = log.batch_header(layout.kept_empty_batch).unwrap().unwrap();
    assert_eq!((kept.base_offset, kept.record_count), (layout.kept_empty_batch, 0));
    assert!(batch::parse_control_batch(&marker_bytes(&log, layout.abort_emptied)).is_some());
    assert_eq!(aborted_set(&log), aborted_before);
    assert_eq!(txn_index_files(&dir), aborted_before);
    assert_eq!(committed_view(&log), expected_values());

    // Nothing is due before the horizon; at it a pass is forced.
    assert_eq!(cleaner::cleanability(&log, NOW + RETENTION - 1), None);
    assert!(cleaner::cleanability(&log, NOW + RETENTION).is_some_and(|c| c.forced));
    let (log, stats) = clean(log, NOW + RETENTION - 1);
    assert!(stats.is_none());

    // Keep the pre-horizon state for the crash states below.
    drop(log);
    let before = root.path().join("before");
    copy_dir(&dir, &before);
    let log = open(&dir, false);

    // Past the horizon: the empty transactions' markers go, with the abort's
    // .txnindex entry; the others stay.
    let (log, stats) = clean(log, NOW + RETENTION);
    let stats = stats.expect("a pass ran");
    assert_eq!(stats.markers_removed, 2, "{stats:?}");
    check_after_markers_removed(&log, &layout);
    assert_eq!(txn_index_files(&dir), vec![(4, layout.kept_empty_batch, layout.abort_kept)]);
    assert_eq!(cleaner::cleanability(&log, NOW + 100 * RETENTION), None, "nothing left to do");
    let (mut log, stats) = clean(log, NOW + 100 * RETENTION);
    assert!(stats.is_none());

    // A clean restart.
    log.close().unwrap();
    drop(log);
    let log = open(&dir, true);
    check_after_markers_removed(&log, &layout);
    drop(log);
    // A crash: recovery and a replay from the newest producer snapshot.
    let log = open(&dir, false);
    check_after_markers_removed(&log, &layout);
    drop(log);
    // A crash with no snapshot: producer state replayed from the log start.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let log = open(&dir, false);
    check_after_markers_removed(&log, &layout);
    drop(log);

    // Crash states of the second pass's swap of the segment that held the
    // removed abort marker, rebuilt from the files: the cleaned segment
    // (and its index as a txnswap) beside the old ones.
    let after = segment_bases(&dir);
    let at = after.iter().rposition(|b| *b <= layout.abort_emptied).unwrap();
    let (base, end) = (after[at], after[at + 1]);
    let old_bases: Vec<i64> = segment_bases(&before).into_iter().filter(|b| *b >= base && *b < end).collect();
    assert!(
        TxnIndex::load(before.join(format!("{base:020}.txnindex")))
            .unwrap()
            .entries()
            .iter()
            .any(|t| t.last_offset == layout.abort_emptied),
        "the old segment's index holds the removed abort's entry"
    );
    let swap = format!("{base:020}.{end:020}.swap");
    let txn_swap = format!("{base:020}.{end:020}.txnswap");
    let cleaned_index = std::fs::read(dir.join(format!("{base:020}.txnindex"))).unwrap_or_default();
    let state_file = std::fs::read(dir.join(compaction_state::STATE_FILE)).unwrap();
    // 1. The txnswap written, the pass never swapped: the old segments stand.
    // 2. Both durable, every old segment there.
    // 3. Both durable, old segments partly deleted (their index files too).
    // 4. The txnswap installed, the .swap not yet renamed.
    for (name, with_swap, deleted_old) in [("s1", false, 0), ("s2", true, 0), ("s3", true, 1), ("s4", true, usize::MAX)]
    {
        let state = root.path().join(name);
        copy_dir(&before, &state);
        std::fs::write(state.join(&txn_swap), &cleaned_index).unwrap();
        if with_swap {
            std::fs::write(state.join(compaction_state::STATE_FILE), &state_file).unwrap();
            std::fs::copy(dir.join(format!("{base:020}.log")), state.join(&swap)).unwrap();
        }
        for old in old_bases.iter().take(deleted_old) {
            for suffix in ["log", "index", "timeindex", "txnindex"] {
                let _ = std::fs::remove_file(state.join(format!("{old:020}.{suffix}")));
            }
        }
        if deleted_old == usize::MAX {
            let installed = state.join(format!("{base:020}.txnindex"));
            match cleaned_index.is_empty() {
                true => std::fs::remove_file(state.join(&txn_swap)).unwrap(),
                false => std::fs::rename(state.join(&txn_swap), installed).unwrap(),
            }
        }
        let log = open(&state, false);
        assert!(!state.join(&swap).exists() && !state.join(&txn_swap).exists(), "{name}");
        assert_eq!(committed_view(&log), expected_values(), "{name}");
        if with_swap {
            assert!(marker_at(&log, layout.abort_emptied).is_none(), "{name}");
            assert_eq!(aborted_set(&log), vec![(4, layout.kept_empty_batch, layout.abort_kept)], "{name}");
        } else {
            assert!(marker_at(&log, layout.abort_emptied).is_some(), "{name}");
            assert_eq!(aborted_set(&log), aborted_before, "{name}");
        }
        drop(log);
    }
}

/// A marker at or after the oldest producer snapshot stays even when its
/// transaction is empty: a rebuild from that snapshot must meet it.
#[test]
fn markers_at_or_after_the_oldest_snapshot_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), false);
    for i in 0..20 {
        plain(&mut log, &format!("x{i}"), "v");
    }
    log.roll().unwrap();
    txn(&mut log, 1, 0, "d", "aborted");
    let abort = marker(&mut log, 1, ControlType::Abort);
    txn(&mut log, 1, 1, "e", "committed");
    let commit = marker(&mut log, 1, ControlType::Commit);
    log.roll().unwrap();
    plain(&mut log, "y", "v");
    log.set_high_watermark(log.log_end_offset());
    // Both markers are in the last closed segment, above the older snapshot.
    let (log, _) = clean(log, NOW);
    let (log, _) = clean(log, NOW + RETENTION);
    assert!(marker_at(&log, abort).is_some());
    assert!(marker_at(&log, commit).is_some());
    assert_eq!(horizon_of(&log, abort), None);
    assert_eq!(aborted_set(&log).len(), 1);
}

fn marker_bytes(log: &PartitionLog, offset: i64) -> Vec<u8> {
    let slice = log.read_for_replica(offset, 1 << 20).unwrap();
    let region = slice.region.unwrap();
    let mut buf = vec![0u8; region.length];
    std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
    let mut at = 0;
    while let Some(size) = batch::batch_size(&buf[at..]).filter(|s| at + s <= buf.len()) {
        let header = batch::validate_stored(&buf[at..at + size]).unwrap();
        if header.base_offset == offset {
            return buf[at..at + size].to_vec();
        }
        at += size;
    }
    panic!("no batch at {offset}");
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

fn segment_bases(dir: &Path) -> Vec<i64> {
    let mut bases: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_string_lossy().strip_suffix(".log")?.parse().ok())
        .collect();
    bases.sort_unstable();
    bases
}
