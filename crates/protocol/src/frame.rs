//! Framing, written once for every side of the wire: the broker's
//! handlers (responses), its replica fetcher and the Rust client
//! (requests out, responses in). Every Kafka request and response is a
//! 4-byte big-endian size followed by that many bytes: a header (whose
//! version follows from the API version), then the body.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a frame size was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame size {0} is negative")]
    Negative(i32),
    #[error("frame size {size} exceeds socket.request.max.bytes {max}")]
    TooLarge { size: usize, max: usize },
    #[error("frame size {0} is smaller than a request header")]
    TooSmall(usize),
    #[error("encoding: {0}")]
    Encode(String),
    #[error("decoding: {0}")]
    Decode(String),
    #[error("response correlation id {got}, expected {expected}")]
    CorrelationMismatch { got: i32, expected: i32 },
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

/// One size-prefixed frame: the size, then `header` and `body` encoded at
/// their versions.
fn encode_frame(
    header: &impl Encodable,
    header_version: i16,
    body: &impl Encodable,
    version: i16,
) -> Result<Bytes, FrameError> {
    let err = |e: anyhow::Error| FrameError::Encode(e.to_string());
    let size = header.compute_size(header_version).map_err(err)? + body.compute_size(version).map_err(err)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(err)?;
    body.encode(&mut buf, version).map_err(err)?;
    Ok(buf.freeze())
}

/// A request frame, ready to write.
pub fn encode_request<R: Request>(
    version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
    request: &R,
) -> Result<Bytes, FrameError> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.clone()));
    encode_frame(&header, R::header_version(version), request, version)
}

/// A response frame, ready to write.
pub fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &R,
) -> Result<Bytes, FrameError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    encode_frame(&header, R::header_version(version), response, version)
}

/// The correlation id of a response frame (its first four bytes).
pub fn response_correlation_id(frame: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(frame.get(..4)?.try_into().ok()?))
}

/// Decodes a response frame (without its size prefix) to request `R` at
/// `version`, checking its correlation id when one is `expected`.
pub fn decode_response<R: Request>(
    version: i16,
    expected: Option<i32>,
    mut frame: Bytes,
) -> Result<R::Response, FrameError> {
    let err = |e: anyhow::Error| FrameError::Decode(e.to_string());
    let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version)).map_err(err)?;
    if let Some(expected) = expected.filter(|e| *e != header.correlation_id) {
        return Err(FrameError::CorrelationMismatch { got: header.correlation_id, expected });
    }
    R::Response::decode(&mut frame, version).map_err(err)
}

/// Reads one response frame of at most `max_bytes` (without its size
/// prefix). The buffer is filled without zeroing it first: large fetch
/// responses would pay for that twice.
pub async fn read_response_frame<S: AsyncRead + Unpin>(stream: &mut S, max_bytes: usize) -> std::io::Result<Bytes> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await?;
    let size = i32::from_be_bytes(size);
    if size < 4 || size as usize > max_bytes {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("response frame of {size} bytes")));
    }
    let size = size as usize;
    let mut buf = BytesMut::with_capacity(size);
    while buf.len() < size {
        let want = (size - buf.len()) as u64;
        if (&mut *stream).take(want).read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn request_and_response_round_trip() {
        use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
        let frame = encode_request(3, 42, &StrBytes::from_static_str("c"), &ApiVersionsRequest::default()).unwrap();
        assert_eq!(check_request_size(frame[..4].try_into().unwrap(), 1 << 20), Ok(frame.len() - 4));
        let response = ApiVersionsResponse::default().with_throttle_time_ms(7);
        let out = encode_response(42, 3, &response).unwrap();
        let mut reader = &out[..];
        let body = read_response_frame(&mut reader, 1 << 20).await.unwrap();
        assert_eq!(response_correlation_id(&body), Some(42));
        let decoded = decode_response::<ApiVersionsRequest>(3, Some(42), body.clone()).unwrap();
        assert_eq!(decoded.throttle_time_ms, 7);
        assert!(matches!(
            decode_response::<ApiVersionsRequest>(3, Some(41), body),
            Err(FrameError::CorrelationMismatch { got: 42, expected: 41 })
        ));
        let mut short = &out[..out.len() - 1];
        assert!(read_response_frame(&mut short, 1 << 20).await.is_err());
        let mut huge = &out[..];
        assert!(read_response_frame(&mut huge, 8).await.is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(check_request_size(100i32.to_be_bytes(), 1000), Ok(100));
        assert!(matches!(check_request_size((-1i32).to_be_bytes(), 1000), Err(FrameError::Negative(-1))));
        assert!(matches!(check_request_size(1001i32.to_be_bytes(), 1000), Err(FrameError::TooLarge { .. })));
        assert!(matches!(check_request_size(3i32.to_be_bytes(), 1000), Err(FrameError::TooSmall(3))));
    }
}
