//! Metadata records as JSON (records.rs), applied in order to an image,
//! as a controller or broker replays entries it received: a record from a
//! peer must never panic the image.
#![no_main]

use brook_metadata::{MetadataImage, MetadataRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut image = MetadataImage::default();
    let stream = serde_json::Deserializer::from_slice(data).into_iter::<MetadataRecord>();
    for record in stream.take(256) {
        let Ok(record) = record else { break };
        image.apply(&record);
    }
    let _ = image.live_brokers();
});
