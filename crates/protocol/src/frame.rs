//! Request framing: every Kafka request and response is a 4-byte big-endian
//! size followed by that many bytes. This module only knows sizes; reading
//! from a socket lives in the broker.

/// Why a frame size was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame size {0} is negative")]
    Negative(i32),
    #[error("frame size {size} exceeds socket.request.max.bytes {max}")]
    TooLarge { size: usize, max: usize },
    #[error("frame size {0} is smaller than a request header")]
    TooSmall(usize),
}

/// Smallest possible request: api_key, api_version, correlation_id, client_id length.
pub const REQUEST_HEADER_MIN_BYTES: usize = 2 + 2 + 4 + 2;

/// Checks the 4-byte size prefix of a request frame against `max_bytes`.
pub fn check_request_size(prefix: [u8; 4], max_bytes: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    let size = size as usize;
    if size > max_bytes {
        return Err(FrameError::TooLarge { size, max: max_bytes });
    }
    if size < REQUEST_HEADER_MIN_BYTES {
        return Err(FrameError::TooSmall(size));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(check_request_size(100i32.to_be_bytes(), 1000), Ok(100));
        assert!(matches!(check_request_size((-1i32).to_be_bytes(), 1000), Err(FrameError::Negative(-1))));
        assert!(matches!(check_request_size(1001i32.to_be_bytes(), 1000), Err(FrameError::TooLarge { .. })));
        assert!(matches!(check_request_size(3i32.to_be_bytes(), 1000), Err(FrameError::TooSmall(3))));
    }
}
