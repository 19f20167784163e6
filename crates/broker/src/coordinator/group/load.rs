//! Rebuilds the groups of one `__consumer_offsets` partition by replaying
//! its batches in log order (failover, restart), as Kafka's coordinator
//! loader does:
//!
//! - plain batches set or delete committed offsets and group metadata;
//! - transactional batches (attribute bit 0x10, with a producer id) hold
//!   TxnOffsetCommit records: they become that producer's *pending* offsets;
//! - control batches (transaction markers) commit or abort that producer's
//!   pending offsets;
//! - what is still pending at the end stays pending: the transaction
//!   coordinator will write the marker later, and the live coordinator
//!   completes it then.
//!
//! Pure: batches in, groups out; no IO. Not thread-safe (one replay per load).

use std::collections::HashMap;

use brook_protocol::batch::{parse_control_batch, BatchHeader, ControlType};
use brook_protocol::kafka_protocol::records::RecordBatchDecoder;
use bytes::Bytes;

use super::state::{Group, GroupState};
use super::store::{self, StoredRecord};

/// The replay of one partition's log.
pub struct OffsetsLogReplay {
    groups: HashMap<String, Group>,
    records: usize,
    now_ms: i64,
}

impl OffsetsLogReplay {
    /// `now_ms` starts restored members' sessions.
    pub fn new(now_ms: i64) -> Self {
        OffsetsLogReplay { groups: HashMap::new(), records: 0, now_ms }
    }

    /// Applies one stored batch (exactly one, with its offsets assigned).
    /// A batch that does not parse is skipped: the log was checked when it
    /// was written and recovered, so this only guards against panics.
    pub fn apply_batch(&mut self, batch: &[u8]) {
        let Ok(header) = BatchHeader::parse(batch) else { return };
        if header.is_control() {
            if let Some((kind, _coordinator_epoch)) = parse_control_batch(batch) {
                self.complete_transaction(header.producer_id, kind == ControlType::Commit);
            }
            return;
        }
        let transactional = header.is_transactional() && header.has_producer_id();
        let mut bytes = Bytes::copy_from_slice(batch);
        let Ok(set) = RecordBatchDecoder::decode(&mut bytes) else { return };
        for record in set.records {
            let Some(key) = record.key.as_deref() else { continue };
            let Some(decoded) = store::decode(key, record.value.as_deref()) else { continue };
            self.records += 1;
            let producer_id = if transactional { Some(header.producer_id) } else { None };
            self.apply_record(decoded, record.offset, producer_id);
        }
    }

    fn apply_record(&mut self, record: StoredRecord, record_offset: i64, producer_id: Option<i64>) {
        match record {
            StoredRecord::Offset { group, topic, partition, value } => {
                let group = self.group(&group);
                let key = (topic, partition);
                match (value, producer_id) {
                    (Some(v), Some(pid)) => group.txn_offsets.add_pending(pid, key, v, record_offset),
                    (Some(v), None) => {
                        group.txn_offsets.on_plain_commit(key.clone(), record_offset);
                        group.offsets.insert(key, v);
                    }
                    // A tombstone is never transactional in Kafka; treat it alike either way.
                    (None, _) => {
                        group.txn_offsets.on_tombstone(&key);
                        group.offsets.remove(&key);
                    }
                }
            }
            StoredRecord::Group { group, value } => {
                let now = self.now_ms;
                let group = self.group(&group);
                match value {
                    Some(stored) => store::restore_group(group, stored, now),
                    None => {
                        group.members.clear();
                        group.static_members.clear();
                        group.state = GroupState::Empty;
                    }
                }
            }
        }
    }

    /// A marker for `producer_id`: completes its transaction in every group.
    fn complete_transaction(&mut self, producer_id: i64, commit: bool) {
        for group in self.groups.values_mut() {
            group.txn_offsets.complete(producer_id, commit, &mut group.offsets);
        }
    }

