//! Zero-copy view of Kafka RecordBatch v2 headers, and batch-level validation.
//!
//! The broker never decodes individual records: it reads the 61-byte batch
//! header, checks it, and rewrites `baseOffset` / `partitionLeaderEpoch` (and
//! `maxTimestamp` + CRC for LogAppendTime topics) in place.
//!
//! Layout (big-endian), byte offsets within the batch:
//! ```text
//!  0 baseOffset i64          8 batchLength i32 (bytes after this field)
//! 12 partitionLeaderEpoch i32  16 magic i8 (= 2)   17 crc u32 (CRC-32C of 21..end)
//! 21 attributes i16         23 lastOffsetDelta i32   27 baseTimestamp i64
//! 35 maxTimestamp i64       43 producerId i64        51 producerEpoch i16
//! 53 baseSequence i32       57 recordCount i32       61 records...
//! ```

/// Size of the fixed RecordBatch v2 header.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before the `batchLength` count starts (baseOffset + batchLength).
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Minimum bytes needed to know a batch's full length.
pub const LENGTH_PREFIX_BYTES: usize = 12;

const CRC_START: usize = 21;
const NO_PRODUCER_ID: i64 = -1;

/// Compression codec in the low 3 bits of `attributes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The codec named by a batch's attributes.
    pub fn from_attributes(attributes: i16) -> Result<Compression, BatchError> {
        match attributes & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(BatchError::UnknownCompression(other)),
        }
    }
}

/// A producer's `compression.type` name that is not a codec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown compression '{0}' (none, gzip, snappy, lz4, zstd)")]
pub struct UnknownCompressionName(pub String);

impl std::str::FromStr for Compression {
    type Err = UnknownCompressionName;
    /// A producer's `compression.type`: none, gzip, snappy, lz4, zstd.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            other => Err(UnknownCompressionName(other.to_string())),
        }
    }
}

/// Why a batch was refused; each maps to a Kafka error code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch is truncated: {0} bytes remain, need more")]
    Truncated(usize),
    #[error("unsupported magic {0}; only message format v2 is accepted")]
    UnsupportedMagic(i8),
    #[error("batch length {0} is invalid")]
    InvalidLength(i32),
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record count {count} does not match lastOffsetDelta {last_offset_delta}")]
    InconsistentCount { count: i32, last_offset_delta: i32 },
    #[error("unknown compression codec {0}")]
    UnknownCompression(i16),
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
}

use crate::error_code::ErrorCode;

impl BatchError {
    /// The Kafka error code a producer gets for this failure.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            BatchError::Truncated(_) | BatchError::InvalidLength(_) | BatchError::CrcMismatch { .. } => {
                ErrorCode::CORRUPT_MESSAGE
            }
            BatchError::UnsupportedMagic(_) => ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT,
            BatchError::InconsistentCount { .. } => ErrorCode::INVALID_RECORD,
            BatchError::UnknownCompression(_) => ErrorCode::UNSUPPORTED_COMPRESSION_TYPE,
            BatchError::TooLarge { .. } => ErrorCode::MESSAGE_TOO_LARGE,
        }
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// Total size of the batch that starts at `buf[0]`, read from its length
/// prefix, or `None` if fewer than 12 bytes are available or the length is
/// impossible.
pub fn batch_size(buf: &[u8]) -> Option<usize> {
    if buf.len() < LENGTH_PREFIX_BYTES {
        return None;
    }
    let length = be_i32(buf, 8);
    if (length as i64) < (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i64 {
        return None;
    }
    Some(LOG_OVERHEAD_BYTES + length as usize)
}

/// A parsed copy of the fixed fields of one batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `buf` (which needs ≥ 61 bytes).
    /// Checks only the magic byte and that the length is plausible.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated(buf.len()));
        }
        let magic = buf[16] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let batch_length = be_i32(buf, 8);
        if (batch_length as i64) < (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i64 {
            return Err(BatchError::InvalidLength(batch_length));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length,
            partition_leader_epoch: be_i32(buf, 12),
            magic,
            crc: u32::from_be_bytes(buf[17..21].try_into().unwrap()),
            attributes: be_i16(buf, 21),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            record_count: be_i32(buf, 57),
        })
    }

    /// Total bytes of this batch, length prefix included.
    pub fn size_bytes(&self) -> usize {
        LOG_OVERHEAD_BYTES + self.batch_length as usize
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
    pub fn compression(&self) -> Result<Compression, BatchError> {
        Compression::from_attributes(self.attributes)
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id != NO_PRODUCER_ID
    }
    /// Sequence of the last record, with Kafka's wrap-around at i32::MAX.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        (last % (i32::MAX as i64 + 1)) as i32
    }
}

