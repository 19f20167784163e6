//! Typed storage errors. Each client-visible variant maps to a Kafka error code.

use brook_protocol::batch::BatchError;
use brook_protocol::error_code::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid batch: {0}")]
    InvalidBatch(#[from] BatchError),
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange { offset: i64, log_start: i64, log_end: i64 },
    #[error("producer {producer_id}: out of order sequence {found}, expected {expected}")]
    OutOfOrderSequence { producer_id: i64, expected: i32, found: i32 },
    #[error("producer {producer_id}: epoch {found} is older than current epoch {current}")]
    InvalidProducerEpoch { producer_id: i64, current: i16, found: i16 },
    #[error("batch of {size} bytes is larger than segment.bytes {segment_bytes}")]
    RecordListTooLarge { size: usize, segment_bytes: u64 },
    #[error("log is offline after an earlier fatal IO error")]
    LogOffline,
    #[error("corrupt file {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("batch timestamp {timestamp} is more than {max_ahead_ms} ms in the future")]
    InvalidTimestamp { timestamp: i64, max_ahead_ms: i64 },
    #[error("control batches are written by transaction coordinators, not produced")]
    ControlBatchFromClient,
    #[error("producer {producer_id}: {reason}")]
    InvalidTxnState { producer_id: i64, reason: &'static str },
    #[error("producer {producer_id}: marker from coordinator epoch {found}, older than {current}")]
    CoordinatorFenced { producer_id: i64, current: i32, found: i32 },
    #[error("replicated batch starts at offset {found}, but the log ends at {expected}")]
    NonContiguous { expected: i64, found: i64 },
}

impl StorageError {
    /// Kafka error code for a produce/fetch response.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            StorageError::Io(_) | StorageError::LogOffline | StorageError::Corrupt { .. } => {
                ErrorCode::KAFKA_STORAGE_ERROR
            }
            StorageError::InvalidBatch(e) => e.error_code(),
            StorageError::OffsetOutOfRange { .. } => ErrorCode::OFFSET_OUT_OF_RANGE,
            StorageError::OutOfOrderSequence { .. } => ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
            StorageError::InvalidProducerEpoch { .. } => ErrorCode::INVALID_PRODUCER_EPOCH,
            StorageError::RecordListTooLarge { .. } => ErrorCode::RECORD_LIST_TOO_LARGE,
            StorageError::NonContiguous { .. } => ErrorCode::CORRUPT_MESSAGE,
            StorageError::InvalidTimestamp { .. } => ErrorCode::INVALID_TIMESTAMP,
            StorageError::ControlBatchFromClient => ErrorCode::INVALID_RECORD,
            StorageError::InvalidTxnState { .. } => ErrorCode::INVALID_TXN_STATE,
            StorageError::CoordinatorFenced { .. } => ErrorCode::TRANSACTION_COORDINATOR_FENCED,
        }
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;
