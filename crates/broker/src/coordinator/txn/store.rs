//! How the transaction coordinator persists a transactional id in
//! `__transaction_state`: one record per change, key = the id, value = its
//! state (the latest record for a key wins; a null value is a tombstone,
//! written when an idle id expires). Kafka's `TransactionLogKey` /
//! `TransactionLogValue` layouts, so Kafka's tools read them. All integers
//! big-endian.
//!
//! ```text
//! key   v0:  i16 version=0, i16 length + UTF-8 transactional id
//! value v0:  i16 version=0, i64 producer id, i16 producer epoch,
//!            i32 timeout ms, i8 state (0 Empty .. 7 PrepareEpochFence),
//!            i32 topic count (-1 = null), per topic: i16 length + name,
//!              i32 partition count, i32 partition ids,
//!            i64 last update ms, i64 start ms
//! value v1:  (flexible) i16 version=1, i64 producer id, i16 producer epoch,
//!            i32 timeout ms, i8 state,
//!            uvarint topic count + 1 (0 = null), per topic:
//!              uvarint length + 1, name, uvarint partition count + 1,
//!              i32 partition ids, uvarint 0 (no tagged fields),
//!            i64 last update ms, i64 start ms,
//!            tagged fields: uvarint count, then per field uvarint tag,
//!              uvarint size, data:
//!              0 = i64 previous producer id, 1 = i64 next producer id,
//!              2 = i16 client transaction version,
//!              1000 = i16 last producer epoch (Brook's; Kafka skips it)
//! ```
//! Brook writes v1 (it carries the TV2 fields) and reads both. Tagged
//! fields equal to their default (-1, -1, 0, -1) are left out.

use std::collections::{BTreeMap, BTreeSet};

use brook_storage::TopicPartition;

use super::state::{Transition, TxnState, TxnVersion, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 1;
const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_VERSION: u32 = 2;
const TAG_LAST_PRODUCER_EPOCH: u32 = 1000;

pub fn key(transactional_id: &str) -> Vec<u8> {
    let mut w = Vec::with_capacity(4 + transactional_id.len());
    w.extend_from_slice(&KEY_VERSION.to_be_bytes());
    put_string(&mut w, transactional_id);
    w
}

pub fn value(t: &Transition) -> Vec<u8> {
    let mut w = Vec::with_capacity(64);
    w.extend_from_slice(&VALUE_VERSION.to_be_bytes());
    w.extend_from_slice(&t.producer_id.to_be_bytes());
    w.extend_from_slice(&t.producer_epoch.to_be_bytes());
    w.extend_from_slice(&t.timeout_ms.to_be_bytes());
    w.push(t.state.id() as u8);
    let topics = by_topic(&t.partitions);
    put_uvarint(&mut w, topics.len() as u32 + 1);
    for (topic, partitions) in &topics {
        put_uvarint(&mut w, topic.len() as u32 + 1);
        w.extend_from_slice(topic.as_bytes());
        put_uvarint(&mut w, partitions.len() as u32 + 1);
        for p in partitions {
            w.extend_from_slice(&p.to_be_bytes());
        }
        put_uvarint(&mut w, 0);
    }
    w.extend_from_slice(&t.update_ms.to_be_bytes());
    w.extend_from_slice(&t.start_ms.to_be_bytes());
    let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
    if t.previous_producer_id != NO_PRODUCER_ID {
        tagged.push((TAG_PREVIOUS_PRODUCER_ID, t.previous_producer_id.to_be_bytes().to_vec()));
    }
    if t.next_producer_id != NO_PRODUCER_ID {
        tagged.push((TAG_NEXT_PRODUCER_ID, t.next_producer_id.to_be_bytes().to_vec()));
    }
    if t.client_version != TxnVersion::V0 {
        tagged.push((TAG_CLIENT_VERSION, t.client_version.0.to_be_bytes().to_vec()));
    }
    if t.last_producer_epoch != NO_PRODUCER_EPOCH {
        tagged.push((TAG_LAST_PRODUCER_EPOCH, t.last_producer_epoch.to_be_bytes().to_vec()));
    }
    put_uvarint(&mut w, tagged.len() as u32);
    for (tag, data) in tagged {
        put_uvarint(&mut w, tag);
        put_uvarint(&mut w, data.len() as u32);
        w.extend_from_slice(&data);
    }
    w
}

/// A record of `__transaction_state`: the id and its state (`None`: a
/// tombstone). `None` for a record that is not a well-formed one.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<(String, Option<Transition>)> {
    let mut k = Reader(key);
    if k.i16()? != KEY_VERSION {
        return None;
    }
    let id = k.string()?;
    match value {
        None => Some((id, None)),
        Some(v) => Some((id, Some(decode_value(v)?))),
    }
}

