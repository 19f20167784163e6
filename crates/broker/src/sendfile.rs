//! Writing responses: plain bytes with `write_all`, file regions with
//! sendfile(2) straight from the page cache to the socket (no user-space
//! copy), driven by tokio's readiness so the task never blocks the runtime.
//! A TLS connection must encrypt every byte, so there file regions are read
//! (pread, off the runtime) and written through the TLS stream.

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

/// Writes a chunked response to a connection's stream: sendfile on plain
/// TCP, read-and-write through TLS.
pub async fn write_chunks_to(stream: &mut brook_security::stream::Stream, chunks: &[Chunk]) -> io::Result<()> {
    if let Some(tcp) = stream.as_plain() {
        return write_chunks(tcp, chunks).await;
    }
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(bytes) => stream.write_all(bytes).await?,
            Chunk::File(region) => {
                let mut position = region.position;
                let end = region.position + region.length as u64;
                while position < end {
                    let len = ((end - position) as usize).min(COPY_CHUNK);
                    let file = region.file.clone();
                    let buf = tokio::task::spawn_blocking(move || {
                        let mut buf = vec![0u8; len];
                        std::os::unix::fs::FileExt::read_exact_at(&*file, &mut buf, position).map(|()| buf)
                    })
                    .await
                    .map_err(io::Error::other)??;
                    stream.write_all(&buf).await?;
                    position += len as u64;
                }
            }
        }
    }
    stream.flush().await
}

/// Bytes read from a log file per TLS write.
const COPY_CHUNK: usize = 256 * 1024;
