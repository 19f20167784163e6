//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka uses them:
//! no channel binding (gs2 header `n,,` or `y,,`), an optional authzid that
//! must equal the user, at least 4096 iterations, and credentials kept only
//! as (salt, StoredKey, ServerKey, iterations) — never the password.
//!
//! Both halves are here: [`ScramServer`] for the broker and [`ScramClient`]
//! for Brook's client. Proofs are compared in constant time. Malformed
//! messages are errors, never panics.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::{SaslError, SaslServer, Step};

/// A SCRAM hash function, with Kafka's names and its iteration bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// Kafka's bounds on iterations (`ScramMechanism.minIterations` and the
    /// controller's upper bound for AlterUserScramCredentials).
    pub const MIN_ITERATIONS: i32 = 4096;
    pub const MAX_ITERATIONS: i32 = 16384;

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => super::SCRAM_SHA_256,
            ScramMechanism::Sha512 => super::SCRAM_SHA_512,
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        match name {
            super::SCRAM_SHA_256 => Some(ScramMechanism::Sha256),
            super::SCRAM_SHA_512 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// The wire value of KIP-554's `mechanism` field (0 is UNKNOWN).
    pub fn type_id(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_type_id(id: i8) -> Option<ScramMechanism> {
        match id {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// Output length of the hash in bytes.
    pub fn hash_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("hmac takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// SaltedPassword := Hi(Normalize(password), salt, i) (PBKDF2 with HMAC).
    /// Passwords are used as given (no SASLprep), as Kafka does.
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.hash_len()];
        match self {
            ScramMechanism::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out),
            ScramMechanism::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out),
        }
        out
    }
}

impl std::fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the broker keeps of a SCRAM user: enough to verify a proof and to
/// prove itself, not enough to log in as the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential for a salted password (what AlterUserScramCredentials
    /// carries: clients salt and hash the password themselves).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    pub fn from_password(mechanism: ScramMechanism, password: &str, salt: &[u8], iterations: i32) -> ScramCredential {
        let salted = mechanism.salted_password(password, salt, iterations.max(1) as u32);
        Self::from_salted_password(mechanism, salt, &salted, iterations)
    }
}

/// A fresh random salt (Kafka uses 32 random bytes too... of a nonce string;
/// any unpredictable bytes do).
pub fn random_salt() -> Vec<u8> {
    let mut salt = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut salt);
    salt
}

/// A fresh nonce: printable, without ','.
pub fn random_nonce() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

fn fail(message: &str) -> SaslError {
    SaslError::new(message)
}