fn decode_value(bytes: &[u8]) -> Option<Transition> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if !(0..=1).contains(&version) {
        return None;
    }
    let flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state = TxnState::from_id(r.i8()?)?;
    let mut partitions = BTreeSet::new();
    let topics = if flexible { r.uvarint()? as i64 - 1 } else { i64::from(r.i32()?) };
    for _ in 0..topics.max(0) {
        let topic = if flexible { r.compact_string()? } else { r.string()? };
        let count = if flexible { r.uvarint()? as i64 - 1 } else { i64::from(r.i32()?) };
        for _ in 0..count.max(0) {
            partitions.insert(TopicPartition::new(&topic, r.i32()?));
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
    }
    let update_ms = r.i64()?;
    let start_ms = r.i64()?;
    let mut t = Transition {
        producer_id,
        previous_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms,
        state,
        partitions,
        start_ms,
        update_ms,
        client_version: TxnVersion::V0,
    };
    if flexible {
        for _ in 0..r.uvarint()? {
            let tag = r.uvarint()?;
            let size = r.uvarint()? as usize;
            let mut data = Reader(r.take(size)?);
            match tag {
                TAG_PREVIOUS_PRODUCER_ID => t.previous_producer_id = data.i64()?,
                TAG_NEXT_PRODUCER_ID => t.next_producer_id = data.i64()?,
                TAG_CLIENT_VERSION => t.client_version = TxnVersion(data.i16()?),
                TAG_LAST_PRODUCER_EPOCH => t.last_producer_epoch = data.i16()?,
                _ => {}
            }
        }
    }
    Some(t)
}

fn by_topic(partitions: &BTreeSet<TopicPartition>) -> BTreeMap<&str, Vec<i32>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    topics
}

fn put_string(w: &mut Vec<u8>, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    w.extend_from_slice(&(len as i16).to_be_bytes());
    w.extend_from_slice(&s.as_bytes()[..len]);
}

