//! Reading a coordinator's state back from its internal topic partition
//! (`__transaction_state`, `__consumer_offsets`): every batch of the
//! partition's committed log in log order, or every record as (key, value)
//! pairs. A value of `None` is a tombstone. Thread-safe (reads only).

use std::os::unix::fs::FileExt;

use brook_protocol::batch::{batch_size, BatchHeader};
use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::records::RecordBatchDecoder;
use bytes::Bytes;

use crate::replication::Partition;

/// Bytes read per step.
const READ_BYTES: usize = 4 << 20;

pub type StateRecord = (Bytes, Option<Bytes>);

/// Every keyed record from the log start to the high watermark (control
/// batches skipped).
pub fn read_records(partition: &Partition) -> Result<Vec<StateRecord>, ErrorCode> {
    let mut records = Vec::new();
    for_each_batch(partition, &mut |batch| {
        if BatchHeader::parse(batch).is_ok_and(|h| h.is_control()) {
            return;
        }
        let mut bytes = Bytes::copy_from_slice(batch);
        if let Ok(set) = RecordBatchDecoder::decode(&mut bytes) {
            records.extend(set.records.into_iter().filter_map(|r| Some((r.key?, r.value))));
        }
    })?;
    Ok(records)
}

/// Calls `f` with every complete batch from the log start to the high
/// watermark, in log order.
pub fn for_each_batch(partition: &Partition, f: &mut dyn FnMut(&[u8])) -> Result<(), ErrorCode> {
    let mut offset = partition.offsets().log_start;
    loop {
        let slice = partition.read(offset, READ_BYTES, true)?;
        let Some(region) = slice.region else { break };
        let mut buf = vec![0u8; region.length];
        region.file.read_exact_at(&mut buf, region.position).map_err(|_| ErrorCode::KAFKA_STORAGE_ERROR)?;
        let mut at = 0;
        let mut next = offset;
        while let Some(size) = batch_size(&buf[at..]) {
            if at + size > buf.len() {
                break;
            }
            let batch = &buf[at..at + size];
            if let Ok(h) = BatchHeader::parse(batch) {
                next = h.last_offset() + 1;
            }
            f(batch);
            at += size;
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(())
}
