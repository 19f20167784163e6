//! What the three ACL APIs share: the wire fields to and from the
//! authorizer's [`AclBinding`] / [`AclFilter`], and the common refusals
//! (SECURITY_DISABLED with no authorizer, CLUSTER_AUTHORIZATION_FAILED for a
//! principal without the cluster operation the API needs).

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::protocol::StrBytes;
use brook_security::acl::{AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType};

use super::RequestContext;

/// Refuses the request unless an authorizer is on and the principal may do
/// `operation` on the cluster. Returns the (code, message) to answer with.
pub fn refusal(ctx: &RequestContext<'_>, operation: AclOperation) -> Option<(i16, String)> {
    let authz = ctx.authz();
    if !authz.cluster(operation) {
        return Some((error_code::CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.".to_string()));
    }
    if !authz.enabled() {
        return Some((error_code::SECURITY_DISABLED, "No Authorizer is configured.".to_string()));
    }
    None
}

#[allow(clippy::too_many_arguments)]
pub fn binding(
    resource_type: i8,
    resource_name: &str,
    pattern_type: i8,
    principal: &str,
    host: &str,
    operation: i8,
    permission: i8,
) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::from_code(resource_type),
        resource_name: resource_name.to_string(),
        pattern_type: PatternType::from_code(pattern_type),
        principal: principal.to_string(),
        host: host.to_string(),
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn filter(
    resource_type: i8,
    resource_name: Option<&StrBytes>,
    pattern_type: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission: i8,
) -> AclFilter {
    AclFilter {
        resource_type: ResourceType::from_code(resource_type),
        resource_name: resource_name.map(|s| s.to_string()),
        pattern_type: PatternType::from_code(pattern_type),
        principal: principal.map(|s| s.to_string()),
        host: host.map(|s| s.to_string()),
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}
