//! SASL/PLAIN (RFC 4616): one client message `authzid NUL authcid NUL
//! passwd`. The authorization id must be empty or equal to the
//! authentication id, as in Kafka (no impersonation).

use subtle::ConstantTimeEq;

use super::{SaslError, SaslServer, Step};

/// The parts of a PLAIN client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainMessage {
    pub authzid: String,
    pub username: String,
    pub password: String,
}

/// Parses a PLAIN client message.
pub fn parse(token: &[u8]) -> Result<PlainMessage, SaslError> {
    let text = std::str::from_utf8(token).map_err(|_| SaslError::new("Invalid SASL/PLAIN response: not UTF-8"))?;
    let parts: Vec<&str> = text.split('\u{0}').collect();
    if parts.len() != 3 {
        return Err(SaslError::new(format!("Invalid SASL/PLAIN response: expected 3 tokens, got {}", parts.len())));
    }
    let (authzid, username, password) = (parts[0], parts[1], parts[2]);
    if username.is_empty() {
        return Err(SaslError::new("Authentication failed: username not specified"));
    }
    if password.is_empty() {
        return Err(SaslError::new("Authentication failed: password not specified"));
    }
    if !authzid.is_empty() && authzid != username {
        return Err(SaslError::new(
            "Authentication failed: Client requested an authorization id that is different from username",
        ));
    }
    Ok(PlainMessage { authzid: authzid.to_string(), username: username.to_string(), password: password.to_string() })
}

/// Builds a PLAIN client message (no authorization id).
pub fn client_message(username: &str, password: &str) -> Vec<u8> {
    format!("\u{0}{username}\u{0}{password}").into_bytes()
}

/// Compares passwords in time independent of where they differ.
pub fn passwords_match(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The server half: one message, checked against `users` (name → password).
pub struct PlainServer<F: Fn(&str) -> Option<String> + Send> {
    users: F,
    done: bool,
}

impl<F: Fn(&str) -> Option<String> + Send> PlainServer<F> {
    pub fn new(users: F) -> Self {
        PlainServer { users, done: false }
    }
}

impl<F: Fn(&str) -> Option<String> + Send> SaslServer for PlainServer<F> {
    fn step(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        if self.done {
            return Err(SaslError::new("SASL/PLAIN exchange already complete"));
        }
        self.done = true;
        let message = parse(token)?;
        match (self.users)(&message.username) {
            Some(expected) if passwords_match(&expected, &message.password) => {
                Ok(Step::Done { user: message.username, token: Vec::new() })
            }
            _ => Err(SaslError::new("Authentication failed: Invalid username or password")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> PlainServer<impl Fn(&str) -> Option<String> + Send> {
        PlainServer::new(|u: &str| (u == "alice").then(|| "alice-secret".to_string()))
    }

    #[test]
    fn good_credentials_authenticate() {
        let step = server().step(&client_message("alice", "alice-secret")).unwrap();
        assert_eq!(step, Step::Done { user: "alice".into(), token: vec![] });
        // An authzid equal to the user is allowed.
        assert!(server().step(b"alice\0alice\0alice-secret").is_ok());
    }

    #[test]
    fn bad_input_fails_without_panicking() {
        for token in [
            &b"\0alice\0wrong"[..],
            b"\0bob\0alice-secret",
            b"bob\0alice\0alice-secret",
            b"\0alice",
            b"\0\0x",
            b"\0alice\0",
            b"",
            b"\0alice\0alice-secret\0",
            b"\xff\0alice\0alice-secret",
        ] {
            assert!(server().step(token).is_err(), "{token:?}");
        }
        let mut s = server();
        s.step(&client_message("alice", "alice-secret")).unwrap();
        assert!(s.step(&client_message("alice", "alice-secret")).is_err());
    }

    #[test]
    fn password_compare() {
        assert!(passwords_match("abc", "abc"));
        assert!(!passwords_match("abc", "abd"));
        assert!(!passwords_match("abc", "abcd"));
    }
}
