//! Record-level access to a RecordBatch v2, for the few places where Kafka
//! itself looks inside batches: the log cleaner (keys, tombstones, delete
//! horizons), broker-side recompression (topic `compression.type`), and the
//! keyless-record check of compacted topics. Never used on the produce path
//! of a delete-policy topic with `compression.type=producer`, nor on fetch.
//!
//! Record layout (inside the possibly compressed payload after the header):
//! ```text
//! length varint | attributes i8 | timestampDelta varlong | offsetDelta varint
//! keyLength varint | key | valueLength varint | value | headerCount varint | headers
//! ```
//! Varints are zigzag-encoded; a length of -1 is null.

use std::borrow::Cow;

use bytes::BytesMut;
use kafka_protocol::compression::{Compressor, Snappy};

use crate::batch::{
    compute_crc, put_varbytes, put_varlong, BatchError, BatchHeader, Compression, BATCH_HEADER_BYTES,
    LOG_OVERHEAD_BYTES,
};

/// The batch attribute bit saying `baseTimestamp` holds the delete horizon (KIP-534).
pub const DELETE_HORIZON_FLAG: i16 = 0x40;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("batch header: {0}")]
    Batch(#[from] BatchError),
    #[error("{codec:?} payload does not decode: {reason}")]
    Codec { codec: Compression, reason: String },
    #[error("record {index} is malformed")]
    Malformed { index: usize },
    #[error("batch declares {declared} records but holds {found}")]
    CountMismatch { declared: i32, found: usize },
    #[error("{codec:?} payload inflates beyond {limit} bytes")]
    TooLarge { codec: Compression, limit: usize },
}

impl RecordError {
    /// The Kafka error code a producer gets for this failure.
    pub fn error_code(&self) -> crate::error_code::ErrorCode {
        match self {
            RecordError::Batch(e) => e.error_code(),
            _ => crate::error_code::ErrorCode::CORRUPT_MESSAGE,
        }
    }
}

impl Compression {
    /// The codec's bits in the batch attributes.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

fn codec_error(codec: Compression, e: impl std::fmt::Display) -> RecordError {
    RecordError::Codec { codec, reason: e.to_string() }
}

/// Most bytes one batch may decompress to. Producers bound a batch's
/// uncompressed size (batch.size, a few MB); the bound stops a small batch
/// that inflates to gigabytes from exhausting memory.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// Kafka's xerial snappy framing: this header, then [u32 length][raw block]...
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;

/// Decompresses a batch payload (Kafka's framings: xerial snappy, LZ4
/// frame), refusing to produce more than [`MAX_DECOMPRESSED_BYTES`].
pub fn decompress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    use std::io::Read;
    let limit = MAX_DECOMPRESSED_BYTES;
    let fail = |e: std::io::Error| codec_error(codec, e);
    let read_bounded = |mut reader: Box<dyn Read + '_>| -> Result<Vec<u8>, RecordError> {
        let mut out = Vec::with_capacity(data.len() * 4);
        reader.by_ref().take(limit as u64 + 1).read_to_end(&mut out).map_err(fail)?;
        if out.len() > limit {
            return Err(RecordError::TooLarge { codec, limit });
        }
        Ok(out)
    };
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => read_bounded(Box::new(flate2::read::GzDecoder::new(data))),
        Compression::Lz4 => read_bounded(Box::new(lz4::Decoder::new(data).map_err(fail)?)),
        Compression::Zstd => read_bounded(Box::new(zstd::stream::read::Decoder::new(data).map_err(fail)?)),
        Compression::Snappy => decompress_snappy(data, limit),
    }
}

