//! How the group coordinator persists state in `__consumer_offsets`: plain
//! Kafka records (uncompressed RecordBatch v2) whose key says what they are.
//! The latest record for a key wins; a null value is a tombstone. All
//! integers big-endian; strings are u16 length + UTF-8 (length 0xFFFF = null);
//! bytes are u32 length + data.
//!
//! ```text
//! offset commit   key:   u16 version=1, group, topic, i32 partition
//!                 value: u16 version=0, i64 offset, i32 leader epoch, metadata, i64 commit time ms
//! group metadata  key:   u16 version=2, group
//!                 value: u16 version=0, protocol type?, i32 generation, protocol?, leader?,
//!                        u32 member count, per member: member id, instance id?, client id,
//!                        client host, i32 session timeout, i32 rebalance timeout,
//!                        bytes subscription (metadata of the chosen protocol), bytes assignment
//! ```
//! The key versions mirror Kafka's (1 = offset, 2 = group); the layout is Brook's own.

use bytes::Bytes;

use super::state::{CommittedOffset, Group, GroupState, Member, Protocol};

const OFFSET_KEY: u16 = 1;
const GROUP_KEY: u16 = 2;
const NULL_STRING: u16 = 0xFFFF;

/// The `__consumer_offsets` partition for a group: Kafka's
/// `Utils.abs(groupId.hashCode()) % partitions`, with Java's String hash.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let mut hash: i32 = 0;
    for unit in group_id.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(unit as i32);
    }
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// A decoded record of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredRecord {
    Offset { group: String, topic: String, partition: i32, value: Option<CommittedOffset> },
    Group { group: String, value: Option<StoredGroup> },
}

/// The persisted part of a group (members without their live-session state).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGroup {
    pub protocol_type: Option<String>,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<StoredMember>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

struct Writer(Vec<u8>);

impl Writer {
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn string(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let len = bytes.len().min(NULL_STRING as usize - 1);
        self.u16(len as u16);
        self.0.extend_from_slice(&bytes[..len]);
    }
    fn opt_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.u16(NULL_STRING),
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn opt_string(&mut self) -> Option<Option<String>> {
        let len = self.u16()?;
        if len == NULL_STRING {
            return Some(None);
        }
        Some(Some(String::from_utf8(self.take(len as usize)?.to_vec()).ok()?))
    }
    fn string(&mut self) -> Option<String> {
        self.opt_string()?
    }
    fn bytes(&mut self) -> Option<Bytes> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize;
        Some(Bytes::copy_from_slice(self.take(len)?))
    }
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u16(OFFSET_KEY);
    w.string(group);
    w.string(topic);
    w.i32(partition);
    w.0
}

pub fn offset_value(offset: &CommittedOffset) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u16(0);
    w.i64(offset.offset);
    w.i32(offset.leader_epoch);
    w.string(&offset.metadata);
    w.i64(offset.commit_timestamp_ms);
    w.0
}

pub fn group_key(group: &str) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u16(GROUP_KEY);
    w.string(group);
    w.0
}

pub fn group_value(group: &Group) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u16(0);
    w.opt_string(group.protocol_type.as_deref());
    w.i32(group.generation);
    w.opt_string(group.protocol.as_deref());
    w.opt_string(group.leader.as_deref());
    let protocol = group.protocol.clone().unwrap_or_default();
    w.0.extend_from_slice(&(group.members.len() as u32).to_be_bytes());
    for m in group.members.values() {
        w.string(&m.member_id);
        w.opt_string(m.instance_id.as_deref());
        w.string(&m.client_id);
        w.string(&m.client_host);
        w.i32(m.session_timeout_ms);
        w.i32(m.rebalance_timeout_ms);
        w.bytes(&m.metadata(&protocol));
        w.bytes(&m.assignment);
    }
    w.0
}

