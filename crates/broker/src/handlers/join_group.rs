//! JoinGroup, versions 0..=9. Parks until the group's rebalance completes;
//! the group state machine decides everything.

use brook_protocol::kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use brook_protocol::kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;
use crate::coordinator::group::state::{JoinRequest, Protocol};

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 9);

pub async fn handle(ctx: &RequestContext<'_>, request: JoinGroupRequest) -> JoinGroupResponse {
    let version = ctx.version();
    if !ctx.authz().group(Op::Read, request.group_id.as_str()) {
        return JoinGroupResponse::default()
            .with_error_code(brook_protocol::error_code::GROUP_AUTHORIZATION_FAILED)
            .with_generation_id(-1)
            .with_protocol_name((version < 7).then(|| str_bytes("")));
    }
    let join = JoinRequest {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: ctx.header.client_id.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        client_host: "/127.0.0.1".to_string(),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| Protocol { name: p.name.to_string(), metadata: p.metadata.clone() })
            .collect(),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: it is the session timeout.
        rebalance_timeout_ms: if version >= 1 { request.rebalance_timeout_ms } else { request.session_timeout_ms },
        require_known_member_id: version >= 4,
    };
    let result = ctx.node.groups.join(request.group_id.as_str(), join).await;
    let mut response = JoinGroupResponse::default()
        .with_error_code(result.error_code)
        .with_generation_id(result.generation)
        .with_leader(str_bytes(&result.leader))
        .with_member_id(str_bytes(&result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    let mut m =
                        JoinGroupResponseMember::default().with_member_id(str_bytes(&id)).with_metadata(metadata);
                    if version >= 5 {
                        m.group_instance_id = instance.as_deref().map(str_bytes);
                    }
                    m
                })
                .collect(),
        );
    if version >= 7 {
        response.protocol_type = result.protocol_type.as_deref().map(str_bytes);
    }
    response.protocol_name = result.protocol_name.as_deref().map(str_bytes);
    if version < 7 && response.protocol_name.is_none() {
        response.protocol_name = Some(str_bytes(""));
    }
    response
}
