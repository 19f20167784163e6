//! Writing responses: plain bytes with `write_all`, file regions with
//! sendfile(2) straight from the page cache to the socket (no user-space
//! copy), driven by tokio's readiness so the task never blocks the runtime.

use std::io;
use std::os::unix::io::AsRawFd;

use brook_protocol::fetch_response::{Chunk, FileRegion};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// Sends one file region with sendfile(2), however many calls it takes.
pub async fn send_region(stream: &mut TcpStream, region: &FileRegion) -> io::Result<()> {
    let mut offset = region.position as libc::off_t;
    let end = region.position as libc::off_t + region.length as libc::off_t;
    while offset < end {
        stream.writable().await?;
        let remaining = (end - offset) as usize;
        let result = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both fds are valid for the duration of the call; the
            // kernel advances `offset` by the bytes sent.
            let n = unsafe { libc::sendfile(stream.as_raw_fd(), region.file.as_raw_fd(), &mut offset, remaining) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match result {
            Ok(0) => {
                // The file is shorter than the region (truncated underneath us):
                // the response cannot be completed, so the connection must close.
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file region shorter than expected"));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes a chunked response in order.
pub async fn write_chunks(stream: &mut TcpStream, chunks: &[Chunk]) -> io::Result<()> {
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(bytes) => stream.write_all(bytes).await?,
            Chunk::File(region) => send_region(stream, region).await?,
        }
    }
    Ok(())
}
