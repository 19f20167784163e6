//! DeleteGroups, versions 0..=2: only groups without members
//! (NON_EMPTY_GROUP otherwise); unknown groups get GROUP_ID_NOT_FOUND.

use brook_protocol::kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use brook_protocol::kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 2);

pub async fn handle(ctx: &RequestContext<'_>, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let authz = ctx.authz();
    let results = request
        .groups_names
        .iter()
        .map(|id| {
            // Kafka: DELETE on the group.
            let code = if authz.group(Op::Delete, id.as_str()) {
                ctx.node.groups.delete_group(id.as_str())
            } else {
                brook_protocol::error_code::GROUP_AUTHORIZATION_FAILED
            };
            DeletableGroupResult::default().with_group_id(id.clone()).with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
