//! Transactional offset commits of one group (KIP-98), as Kafka's
//! `OffsetMetadataManager` keeps them: offsets a producer sends with
//! TxnOffsetCommit wait here per producer id, invisible to OffsetFetch,
//! until that producer's transaction marker is written to the group's
//! `__consumer_offsets` partition. COMMIT materializes them, ABORT drops
//! them.
//!
//! Every offset carries the log offset of the record that wrote it, so a
//! transaction completing late never overwrites a plain commit written
//! after its own record (Kafka: "the most recent committed offset wins",
//! which also keeps a compacted log and the live state in agreement).
//!
//! Pure data, no IO, not thread-safe: the coordinator holds it inside its
//! groups' lock, and the log loader replays into it.

use std::collections::{BTreeMap, BTreeSet};

use super::state::CommittedOffset;

/// (topic, partition): the key of a committed offset.
pub type OffsetKey = (String, i32);

/// An offset and the `__consumer_offsets` position of the record holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedOffset {
    pub offset: CommittedOffset,
    pub record_offset: i64,
}

/// What completing a transaction did to one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Completion {
    /// Pending offsets that became committed offsets.
    pub materialized: usize,
    /// Pending offsets dropped: aborted, or older than the committed offset.
    pub dropped: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnOffsets {
    /// Open transactions: producer id → its pending offsets.
    pending: BTreeMap<i64, BTreeMap<OffsetKey, RecordedOffset>>,
    /// Record offset of the commit behind each committed offset of the
    /// group (plain or materialized); absent when unknown (-1 semantics).
    committed_at: BTreeMap<OffsetKey, i64>,
}

impl TxnOffsets {
    /// A TxnOffsetCommit record of `producer_id` was written at `record_offset`.
    /// A later commit of the same partition in the same transaction replaces it.
    pub fn add_pending(&mut self, producer_id: i64, key: OffsetKey, offset: CommittedOffset, record_offset: i64) {
        self.pending.entry(producer_id).or_default().insert(key, RecordedOffset { offset, record_offset });
    }

    /// A plain (non-transactional) commit of `key` was written at `record_offset`.
    pub fn on_plain_commit(&mut self, key: OffsetKey, record_offset: i64) {
        self.committed_at.insert(key, record_offset);
    }

    /// A tombstone for `key` was written (offset deletion, expiry, group
    /// deletion): the committed offset and every open transaction's pending
    /// offset for it are gone, as when Kafka replays a tombstone.
    pub fn on_tombstone(&mut self, key: &OffsetKey) {
        self.committed_at.remove(key);
        self.pending.retain(|_, offsets| {
            offsets.remove(key);
            !offsets.is_empty()
        });
    }

    /// The marker of `producer_id`'s transaction was written: on commit its
    /// pending offsets replace the committed ones in `committed` unless a
    /// later record wrote them; on abort they are dropped.
    pub fn complete(
        &mut self,
        producer_id: i64,
        commit: bool,
        committed: &mut BTreeMap<OffsetKey, CommittedOffset>,
    ) -> Completion {
        let Some(pending) = self.pending.remove(&producer_id) else { return Completion::default() };
        let mut completion = Completion::default();
        for (key, recorded) in pending {
            let newer = self.committed_at.get(&key).is_none_or(|at| recorded.record_offset > *at);
            if commit && newer {
                committed.insert(key.clone(), recorded.offset);
                self.committed_at.insert(key, recorded.record_offset);
                completion.materialized += 1;
            } else {
                completion.dropped += 1;
            }
        }
        completion
    }

