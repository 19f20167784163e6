//! Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`, `replication-offset-checkpoint`,
//! `leader-epoch-checkpoint`), text format:
//! ```text
//! 0                 <- version
//! N                 <- entry count
//! <a> <b> [<c>]     <- N lines, space separated
//! ```
//! Written atomically; a file that does not parse is reported, never guessed at.

use std::path::Path;

use crate::error::{Result, StorageError};
use crate::file_io::atomic_write;

/// Writes `lines` (each already space-joined) as a version-0 checkpoint.
pub fn write_lines(path: &Path, lines: &[String]) -> Result<()> {
    let mut text = format!("0\n{}\n", lines.len());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    atomic_write(path, text.as_bytes())?;
    Ok(())
}

/// Reads a checkpoint's entry lines, split on whitespace. Missing file → empty.
pub fn read_lines(path: &Path) -> Result<Vec<Vec<String>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let corrupt = |reason: &str| StorageError::Corrupt { path: path.display().to_string(), reason: reason.to_string() };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Err(corrupt("unknown version"));
    }
    let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| corrupt("bad count"))?;
    let entries: Vec<Vec<String>> =
        lines.filter(|l| !l.trim().is_empty()).map(|l| l.split_whitespace().map(str::to_string).collect()).collect();
    if entries.len() != count {
        return Err(corrupt("entry count mismatch"));
    }
    Ok(entries)
}

/// Reads `topic partition offset` entries.
pub fn read_offsets(path: &Path) -> Result<Vec<(String, i32, i64)>> {
    let mut out = Vec::new();
    for fields in read_lines(path)? {
        let parsed = match fields.as_slice() {
            [topic, partition, offset] => {
                partition.parse().ok().zip(offset.parse().ok()).map(|(p, o)| (topic.clone(), p, o))
            }
            _ => None,
        };
        out.push(parsed.ok_or_else(|| StorageError::Corrupt {
            path: path.display().to_string(),
            reason: format!("bad line {fields:?}"),
        })?);
    }
    Ok(out)
}

/// Writes `topic partition offset` entries.
pub fn write_offsets(path: &Path, entries: &[(String, i32, i64)]) -> Result<()> {
    let lines: Vec<String> = entries.iter().map(|(t, p, o)| format!("{t} {p} {o}")).collect();
    write_lines(path, &lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recovery-point-offset-checkpoint");
        let entries = vec![("a".to_string(), 0, 5), ("b-c".to_string(), 3, 100)];
        write_offsets(&path, &entries).unwrap();
        assert_eq!(read_offsets(&path).unwrap(), entries);
        std::fs::write(&path, "0\n3\na 0 1\n").unwrap();
        assert!(read_offsets(&path).is_err());
        assert!(read_offsets(&dir.path().join("missing")).unwrap().is_empty());
    }
}
