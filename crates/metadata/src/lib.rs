//! Cluster metadata, KRaft-style: every change is a [`MetadataRecord`]
//! committed to the metadata log by the controller quorum ([`quorum`]), and
//! brokers serve from an immutable [`MetadataImage`] built by replaying it.
//! The controller's decisions (placement, validation, fencing, elections)
//! are pure functions in [`controller`], [`broker_lifecycle`] and
//! [`requests`].
//!
//! [`MetadataLog`] is the single-node metadata log of Brook before the
//! quorum; it is read once to upgrade such a data directory.

pub mod broker_lifecycle;
pub mod controller;
pub mod image;
pub mod log;
pub mod quorum;
pub mod reassignment;
pub mod records;
pub mod requests;
pub mod scram;
pub mod topic_config;

pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use log::MetadataLog;
pub use records::MetadataRecord;
