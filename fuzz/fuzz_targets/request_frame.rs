//! A client's bytes on the broker's listener: the size prefix check, then
//! `decode_request` (API key and version against `handlers::SERVED`,
//! request header, body), exactly as `connection.rs` runs them.
#![no_main]

use brook_broker::request::decode_request;
use brook_protocol::frame::check_request_size;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

/// Kafka's default `socket.request.max.bytes`.
const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((prefix, rest)) = data.split_first_chunk::<4>() else { return };
    let Ok(size) = check_request_size(*prefix, MAX_REQUEST_BYTES) else { return };
    // The connection waits for `size` bytes; a shorter input is a frame
    // still arriving, so decode what there is as if it were whole.
    let frame = Bytes::copy_from_slice(&rest[..size.min(rest.len())]);
    let _ = decode_request(frame);
});
