//! Per-log configuration, already typed and validated by the broker (which
//! owns Kafka's property names and defaults).

pub use brook_protocol::batch::Compression;
pub use brook_protocol::records::CodecLevels;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest record is older; -1 = forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments beyond this size; -1 = unbounded.
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: usize,
    /// `index.interval.bytes`: bytes between offset index entries.
    pub index_interval_bytes: u64,
    /// `flush.messages`: fsync after this many appended records.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the oldest unflushed append is this old.
    pub flush_ms: i64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.after.max.ms`: CreateTime batches further in the future are refused.
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` contains `delete`: retention applies.
    pub delete: bool,
    /// `cleanup.policy` contains `compact`: the cleaner keeps the latest record per key.
    pub compact: bool,
    /// `compression.type`: `None` keeps the producer's codec, else batches are stored in this one.
    pub compression: Option<Compression>,
    /// `delete.retention.ms`: how long tombstones survive after their first cleaning.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level`.
    pub compression_levels: CodecLevels,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            timestamp_type: TimestampType::CreateTime,
            timestamp_after_max_ms: 3_600_000,
            delete: true,
            compact: false,
            compression: None,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            compression_levels: CodecLevels::default(),
        }
    }
}
