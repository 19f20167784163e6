//! ACL administration, as Kafka's `Admin.createAcls / describeAcls /
//! deleteAcls` (and `kafka-acls.sh`) use it. ACLs are the authorizer's own
//! [`AclBinding`] / [`AclFilter`] types from `brook-security`.

use brook_security::acl::{AclBinding, AclFilter, AclOperation, AclPermission, PatternType, ResourceType};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;

use super::{s, Admin};
use crate::error::{check_message, Result};

/// Version sent of each ACL API (the flexible v3 of Kafka 2.4+).
const ACL_API_VERSION: i16 = 3;

impl Admin {
    /// Creates ACLs (CreateAcls). Fails with the first ACL's error, if any.
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<()> {
        let creations = acls
            .iter()
            .map(|a| {
                AclCreation::default()
                    .with_resource_type(a.resource_type.code())
                    .with_resource_name(s(&a.resource_name))
                    .with_resource_pattern_type(a.pattern_type.code())
                    .with_principal(s(&a.principal))
                    .with_host(s(&a.host))
                    .with_operation(a.operation.code())
                    .with_permission_type(a.permission.code())
            })
            .collect();
        let request = CreateAclsRequest::default().with_creations(creations);
        let response = self.cluster.any_connection().await?.send(ACL_API_VERSION, &request).await?;
        for (acl, r) in acls.iter().zip(&response.results) {
            check_message(r.error_code, r.error_message.as_ref(), || format!("create ACL {acl}"))?;
        }
        Ok(())
    }

    /// The ACLs matching `filter` (DescribeAcls).
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>> {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type.code())
            .with_resource_name_filter(filter.resource_name.as_deref().map(s))
            .with_pattern_type_filter(filter.pattern_type.code())
            .with_principal_filter(filter.principal.as_deref().map(s))
            .with_host_filter(filter.host.as_deref().map(s))
            .with_operation(filter.operation.code())
            .with_permission_type(filter.permission.code());
        let response = self.cluster.any_connection().await?.send(ACL_API_VERSION, &request).await?;
        check_message(response.error_code, response.error_message.as_ref(), || "describe ACLs".to_string())?;
        let mut out = Vec::new();
        for resource in &response.resources {
            for acl in &resource.acls {
                out.push(AclBinding {
                    resource_type: ResourceType::from_code(resource.resource_type),
                    resource_name: resource.resource_name.to_string(),
                    pattern_type: PatternType::from_code(resource.pattern_type),
                    principal: acl.principal.to_string(),
                    host: acl.host.to_string(),
                    operation: AclOperation::from_code(acl.operation),
                    permission: AclPermission::from_code(acl.permission_type),
                });
            }
        }
        Ok(out)
    }

    /// Deletes every ACL matching any of `filters` (DeleteAcls); returns them.
    pub async fn delete_acls(&self, filters: &[AclFilter]) -> Result<Vec<AclBinding>> {
        let wire = filters
            .iter()
            .map(|f| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(f.resource_type.code())
                    .with_resource_name_filter(f.resource_name.as_deref().map(s))
                    .with_pattern_type_filter(f.pattern_type.code())
                    .with_principal_filter(f.principal.as_deref().map(s))
                    .with_host_filter(f.host.as_deref().map(s))
                    .with_operation(f.operation.code())
                    .with_permission_type(f.permission.code())
            })
            .collect();
        let request = DeleteAclsRequest::default().with_filters(wire);
        let response = self.cluster.any_connection().await?.send(ACL_API_VERSION, &request).await?;
        let mut deleted = Vec::new();
        for r in &response.filter_results {
            check_message(r.error_code, r.error_message.as_ref(), || "delete ACLs".to_string())?;
            for m in &r.matching_acls {
                check_message(m.error_code, m.error_message.as_ref(), || "delete ACL".to_string())?;
                let acl = AclBinding {
                    resource_type: ResourceType::from_code(m.resource_type),
                    resource_name: m.resource_name.to_string(),
                    pattern_type: PatternType::from_code(m.pattern_type),
                    principal: m.principal.to_string(),
                    host: m.host.to_string(),
                    operation: AclOperation::from_code(m.operation),
                    permission: AclPermission::from_code(m.permission_type),
                };
                if !deleted.contains(&acl) {
                    deleted.push(acl);
                }
            }
        }
        Ok(deleted)
    }
}
