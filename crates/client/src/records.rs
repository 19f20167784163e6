//! Record batches on the client side: a fast RecordBatch v2 builder for the
//! producer (records encoded straight into one buffer, then compressed as a
//! whole) and batch decoding for the consumer.

use bytes::{BufMut, Bytes, BytesMut};
use std::sync::Arc;

use crate::error::{ClientError, Result};

pub use brook_protocol::batch::Compression;
use brook_protocol::records::{self, CodecLevels};

/// The producer's codec levels: Kafka's, but LZ4 at level 4 rather than 9
/// (its high-compression mode would cost a producer most of its speed).
const PRODUCER_LEVELS: CodecLevels = CodecLevels { gzip: -1, lz4: 4, zstd: 3 };

fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

fn put_varint(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => varint_len(-1),
        Some(b) => varint_len(b.len() as i64) + b.len(),
    }
}

fn put_bytes(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i64);
            buf.put_slice(b);
        }
    }
}

/// A record header.
pub type Header = (String, Option<Bytes>);

/// Accumulates records of one batch.
#[derive(Debug)]
pub struct BatchBuilder {
    records: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    pub fn new(capacity: usize) -> Self {
        BatchBuilder { records: BytesMut::with_capacity(capacity), count: 0, base_timestamp: -1, max_timestamp: -1 }
    }

    pub fn count(&self) -> i32 {
        self.count
    }

    /// Bytes of encoded records so far (uncompressed).
    pub fn size_bytes(&self) -> usize {
        self.records.len() + 61
    }