/// Decodes a `saslname` (RFC 5802 §5.1: ',' and '=' escaped as =2C, =3D).
fn decode_saslname(s: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(fail("Invalid SCRAM client first message: bad escape in user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// Splits `k=value` attributes.
fn attribute(part: &str, key: char) -> Option<&str> {
    let mut chars = part.chars();
    (chars.next() == Some(key) && chars.next() == Some('=')).then(|| &part[2..])
}

/// A parsed client-first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    pub gs2_header: String,
    pub authzid: Option<String>,
    pub username: String,
    pub nonce: String,
    /// `client-first-message-bare`: what enters the AuthMessage.
    pub bare: String,
    /// Kafka's SCRAM extensions (`tokenauth=true`, ...).
    pub extensions: Vec<(String, String)>,
}

pub fn parse_client_first(message: &str) -> Result<ClientFirst, SaslError> {
    let bad = |why: &str| fail(&format!("Invalid SCRAM client first message: {why}"));
    let mut parts = message.splitn(3, ',');
    let (Some(cbind), Some(authz), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected a gs2 header"));
    };
    match cbind {
        "n" | "y" => {}
        _ if cbind.starts_with("p=") => return Err(bad("channel binding is not supported")),
        _ => return Err(bad("bad gs2 header")),
    }
    let authzid = match authz {
        "" => None,
        a => Some(decode_saslname(attribute(a, 'a').ok_or_else(|| bad("bad authzid"))?)?),
    };
    let fields: Vec<&str> = bare.split(',').collect();
    if fields.first().is_some_and(|f| f.starts_with("m=")) {
        return Err(bad("mandatory extensions are not supported"));
    }
    let username = fields.first().and_then(|f| attribute(f, 'n')).ok_or_else(|| bad("expected n=<user>"))?;
    let username = decode_saslname(username)?;
    let nonce = fields.get(1).and_then(|f| attribute(f, 'r')).ok_or_else(|| bad("expected r=<nonce>"))?;
    if username.is_empty() || nonce.is_empty() {
        return Err(bad("empty user or nonce"));
    }
    let mut extensions = Vec::new();
    for f in &fields[2..] {
        let (k, v) = f.split_once('=').ok_or_else(|| bad("bad extension"))?;
        extensions.push((k.to_string(), v.to_string()));
    }
    Ok(ClientFirst {
        gs2_header: format!("{cbind},{authz},"),
        authzid,
        username,
        nonce: nonce.to_string(),
        bare: bare.to_string(),
        extensions,
    })
}

/// A parsed client-final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    pub channel_binding: Vec<u8>,
    pub nonce: String,
    pub proof: Vec<u8>,
    /// `client-final-message-without-proof`.
    pub without_proof: String,
}

pub fn parse_client_final(message: &str) -> Result<ClientFinal, SaslError> {
    let bad = |why: &str| fail(&format!("Invalid SCRAM client final message: {why}"));
    let (without_proof, proof) = message.rsplit_once(",p=").ok_or_else(|| bad("expected p=<proof>"))?;
    let fields: Vec<&str> = without_proof.split(',').collect();
    let cb = fields.first().and_then(|f| attribute(f, 'c')).ok_or_else(|| bad("expected c=<channel binding>"))?;
    let nonce = fields.get(1).and_then(|f| attribute(f, 'r')).ok_or_else(|| bad("expected r=<nonce>"))?;
    Ok(ClientFinal {
        channel_binding: B64.decode(cb).map_err(|_| bad("channel binding is not base64"))?,
        nonce: nonce.to_string(),
        proof: B64.decode(proof).map_err(|_| bad("proof is not base64"))?,
        without_proof: without_proof.to_string(),
    })
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

enum ServerState {
    ClientFirst,
    ClientFinal {
        username: String,
        credential: ScramCredential,
        auth_prefix: String,
        gs2_header: String,
        nonce: String,
    },
    Finished,
}

/// The server half. `credentials` looks a user's credential up for this
/// mechanism.
pub struct ScramServer<F: Fn(&str) -> Option<ScramCredential> + Send> {
    mechanism: ScramMechanism,
    credentials: F,
    server_nonce: String,
    state: ServerState,
}

impl<F: Fn(&str) -> Option<ScramCredential> + Send> ScramServer<F> {
    pub fn new(mechanism: ScramMechanism, credentials: F) -> Self {
        Self::with_nonce(mechanism, credentials, random_nonce())
    }

    /// With a chosen server nonce (for test vectors).
    pub fn with_nonce(mechanism: ScramMechanism, credentials: F, server_nonce: String) -> Self {
        ScramServer { mechanism, credentials, server_nonce, state: ServerState::ClientFirst }
    }

    fn invalid_credentials(&self) -> SaslError {
        SaslError::new(format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
            self.mechanism
        ))
    }

    fn client_first(&mut self, message: &str) -> Result<Step, SaslError> {
        let first = parse_client_first(message)?;
        if first.authzid.as_deref().is_some_and(|a| a != first.username) {
            return Err(fail(
                "Authentication failed: Client requested an authorization id that is different from username",
            ));
        }
        if first.extensions.iter().any(|(k, v)| k == "tokenauth" && v.eq_ignore_ascii_case("true")) {
            return Err(fail("Authentication failed: delegation tokens are not supported"));
        }
        let Some(credential) = (self.credentials)(&first.username) else {
            return Err(self.invalid_credentials());
        };
        if credential.iterations < ScramMechanism::MIN_ITERATIONS {
            return Err(self.invalid_credentials());
        }
        let nonce = format!("{}{}", first.nonce, self.server_nonce);
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&credential.salt), credential.iterations);
        self.state = ServerState::ClientFinal {
            username: first.username,
            auth_prefix: format!("{},{server_first}", first.bare),
            credential,
            gs2_header: first.gs2_header,
            nonce,
        };
        Ok(Step::Challenge(server_first.into_bytes()))
    }
}