    /// Whether an open transaction holds an offset for `key` (OffsetFetch
    /// with require_stable answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending(&self, key: &OffsetKey) -> bool {
        self.pending.values().any(|offsets| offsets.contains_key(key))
    }

    pub fn has_pending_from(&self, producer_id: i64) -> bool {
        self.pending.contains_key(&producer_id)
    }

    /// No open transaction holds offsets of this group.
    pub fn no_open_transactions(&self) -> bool {
        self.pending.is_empty()
    }

    /// Every partition some open transaction holds an offset for.
    pub fn pending_keys(&self) -> BTreeSet<OffsetKey> {
        self.pending.values().flat_map(|offsets| offsets.keys().cloned()).collect()
    }

    /// The pending offset of `producer_id` for `key`, if any.
    pub fn pending_offset(&self, producer_id: i64, key: &OffsetKey) -> Option<&RecordedOffset> {
        self.pending.get(&producer_id)?.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(value: i64) -> CommittedOffset {
        CommittedOffset { offset: value, leader_epoch: -1, metadata: String::new(), commit_timestamp_ms: 0 }
    }

    fn key(partition: i32) -> OffsetKey {
        ("t".to_string(), partition)
    }

    #[test]
    fn commit_materializes_and_abort_drops() {
        let mut txn = TxnOffsets::default();
        let mut committed = BTreeMap::new();
        txn.add_pending(7, key(0), offset(10), 100);
        txn.add_pending(7, key(1), offset(20), 100);
        txn.add_pending(8, key(0), offset(99), 101);
        assert!(txn.has_pending(&key(0)) && txn.has_pending(&key(1)) && !txn.has_pending(&key(2)));
        assert!(committed.is_empty(), "pending offsets are not committed");

        let done = txn.complete(7, true, &mut committed);
        assert_eq!(done, Completion { materialized: 2, dropped: 0 });
        assert_eq!(committed.get(&key(0)), Some(&offset(10)));
        assert_eq!(committed.get(&key(1)), Some(&offset(20)));
        assert!(!txn.has_pending_from(7));
        assert!(txn.has_pending(&key(0)), "producer 8 is still open");

        let done = txn.complete(8, false, &mut committed);
        assert_eq!(done, Completion { materialized: 0, dropped: 1 });
        assert_eq!(committed.get(&key(0)), Some(&offset(10)), "abort leaves the committed offset");
        assert!(txn.no_open_transactions());
        assert_eq!(txn.complete(8, true, &mut committed), Completion::default(), "a second marker does nothing");
    }

    #[test]
    fn a_later_plain_commit_wins_over_an_earlier_transactional_one() {
        let mut txn = TxnOffsets::default();
        let mut committed = BTreeMap::new();
        txn.add_pending(7, key(0), offset(10), 100);
        committed.insert(key(0), offset(50));
        txn.on_plain_commit(key(0), 105);
        txn.add_pending(7, key(1), offset(11), 106);
        committed.insert(key(1), offset(40));
        txn.on_plain_commit(key(1), 104);

        let done = txn.complete(7, true, &mut committed);
        assert_eq!(done, Completion { materialized: 1, dropped: 1 });
        assert_eq!(committed.get(&key(0)), Some(&offset(50)), "written after the transaction's record");
        assert_eq!(committed.get(&key(1)), Some(&offset(11)), "written before it");
    }

    #[test]
    fn tombstone_drops_pending_offsets_of_its_partition_only() {
        let mut txn = TxnOffsets::default();
        let mut committed = BTreeMap::new();
        txn.add_pending(7, key(0), offset(10), 100);
        txn.add_pending(8, key(0), offset(12), 101);
        txn.add_pending(8, key(1), offset(13), 101);
        txn.on_tombstone(&key(0));
        assert!(!txn.has_pending(&key(0)));
        assert!(!txn.has_pending_from(7), "producer 7 had nothing else");
        assert_eq!(txn.pending_keys(), BTreeSet::from([key(1)]));
        txn.complete(8, true, &mut committed);
        assert_eq!(committed.into_keys().collect::<Vec<_>>(), vec![key(1)]);
    }

    #[test]
    fn later_commit_in_the_same_transaction_replaces_the_pending_one() {
        let mut txn = TxnOffsets::default();
        let mut committed = BTreeMap::new();
        txn.add_pending(7, key(0), offset(10), 100);
        txn.add_pending(7, key(0), offset(15), 102);
        assert_eq!(txn.pending_offset(7, &key(0)).map(|r| r.record_offset), Some(102));
        txn.complete(7, true, &mut committed);
        assert_eq!(committed.get(&key(0)), Some(&offset(15)));
    }
}
