//! AlterUserScramCredentials, version 0 (KIP-554): create, update or delete
//! users' SCRAM credentials. The client sends a salt and a salted password;
//! this broker derives StoredKey and ServerKey at once, so only those (never
//! the salted password) travel to the controller and into the metadata log,
//! where every broker learns them. Validation and error codes are the
//! controller's ([`brook_metadata::scram::alter_credentials`]).

use brook_metadata::requests::{ControllerReply, ControllerRequest};
use brook_metadata::scram::{ScramDeletion, ScramUpsertion};
use brook_protocol::kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use brook_protocol::kafka_protocol::messages::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse};
use brook_security::sasl::scram::{ScramCredential, ScramMechanism};
use tracing::info;

use super::{str_bytes, RequestContext, Versions};

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 0);

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<ScramDeletion> =
        request.deletions.iter().map(|d| ScramDeletion { name: d.name.to_string(), mechanism: d.mechanism }).collect();
    let upsertions: Vec<ScramUpsertion> = request
        .upsertions
        .iter()
        .map(|u| upsertion(u.name.as_str(), u.mechanism, u.iterations, &u.salt, &u.salted_password))
        .collect();
    let mut users: Vec<String> =
        deletions.iter().map(|d| d.name.clone()).chain(upsertions.iter().map(|u| u.name.clone())).collect();
    users.sort();
    users.dedup();
    let results = match ctx.node.submit(ControllerRequest::AlterUserScramCredentials { deletions, upsertions }).await {
        Ok(ControllerReply::ScramResults(results)) => results,
        Ok(other) => users.into_iter().map(|u| (u, -1, format!("unexpected controller reply {other:?}"))).collect(),
        Err(e) => users.into_iter().map(|u| (u, e.code, e.message.clone())).collect(),
    };
    for (user, code, _) in &results {
        if *code == 0 {
            info!(user, principal = %ctx.session.principal, "altered SCRAM credentials");
        }
    }
    AlterUserScramCredentialsResponse::default().with_results(
        results
            .into_iter()
            .map(|(user, code, message)| {
                AlterUserScramCredentialsResult::default()
                    .with_user(str_bytes(&user))
                    .with_error_code(code)
                    .with_error_message((code != 0).then(|| str_bytes(&message)))
            })
            .collect(),
    )
}

/// Derives the stored credential; an unknown mechanism or an empty salted
/// password yields empty keys, which the controller refuses.
fn upsertion(name: &str, mechanism: i8, iterations: i32, salt: &[u8], salted_password: &[u8]) -> ScramUpsertion {
    let (stored_key, server_key) = match ScramMechanism::from_type_id(mechanism) {
        Some(m) if !salted_password.is_empty() => {
            let c = ScramCredential::from_salted_password(m, salt, salted_password, iterations);
            (c.stored_key, c.server_key)
        }
        _ => (Vec::new(), Vec::new()),
    };
    ScramUpsertion { name: name.to_string(), mechanism, iterations, salt: salt.to_vec(), stored_key, server_key }
}