fn decompress_snappy(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let codec = Compression::Snappy;
    let fail = |e: snap::Error| codec_error(codec, e);
    let raw_block = |block: &[u8], out: &mut Vec<u8>| -> Result<(), RecordError> {
        let len = snap::raw::decompress_len(block).map_err(fail)?;
        if out.len() + len > limit {
            return Err(RecordError::TooLarge { codec, limit });
        }
        let start = out.len();
        out.resize(start + len, 0);
        snap::raw::Decoder::new().decompress(block, &mut out[start..]).map_err(fail)?;
        Ok(())
    };
    let mut out = Vec::new();
    if !data.starts_with(XERIAL_MAGIC) {
        raw_block(data, &mut out)?;
        return Ok(out);
    }
    let mut rest = data.get(XERIAL_HEADER_BYTES..).unwrap_or_default();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(|| codec_error(codec, "truncated block length"))?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = tail.get(..len).ok_or_else(|| codec_error(codec, "truncated block"))?;
        raw_block(block, &mut out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

/// Codec levels (Kafka's `compression.gzip.level`, `compression.lz4.level`,
/// `compression.zstd.level`; the defaults are Kafka's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecLevels {
    /// 1..=9, or -1 for the codec's default (6).
    pub gzip: i32,
    /// 1..=17; from 3 up LZ4 uses its slower high-compression mode.
    pub lz4: u32,
    pub zstd: i32,
}

impl Default for CodecLevels {
    fn default() -> Self {
        CodecLevels { gzip: -1, lz4: 9, zstd: 3 }
    }
}

/// Compresses record bytes with `codec` at Kafka's default levels.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    compress_with(codec, data, CodecLevels::default())
}

/// Compresses record bytes with `codec` at `levels`.
pub fn compress_with(codec: Compression, data: &[u8], levels: CodecLevels) -> Result<Vec<u8>, RecordError> {
    use std::io::Write;
    let fail = |e: std::io::Error| codec_error(codec, e);
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let level = if levels.gzip < 0 {
                flate2::Compression::default()
            } else {
                flate2::Compression::new(levels.gzip as u32)
            };
            let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
            encoder.write_all(data).map_err(fail)?;
            encoder.finish().map_err(fail)
        }
        Compression::Lz4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .level(levels.lz4)
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::with_capacity(data.len() / 2 + 64))
                .map_err(fail)?;
            encoder.write_all(data).map_err(fail)?;
            let (out, result) = encoder.finish();
            result.map_err(fail)?;
            Ok(out)
        }
        Compression::Zstd => zstd::bulk::compress(data, levels.zstd).map_err(fail),
        Compression::Snappy => {
            // Kafka's snappy is xerial-framed; kafka-protocol writes that framing.
            let mut out = BytesMut::with_capacity(data.len() / 2 + 64);
            Snappy::compress(&mut out, |buf: &mut BytesMut| {
                buf.extend_from_slice(data);
                Ok(())
            })
            .map_err(|e| codec_error(codec, e))?;
            Ok(out.to_vec())
        }
    }
}

/// The uncompressed record bytes of a batch (borrowed when not compressed).
pub fn payload<'a>(batch: &'a [u8], header: &BatchHeader) -> Result<Cow<'a, [u8]>, RecordError> {
    let body = batch.get(BATCH_HEADER_BYTES..header.size_bytes()).ok_or(BatchError::Truncated(batch.len()))?;
    match header.compression()? {
        Compression::None => Ok(Cow::Borrowed(body)),
        codec => Ok(Cow::Owned(decompress(codec, body)?)),
    }
}

/// One record, borrowed from an uncompressed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The whole record, length prefix included.
    pub raw: &'a [u8],
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// Header count and headers, as encoded.
    pub headers: &'a [u8],
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn varlong(&mut self) -> Option<i64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.at)?;
            self.at += 1;
            value |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        None
    }
    fn varint(&mut self) -> Option<i32> {
        i32::try_from(self.varlong()?).ok()
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }
    fn nullable_bytes(&mut self) -> Option<Option<&'a [u8]>> {
        match self.varint()? {
            -1 => Some(None),
            n if n >= 0 => Some(Some(self.take(n as usize)?)),
            _ => None,
        }
    }
}

fn parse_record(buf: &[u8]) -> Option<Record<'_>> {
    let mut c = Cursor { buf, at: 0 };
    let length = c.varint()?;
    if length < 0 {
        return None;
    }
    let start = c.at;
    let end = start.checked_add(length as usize)?;
    let raw = buf.get(..end)?;
    let mut r = Cursor { buf: &buf[..end], at: start };
    let attributes = *r.take(1)?.first()? as i8;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint()?;
    let key = r.nullable_bytes()?;
    let value = r.nullable_bytes()?;
    let headers_start = r.at;
    let count = r.varint()?;
    if count < 0 {
        return None;
    }
    for _ in 0..count {
        let key_len = r.varint()?;
        r.take(usize::try_from(key_len).ok()?)?;
        r.nullable_bytes()?;
    }
    if r.at != end {
        return None;
    }
    Some(Record { raw, attributes, timestamp_delta, offset_delta, key, value, headers: &buf[headers_start..end] })
}