    /// Encoded size of a record, to decide whether it fits.
    pub fn record_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
        let body = 1
            + 10
            + 5
            + bytes_len(key)
            + bytes_len(value)
            + 5
            + headers.iter().map(|(k, v)| bytes_len(Some(k.as_bytes())) + bytes_len(v.as_deref())).sum::<usize>();
        body + 5
    }

    pub fn append(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) {
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let ts_delta = timestamp - self.base_timestamp;
        let offset_delta = self.count as i64;
        let body_len = 1
            + varint_len(ts_delta)
            + varint_len(offset_delta)
            + bytes_len(key)
            + bytes_len(value)
            + varint_len(headers.len() as i64)
            + headers.iter().map(|(k, v)| bytes_len(Some(k.as_bytes())) + bytes_len(v.as_deref())).sum::<usize>();
        let buf = &mut self.records;
        put_varint(buf, body_len as i64);
        buf.put_u8(0);
        put_varint(buf, ts_delta);
        put_varint(buf, offset_delta);
        put_bytes(buf, key);
        put_bytes(buf, value);
        put_varint(buf, headers.len() as i64);
        for (k, v) in headers {
            put_bytes(buf, Some(k.as_bytes()));
            put_bytes(buf, v.as_deref());
        }
        self.count += 1;
    }

    /// Builds the batch: header, (compressed) records, CRC-32C.
    pub fn finish(
        self,
        compression: Compression,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Result<Bytes> {
        let mut out = BytesMut::with_capacity(61 + self.records.len());
        out.put_bytes(0, 61);
        match compression {
            Compression::None => out.put_slice(&self.records),
            codec => out.put_slice(
                &records::compress_with(codec, &self.records, PRODUCER_LEVELS)
                    .map_err(|e| ClientError::Protocol(format!("compression failed: {e}")))?,
            ),
        }
        let batch_length = (out.len() - 12) as i32;
        out[8..12].copy_from_slice(&batch_length.to_be_bytes());
        out[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        out[16] = 2;
        out[21..23].copy_from_slice(&compression.attribute_bits().to_be_bytes());
        out[23..27].copy_from_slice(&(self.count - 1).to_be_bytes());
        out[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        out[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        out[43..51].copy_from_slice(&producer_id.to_be_bytes());
        out[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
        out[53..57].copy_from_slice(&base_sequence.to_be_bytes());
        out[57..61].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(out.freeze())
    }
}

/// A consumed record. Key, value and header values share the fetched
/// response buffer (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

fn get_varint(buf: &[u8], at: &mut usize) -> Result<i64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let byte = *buf.get(*at).ok_or_else(|| ClientError::Protocol("truncated record".into()))?;
        *at += 1;
        value |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err(ClientError::Protocol("varint too long".into()))
}

fn get_slice(body: &Bytes, at: &mut usize) -> Result<Option<Bytes>> {
    let len = get_varint(body, at)?;
    if len < 0 {
        return Ok(None);
    }
    let end = at.checked_add(len as usize).unwrap_or(usize::MAX);
    if end > body.len() {
        return Err(ClientError::Protocol("record field beyond batch".into()));
    }
    let out = body.slice(*at..end);
    *at = end;
    Ok(Some(out))
}

fn decompress(attributes: i16, data: &[u8]) -> Result<Bytes> {
    let codec = Compression::from_attributes(attributes).map_err(|e| ClientError::Protocol(e.to_string()))?;
    records::decompress(codec, data)
        .map(Bytes::from)
        .map_err(|e| ClientError::Protocol(format!("decompression failed: {e}")))
}

/// Decodes the complete batches in a fetch response's records: CRC-checked,
/// control batches and records before `from_offset` skipped, a trailing
/// partial batch ignored. Returns the records and the next offset to fetch.
pub fn decode_records(
    topic: &Arc<str>,
    partition: i32,
    records: Bytes,
    from_offset: i64,
) -> Result<(Vec<ConsumerRecord>, i64)> {
    let mut out = Vec::new();
    let mut next = from_offset;
    let mut at = 0usize;
    while let Some(size) = brook_protocol::batch::batch_size(&records[at..]) {
        if at + size > records.len() {
            break;
        }
        let raw = records.slice(at..at + size);
        at += size;
        let header =
            brook_protocol::batch::BatchHeader::parse(&raw).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if brook_protocol::batch::compute_crc(&raw) != header.crc {
            return Err(ClientError::Protocol(format!("CRC mismatch in batch at offset {}", header.base_offset)));
        }
        next = next.max(header.last_offset() + 1);
        if header.is_control() || header.last_offset() < from_offset {
            continue;
        }
        let codec = header.attributes & 0x07;
        let body = if codec == 0 { raw.slice(61..) } else { decompress(codec, &raw[61..])? };
        // The header's count is untrusted: a record takes at least 7 bytes.
        out.reserve((header.record_count.max(0) as usize).min(body.len() / 7));
        let mut pos = 0usize;
        for _ in 0..header.record_count {
            let len = get_varint(&body, &mut pos)?;
            let end = if len < 0 { usize::MAX } else { pos.checked_add(len as usize).unwrap_or(usize::MAX) };
            if end > body.len() {
                return Err(ClientError::Protocol("record beyond batch".into()));
            }
            pos += 1; // attributes
            let ts_delta = get_varint(&body, &mut pos)?;
            let offset_delta = get_varint(&body, &mut pos)?;
            let key = get_slice(&body, &mut pos)?;
            let value = get_slice(&body, &mut pos)?;
            let header_count = get_varint(&body, &mut pos)?;
            let mut headers = Vec::with_capacity(header_count.clamp(0, 64) as usize);
            for _ in 0..header_count.max(0) {
                let k = get_slice(&body, &mut pos)?.unwrap_or_default();
                let v = get_slice(&body, &mut pos)?;
                headers.push((String::from_utf8_lossy(&k).into_owned(), v));
            }
            pos = end;
            let offset = header.base_offset + offset_delta;
            if offset < from_offset {
                continue;
            }
            let timestamp =
                if header.is_log_append_time() { header.max_timestamp } else { header.base_timestamp + ts_delta };
            out.push(ConsumerRecord { topic: topic.clone(), partition, offset, timestamp, key, value, headers });
        }
    }
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_decode_every_codec() {
        for compression in
            [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
        {
            let mut b = BatchBuilder::new(1024);
            b.append(1000, Some(b"k1"), Some(b"v1"), &[("h".to_string(), Some(Bytes::from_static(b"x")))]);
            b.append(1005, None, None, &[]);
            let batch = b.finish(compression, -1, -1, -1).unwrap();
            let header = brook_protocol::batch::validate(&batch, usize::MAX).unwrap();
            assert_eq!(header.record_count, 2);
            let (records, next) = decode_records(&Arc::from("t"), 0, batch, 0).unwrap();
            assert_eq!(next, 2);
            assert_eq!(records[0].key.as_deref(), Some(&b"k1"[..]));
            assert_eq!(records[0].headers[0].0, "h");
            assert_eq!(records[1].timestamp, 1005);
            assert_eq!(records[1].value, None);
        }
    }
}
