//! A JoinGroup member's protocol metadata (consumer-protocol
//! subscription), as the group coordinator decodes it for the topics
//! its group subscribes to.
#![no_main]

use brook_broker::coordinator::group::coordinator::subscription_topics;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = subscription_topics(bytes::Bytes::copy_from_slice(data));
});