    fn group(&mut self, group_id: &str) -> &mut Group {
        let now = self.now_ms;
        self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now))
    }

    /// Records decoded so far.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The loaded groups, without those that hold nothing (deleted, or
    /// every offset removed) and no open transaction.
    pub fn finish(mut self) -> HashMap<String, Group> {
        self.groups
            .retain(|_, g| !g.members.is_empty() || !g.offsets.is_empty() || !g.txn_offsets.no_open_transactions());
        self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::group::state::CommittedOffset;
    use brook_protocol::batch::{
        assign_offset, build_batch, build_control_batch, build_transactional_batch, BatchHeader,
    };

    fn offset(value: i64) -> CommittedOffset {
        CommittedOffset { offset: value, leader_epoch: -1, metadata: String::new(), commit_timestamp_ms: 5 }
    }

    /// A tiny log: appends batches with consecutive offsets, as the leader would.
    struct Log {
        batches: Vec<Vec<u8>>,
        next_offset: i64,
    }

    impl Log {
        fn new() -> Self {
            Log { batches: Vec::new(), next_offset: 0 }
        }
        fn push(&mut self, mut batch: Vec<u8>) {
            assign_offset(&mut batch, self.next_offset, 0);
            self.next_offset = BatchHeader::parse(&batch).unwrap().last_offset() + 1;
            self.batches.push(batch);
        }
        fn commit(&mut self, group: &str, partition: i32, value: i64) {
            let (k, v) = (store::offset_key(group, "t", partition), store::offset_value(&offset(value)));
            self.push(build_batch(&[(Some(&k), Some(&v))], 5));
        }
        fn txn_commit(&mut self, producer_id: i64, group: &str, partition: i32, value: i64) {
            let (k, v) = (store::offset_key(group, "t", partition), store::offset_value(&offset(value)));
            self.push(build_transactional_batch(&[(Some(&k), Some(&v))], 5, producer_id, 0, -1));
        }
        fn tombstone(&mut self, group: &str, partition: i32) {
            let k = store::offset_key(group, "t", partition);
            self.push(build_batch(&[(Some(&k), None)], 5));
        }
        fn marker(&mut self, producer_id: i64, kind: ControlType) {
            self.push(build_control_batch(kind, producer_id, 0, 3, 5));
        }
        fn replay(&self) -> HashMap<String, Group> {
            let mut replay = OffsetsLogReplay::new(0);
            for b in &self.batches {
                replay.apply_batch(b);
            }
            replay.finish()
        }
    }

    fn committed(groups: &HashMap<String, Group>, group: &str, partition: i32) -> Option<i64> {
        groups.get(group)?.offsets.get(&("t".to_string(), partition)).map(|c| c.offset)
    }

    fn pending(groups: &HashMap<String, Group>, group: &str, partition: i32) -> bool {
        groups.get(group).is_some_and(|g| g.txn_offsets.has_pending(&("t".to_string(), partition)))
    }

    #[test]
    fn markers_commit_and_abort_pending_offsets() {
        let mut log = Log::new();
        log.commit("g", 0, 1);
        log.txn_commit(7, "g", 0, 10);
        log.txn_commit(8, "g", 1, 20);
        log.txn_commit(9, "h", 0, 30);
        log.marker(7, ControlType::Commit);
        log.marker(8, ControlType::Abort);
        let groups = log.replay();
        assert_eq!(committed(&groups, "g", 0), Some(10), "committed transaction");
        assert_eq!(committed(&groups, "g", 1), None, "aborted transaction");
        assert!(!pending(&groups, "g", 0) && !pending(&groups, "g", 1));
        // Producer 9 has no marker yet: its offset stays pending, and keeps its group.
        assert_eq!(committed(&groups, "h", 0), None);
        assert!(pending(&groups, "h", 0));
        assert!(groups["h"].txn_offsets.has_pending_from(9));
    }

    #[test]
    fn plain_commit_after_the_transactional_record_wins() {
        let mut log = Log::new();
        log.txn_commit(7, "g", 0, 10);
        log.commit("g", 0, 50);
        log.txn_commit(7, "g", 1, 11);
        log.marker(7, ControlType::Commit);
        let groups = log.replay();
        assert_eq!(committed(&groups, "g", 0), Some(50));
        assert_eq!(committed(&groups, "g", 1), Some(11));
    }

    #[test]
    fn tombstone_removes_pending_offsets_and_an_empty_group() {
        let mut log = Log::new();
        log.txn_commit(7, "g", 0, 10);
        log.tombstone("g", 0);
        log.marker(7, ControlType::Commit);
        let groups = log.replay();
        assert!(!groups.contains_key("g"), "nothing left of the group: {:?}", groups.get("g").map(|g| &g.offsets));
    }

    #[test]
    fn a_marker_of_another_producer_leaves_pending_offsets_alone() {
        let mut log = Log::new();
        log.txn_commit(7, "g", 0, 10);
        log.marker(8, ControlType::Commit);
        let groups = log.replay();
        assert_eq!(committed(&groups, "g", 0), None);
        assert!(pending(&groups, "g", 0));
    }

    #[test]
    fn garbage_is_skipped() {
        let mut replay = OffsetsLogReplay::new(0);
        replay.apply_batch(&[1, 2, 3]);
        replay.apply_batch(&[]);
        assert_eq!(replay.records(), 0);
        assert!(replay.finish().is_empty());
    }
}
