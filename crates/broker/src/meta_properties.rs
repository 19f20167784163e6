//! `meta.properties` in the first log dir, as Kafka keeps it: which node and
//! which cluster the data directory belongs to. A node refuses to start on a
//! directory of another node id or (once known) another cluster.

use std::path::Path;

const FILE: &str = "meta.properties";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub node_id: Option<i32>,
    pub cluster_id: Option<String>,
}

impl MetaProperties {
    pub fn load(dir: &Path) -> std::io::Result<MetaProperties> {
        let text = match std::fs::read_to_string(dir.join(FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MetaProperties::default()),
            Err(e) => return Err(e),
        };
        let mut meta = MetaProperties::default();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            match line.split_once('=') {
                Some(("node.id", v)) => meta.node_id = v.trim().parse().ok(),
                Some(("cluster.id", v)) if !v.trim().is_empty() => meta.cluster_id = Some(v.trim().to_string()),
                _ => {}
            }
        }
        Ok(meta)
    }

    /// Writes the file crash-safely (temp file, fsync, rename).
    pub fn store(&self, dir: &Path) -> std::io::Result<()> {
        let mut text = String::from("# Written by Brook: the node and cluster this directory belongs to.\nversion=1\n");
        if let Some(id) = self.node_id {
            text.push_str(&format!("node.id={id}\n"));
        }
        if let Some(c) = &self.cluster_id {
            text.push_str(&format!("cluster.id={c}\n"));
        }
        let tmp = dir.join(format!("{FILE}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, dir.join(FILE))?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(MetaProperties::load(dir.path()).unwrap(), MetaProperties::default());
        let meta = MetaProperties { node_id: Some(3), cluster_id: Some("abc".into()) };
        meta.store(dir.path()).unwrap();
        assert_eq!(MetaProperties::load(dir.path()).unwrap(), meta);
    }
}
