//! Small file helpers: positioned vectored writes and atomic file replacement
//! (temp file → fsync → rename → fsync directory).

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Writes all of `slices` at `position`, handling short writes.
pub fn write_all_vectored_at(file: &File, slices: &[&[u8]], mut position: u64) -> io::Result<()> {
    let mut iov: Vec<IoSlice<'_>> = slices.iter().filter(|s| !s.is_empty()).map(|s| IoSlice::new(s)).collect();
    let mut remaining: &mut [IoSlice<'_>] = &mut iov[..];
    while !remaining.is_empty() {
        let count = remaining.len().min(1024) as libc::c_int;
        // SAFETY: IoSlice is ABI compatible with iovec; the fd is valid for the call.
        let written = unsafe {
            libc::pwritev(file.as_raw_fd(), remaining.as_ptr() as *const libc::iovec, count, position as libc::off_t)
        };
        if written < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if written == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote 0 bytes"));
        }
        position += written as u64;
        IoSlice::advance_slices(&mut remaining, written as usize);
    }
    Ok(())
}

/// fsync a directory so renames and creations in it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `contents` atomically and durably.
pub fn atomic_write(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fsync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectored_write_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
        write_all_vectored_at(&file, &[b"hello ", b"", b"world"], 2).unwrap();
        let data = std::fs::read(&path).unwrap();
        assert_eq!(&data[2..], b"hello world");
        atomic_write(&dir.path().join("c"), b"x").unwrap();
        assert_eq!(std::fs::read(dir.path().join("c")).unwrap(), b"x");
    }
}