impl<F: Fn(&str) -> Option<ScramCredential> + Send> SaslServer for ScramServer<F> {
    fn step(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        let message = std::str::from_utf8(token).map_err(|_| fail("Invalid SCRAM message: not UTF-8"))?;
        match std::mem::replace(&mut self.state, ServerState::Finished) {
            ServerState::ClientFirst => self.client_first(message),
            ServerState::ClientFinal { username, credential, auth_prefix, gs2_header, nonce } => {
                let last = parse_client_final(message)?;
                // Kafka accepts a final nonce that ends with the combined one
                // (ScramSaslServer uses endsWith): librdkafka 2.0.x sends the client
                // nonce twice. The server's fresh part is still required.
                if !last.nonce.ends_with(&nonce) {
                    return Err(fail("Invalid SCRAM client final message: nonce mismatch"));
                }
                if last.channel_binding != gs2_header.as_bytes() {
                    return Err(fail("Invalid SCRAM client final message: channel binding mismatch"));
                }
                let m = self.mechanism;
                let auth_message = format!("{auth_prefix},{}", last.without_proof);
                let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
                if last.proof.len() != client_signature.len() {
                    return Err(self.invalid_credentials());
                }
                let client_key = xor(&last.proof, &client_signature);
                if !bool::from(m.hash(&client_key).ct_eq(&credential.stored_key)) {
                    return Err(self.invalid_credentials());
                }
                let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
                Ok(Step::Done { user: username, token: format!("v={}", B64.encode(server_signature)).into_bytes() })
            }
            ServerState::Finished => Err(fail("SCRAM exchange already complete")),
        }
    }
}

enum ClientState {
    Start,
    ServerFirst { bare: String },
    ServerFinal { server_signature: Vec<u8> },
    Finished,
}