/// CRC-32C over attributes..end of a whole batch (`buf` = exactly one batch).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Full check of one complete batch: header, length, CRC, count consistency,
/// codec, and size limit. `batch` must be exactly the batch's bytes.
pub fn validate(batch: &[u8], max_message_bytes: usize) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if header.size_bytes() != batch.len() {
        return Err(BatchError::InvalidLength(header.batch_length));
    }
    if batch.len() > max_message_bytes {
        return Err(BatchError::TooLarge { size: batch.len(), max: max_message_bytes });
    }
    let computed = compute_crc(batch);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch { stored: header.crc, computed });
    }
    if header.record_count <= 0 || header.last_offset_delta != header.record_count - 1 {
        return Err(BatchError::InconsistentCount {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    header.compression()?;
    Ok(header)
}

/// Check of a batch read from a log or replicated from a leader. As
/// [`validate`], except that compaction may have removed records: a batch
/// keeps its offset range (`lastOffsetDelta`) with fewer records, or none
/// (an empty batch that keeps its producer's last sequence).
pub fn validate_stored(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if header.size_bytes() != batch.len() {
        return Err(BatchError::InvalidLength(header.batch_length));
    }
    let computed = compute_crc(batch);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch { stored: header.crc, computed });
    }
    // In i64: a leader's lastOffsetDelta of i32::MAX must not overflow.
    if header.record_count < 0
        || header.last_offset_delta < 0
        || header.record_count as i64 > header.last_offset_delta as i64 + 1
    {
        return Err(BatchError::InconsistentCount {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    header.compression()?;
    Ok(header)
}

/// Splits a produce request's `records` bytes into whole batches. A trailing
/// partial batch or an impossible length is an error (Kafka: CORRUPT_MESSAGE).
pub fn split_batches(mut records: &[u8]) -> Result<Vec<(usize, usize)>, BatchError> {
    let mut ranges = Vec::with_capacity(1);
    let mut position = 0usize;
    while !records.is_empty() {
        let size = batch_size(records).ok_or(BatchError::Truncated(records.len()))?;
        if size > records.len() {
            return Err(BatchError::Truncated(records.len()));
        }
        ranges.push((position, size));
        position += size;
        records = &records[size..];
    }
    Ok(ranges)
}

/// Writes `base_offset` and `partition_leader_epoch` into a batch in place.
/// Neither field is covered by the CRC.
pub fn assign_offset(batch: &mut [u8], base_offset: i64, partition_leader_epoch: i32) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[12..16].copy_from_slice(&partition_leader_epoch.to_be_bytes());
}

/// For LogAppendTime topics: sets the timestamp-type bit and `maxTimestamp`
/// to `now_ms` in a batch's `header` (its first [`BATCH_HEADER_BYTES`]),
/// then recomputes the CRC over it and the batch's `records` (the rest,
/// unchanged; both fields are inside the CRC range). Header and records
/// are apart so the append path rewrites a stack copy of the header only.
pub fn set_log_append_time(header: &mut [u8], records: &[u8], now_ms: i64) {
    let attributes = be_i16(header, 21) | 0x08;
    header[21..23].copy_from_slice(&attributes.to_be_bytes());
    header[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[21..BATCH_HEADER_BYTES]), records);
    header[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// One record's key and value, as the batch builders take them.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Builds an uncompressed batch from `(key, value)` records; used by tests,
/// benchmarks and Brook's own tools, never on the broker's hot path.
pub fn build_batch(records: &[KeyValue<'_>], timestamp_ms: i64) -> Vec<u8> {
    build_batch_with_producer(records, timestamp_ms, NO_PRODUCER_ID, -1, -1)
}

/// As [`build_batch`], with idempotent-producer fields.
pub fn build_batch_with_producer(
    records: &[KeyValue<'_>],
    timestamp_ms: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Vec<u8> {
    let mut body = Vec::new();
    for (delta, (key, value)) in records.iter().enumerate() {
        let mut record = Vec::new();
        record.push(0u8); // attributes
        put_varlong(&mut record, 0); // timestamp delta
        put_varlong(&mut record, delta as i64);
        put_varbytes(&mut record, *key);
        put_varbytes(&mut record, *value);
        put_varlong(&mut record, 0); // header count
        put_varlong(&mut body, record.len() as i64);
        body.extend_from_slice(&record);
    }
    let mut batch = vec![0u8; BATCH_HEADER_BYTES];
    batch.extend_from_slice(&body);
    let batch_length = (batch.len() - LOG_OVERHEAD_BYTES) as i32;
    batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    batch[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    batch[16] = 2;
    batch[23..27].copy_from_slice(&(records.len() as i32 - 1).to_be_bytes());
    batch[27..35].copy_from_slice(&timestamp_ms.to_be_bytes());
    batch[35..43].copy_from_slice(&timestamp_ms.to_be_bytes());
    batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
    batch[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    batch[57..61].copy_from_slice(&(records.len() as i32).to_be_bytes());
    let crc = compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The attributes bit of a batch written inside a transaction.
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
/// The attributes bit of a control batch (a transaction marker).
pub const CONTROL_FLAG: i16 = 0x20;

/// A transaction marker's type: the key of a control record (Kafka's
/// `ControlRecordType`: version i16 = 0, type i16, 0 = abort, 1 = commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
}

impl ControlType {
    fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        }
    }
}

/// As [`build_batch_with_producer`], marked transactional: how a
/// coordinator writes transactional offset commits.
pub fn build_transactional_batch(
    records: &[KeyValue<'_>],
    timestamp_ms: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Vec<u8> {
    let mut batch = build_batch_with_producer(records, timestamp_ms, producer_id, producer_epoch, base_sequence);
    set_attributes(&mut batch, TRANSACTIONAL_FLAG);
    batch
}

/// A transaction marker: a control batch of one record whose key is the
/// control type and whose value is Kafka's `EndTransactionMarker`
/// (version i16 = 0, coordinator epoch i32). No sequence (-1), as Kafka.
pub fn build_control_batch(
    kind: ControlType,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.code().to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let mut batch =
        build_batch_with_producer(&[(Some(&key), Some(&value))], timestamp_ms, producer_id, producer_epoch, -1);
    set_attributes(&mut batch, TRANSACTIONAL_FLAG | CONTROL_FLAG);
    batch
}

/// The marker a control batch holds: its type and coordinator epoch.
/// `None` if `batch` is not a well-formed uncompressed control batch.
pub fn parse_control_batch(batch: &[u8]) -> Option<(ControlType, i32)> {
    let header = BatchHeader::parse(batch).ok()?;
    if !header.is_control() || header.record_count < 1 || header.compression().ok()? != Compression::None {
        return None;
    }
    let mut at = BATCH_HEADER_BYTES;
    let _length = get_varlong(batch, &mut at)?;
    at += 1; // record attributes
    get_varlong(batch, &mut at)?; // timestamp delta
    get_varlong(batch, &mut at)?; // offset delta
    let key_len = usize::try_from(get_varlong(batch, &mut at)?).ok()?;
    let key = batch.get(at..at + key_len)?;
    at += key_len;
    let value_len = usize::try_from(get_varlong(batch, &mut at)?).ok()?;
    let value = batch.get(at..at + value_len)?;
    if key.len() < 4 || value.len() < 6 {
        return None;
    }
    let kind = match be_i16(key, 2) {
        0 => ControlType::Abort,
        1 => ControlType::Commit,
        _ => return None,
    };
    Some((kind, be_i32(value, 2)))
}

/// ORs `flags` into a built batch's attributes and recomputes its CRC.
fn set_attributes(batch: &mut [u8], flags: i16) {
    let attributes = be_i16(batch, 21) | flags;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = compute_crc(batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Reads a zigzag varint at `*at`, advancing it.
fn get_varlong(buf: &[u8], at: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        value |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// Appends a zigzag varint (Kafka's record encoding).
pub(crate) fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends varint-length-prefixed bytes; -1 for null.
pub(crate) fn put_varbytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varlong(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_validate() {
        let batch = build_batch(&[(Some(b"k"), Some(b"v")), (None, None)], 1000);
        let header = validate(&batch, 1 << 20).unwrap();
        assert_eq!(header.record_count, 2);
        assert_eq!(header.last_offset_delta, 1);
        assert_eq!(header.size_bytes(), batch.len());
        assert_eq!(header.compression(), Ok(Compression::None));
    }

    #[test]
    fn crc_mismatch_detected() {
        let mut batch = build_batch(&[(None, Some(b"hello"))], 1);
        let last = batch.len() - 1;
        batch[last] ^= 0xff;
        assert!(matches!(validate(&batch, 1 << 20), Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn offset_assignment_keeps_crc() {
        let mut batch = build_batch(&[(None, Some(b"x"))], 1);
        assign_offset(&mut batch, 42, 7);
        let header = validate(&batch, 1 << 20).unwrap();
        assert_eq!(header.base_offset, 42);
        assert_eq!(header.partition_leader_epoch, 7);
    }

    #[test]
    fn log_append_time_recomputes_crc() {
        let mut batch = build_batch(&[(None, Some(b"x"))], 1);
        let (header, records) = batch.split_at_mut(BATCH_HEADER_BYTES);
        set_log_append_time(header, records, 99);
        let header = validate(&batch, 1 << 20).unwrap();
        assert!(header.is_log_append_time());
        assert_eq!(header.max_timestamp, 99);
    }

    #[test]
    fn rejects_bad_magic_and_truncation() {
        let mut batch = build_batch(&[(None, Some(b"x"))], 1);
        batch[16] = 1;
        assert_eq!(validate(&batch, 1 << 20), Err(BatchError::UnsupportedMagic(1)));
        let batch = build_batch(&[(None, Some(b"x"))], 1);
        assert!(split_batches(&batch[..batch.len() - 1]).is_err());
        assert!(validate(&batch, 10).is_err());
    }

    #[test]
    fn control_batch_round_trip() {
        let batch = build_control_batch(ControlType::Commit, 9, 3, 17, 5);
        let header = validate(&batch, 1 << 20).unwrap();
        assert!(header.is_control() && header.is_transactional());
        assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (9, 3, -1));
        assert_eq!(parse_control_batch(&batch), Some((ControlType::Commit, 17)));
        let abort = build_control_batch(ControlType::Abort, 9, 3, -1, 5);
        assert_eq!(parse_control_batch(&abort), Some((ControlType::Abort, -1)));
        let data = build_transactional_batch(&[(None, Some(b"x"))], 1, 9, 3, 0);
        let header = validate(&data, 1 << 20).unwrap();
        assert!(header.is_transactional() && !header.is_control());
        assert_eq!(parse_control_batch(&data), None);
    }

    /// Found by fuzz/record_batch: lastOffsetDelta = i32::MAX overflowed
    /// the count check of a stored (replicated) batch.
    #[test]
    fn fuzz_validate_stored_max_last_offset_delta() {
        let input: &[u8] = &[
            255, 255, 255, 255, 255, 255, 255, 79, 0, 0, 0, 21, 255, 255, 255, 255, 2, 230, 185, 255, 255, 255, 255,
            127, 255, 255, 255, 255, 255, 255, 255, 0, 0, 3, 232, 0, 0, 0, 0, 0, 3, 0, 232, 0, 0, 0, 0, 0, 0, 0, 7,
            255, 1, 255, 255, 255, 254, 0, 0, 7, 255, 1, 255, 255, 255, 254, 8, 0, 0, 160, 160, 160, 160, 17, 0, 36, 0,
            160, 160, 160, 160, 160, 160, 160, 85, 160, 160, 0, 0, 3, 0,
        ];
        let mut fixed = input.to_vec();
        let length = (fixed.len() - LOG_OVERHEAD_BYTES) as i32;
        fixed[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = compute_crc(&fixed);
        fixed[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(BatchHeader::parse(&fixed).unwrap().last_offset_delta, i32::MAX);
        // The count check passes (a compacted batch may hold fewer records); the codec bits do not.
        assert_eq!(validate_stored(&fixed), Err(BatchError::UnknownCompression(7)));
        let _ = validate_stored(&input);
    }

    #[test]
    fn split_two_batches() {
        let mut two = build_batch(&[(None, Some(b"a"))], 1);
        let second = build_batch(&[(None, Some(b"bb"))], 1);
        let first_len = two.len();
        two.extend_from_slice(&second);
        assert_eq!(split_batches(&two).unwrap(), vec![(0, first_len), (first_len, second.len())]);
    }
}

/// (offset delta, timestamp) of each record of one batch, decompressing if
/// needed. Only for the rare record-level searches (ListOffsets by
/// timestamp), never on the produce or fetch path. A batch that does not
/// decode yields nothing. Produced batches are stored without their records
/// being parsed, so this reads a client's bytes: it uses the bounded
/// decoders of [`crate::records`] (kafka-protocol's batch decoder
/// pre-allocates from counts in the records and overflows on timestamps).
pub fn record_timestamps(batch: &[u8]) -> Vec<(i32, i64)> {
    let Ok(header) = BatchHeader::parse(batch) else { return Vec::new() };
    let Ok(payload) = crate::records::payload(batch, &header) else { return Vec::new() };
    let Ok(records) = crate::records::parse_records(&payload, header.record_count) else { return Vec::new() };
    records
        .iter()
        .map(|r| {
            // LogAppendTime: every record's timestamp is the batch's append time.
            let timestamp = if header.is_log_append_time() {
                header.max_timestamp
            } else {
                // Wraps on overflow, as Kafka's long arithmetic does.
                header.base_timestamp.wrapping_add(r.timestamp_delta)
            };
            (r.offset_delta, timestamp)
        })
        .collect()
}

#[cfg(test)]
mod record_tests {
    use super::*;

    #[test]
    fn record_timestamps_of_uncompressed_batch() {
        let batch = build_batch(&[(None, Some(b"a")), (Some(b"k"), Some(b"bb")), (None, None)], 500);
        assert_eq!(record_timestamps(&batch), vec![(0, 500), (1, 500), (2, 500)]);
        assert!(record_timestamps(&batch[..70]).is_empty());
        let gzip = crate::records::recompress(&batch, Compression::Gzip, Default::default()).unwrap();
        assert_eq!(record_timestamps(&gzip), vec![(0, 500), (1, 500), (2, 500)]);
        let mut append_time = batch.clone();
        let (head, records) = append_time.split_at_mut(BATCH_HEADER_BYTES);
        set_log_append_time(head, records, 900);
        assert_eq!(record_timestamps(&append_time), vec![(0, 900), (1, 900), (2, 900)]);
    }

    /// Found by fuzz/record_batch: a record's timestamp delta that
    /// overflows the base timestamp panicked in kafka-protocol's decoder.
    #[test]
    fn fuzz_record_timestamps_overflowing_delta() {
        let batch = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x41, 0x8d, 0xff, 0xff, 0xff, 0x02, 0xe8,
            0x9b, 0xc5, 0xf4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00,
            0xcf, 0x8b, 0x01, 0x00, 0xe5, 0x68, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, 0x1c, 0x9f, 0x96, 0x9f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x06, 0x6b, 0x65, 0x79, 0x0a, 0x76, 0x61,
            0x5b, 0x6c, 0x2d, 0x75, 0x65, 0x00, 0x10, 0x00, 0x00, 0x02, 0x01, 0x04, 0x76, 0x40, 0x32, 0x00,
        ];
        let mut fixed = batch.to_vec();
        let length = (fixed.len() - LOG_OVERHEAD_BYTES) as i32;
        fixed[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = compute_crc(&fixed);
        fixed[17..21].copy_from_slice(&crc.to_be_bytes());
        let _ = validate(&fixed, usize::MAX);
        let _ = record_timestamps(&fixed);
        let _ = record_timestamps(&batch);
    }

    /// A record declaring 2^31-1 headers made kafka-protocol's decoder
    /// reserve a map of that size (an abort, not an error).
    #[test]
    fn record_timestamps_huge_header_count_is_nothing() {
        let mut record = vec![0u8]; // attributes
        put_varlong(&mut record, 0); // timestamp delta
        put_varlong(&mut record, 0); // offset delta
        put_varbytes(&mut record, None);
        put_varbytes(&mut record, Some(b"v"));
        put_varlong(&mut record, i32::MAX as i64); // header count
        let mut batch = build_batch(&[(None, Some(b"v"))], 1);
        batch.truncate(BATCH_HEADER_BYTES);
        put_varlong(&mut batch, record.len() as i64);
        batch.extend_from_slice(&record);
        let length = (batch.len() - LOG_OVERHEAD_BYTES) as i32;
        batch[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = compute_crc(&batch);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(validate(&batch, usize::MAX).is_ok());
        assert!(record_timestamps(&batch).is_empty());
    }
}
