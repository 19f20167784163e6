//! Hand-written Fetch response encoder (versions 4..=16) whose record data
//! can be file regions, so the broker can send them with sendfile(2).
//!
//! The `kafka-protocol` crate encodes records from memory; a fetch must not
//! copy segment bytes into user space, so the response is produced as a list
//! of [`Chunk`]s: encoded bytes interleaved with (file, position, length)
//! regions. Field order follows Kafka's FetchResponse schema.

use std::fs::File;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

/// A byte range of a file, sent without copying through user space.
#[derive(Debug, Clone)]
pub struct FileRegion {
    pub file: Arc<File>,
    pub position: u64,
    pub length: usize,
}

/// One piece of a response on the wire.
#[derive(Debug, Clone)]
pub enum Chunk {
    Bytes(Bytes),
    File(FileRegion),
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::File(r) => r.length,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-partition result.
#[derive(Debug, Clone, Default)]
pub struct FetchPartitionData {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// For a read_committed fetch: (producer id, first offset) of each
    /// aborted transaction overlapping the records; `None` otherwise.
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    /// Record batches; empty means a zero-length records field.
    pub records: Vec<Chunk>,
}

/// Per-topic result; `name` is used below v13, `topic_id` from v13.
#[derive(Debug, Clone)]
pub struct FetchTopicData {
    pub name: Bytes,
    pub topic_id: [u8; 16],
    pub partitions: Vec<FetchPartitionData>,
}

#[derive(Debug, Clone, Default)]
pub struct FetchResponseData {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub session_id: i32,
    pub topics: Vec<FetchTopicData>,
}

pub const MIN_VERSION: i16 = 4;
pub const MAX_VERSION: i16 = 16;

struct Encoder {
    buf: BytesMut,
    chunks: Vec<Chunk>,
    flexible: bool,
}

impl Encoder {
    fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.chunks.push(Chunk::Bytes(self.buf.split().freeze()));
        }
    }
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }
    fn array_len(&mut self, n: usize) {
        if self.flexible {
            self.uvarint(n as u64 + 1);
        } else {
            self.buf.put_i32(n as i32);
        }
    }
    fn null_array(&mut self) {
        if self.flexible {
            self.uvarint(0);
        } else {
            self.buf.put_i32(-1);
        }
    }
    fn string(&mut self, s: &[u8]) {
        if self.flexible {
            self.uvarint(s.len() as u64 + 1);
        } else {
            self.buf.put_i16(s.len() as i16);
        }
        self.buf.put_slice(s);
    }
    fn tagged_fields_empty(&mut self) {
        if self.flexible {
            self.uvarint(0);
        }
    }
}

/// Encodes a full response frame (size prefix, header, body) as chunks.
pub fn encode(correlation_id: i32, version: i16, data: &FetchResponseData) -> Vec<Chunk> {
    let flexible = version >= 12;
    let mut e = Encoder { buf: BytesMut::with_capacity(256), chunks: Vec::with_capacity(4), flexible };
    e.buf.put_i32(0); // size, patched below
    e.buf.put_i32(correlation_id);
    e.tagged_fields_empty(); // response header v1
    e.buf.put_i32(data.throttle_time_ms);
    if version >= 7 {
        e.buf.put_i16(data.error_code);
        e.buf.put_i32(data.session_id);
    }
    e.array_len(data.topics.len());
    for topic in &data.topics {
        if version >= 13 {
            e.buf.put_slice(&topic.topic_id);
        } else {
            e.string(&topic.name);
        }
        e.array_len(topic.partitions.len());
        for p in &topic.partitions {
            e.buf.put_i32(p.partition_index);
            e.buf.put_i16(p.error_code);
            e.buf.put_i64(p.high_watermark);
            e.buf.put_i64(p.last_stable_offset);
            if version >= 5 {
                e.buf.put_i64(p.log_start_offset);
            }
            match &p.aborted_transactions {
                None => e.null_array(),
                Some(aborted) => {
                    e.array_len(aborted.len());
                    for (producer_id, first_offset) in aborted {
                        e.buf.put_i64(*producer_id);
                        e.buf.put_i64(*first_offset);
                        e.tagged_fields_empty();
                    }
                }
            }
            if version >= 11 {
                e.buf.put_i32(-1); // preferred_read_replica
            }
            let records_len: usize = p.records.iter().map(Chunk::len).sum();
            if flexible {
                e.uvarint(records_len as u64 + 1);
            } else {
                e.buf.put_i32(records_len as i32);
            }
            if records_len > 0 {
                e.flush();
                e.chunks.extend(p.records.iter().cloned());
            }
            e.tagged_fields_empty();
        }
        e.tagged_fields_empty();
    }
    e.tagged_fields_empty();
    e.flush();
    let total: usize = e.chunks.iter().map(Chunk::len).sum::<usize>() - 4;
    if let Some(Chunk::Bytes(first)) = e.chunks.first_mut() {
        let mut patched = BytesMut::from(&first[..]);
        patched[0..4].copy_from_slice(&(total as i32).to_be_bytes());
        *first = patched.freeze();
    }
    e.chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::protocol::Decodable;

    fn flatten(chunks: &[Chunk]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            match c {
                Chunk::Bytes(b) => out.extend_from_slice(b),
                Chunk::File(_) => panic!("file region in test"),
            }
        }
        out
    }

    #[test]
    fn decodes_with_kafka_protocol_crate_in_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let data = FetchResponseData {
                throttle_time_ms: 0,
                error_code: 0,
                session_id: 0,
                topics: vec![FetchTopicData {
                    name: Bytes::from_static(b"t"),
                    topic_id: [7; 16],
                    partitions: vec![FetchPartitionData {
                        partition_index: 3,
                        error_code: 0,
                        high_watermark: 10,
                        last_stable_offset: 8,
                        log_start_offset: 1,
                        aborted_transactions: Some(vec![(42, 2), (43, 5)]),
                        records: vec![
                            Chunk::Bytes(Bytes::from_static(b"abc")),
                            Chunk::Bytes(Bytes::from_static(b"de")),
                        ],
                    }],
                }],
            };
            let bytes = flatten(&encode(5, version, &data));
            let size = i32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
            assert_eq!(size, bytes.len() - 4);
            let mut body = Bytes::from(bytes[8..].to_vec());
            if version >= 12 {
                assert_eq!(body[0], 0);
                body = body.slice(1..);
            }
            let decoded = FetchResponse::decode(&mut body, version).unwrap();
            let p = &decoded.responses[0].partitions[0];
            assert_eq!(p.partition_index, 3);
            assert_eq!(p.high_watermark, 10);
            assert_eq!(p.last_stable_offset, 8);
            let aborted: Vec<(i64, i64)> =
                p.aborted_transactions.as_ref().unwrap().iter().map(|t| (t.producer_id.0, t.first_offset)).collect();
            assert_eq!(aborted, vec![(42, 2), (43, 5)]);
            assert_eq!(p.records.as_deref(), Some(&b"abcde"[..]));
            if version >= 13 {
                assert_eq!(decoded.responses[0].topic_id.as_bytes(), &[7; 16]);
            } else {
                assert_eq!(decoded.responses[0].topic.as_str(), "t");
            }
        }
    }
}
