//! DescribeAcls, versions 1..=3: the ACLs matching a filter, grouped by
//! resource pattern, from this broker's metadata image. Needs DESCRIBE on the
//! cluster; SECURITY_DISABLED when no authorizer is configured.

use std::collections::BTreeMap;

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use brook_protocol::kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use super::acls::{filter, refusal};
use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(1, 3);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeAclsRequest) -> DescribeAclsResponse {
    let error = |code: i16, message: &str| {
        DescribeAclsResponse::default().with_error_code(code).with_error_message(Some(str_bytes(message)))
    };
    if let Some((code, message)) = refusal(ctx, Op::Describe) {
        return error(code, &message);
    }
    let filter = filter(
        request.resource_type_filter,
        request.resource_name_filter.as_ref(),
        request.pattern_type_filter,
        request.principal_filter.as_ref(),
        request.host_filter.as_ref(),
        request.operation,
        request.permission_type,
    );
    if let Err(e) = filter.validate() {
        return error(error_code::INVALID_REQUEST, &e.0);
    }
    let image = ctx.node.image();
    let mut resources: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for (_, acl) in image.acls.matching(&filter) {
        let key = (acl.resource_type.code(), acl.resource_name.clone(), acl.pattern_type.code());
        resources.entry(key).or_default().push(
            AclDescription::default()
                .with_principal(str_bytes(&acl.principal))
                .with_host(str_bytes(&acl.host))
                .with_operation(acl.operation.code())
                .with_permission_type(acl.permission.code()),
        );
    }
    let resources = resources
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(str_bytes(&name))
                .with_pattern_type(pattern_type)
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default().with_resources(resources)
}
