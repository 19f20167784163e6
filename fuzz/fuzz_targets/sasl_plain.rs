//! A SASL/PLAIN token (SaslAuthenticate's auth_bytes, or a raw v0 token):
//! the parser and the server's single step, against one known user.
#![no_main]

use brook_security::sasl::plain::{self, PlainServer};
use brook_security::sasl::SaslServer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = plain::parse(data);
    let mut server = PlainServer::new(|user: &str| (user == "alice").then(|| "alice-secret".to_string()));
    let _ = server.step(data);
    let _ = server.step(data);
});
