//! AlterClientQuotas, versions 0..=1: sets or removes quota values of
//! user / client-id / ip entities. The active controller validates each
//! entity's changes (INVALID_REQUEST for an unknown entity type or key, a
//! bad value, a duplicate entity or key) and writes them to the metadata
//! log, so every broker applies the same quotas; `validate_only` decides
//! against this broker's image and writes nothing.

use brook_metadata::client_quotas::{EntityPart, QuotaAlteration};
use brook_metadata::requests::{ControllerReply, ControllerRequest};
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use brook_protocol::kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 1);

pub async fn handle(ctx: &RequestContext<'_>, request: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let alterations: Vec<QuotaAlteration> = request
        .entries
        .iter()
        .map(|entry| QuotaAlteration {
            entity: entry
                .entity
                .iter()
                .map(|e| EntityPart {
                    entity_type: e.entity_type.as_str().to_string(),
                    name: e.entity_name.as_ref().map(|n| n.as_str().to_string()),
                })
                .collect(),
            ops: entry.ops.iter().map(|op| (op.key.as_str().to_string(), (!op.remove).then_some(op.value))).collect(),
        })
        .collect();
    let count = alterations.len();
    // Kafka: ALTER_CONFIGS on the cluster, else every entry is refused.
    let outcomes = if !ctx.authz().cluster(Op::AlterConfigs) {
        vec![(error_code::CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.".to_string()); count]
    } else {
        match ctx.node.execute(ControllerRequest::AlterClientQuotas { alterations }, request.validate_only).await {
            Ok(ControllerReply::ClientQuotas(outcomes)) if outcomes.len() == count => outcomes,
            Ok(other) => {
                vec![(error_code::UNKNOWN_SERVER_ERROR, format!("unexpected controller reply {other:?}")); count]
            }
            Err(e) => vec![(e.code, e.message); count],
        }
    };
    let entries = request
        .entries
        .iter()
        .zip(outcomes)
        .map(|(entry, (code, message))| {
            EntryData::default()
                .with_error_code(code)
                .with_error_message((code != 0).then(|| str_bytes(&message)))
                .with_entity(
                    entry
                        .entity
                        .iter()
                        .map(|e| {
                            EntityData::default()
                                .with_entity_type(e.entity_type.clone())
                                .with_entity_name(e.entity_name.clone())
                        })
                        .collect(),
                )
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
