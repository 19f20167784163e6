//! SCRAM user administration (KIP-554), as Kafka's `kafka-configs.sh
//! --alter --add-config 'SCRAM-SHA-512=[password=...]'` does it: the client
//! picks a random salt and sends only the salted password
//! (AlterUserScramCredentials); the broker derives and stores the keys.

use brook_security::sasl::scram::{random_salt, ScramMechanism};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{s, Admin};
use crate::error::{check_message, Result};

/// A user's SCRAM credentials as the broker describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramUser {
    pub user: String,
    /// (mechanism, iterations)
    pub credentials: Vec<(ScramMechanism, i32)>,
}

fn message(m: &Option<StrBytes>) -> Option<&StrBytes> {
    m.as_ref()
}

impl Admin {
    /// Creates or updates `user`'s credential for `mechanism`.
    pub async fn upsert_scram_user(
        &self,
        user: &str,
        password: &str,
        mechanism: ScramMechanism,
        iterations: i32,
    ) -> Result<()> {
        let salt = random_salt();
        let salted = mechanism.salted_password(password, &salt, iterations.max(1) as u32);
        let request =
            AlterUserScramCredentialsRequest::default().with_upsertions(vec![ScramCredentialUpsertion::default()
                .with_name(s(user))
                .with_mechanism(mechanism.type_id())
                .with_iterations(iterations)
                .with_salt(salt.into())
                .with_salted_password(salted.into())]);
        self.alter_scram(request, user).await
    }

    /// Removes `user`'s credential for `mechanism`.
    pub async fn delete_scram_user(&self, user: &str, mechanism: ScramMechanism) -> Result<()> {
        let request =
            AlterUserScramCredentialsRequest::default().with_deletions(vec![ScramCredentialDeletion::default()
                .with_name(s(user))
                .with_mechanism(mechanism.type_id())]);
        self.alter_scram(request, user).await
    }

    async fn alter_scram(&self, request: AlterUserScramCredentialsRequest, user: &str) -> Result<()> {
        let response = self.cluster.any_connection().await?.send(0, &request).await?;
        for r in &response.results {
            check_message(r.error_code, message(&r.error_message), || format!("SCRAM credentials of '{user}'"))?;
        }
        Ok(())
    }

    /// SCRAM users (all of them when `users` is empty).
    pub async fn describe_scram_users(&self, users: &[String]) -> Result<Vec<ScramUser>> {
        let names = (!users.is_empty()).then(|| users.iter().map(|u| UserName::default().with_name(s(u))).collect());
        let request = DescribeUserScramCredentialsRequest::default().with_users(names);
        let response = self.cluster.any_connection().await?.send(0, &request).await?;
        check_message(response.error_code, message(&response.error_message), || "DescribeUserScramCredentials".into())?;
        let mut out = Vec::new();
        for r in response.results {
            check_message(r.error_code, message(&r.error_message), || format!("SCRAM credentials of '{}'", r.user))?;
            out.push(ScramUser {
                user: r.user.to_string(),
                credentials: r
                    .credential_infos
                    .iter()
                    .filter_map(|c| ScramMechanism::from_type_id(c.mechanism).map(|m| (m, c.iterations)))
                    .collect(),
            });
        }
        out.sort_by(|a, b| a.user.cmp(&b.user));
        Ok(out)
    }
}
