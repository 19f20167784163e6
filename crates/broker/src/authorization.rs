//! The handlers' one door to the authorizer. A handler takes an [`Authz`]
//! once per request (`ctx.authz()`: the principal, its host and the ACLs of
//! the current metadata image) and asks it one question per resource:
//! `authz.topic(READ, name)`, `authz.group(READ, id)`, `authz.cluster(ALTER)`.
//! With no authorizer configured every answer is `true` without touching the
//! image, so the request paths cost what they did before.
//!
//! Which operation each API needs follows Kafka's KafkaApis; the handler
//! states it next to the work it guards. Thread-safe: an `Authz` is a
//! snapshot owned by one request.

use std::sync::Arc;

use brook_metadata::controller::ControllerError;
use brook_metadata::MetadataImage;
use brook_protocol::error_code;
use brook_security::acl::{AclOperation, Authorizer, ResourceType, CLUSTER_NAME, STANDARD_AUTHORIZER};
use brook_security::KafkaPrincipal;
use tracing::debug;

use crate::config::ConfigError;
use crate::handlers::RequestContext;

pub use brook_security::acl::AclOperation as Op;

/// The authorizer `authorizer.class.name` asks for (None when empty).
pub fn from_config(
    class_name: &str,
    super_users: &str,
    allow_everyone_if_no_acl: bool,
) -> Result<Option<Authorizer>, ConfigError> {
    match class_name.trim() {
        "" => Ok(None),
        // Kafka's ZooKeeper-era name: the same ACL semantics.
        STANDARD_AUTHORIZER | "kafka.security.authorizer.AclAuthorizer" => {
            for p in super_users.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                p.parse::<KafkaPrincipal>()
                    .map_err(|e| ConfigError::Invalid { name: "super.users".into(), reason: e.to_string() })?;
            }
            Ok(Some(Authorizer::new(super_users, allow_everyone_if_no_acl)))
        }
        other => Err(ConfigError::Invalid {
            name: "authorizer.class.name".into(),
            reason: format!("'{other}' is not supported (use {STANDARD_AUTHORIZER} or leave it empty)"),
        }),
    }
}

/// One request's view of the authorizer.
pub struct Authz<'a> {
    active: Option<Active<'a>>,
}

struct Active<'a> {
    authorizer: &'a Authorizer,
    /// `Type:name`, formatted once per request.
    principal: String,
    host: String,
    image: Arc<MetadataImage>,
}

impl<'a> Authz<'a> {
    /// Whether an authorizer is configured (else every check passes).
    pub fn enabled(&self) -> bool {
        self.active.is_some()
    }

    /// May the request's principal do `operation` on `(resource_type, name)`?
    pub fn allows(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        let Some(a) = &self.active else {
            return true;
        };
        let decision = a.authorizer.authorize(&a.image.acls, &a.principal, &a.host, operation, resource_type, name);
        if decision.allowed() {
            debug!(principal = %a.principal, host = %a.host, %operation, %resource_type, name, ?decision, "authorized");
        } else {
            debug!(principal = %a.principal, host = %a.host, %operation, %resource_type, name, ?decision, "denied");
        }
        decision.allowed()
    }

    pub fn topic(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::Topic, name)
    }

    pub fn group(&self, operation: AclOperation, id: &str) -> bool {
        self.allows(operation, ResourceType::Group, id)
    }

    pub fn transactional_id(&self, operation: AclOperation, id: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, id)
    }

    pub fn cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Refuses a config resource (DescribeConfigs / AlterConfigs resource
    /// types: topic 2, broker 4, broker logger 8, group 32) without
    /// `operation` on it, with the error Kafka answers.
    pub fn config_refusal(&self, operation: AclOperation, resource_type: i8, name: &str) -> Option<ControllerError> {
        let (allowed, code) = match resource_type {
            2 => (self.topic(operation, name), error_code::TOPIC_AUTHORIZATION_FAILED),
            32 => (self.group(operation, name), error_code::GROUP_AUTHORIZATION_FAILED),
            _ => (self.cluster(operation), error_code::CLUSTER_AUTHORIZATION_FAILED),
        };
        (!allowed).then(|| ControllerError::new(code, "Authorization failed."))
    }

    /// `operation` on at least one resource of the type (Kafka's authorizeByResourceType).
    pub fn any_of_type(&self, operation: AclOperation, resource_type: ResourceType) -> bool {
        let Some(a) = &self.active else {
            return true;
        };
        a.authorizer.authorize_any(&a.image.acls, &a.principal, &a.host, operation, resource_type)
    }

    /// Kafka's `authorized_operations` bit field for a resource (bit = operation
    /// code); i32::MIN when not asked for, as Kafka answers.
    pub fn operations_bits(&self, resource_type: ResourceType, name: &str) -> i32 {
        AclOperation::for_resource(resource_type)
            .iter()
            .filter(|op| self.allows(**op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }
}

impl RequestContext<'_> {
    /// The authorizer's view for this request; take it once and ask it per resource.
    pub fn authz(&self) -> Authz<'_> {
        let active = self.node.config.authorizer.as_ref().map(|authorizer| Active {
            authorizer,
            principal: self.session.principal.to_string(),
            host: self.session.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            image: self.node.image(),
        });
        Authz { active }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values() {
        assert!(from_config("", "", false).unwrap().is_none());
        assert!(from_config(STANDARD_AUTHORIZER, "User:admin;User:ANONYMOUS", false).unwrap().is_some());
        assert!(from_config(STANDARD_AUTHORIZER, "admin", false).is_err());
        assert!(from_config("com.example.Mine", "", false).is_err());
    }
}
