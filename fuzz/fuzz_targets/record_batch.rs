//! A produce request's `records` bytes, through everything the broker and
//! storage do with them: splitting into batches, batch validation, and the
//! record-level paths (decompression of gzip/snappy/lz4/zstd payloads,
//! record parsing, the keyless check of compacted topics, broker-side
//! recompression, timestamp search, control batch parsing). Each batch is
//! also tried with its length and CRC fixed up, so the fuzzer gets past the
//! CRC check to the payload decoders.
#![no_main]

use brook_protocol::batch::{self, Compression, BATCH_HEADER_BYTES, LOG_OVERHEAD_BYTES};
use brook_protocol::records::{self, CodecLevels};
use libfuzzer_sys::fuzz_target;

fn exercise(b: &[u8]) {
    let _ = batch::validate_stored(b);
    if batch::validate(b, usize::MAX).is_err() {
        return;
    }
    let _ = records::keyless_records(b);
    let _ = records::recompress(b, Compression::None, CodecLevels::default());
    let _ = batch::record_timestamps(b);
    let _ = batch::parse_control_batch(b);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(ranges) = batch::split_batches(data) {
        for (at, len) in ranges.into_iter().take(16) {
            exercise(&data[at..at + len]);
        }
    }
    if data.len() >= BATCH_HEADER_BYTES && data.len() - LOG_OVERHEAD_BYTES <= i32::MAX as usize {
        let mut fixed = data.to_vec();
        fixed[8..12].copy_from_slice(&((data.len() - LOG_OVERHEAD_BYTES) as i32).to_be_bytes());
        let crc = batch::compute_crc(&fixed);
        fixed[17..21].copy_from_slice(&crc.to_be_bytes());
        exercise(&fixed);
    }
});
