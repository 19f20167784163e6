//! The producer fields of produced batch headers (producer id, epoch, base
//! sequence, record count, transactional flag) and transaction markers,
//! through the partition's producer state as `PartitionLog` drives it:
//! check, then update with the assigned offsets. Input: 62-byte chunks,
//! an operation byte then a batch header.
#![no_main]

use brook_protocol::batch::{BatchHeader, ControlType, BATCH_HEADER_BYTES, LOG_OVERHEAD_BYTES};
use brook_storage::producer_state::{ProducerStateManager, SequenceCheck};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut state = ProducerStateManager::new();
    let mut log_end: i64 = 0;
    for chunk in data.chunks_exact(1 + BATCH_HEADER_BYTES).take(256) {
        let op = chunk[0];
        let mut head = [0u8; BATCH_HEADER_BYTES];
        head.copy_from_slice(&chunk[1..]);
        head[8..12].copy_from_slice(&((BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32).to_be_bytes());
        head[16] = 2;
        let Ok(mut header) = BatchHeader::parse(&head) else { return };
        header.base_offset = log_end;
        match op % 4 {
            // A data batch, as append_as_leader admits it (validate's count rule).
            0 | 1 => {
                if header.record_count <= 0
                    || header.last_offset_delta != header.record_count - 1
                    || header.is_control()
                {
                    continue;
                }
                if let Ok(SequenceCheck::Append) = state.check(&header) {
                    state.update(&header);
                    log_end = header.last_offset() + 1;
                }
            }
            // A transaction marker (WriteTxnMarkers), as append_marker writes it.
            2 => {
                let kind = if op & 0x80 != 0 { ControlType::Commit } else { ControlType::Abort };
                let coordinator_epoch = header.base_sequence;
                if state.check_marker(header.producer_id, header.producer_epoch, coordinator_epoch).is_ok() {
                    state.update_marker(&header, kind, coordinator_epoch);
                    log_end += 1;
                }
            }
            _ => {
                state.on_high_watermark(log_end - (op as i64 >> 2));
                let _ = state.first_unstable_offset();
                let _ = state.last_offsets();
                let _ = ProducerStateManager::decode_snapshot(&state.encode_snapshot());
            }
        }
    }
});
