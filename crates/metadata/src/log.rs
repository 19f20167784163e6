//! The metadata log of a single-node quorum: `__cluster_metadata.log` in the
//! metadata directory, one record per line:
//! ```text
//! <crc32c of json, 8 hex digits> <json record>\n
//! ```
//! A commit writes all lines of a batch in one write and fsyncs before the
//! new image is published. On replay, a torn or corrupt line ends the log
//! (it is truncated away): a commit either happened whole or not at all.
//!
//! Thread-safe: commits are serialized by a mutex; readers take the current
//! image (`Arc`) without blocking writers.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tracing::warn;

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata log io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata log encode error: {0}")]
    Encode(#[from] serde_json::Error),
}

pub struct MetadataLog {
    path: PathBuf,
    file: Mutex<File>,
    image: RwLock<Arc<MetadataImage>>,
}

const FILE_NAME: &str = "__cluster_metadata.log";

fn decode_line(line: &str) -> Option<MetadataRecord> {
    let (crc, json) = line.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (crc32c::crc32c(json.as_bytes()) == crc).then(|| serde_json::from_str(json).ok()).flatten()
}

impl MetadataLog {
    /// Opens or creates the log in `dir` and replays it into an image.
    pub fn open(dir: &Path) -> Result<MetadataLog, MetadataError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut image = MetadataImage { last_offset: -1, ..MetadataImage::default() };
        let mut valid_len = 0usize;
        for line in text.split_inclusive(|b| *b == b'\n') {
            let record = std::str::from_utf8(line)
                .ok()
                .filter(|l| l.ends_with('\n'))
                .and_then(|l| decode_line(l.trim_end_matches('\n')));
            let Some(record) = record else {
                warn!(path = %path.display(), offset = image.last_offset + 1, "metadata log ends in a torn or corrupt record; truncating");
                break;
            };
            image.apply(&record);
            image.last_offset += 1;
            valid_len += line.len();
        }
        let file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        if valid_len < text.len() {
            file.set_len(valid_len as u64)?;
            file.sync_all()?;
        }
        Ok(MetadataLog { path, file: Mutex::new(file), image: RwLock::new(Arc::new(image)) })
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().clone()
    }

    /// Durably appends `records` and publishes the image they produce.
    /// `decide` runs under the commit lock with the latest image, so
    /// check-then-write decisions (e.g. "topic does not exist") are atomic.
    pub fn commit_with<T, E>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T), E>,
    ) -> Result<Result<T, E>, MetadataError> {
        let mut file = self.file.lock();
        let current = self.image();
        let (records, out) = match decide(&current) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        if records.is_empty() {
            return Ok(Ok(out));
        }
        let mut buf = String::new();
        for record in &records {
            let json = serde_json::to_string(record)?;
            buf.push_str(&format!("{:08x} {}\n", crc32c::crc32c(json.as_bytes()), json));
        }
        file.write_all(buf.as_bytes())?;
        file.sync_data()?;
        let mut next = (*current).clone();
        for record in &records {
            next.apply(record);
            next.last_offset += 1;
        }
        *self.image.write() = Arc::new(next);
        Ok(Ok(out))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = MetadataLog::open(dir.path()).unwrap();
        let id = uuid::Uuid::new_v4().to_string();
        log.commit_with(|_| {
            Ok::<_, ()>((
                vec![
                    MetadataRecord::Topic { name: "t".into(), topic_id: id.clone() },
                    MetadataRecord::Partition {
                        topic_id: id.clone(),
                        partition: 0,
                        replicas: vec![1],
                        isr: vec![1],
                        leader: 1,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        adding_replicas: vec![],
                        removing_replicas: vec![],
                    },
                ],
                (),
            ))
        })
        .unwrap()
        .unwrap();
        assert_eq!(log.image().topic("t").unwrap().partitions.len(), 1);
        drop(log);
        // A torn append after the good records.
        let path = dir.path().join(FILE_NAME);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"deadbeef {\"type\":\"remove_to").unwrap();
        let log = MetadataLog::open(dir.path()).unwrap();
        assert!(log.image().topic("t").is_some());
        assert_eq!(log.image().last_offset, 1);
        // The log stays appendable after truncation.
        log.commit_with(|_| Ok::<_, ()>((vec![MetadataRecord::RemoveTopic { topic_id: id.clone() }], ())))
            .unwrap()
            .unwrap();
        drop(log);
        assert!(MetadataLog::open(dir.path()).unwrap().image().topic("t").is_none());
    }
}
