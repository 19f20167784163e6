//! Cluster metadata, KRaft-style: every change is a [`MetadataRecord`]
//! appended to a metadata log, and brokers serve from an immutable
//! [`MetadataImage`] built by replaying it. The controller's decisions
//! (placement, validation) are pure functions in [`controller`].
//!
//! Today the metadata log is local to a single node (fsync'd, replayed at
//! startup); the Raft quorum replaces [`MetadataLog`]'s storage with a
//! replicated log without changing records, image or controller.

pub mod controller;
pub mod image;
pub mod log;
pub mod records;
pub mod topic_config;

pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use log::MetadataLog;
pub use records::MetadataRecord;