/// Decodes one record; `None` for a key this version does not know.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<StoredRecord> {
    let mut k = Reader(key);
    match k.u16()? {
        OFFSET_KEY => {
            let group = k.string()?;
            let topic = k.string()?;
            let partition = k.i32()?;
            let value = match value {
                None => None,
                Some(v) => {
                    let mut r = Reader(v);
                    r.u16()?;
                    Some(CommittedOffset {
                        offset: r.i64()?,
                        leader_epoch: r.i32()?,
                        metadata: r.string()?,
                        commit_timestamp_ms: r.i64()?,
                    })
                }
            };
            Some(StoredRecord::Offset { group, topic, partition, value })
        }
        GROUP_KEY => {
            let group = k.string()?;
            let value = match value {
                None => None,
                Some(v) => {
                    let mut r = Reader(v);
                    r.u16()?;
                    let protocol_type = r.opt_string()?;
                    let generation = r.i32()?;
                    let protocol = r.opt_string()?;
                    let leader = r.opt_string()?;
                    let count = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
                    let mut members = Vec::new();
                    for _ in 0..count {
                        members.push(StoredMember {
                            member_id: r.string()?,
                            instance_id: r.opt_string()?,
                            client_id: r.string()?,
                            client_host: r.string()?,
                            session_timeout_ms: r.i32()?,
                            rebalance_timeout_ms: r.i32()?,
                            subscription: r.bytes()?,
                            assignment: r.bytes()?,
                        });
                    }
                    Some(StoredGroup { protocol_type, generation, protocol, leader, members })
                }
            };
            Some(StoredRecord::Group { group, value })
        }
        _ => None,
    }
}

/// Rebuilds a group from its stored metadata when the coordinator loads.
/// Members get a fresh session: they must heartbeat within their timeout.
pub fn restore_group(group: &mut Group, stored: StoredGroup, now_ms: i64) {
    group.protocol_type = stored.protocol_type;
    group.generation = stored.generation;
    group.protocol = stored.protocol.clone();
    group.leader = stored.leader;
    group.members.clear();
    group.static_members.clear();
    for m in stored.members {
        if let Some(instance) = &m.instance_id {
            group.static_members.insert(instance.clone(), m.member_id.clone());
        }
        group.members.insert(
            m.member_id.clone(),
            Member {
                member_id: m.member_id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocol_type: group.protocol_type.clone().unwrap_or_default(),
                protocols: vec![Protocol {
                    name: stored.protocol.clone().unwrap_or_default(),
                    metadata: m.subscription,
                }],
                assignment: m.assignment,
                last_heartbeat_ms: now_ms,
                awaiting_join: false,
                awaiting_sync: false,
            },
        );
    }
    group.state = if group.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
    group.state_since_ms = now_ms;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_partitioning() {
        // Values from Java: "my-group".hashCode() = 1313447567... checked via the formula.
        assert_eq!(partition_for("", 50), 0);
        let h = "group-1".encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
        assert_eq!(partition_for("group-1", 50), h.abs() % 50);
        for g in ["a", "consumer-group", "ünïcode", "x".repeat(300).as_str()] {
            let p = partition_for(g, 50);
            assert!((0..50).contains(&p));
        }
    }

    #[test]
    fn round_trips() {
        let offset = CommittedOffset { offset: 42, leader_epoch: 3, metadata: "m".into(), commit_timestamp_ms: 99 };
        let key = offset_key("g", "t", 7);
        assert_eq!(
            decode(&key, Some(&offset_value(&offset))),
            Some(StoredRecord::Offset { group: "g".into(), topic: "t".into(), partition: 7, value: Some(offset) })
        );
        assert_eq!(
            decode(&key, None),
            Some(StoredRecord::Offset { group: "g".into(), topic: "t".into(), partition: 7, value: None })
        );
        let mut group = Group::new("g", 0);
        group.generation = 5;
        group.protocol_type = Some("consumer".into());
        group.protocol = Some("range".into());
        let Some(StoredRecord::Group { value: Some(stored), .. }) = decode(&group_key("g"), Some(&group_value(&group)))
        else {
            panic!("group record")
        };
        assert_eq!(stored.generation, 5);
        assert_eq!(decode(&[0, 9], None), None);
        assert_eq!(decode(&key[..5], None), None);
    }
}
