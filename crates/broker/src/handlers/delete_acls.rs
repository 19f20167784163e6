//! DeleteAcls, versions 1..=3: removes every ACL matching each filter,
//! through the controller (one RemoveAccessControlEntry record each), and
//! lists what each filter removed. Needs ALTER on the cluster;
//! SECURITY_DISABLED when no authorizer is configured.

use brook_metadata::requests::{ControllerReply, ControllerRequest};
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use brook_protocol::kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use tracing::info;

use super::acls::{filter, refusal};
use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(1, 3);

pub async fn handle(ctx: &RequestContext<'_>, request: DeleteAclsRequest) -> DeleteAclsResponse {
    let failed = |code: i16, message: &str| {
        DeleteAclsFilterResult::default().with_error_code(code).with_error_message(Some(str_bytes(message)))
    };
    let count = request.filters.len();
    if let Some((code, message)) = refusal(ctx, Op::Alter) {
        return DeleteAclsResponse::default().with_filter_results((0..count).map(|_| failed(code, &message)).collect());
    }
    let filters: Vec<_> = request
        .filters
        .iter()
        .map(|f| {
            filter(
                f.resource_type_filter,
                f.resource_name_filter.as_ref(),
                f.pattern_type_filter,
                f.principal_filter.as_ref(),
                f.host_filter.as_ref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let results = match ctx.node.execute(ControllerRequest::DeleteAcls { filters }, false).await {
        Ok(ControllerReply::AclsDeleted(outcomes)) if outcomes.len() == count => outcomes
            .into_iter()
            .map(|o| {
                if o.error_code != 0 {
                    return failed(o.error_code, &o.message);
                }
                let matching = o
                    .deleted
                    .iter()
                    .map(|acl| {
                        info!(principal = %ctx.session.principal, %acl, "deleted ACL");
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(acl.resource_type.code())
                            .with_resource_name(str_bytes(&acl.resource_name))
                            .with_pattern_type(acl.pattern_type.code())
                            .with_principal(str_bytes(&acl.principal))
                            .with_host(str_bytes(&acl.host))
                            .with_operation(acl.operation.code())
                            .with_permission_type(acl.permission.code())
                    })
                    .collect();
                DeleteAclsFilterResult::default().with_matching_acls(matching)
            })
            .collect(),
        Ok(other) => {
            let message = format!("unexpected controller reply {other:?}");
            (0..count).map(|_| failed(error_code::UNKNOWN_SERVER_ERROR, &message)).collect()
        }
        Err(e) => (0..count).map(|_| failed(e.code, &e.message)).collect(),
    };
    DeleteAclsResponse::default().with_filter_results(results)
}
