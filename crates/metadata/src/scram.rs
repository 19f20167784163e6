//! SCRAM credentials in the metadata log (KIP-554): the controller's
//! validation of AlterUserScramCredentials, Kafka's error codes and
//! messages, and how the records change the image. Every broker learns a
//! credential from the log, so a user created once can log in anywhere.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use brook_protocol::error_code;
use brook_security::sasl::scram::{ScramCredential, ScramMechanism};
use serde::{Deserialize, Serialize};

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

pub type Credentials = BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>;

/// Remove `name`'s credential for `mechanism` (KIP-554's wire type id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramDeletion {
    pub name: String,
    pub mechanism: i8,
}

/// Set `name`'s credential for `mechanism`: already derived keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramUpsertion {
    pub name: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

fn check_name_and_mechanism(name: &str, mechanism: i8) -> Result<ScramMechanism, (i16, String)> {
    if name.is_empty() {
        return Err((error_code::UNACCEPTABLE_CREDENTIAL, "Username must not be empty".into()));
    }
    ScramMechanism::from_type_id(mechanism)
        .ok_or_else(|| (error_code::UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism".into()))
}

/// Decides an AlterUserScramCredentials request as Kafka's
/// ScramControlManager does: a user named twice fails with
/// DUPLICATE_RESOURCE, each other user succeeds or fails on its own.
/// Returns the records and one (user, error code, message) per user.
pub fn alter_credentials(
    image: &MetadataImage,
    deletions: &[ScramDeletion],
    upsertions: &[ScramUpsertion],
) -> (Vec<MetadataRecord>, Vec<(String, i16, String)>) {
    let duplicate = || {
        (error_code::DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request".to_string())
    };
    let mut errors: BTreeMap<String, (i16, String)> = BTreeMap::new();
    let mut deletes: BTreeMap<String, ScramMechanism> = BTreeMap::new();
    let mut upserts: BTreeMap<String, &ScramUpsertion> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for d in deletions {
        if errors.contains_key(&d.name) {
            continue;
        }
        if !seen.insert(d.name.clone()) {
            deletes.remove(&d.name);
            errors.insert(d.name.clone(), duplicate());
            continue;
        }
        match check_name_and_mechanism(&d.name, d.mechanism) {
            Ok(m) if image.scram_credentials.get(&d.name).is_some_and(|c| c.contains_key(&m)) => {
                deletes.insert(d.name.clone(), m);
            }
            Ok(_) => {
                errors.insert(
                    d.name.clone(),
                    (error_code::RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist".into()),
                );
            }
            Err(e) => {
                errors.insert(d.name.clone(), e);
            }
        }
    }
    for u in upsertions {
        if errors.contains_key(&u.name) {
            continue;
        }
        if !seen.insert(u.name.clone()) {
            deletes.remove(&u.name);
            upserts.remove(&u.name);
            errors.insert(u.name.clone(), duplicate());
            continue;
        }
        let checked = check_name_and_mechanism(&u.name, u.mechanism).and_then(|m| {
            if u.iterations < ScramMechanism::MIN_ITERATIONS {
                Err((error_code::UNACCEPTABLE_CREDENTIAL, "Too few iterations".into()))
            } else if u.iterations > ScramMechanism::MAX_ITERATIONS {
                Err((error_code::UNACCEPTABLE_CREDENTIAL, "Too many iterations".into()))
            } else if u.salt.is_empty() || u.stored_key.len() != m.hash_len() || u.server_key.len() != m.hash_len() {
                Err((error_code::UNACCEPTABLE_CREDENTIAL, "Invalid salt or salted password".into()))
            } else {
                Ok(m)
            }
        });
        match checked {
            Ok(_) => {
                upserts.insert(u.name.clone(), u);
            }
            Err(e) => {
                errors.insert(u.name.clone(), e);
            }
        }
    }
    let mut records = Vec::new();
    let mut results = Vec::new();
    for (name, m) in deletes {
        records.push(MetadataRecord::RemoveUserScramCredential { name: name.clone(), mechanism: m.name().into() });
        results.push((name, error_code::NONE, String::new()));
    }
    for (name, u) in upserts {
        let m = ScramMechanism::from_type_id(u.mechanism).expect("checked above");
        records.push(MetadataRecord::UserScramCredential {
            name: name.clone(),
            mechanism: m.name().into(),
            salt: B64.encode(&u.salt),
            stored_key: B64.encode(&u.stored_key),
            server_key: B64.encode(&u.server_key),
            iterations: u.iterations,
        });
        results.push((name, error_code::NONE, String::new()));
    }
    results.extend(errors.into_iter().map(|(name, (code, message))| (name, code, message)));
    (records, results)
}

/// Applies a SCRAM record. A record that does not decode (which the
/// controller never writes) is skipped: replay must not fail.
pub fn apply(credentials: &mut Credentials, record: &MetadataRecord) {
    match record {
        MetadataRecord::UserScramCredential { name, mechanism, salt, stored_key, server_key, iterations } => {
            let Some(m) = ScramMechanism::from_name(mechanism) else { return };
            let (Ok(salt), Ok(stored_key), Ok(server_key)) =
                (B64.decode(salt), B64.decode(stored_key), B64.decode(server_key))
            else {
                return;
            };
            credentials
                .entry(name.clone())
                .or_default()
                .insert(m, ScramCredential { salt, stored_key, server_key, iterations: *iterations });
        }
        MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
            let Some(m) = ScramMechanism::from_name(mechanism) else { return };
            if let Some(by_mechanism) = credentials.get_mut(name) {
                by_mechanism.remove(&m);
                if by_mechanism.is_empty() {
                    credentials.remove(name);
                }
            }
        }
        _ => {}
    }
}

/// The records that recreate `credentials` (for snapshots).
pub fn to_records(credentials: &Credentials) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for (name, by_mechanism) in credentials {
        for (m, c) in by_mechanism {
            out.push(MetadataRecord::UserScramCredential {
                name: name.clone(),
                mechanism: m.name().into(),
                salt: B64.encode(&c.salt),
                stored_key: B64.encode(&c.stored_key),
                server_key: B64.encode(&c.server_key),
                iterations: c.iterations,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        let m = ScramMechanism::from_type_id(mechanism).unwrap_or(ScramMechanism::Sha256);
        let c = ScramCredential::from_password(m, "pw", b"salt", 4096);
        ScramUpsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: c.salt,
            stored_key: c.stored_key,
            server_key: c.server_key,
        }
    }

    fn del(name: &str, mechanism: i8) -> ScramDeletion {
        ScramDeletion { name: name.into(), mechanism }
    }

    fn code_of(results: &[(String, i16, String)], user: &str) -> i16 {
        results.iter().find(|(u, _, _)| u == user).map(|(_, c, _)| *c).unwrap()
    }

    #[test]
    fn upsert_then_delete_round_trips_through_the_image() {
        let mut image = MetadataImage::default();
        let (records, results) = alter_credentials(&image, &[], &[upsert("alice", 2, 8192), upsert("bob", 1, 4096)]);
        assert!(results.iter().all(|(_, c, _)| *c == 0), "{results:?}");
        for r in &records {
            image.apply(r);
        }
        let alice = &image.scram_credentials["alice"][&ScramMechanism::Sha512];
        assert_eq!(alice.iterations, 8192);
        assert_eq!(MetadataImage::from_records(&image.to_records(), 0).scram_credentials, image.scram_credentials);
        // The record carries no password, and the JSON form round-trips.
        let json = serde_json::to_string(&records[0]).unwrap();
        assert!(!json.contains("\"pw\""));
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), records[0]);

        let (records, results) = alter_credentials(&image, &[del("alice", 2)], &[]);
        assert_eq!(code_of(&results, "alice"), 0);
        for r in &records {
            image.apply(r);
        }
        assert!(!image.scram_credentials.contains_key("alice"));
        assert!(image.scram_credentials.contains_key("bob"));
    }

    #[test]
    fn kafka_error_codes() {
        let image = MetadataImage::default();
        let (records, results) = alter_credentials(
            &image,
            &[del("ghost", 1), del("dup", 1), del("", 1)],
            &[
                upsert("dup", 1, 4096),
                upsert("few", 1, 4095),
                upsert("many", 1, 16385),
                upsert("mech", 0, 4096),
                upsert("twice", 1, 4096),
                upsert("twice", 2, 4096),
                upsert("ok", 1, 4096),
            ],
        );
        assert_eq!(code_of(&results, "ghost"), error_code::RESOURCE_NOT_FOUND);
        // As in Kafka, a user's first error stands (deleting a missing credential).
        assert_eq!(code_of(&results, "dup"), error_code::RESOURCE_NOT_FOUND);
        assert_eq!(code_of(&results, "twice"), error_code::DUPLICATE_RESOURCE);
        assert_eq!(code_of(&results, ""), error_code::UNACCEPTABLE_CREDENTIAL);
        assert_eq!(code_of(&results, "few"), error_code::UNACCEPTABLE_CREDENTIAL);
        assert_eq!(code_of(&results, "many"), error_code::UNACCEPTABLE_CREDENTIAL);
        assert_eq!(code_of(&results, "mech"), error_code::UNSUPPORTED_SASL_MECHANISM);
        assert_eq!(code_of(&results, "ok"), 0);
        assert_eq!(records.len(), 1);
        assert_eq!(results.len(), 8);
    }

    #[test]
    fn bad_records_are_skipped_on_replay() {
        let mut credentials = Credentials::new();
        apply(
            &mut credentials,
            &MetadataRecord::UserScramCredential {
                name: "x".into(),
                mechanism: "SCRAM-SHA-1".into(),
                salt: "AA==".into(),
                stored_key: "AA==".into(),
                server_key: "AA==".into(),
                iterations: 4096,
            },
        );
        apply(
            &mut credentials,
            &MetadataRecord::RemoveUserScramCredential { name: "y".into(), mechanism: "SCRAM-SHA-256".into() },
        );
        assert!(credentials.is_empty());
    }
}
