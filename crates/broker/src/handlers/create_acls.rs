//! CreateAcls, versions 1..=3: adds ACLs through the controller (one
//! AccessControlEntry record each). Needs ALTER on the cluster; answers
//! SECURITY_DISABLED when no authorizer is configured. Each ACL succeeds or
//! fails on its own (INVALID_REQUEST for a bad one).

use brook_metadata::requests::{ControllerReply, ControllerRequest};
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::create_acls_response::AclCreationResult;
use brook_protocol::kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use tracing::info;

use super::acls::{binding, refusal};
use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(1, 3);

pub async fn handle(ctx: &RequestContext<'_>, request: CreateAclsRequest) -> CreateAclsResponse {
    let result = |code: i16, message: &str| {
        AclCreationResult::default().with_error_code(code).with_error_message((code != 0).then(|| str_bytes(message)))
    };
    if let Some((code, message)) = refusal(ctx, Op::Alter) {
        return CreateAclsResponse::default()
            .with_results(request.creations.iter().map(|_| result(code, &message)).collect());
    }
    let acls: Vec<_> = request
        .creations
        .iter()
        .map(|c| {
            binding(
                c.resource_type,
                &c.resource_name,
                c.resource_pattern_type,
                &c.principal,
                &c.host,
                c.operation,
                c.permission_type,
            )
        })
        .collect();
    let count = acls.len();
    let results = match ctx.node.execute(ControllerRequest::CreateAcls { acls: acls.clone() }, false).await {
        Ok(ControllerReply::AclsCreated(outcomes)) if outcomes.len() == count => {
            for (acl, (code, _)) in acls.iter().zip(&outcomes) {
                if *code == 0 {
                    info!(principal = %ctx.session.principal, %acl, "created ACL");
                }
            }
            outcomes.iter().map(|(code, message)| result(*code, message)).collect()
        }
        Ok(other) => {
            let message = format!("unexpected controller reply {other:?}");
            (0..count).map(|_| result(error_code::UNKNOWN_SERVER_ERROR, &message)).collect()
        }
        Err(e) => (0..count).map(|_| result(e.code, &e.message)).collect(),
    };
    CreateAclsResponse::default().with_results(results)
}