/// The client half: `first()`, then `respond(server_first)`, then
/// `finish(server_final)`, which checks that the server knew the credential.
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: String,
    nonce: String,
    state: ClientState,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, username: &str, password: &str) -> ScramClient {
        Self::with_nonce(mechanism, username, password, random_nonce())
    }

    pub fn with_nonce(mechanism: ScramMechanism, username: &str, password: &str, nonce: String) -> ScramClient {
        ScramClient {
            mechanism,
            username: username.to_string(),
            password: password.to_string(),
            nonce,
            state: ClientState::Start,
        }
    }

    pub fn first(&mut self) -> Vec<u8> {
        let bare = format!("n={},r={}", encode_saslname(&self.username), self.nonce);
        let message = format!("n,,{bare}");
        self.state = ClientState::ServerFirst { bare };
        message.into_bytes()
    }

    pub fn respond(&mut self, server_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let ClientState::ServerFirst { bare } = std::mem::replace(&mut self.state, ClientState::Finished) else {
            return Err(fail("SCRAM client: unexpected server first message"));
        };
        let bad = |why: &str| fail(&format!("Invalid SCRAM server first message: {why}"));
        let text = std::str::from_utf8(server_first).map_err(|_| bad("not UTF-8"))?;
        if let Some(e) = attribute(text, 'e') {
            return Err(fail(&format!("SCRAM server error: {e}")));
        }
        let fields: Vec<&str> = text.split(',').collect();
        let nonce = fields.first().and_then(|f| attribute(f, 'r')).ok_or_else(|| bad("expected r=<nonce>"))?;
        let salt = fields.get(1).and_then(|f| attribute(f, 's')).ok_or_else(|| bad("expected s=<salt>"))?;
        let iterations = fields.get(2).and_then(|f| attribute(f, 'i')).ok_or_else(|| bad("expected i=<iterations>"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(bad("server nonce does not extend the client nonce"));
        }
        let salt = B64.decode(salt).map_err(|_| bad("salt is not base64"))?;
        let iterations: i32 = iterations.parse().map_err(|_| bad("iterations is not a number"))?;
        if !(ScramMechanism::MIN_ITERATIONS..=1_000_000).contains(&iterations) {
            return Err(bad(&format!("iterations {iterations} out of range")));
        }
        let m = self.mechanism;
        let salted = m.salted_password(&self.password, &salt, iterations as u32);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c={},r={nonce}", B64.encode(b"n,,"));
        let auth_message = format!("{bare},{text},{without_proof}");
        let proof = xor(&client_key, &m.hmac(&stored_key, auth_message.as_bytes()));
        let server_key = m.hmac(&salted, b"Server Key");
        self.state = ClientState::ServerFinal { server_signature: m.hmac(&server_key, auth_message.as_bytes()) };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    pub fn finish(&mut self, server_final: &[u8]) -> Result<(), SaslError> {
        let ClientState::ServerFinal { server_signature } = std::mem::replace(&mut self.state, ClientState::Finished)
        else {
            return Err(fail("SCRAM client: unexpected server final message"));
        };
        let text = std::str::from_utf8(server_final).map_err(|_| fail("Invalid SCRAM server final message"))?;
        if let Some(e) = attribute(text, 'e') {
            return Err(fail(&format!("SCRAM server error: {e}")));
        }
        let v = attribute(text, 'v').ok_or_else(|| fail("Invalid SCRAM server final message: expected v="))?;
        let v = B64.decode(v).map_err(|_| fail("Invalid SCRAM server final message: not base64"))?;
        if !bool::from(v.ct_eq(&server_signature)) {
            return Err(fail("SCRAM server signature does not match: the server does not know the credential"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 §3.
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_credential() -> ScramCredential {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        ScramCredential::from_password(ScramMechanism::Sha256, "pencil", &salt, 4096)
    }

    fn rfc_server() -> ScramServer<impl Fn(&str) -> Option<ScramCredential> + Send> {
        let credential = rfc_credential();
        ScramServer::with_nonce(
            ScramMechanism::Sha256,
            move |u: &str| (u == "user").then(|| credential.clone()),
            SERVER_NONCE.to_string(),
        )
    }

    #[test]
    fn rfc7677_server_side() {
        let mut server = rfc_server();
        assert_eq!(server.step(CLIENT_FIRST.as_bytes()).unwrap(), Step::Challenge(SERVER_FIRST.as_bytes().to_vec()));
        assert_eq!(
            server.step(CLIENT_FINAL.as_bytes()).unwrap(),
            Step::Done { user: "user".into(), token: SERVER_FINAL.as_bytes().to_vec() }
        );
        assert!(server.step(CLIENT_FINAL.as_bytes()).is_err());
    }

    #[test]
    fn rfc7677_client_side() {
        let mut client =
            ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(client.first(), CLIENT_FIRST.as_bytes());
        assert_eq!(client.respond(SERVER_FIRST.as_bytes()).unwrap(), CLIENT_FINAL.as_bytes());
        client.finish(SERVER_FINAL.as_bytes()).unwrap();
    }

    #[test]
    fn client_and_server_agree_for_both_hashes_and_odd_names() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let credential = ScramCredential::from_password(m, "s3cret", &random_salt(), 4096);
            let mut server = ScramServer::new(m, move |u: &str| (u == "a,b=c").then(|| credential.clone()));
            let mut client = ScramClient::new(m, "a,b=c", "s3cret");
            let Step::Challenge(first) = server.step(&client.first()).unwrap() else { panic!() };
            let last = client.respond(&first).unwrap();
            let Step::Done { user, token } = server.step(&last).unwrap() else { panic!() };
            assert_eq!(user, "a,b=c");
            client.finish(&token).unwrap();
        }
    }

    #[test]
    fn wrong_password_is_rejected() {
        let credential = rfc_credential();
        let mut server = ScramServer::new(ScramMechanism::Sha256, move |_: &str| Some(credential.clone()));
        let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil2");
        let Step::Challenge(first) = server.step(&client.first()).unwrap() else { panic!() };
        let err = server.step(&client.respond(&first).unwrap()).unwrap_err();
        assert!(err.0.contains("invalid credentials"), "{err}");
    }

    #[test]
    fn unknown_user_and_weak_credentials_are_rejected() {
        let mut server = ScramServer::new(ScramMechanism::Sha256, |_: &str| None);
        assert!(server.step(b"n,,n=bob,r=abc").is_err());
        let weak = ScramCredential::from_password(ScramMechanism::Sha256, "x", b"salt", 1000);
        let mut server = ScramServer::new(ScramMechanism::Sha256, move |_: &str| Some(weak.clone()));
        assert!(server.step(b"n,,n=bob,r=abc").is_err());
    }

    #[test]
    fn tampered_final_messages_are_rejected() {
        let bad_finals = [
            // bad proof
            CLIENT_FINAL.replace("p=dHzb", "p=dHzc"),
            // wrong nonce
            CLIENT_FINAL.replace("k0,p=", "k1,p="),
            // channel binding other than the gs2 header
            CLIENT_FINAL.replace("c=biws", "c=eSws"),
            // short proof
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA".to_string(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_string(),
            "garbage".to_string(),
            "c=!!!,r=x,p=y".to_string(),
            String::new(),
        ];
        for last in bad_finals {
            let mut server = rfc_server();
            server.step(CLIENT_FIRST.as_bytes()).unwrap();
            assert!(server.step(last.as_bytes()).is_err(), "{last}");
        }
    }

    #[test]
    fn a_final_nonce_ending_with_the_combined_nonce_is_accepted_as_kafka_does() {
        // librdkafka 2.0.x repeats the client nonce in front of the combined one.
        let credential = rfc_credential();
        let m = ScramMechanism::Sha256;
        let mut server = ScramServer::new(m, move |_: &str| Some(credential.clone()));
        let Step::Challenge(first) = server.step(b"n,,n=user,r=abc").unwrap() else { panic!() };
        let first = String::from_utf8(first).unwrap();
        let combined = first.split(',').next().unwrap().strip_prefix("r=").unwrap().to_string();
        let without_proof = format!("c=biws,r=abc{combined}");
        let auth_message = format!("n=user,r=abc,{first},{without_proof}");
        let salted = m.salted_password("pencil", &B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(), 4096);
        let client_key = m.hmac(&salted, b"Client Key");
        let proof = xor(&client_key, &m.hmac(&m.hash(&client_key), auth_message.as_bytes()));
        let last = format!("{without_proof},p={}", B64.encode(proof));
        assert!(matches!(server.step(last.as_bytes()).unwrap(), Step::Done { .. }));
    }

    #[test]
    fn malformed_first_messages_are_rejected() {
        for first in [
            "",
            "n,,",
            "n,",
            "x,,n=user,r=abc",
            "p=tls-unique,,n=user,r=abc",
            "n,,r=abc,n=user",
            "n,,n=user",
            "n,,n=,r=abc",
            "n,,n=us=er,r=abc",
            "n,a=other,n=user,r=abc",
            "n,,m=ext,n=user,r=abc",
            "n,,n=user,r=abc,tokenauth=true",
            "n,,n=user,r=abc,noequals",
        ] {
            assert!(rfc_server().step(first.as_bytes()).is_err(), "{first}");
        }
        assert!(rfc_server().step(b"\xff\xfe").is_err());
        assert!(rfc_server().step(b"n,a=user,n=user,r=abc").is_ok());
    }

    #[test]
    fn client_rejects_a_bad_server() {
        let mut client =
            ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO".into());
        client.first();
        // Nonce not extending ours.
        assert!(client.respond(b"r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").is_err());
        let mut client =
            ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO".into());
        client.first();
        assert!(client.respond(b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100").is_err());
        let mut client =
            ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO".into());
        client.first();
        client.respond(SERVER_FIRST.as_bytes()).unwrap();
        assert!(client.finish(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=").is_err());
    }

    #[test]
    fn mechanism_names_and_ids() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            assert_eq!(ScramMechanism::from_name(m.name()), Some(m));
            assert_eq!(ScramMechanism::from_type_id(m.type_id()), Some(m));
        }
        assert_eq!(ScramMechanism::from_type_id(0), None);
        assert_eq!(ScramMechanism::from_name("PLAIN"), None);
    }
}
