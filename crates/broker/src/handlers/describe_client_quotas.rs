//! DescribeClientQuotas, versions 0..=1: the quota entities matching a
//! filter, read from this broker's metadata image. Each filter component
//! matches an entity type exactly (a name), its default, or any name
//! (`match_type` 0, 1, 2); `strict` also excludes entities with other
//! types. A bad filter gets INVALID_REQUEST (UNSUPPORTED_VERSION for an
//! unknown entity type), as in Kafka.

use brook_metadata::client_quotas::{self, FilterComponent};
use brook_protocol::kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use brook_protocol::kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 1);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse {
    let components: Vec<FilterComponent> = request
        .components
        .iter()
        .map(|c| (c.entity_type.as_str().to_string(), c.match_type, c._match.as_ref().map(|m| m.as_str().to_string())))
        .collect();
    // Kafka: DESCRIBE_CONFIGS on the cluster.
    if !ctx.authz().cluster(Op::DescribeConfigs) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(brook_protocol::error_code::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(str_bytes("Authorization failed.")))
            .with_entries(None);
    }
    let image = ctx.node.image();
    match client_quotas::describe(&image.client_quotas, &components, request.strict) {
        Err((code, message)) => DescribeClientQuotasResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(&message)))
            .with_entries(None),
        Ok(found) => {
            let entries = found
                .into_iter()
                .map(|(entity, values)| {
                    EntryData::default()
                        .with_entity(
                            entity
                                .iter()
                                .map(|p| {
                                    EntityData::default()
                                        .with_entity_type(str_bytes(&p.entity_type))
                                        .with_entity_name(p.name.as_deref().map(str_bytes))
                                })
                                .collect(),
                        )
                        .with_values(
                            values
                                .iter()
                                .map(|(k, v)| ValueData::default().with_key(str_bytes(k)).with_value(v.0))
                                .collect(),
                        )
                })
                .collect();
            DescribeClientQuotasResponse::default().with_entries(Some(entries))
        }
    }
}
