//! Bytes on the controller listener: length-prefixed JSON frames read with
//! `rpc::read_frame`, as envelopes (what a voter reads, request after
//! request, session pings included) and as responses (what a node reads
//! back). Records carried by AppendEntries are applied to an image, as the
//! state machine would once they commit.
#![no_main]

use std::sync::OnceLock;

use brook_metadata::quorum::rpc::{read_frame, Envelope, RpcRequest, RpcResponse};
use brook_metadata::MetadataImage;
use libfuzzer_sys::fuzz_target;
use openraft::EntryPayload;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        let mut input = data;
        for _ in 0..64 {
            match read_frame::<Envelope>(&mut input).await {
                Ok(Some(envelope)) => {
                    if let RpcRequest::AppendEntries(append) = envelope.request {
                        let mut image = MetadataImage::default();
                        for entry in &append.entries {
                            if let EntryPayload::Normal(records) = &entry.payload {
                                records.iter().for_each(|r| image.apply(r));
                            }
                        }
                    }
                }
                _ => break,
            }
        }
        let mut input = data;
        for _ in 0..64 {
            match read_frame::<RpcResponse>(&mut input).await {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    });
});
