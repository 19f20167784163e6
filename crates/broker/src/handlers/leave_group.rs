//! LeaveGroup, versions 0..=5 (one member before v3, a batch from v3).

use brook_protocol::error_code as ec;
use brook_protocol::kafka_protocol::messages::leave_group_response::MemberResponse;
use brook_protocol::kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: LeaveGroupRequest) -> LeaveGroupResponse {
    if !ctx.authz().group(Op::Read, request.group_id.as_str()) {
        return LeaveGroupResponse::default().with_error_code(ec::GROUP_AUTHORIZATION_FAILED);
    }
    let batch = ctx.version() >= 3;
    let members: Vec<(String, Option<String>)> = if batch {
        request
            .members
            .iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|s| s.to_string())))
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    // Kafka answers v3+ for an unknown group with NONE and a per-member error.
    let outcome = match ctx.node.groups.leave(request.group_id.as_str(), &members) {
        Err(code) if batch => Ok(vec![code.code(); members.len()]),
        other => other,
    };
    match outcome {
        Err(code) => LeaveGroupResponse::default().with_error_code(code.code()),
        Ok(codes) if !batch => LeaveGroupResponse::default().with_error_code(codes[0]),
        Ok(codes) => LeaveGroupResponse::default().with_error_code(ec::NONE).with_members(
            request
                .members
                .iter()
                .zip(codes)
                .map(|(m, code)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id.clone())
                        .with_group_instance_id(m.group_instance_id.clone())
                        .with_error_code(code)
                })
                .collect(),
        ),
    }
}
