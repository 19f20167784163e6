//! SyncGroup, versions 0..=5: the leader hands in assignments; every member
//! gets its own (followers wait for the leader).

use brook_protocol::error_code as ec;
use brook_protocol::kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: SyncGroupRequest) -> SyncGroupResponse {
    if !ctx.authz().group(Op::Read, request.group_id.as_str()) {
        return SyncGroupResponse::default().with_error_code(ec::GROUP_AUTHORIZATION_FAILED);
    }
    let assignments = request.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
    let result = ctx
        .node
        .groups
        .sync(
            request.group_id.as_str(),
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
            request.generation_id,
            request.protocol_type.as_deref(),
            request.protocol_name.as_deref(),
            assignments,
        )
        .await;
    let mut response = match result {
        Ok(assignment) => SyncGroupResponse::default().with_assignment(assignment),
        Err(code) => SyncGroupResponse::default().with_error_code(code.code()),
    };
    if ctx.version() >= 5 && response.error_code == ec::NONE {
        let description = ctx.node.groups.describe(request.group_id.as_str());
        response.protocol_type = description.as_ref().map(|d| str_bytes(&d.protocol_type));
        response.protocol_name = description.as_ref().map(|d| str_bytes(&d.protocol));
    }
    response
}
