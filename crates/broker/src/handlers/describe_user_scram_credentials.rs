//! DescribeUserScramCredentials, version 0 (KIP-554): which SCRAM
//! mechanisms (and iterations) each user has, from the metadata image. No
//! salt or key ever leaves the broker. As in Kafka: no users listed means
//! all; a user named twice gets DUPLICATE_RESOURCE, an unknown one
//! RESOURCE_NOT_FOUND.

use std::collections::BTreeMap;

use brook_metadata::scram::Credentials;
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use brook_protocol::kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::{str_bytes, RequestContext, Versions};

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 0);

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let image = ctx.node.image();
    let users = request.users.map(|u| u.into_iter().map(|u| u.name.to_string()).collect::<Vec<_>>());
    DescribeUserScramCredentialsResponse::default().with_results(describe(&image.scram_credentials, users))
}

fn describe(credentials: &Credentials, users: Option<Vec<String>>) -> Vec<DescribeUserScramCredentialsResult> {
    // user -> named more than once
    let mut wanted: BTreeMap<String, bool> = BTreeMap::new();
    match users.filter(|u| !u.is_empty()) {
        None => wanted.extend(credentials.keys().map(|u| (u.clone(), false))),
        Some(users) => {
            for u in users {
                wanted.entry(u).and_modify(|twice| *twice = true).or_insert(false);
            }
        }
    }
    wanted
        .into_iter()
        .map(|(user, duplicate)| {
            let result = DescribeUserScramCredentialsResult::default().with_user(str_bytes(&user));
            if duplicate {
                return result.with_error_code(error_code::DUPLICATE_RESOURCE).with_error_message(Some(str_bytes(
                    &format!("Cannot describe SCRAM credentials for the same user twice in a single request: {user}"),
                )));
            }
            match credentials.get(&user) {
                Some(by_mechanism) => result.with_credential_infos(
                    by_mechanism
                        .iter()
                        .map(|(m, c)| {
                            CredentialInfo::default().with_mechanism(m.type_id()).with_iterations(c.iterations)
                        })
                        .collect(),
                ),
                None => result.with_error_code(error_code::RESOURCE_NOT_FOUND).with_error_message(Some(str_bytes(
                    &format!("Attempt to describe a user credential that does not exist: {user}"),
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_security::sasl::scram::{ScramCredential, ScramMechanism};

    #[test]
    fn all_named_duplicate_and_unknown_users() {
        let mut credentials = Credentials::new();
        let c = ScramCredential::from_password(ScramMechanism::Sha512, "x", b"s", 8192);
        credentials.entry("alice".into()).or_default().insert(ScramMechanism::Sha512, c);
        let all = describe(&credentials, None);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].credential_infos[0].mechanism, 2);
        assert_eq!(all[0].credential_infos[0].iterations, 8192);
        let some = describe(
            &credentials,
            Some(vec!["alice".into(), "bob".into(), "bob".into(), "bob".into(), "carol".into()]),
        );
        let code = |u: &str| some.iter().find(|r| r.user.as_str() == u).unwrap().error_code;
        assert_eq!(code("alice"), 0);
        assert_eq!(code("bob"), error_code::DUPLICATE_RESOURCE);
        assert_eq!(code("carol"), error_code::RESOURCE_NOT_FOUND);
    }
}
