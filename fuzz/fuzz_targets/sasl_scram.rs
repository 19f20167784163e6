//! SCRAM client messages (SaslAuthenticate auth_bytes, or raw v0 tokens):
//! the client-first and client-final parsers, and a whole server exchange
//! against one known user. Input: a mechanism byte (odd: SHA-512), then
//! client-first, NUL, client-final.
#![no_main]

use std::sync::OnceLock;

use brook_security::sasl::scram::{
    parse_client_final, parse_client_first, ScramCredential, ScramMechanism, ScramServer,
};
use brook_security::sasl::SaslServer;
use libfuzzer_sys::fuzz_target;

/// The seed corpus's exchanges use this server nonce, salt and password.
pub const SERVER_NONCE: &str = "fuzzservernonce";

fn credential(mechanism: ScramMechanism) -> &'static ScramCredential {
    static CREDENTIALS: OnceLock<[ScramCredential; 2]> = OnceLock::new();
    let [sha256, sha512] = CREDENTIALS.get_or_init(|| {
        let of = |m| ScramCredential::from_password(m, "alice-secret", b"fuzz-salt", ScramMechanism::MIN_ITERATIONS);
        [of(ScramMechanism::Sha256), of(ScramMechanism::Sha512)]
    });
    match mechanism {
        ScramMechanism::Sha256 => sha256,
        ScramMechanism::Sha512 => sha512,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else { return };
    let mechanism = if selector & 1 == 1 { ScramMechanism::Sha512 } else { ScramMechanism::Sha256 };
    let (first, last) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    for part in [first, last] {
        if let Ok(text) = std::str::from_utf8(part) {
            let _ = parse_client_first(text);
            let _ = parse_client_final(text);
        }
    }
    let mut server = ScramServer::with_nonce(
        mechanism,
        |user: &str| (user == "alice").then(|| credential(mechanism).clone()),
        SERVER_NONCE.to_string(),
    );
    if server.step(first).is_ok() {
        let _ = server.step(last);
        let _ = server.step(last);
    }
});