/// Every record of an uncompressed payload; the count must match the header's.
pub fn parse_records(payload: &[u8], declared: i32) -> Result<Vec<Record<'_>>, RecordError> {
    let mut records = Vec::with_capacity(declared.clamp(0, 4096) as usize);
    let mut at = 0;
    while at < payload.len() {
        let record = parse_record(&payload[at..]).ok_or(RecordError::Malformed { index: records.len() })?;
        at += record.raw.len();
        records.push(record);
    }
    if records.len() != declared.max(0) as usize {
        return Err(RecordError::CountMismatch { declared, found: records.len() });
    }
    Ok(records)
}

/// Appends `record` with a new timestamp delta (the batch's base timestamp
/// changed, e.g. to carry a delete horizon).
pub fn encode_record(out: &mut Vec<u8>, record: &Record<'_>, timestamp_delta: i64) {
    let mut body = Vec::with_capacity(record.raw.len() + 8);
    body.push(record.attributes as u8);
    put_varlong(&mut body, timestamp_delta);
    put_varlong(&mut body, record.offset_delta as i64);
    put_varbytes(&mut body, record.key);
    put_varbytes(&mut body, record.value);
    body.extend_from_slice(record.headers);
    put_varlong(out, body.len() as i64);
    out.extend_from_slice(&body);
}

/// Writes a complete batch: `header`'s fields (its codec bits replaced by
/// `codec`), then `records` (uncompressed record bytes) compressed with
/// `codec`; batch length and CRC computed.
pub fn write_batch(header: &BatchHeader, codec: Compression, records: &[u8]) -> Result<Vec<u8>, RecordError> {
    write_batch_with(header, codec, records, CodecLevels::default())
}

/// As [`write_batch`], compressing at `levels`.
pub fn write_batch_with(
    header: &BatchHeader,
    codec: Compression,
    records: &[u8],
    levels: CodecLevels,
) -> Result<Vec<u8>, RecordError> {
    let body = compress_with(codec, records, levels)?;
    let mut batch = Vec::with_capacity(BATCH_HEADER_BYTES + body.len());
    let attributes = (header.attributes & !0x07) | codec.attribute_bits();
    let batch_length = (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + body.len()) as i32;
    batch.extend_from_slice(&header.base_offset.to_be_bytes());
    batch.extend_from_slice(&batch_length.to_be_bytes());
    batch.extend_from_slice(&header.partition_leader_epoch.to_be_bytes());
    batch.push(2);
    batch.extend_from_slice(&[0; 4]); // CRC, below
    batch.extend_from_slice(&attributes.to_be_bytes());
    batch.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    batch.extend_from_slice(&header.base_timestamp.to_be_bytes());
    batch.extend_from_slice(&header.max_timestamp.to_be_bytes());
    batch.extend_from_slice(&header.producer_id.to_be_bytes());
    batch.extend_from_slice(&header.producer_epoch.to_be_bytes());
    batch.extend_from_slice(&header.base_sequence.to_be_bytes());
    batch.extend_from_slice(&header.record_count.to_be_bytes());
    batch.extend_from_slice(&body);
    let crc = compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(batch)
}

/// Broker-side compression: the same batch (offsets, producer fields,
/// records) stored with `target`'s codec. Records are checked to parse.
pub fn recompress(batch: &[u8], target: Compression, levels: CodecLevels) -> Result<Vec<u8>, RecordError> {
    let header = BatchHeader::parse(batch)?;
    let records = payload(batch, &header)?;
    parse_records(&records, header.record_count)?;
    write_batch_with(&header, target, &records, levels)
}

