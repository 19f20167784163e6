//! Brook's log: segments of Kafka RecordBatch v2 bytes with sparse offset and
//! time indexes, grouped into a [`PartitionLog`] per partition and a
//! [`LogManager`] per broker. Knows nothing of the network.
//!
//! On-disk layout is Kafka's (see DESIGN.md §4), so operators' habits carry over.

pub mod checkpoint;
pub mod cleaner;
pub mod cleaner_scheduler;
pub mod compaction_state;
pub mod config;
pub mod epoch_cache;
pub mod error;
pub mod file_io;
pub mod index;
pub mod log_manager;
pub mod partition_log;
pub mod producer_state;
pub mod segment;
pub mod txn_index;

pub use config::{LogConfig, TimestampType};
pub use error::StorageError;
pub use log_manager::{LogManager, TopicPartition};
pub use partition_log::{AppendResult, FetchSlice, PartitionLog};