fn put_uvarint(w: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        w.push((v as u8) | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn i8(&mut self) -> Option<i8> {
        Some(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn uvarint(&mut self) -> Option<u32> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u32::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.i16()?).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn compact_string(&mut self) -> Option<String> {
        let len = (self.uvarint()? as usize).checked_sub(1)?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn skip_tagged_fields(&mut self) -> Option<()> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transition {
        Transition {
            producer_id: 4242,
            previous_producer_id: 17,
            next_producer_id: 4300,
            producer_epoch: 5,
            last_producer_epoch: 4,
            timeout_ms: 60_000,
            state: TxnState::PrepareCommit,
            partitions: [("orders", 0), ("orders", 3), ("__consumer_offsets", 12)]
                .iter()
                .map(|(t, p)| TopicPartition::new(*t, *p))
                .collect(),
            start_ms: 1_700_000_000_000,
            update_ms: 1_700_000_000_500,
            client_version: TxnVersion::V2,
        }
    }

    #[test]
    fn key_layout_is_kafkas() {
        assert_eq!(key("tx"), vec![0, 0, 0, 2, b't', b'x']);
    }

    #[test]
    fn round_trip() {
        let t = sample();
        assert_eq!(decode(&key("my-id"), Some(&value(&t))), Some(("my-id".to_string(), Some(t))));
        assert_eq!(decode(&key("my-id"), None), Some(("my-id".to_string(), None)));
    }

    #[test]
    fn defaults_are_not_written_and_read_back_as_defaults() {
        let t = Transition {
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            client_version: TxnVersion::V0,
            partitions: BTreeSet::new(),
            state: TxnState::Empty,
            ..sample()
        };
        let bytes = value(&t);
        assert_eq!(*bytes.last().unwrap(), 0, "no tagged fields");
        assert_eq!(decode(&key("x"), Some(&bytes)).unwrap().1, Some(t));
    }

    #[test]
    fn value_v1_layout() {
        let t = Transition { partitions: [TopicPartition::new("t", 1)].into_iter().collect(), ..sample() };
        let bytes = value(&t);
        let mut expected = vec![0, 1];
        expected.extend_from_slice(&4242i64.to_be_bytes());
        expected.extend_from_slice(&5i16.to_be_bytes());
        expected.extend_from_slice(&60_000i32.to_be_bytes());
        expected.push(2);
        expected.extend_from_slice(&[2, 2, b't', 2, 0, 0, 0, 1, 0]);
        expected.extend_from_slice(&t.update_ms.to_be_bytes());
        expected.extend_from_slice(&t.start_ms.to_be_bytes());
        expected.push(4);
        expected.extend_from_slice(&[0, 8]);
        expected.extend_from_slice(&17i64.to_be_bytes());
        expected.extend_from_slice(&[1, 8]);
        expected.extend_from_slice(&4300i64.to_be_bytes());
        expected.extend_from_slice(&[2, 2, 0, 2]);
        expected.extend_from_slice(&[0xe8, 0x07, 2, 0, 4]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn reads_kafkas_value_v0() {
        let mut v = vec![0, 0];
        v.extend_from_slice(&99i64.to_be_bytes());
        v.extend_from_slice(&3i16.to_be_bytes());
        v.extend_from_slice(&1000i32.to_be_bytes());
        v.push(1); // Ongoing
        v.extend_from_slice(&1i32.to_be_bytes());
        v.extend_from_slice(&[0, 3, b'a', b'b', b'c']);
        v.extend_from_slice(&2i32.to_be_bytes());
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&7i32.to_be_bytes());
        v.extend_from_slice(&20i64.to_be_bytes());
        v.extend_from_slice(&10i64.to_be_bytes());
        let (_, t) = decode(&key("k"), Some(&v)).unwrap();
        let t = t.unwrap();
        assert_eq!((t.producer_id, t.producer_epoch, t.timeout_ms, t.state), (99, 3, 1000, TxnState::Ongoing));
        assert_eq!(t.partitions, [TopicPartition::new("abc", 0), TopicPartition::new("abc", 7)].into_iter().collect());
        assert_eq!((t.update_ms, t.start_ms, t.previous_producer_id), (20, 10, NO_PRODUCER_ID));
    }

    #[test]
    fn truncated_or_unknown_records_are_rejected() {
        let bytes = value(&sample());
        for cut in 0..bytes.len() {
            assert_eq!(decode(&key("k"), Some(&bytes[..cut])), None, "cut at {cut}");
        }
        assert_eq!(decode(&[0, 1, 0, 1, b'k'], None), None, "unknown key version");
        assert_eq!(decode(&[0, 0, 0, 5, b'k'], None), None, "truncated key");
        let mut bad_state = bytes.clone();
        bad_state[16] = 9;
        assert_eq!(decode(&key("k"), Some(&bad_state)), None);
        let mut bad_version = bytes;
        bad_version[1] = 2;
        assert_eq!(decode(&key("k"), Some(&bad_version)), None);
    }
}