/// Indexes of the records without a key (refused by compacted topics).
pub fn keyless_records(batch: &[u8]) -> Result<Vec<usize>, RecordError> {
    let header = BatchHeader::parse(batch)?;
    let records = payload(batch, &header)?;
    let parsed = parse_records(&records, header.record_count)?;
    Ok(parsed.iter().enumerate().filter(|(_, r)| r.key.is_none()).map(|(i, _)| i).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{build_batch, validate};

    fn sample() -> Vec<u8> {
        build_batch(&[(Some(b"k1"), Some(b"v1")), (None, Some(b"v2")), (Some(b"k3"), None)], 1_000)
    }

    #[test]
    fn parses_records_of_a_batch() {
        let batch = sample();
        let header = validate(&batch, usize::MAX).unwrap();
        let records = payload(&batch, &header).unwrap();
        let parsed = parse_records(&records, header.record_count).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].key, Some(&b"k1"[..]));
        assert_eq!(parsed[1].key, None);
        assert_eq!(parsed[2].value, None);
        assert_eq!(parsed[2].offset_delta, 2);
        assert!(parse_records(&records, 4).is_err());
        assert!(parse_records(&records[..records.len() - 1], 3).is_err());
        assert_eq!(keyless_records(&batch).unwrap(), vec![1]);
    }

    #[test]
    fn recompress_round_trips_every_codec() {
        let batch = sample();
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd, Compression::None] {
            let packed = recompress(&batch, codec, CodecLevels::default()).unwrap();
            let header = validate(&packed, usize::MAX).unwrap();
            assert_eq!(header.compression().unwrap(), codec);
            let back = recompress(&packed, Compression::None, CodecLevels::default()).unwrap();
            let fast = CodecLevels { gzip: 1, lz4: 1, zstd: 1 };
            let packed_fast = recompress(&batch, codec, fast).unwrap();
            assert_eq!(recompress(&packed_fast, Compression::None, fast).unwrap(), batch, "{codec:?} fast");
            assert_eq!(back, batch, "{codec:?}");
        }
    }

    #[test]
    fn re_encoding_a_record_with_its_delta_is_identity() {
        let batch = sample();
        let header = validate(&batch, usize::MAX).unwrap();
        let records = payload(&batch, &header).unwrap();
        let mut out = Vec::new();
        for r in parse_records(&records, 3).unwrap() {
            encode_record(&mut out, &r, r.timestamp_delta);
        }
        assert_eq!(out, records.as_ref());
    }

    #[test]
    fn decompression_is_bounded() {
        let zeros = vec![0u8; MAX_DECOMPRESSED_BYTES + 1];
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let bomb = compress_with(codec, &zeros, CodecLevels { gzip: 1, lz4: 1, zstd: 1 }).unwrap();
            assert!(bomb.len() < zeros.len() / 20, "{codec:?}");
            assert!(matches!(decompress(codec, &bomb), Err(RecordError::TooLarge { .. })), "{codec:?}");
            assert_eq!(decompress(codec, &compress(codec, b"small").unwrap()).unwrap(), b"small", "{codec:?}");
        }
    }

    /// Random bytes and randomly damaged batches, through every decoder:
    /// errors, never panics.
    #[test]
    fn random_input_never_panics() {
        let mut seed: u64 = 0x0dd_ba11;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let good = sample();
        for i in 0..3000 {
            let bytes = if i % 2 == 0 {
                (0..(next() % 300)).map(|_| next() as u8).collect::<Vec<u8>>()
            } else {
                let mut b = good.clone();
                for _ in 0..(1 + next() % 4) {
                    let at = (next() as usize) % b.len();
                    b[at] = next() as u8;
                }
                b.truncate(BATCH_HEADER_BYTES + (next() as usize) % (good.len() - BATCH_HEADER_BYTES + 1));
                b
            };
            let _ = parse_records(&bytes, (next() % 5) as i32);
            let _ = keyless_records(&bytes);
            let _ = recompress(&bytes, Compression::Zstd, CodecLevels::default());
            for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
                let _ = decompress(codec, &bytes);
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut batch = sample();
        for b in &mut batch[BATCH_HEADER_BYTES..] {
            *b = 0xff;
        }
        assert!(keyless_records(&batch).is_err());
        batch[22] = 3; // claims lz4
        assert!(recompress(&batch, Compression::None, CodecLevels::default()).is_err());
    }
}
