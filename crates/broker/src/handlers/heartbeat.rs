//! Heartbeat, versions 0..=4.

use brook_protocol::kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::{RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: HeartbeatRequest) -> HeartbeatResponse {
    if !ctx.authz().group(Op::Read, request.group_id.as_str()) {
        return HeartbeatResponse::default().with_error_code(brook_protocol::error_code::GROUP_AUTHORIZATION_FAILED);
    }
    let code = ctx.node.groups.heartbeat(
        request.group_id.as_str(),
        request.member_id.as_str(),
        request.group_instance_id.as_deref(),
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(code)
}
