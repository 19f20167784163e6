//! Client quotas (AlterClientQuotas / DescribeClientQuotas): entities are
//! (entity type, name) pairs — `user`, `client-id`, `ip` — a name of `None`
//! being that type's default.

use kafka_protocol::messages::*;

use super::{s, Admin};
use crate::error::{check_message, Result};

/// A quota entity: (entity type, name or `None` for the default).
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// How a DescribeClientQuotas filter component matches its entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    /// That name.
    Exact(String),
    /// The type's default entity.
    Default,
    /// Any name of the type (the default included).
    Any,
}

/// One entity's quotas, as DescribeClientQuotas reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientQuotaEntry {
    pub entity: QuotaEntity,
    pub values: Vec<(String, f64)>,
}

impl Admin {
    /// Sets `set` (key, value) pairs and removes `remove` keys of one entity.
    pub async fn alter_client_quotas(
        &self,
        entity: &QuotaEntity,
        set: &[(String, f64)],
        remove: &[String],
        validate_only: bool,
    ) -> Result<()> {
        use alter_client_quotas_request::{EntityData, EntryData, OpData};
        let mut ops: Vec<OpData> = set.iter().map(|(k, v)| OpData::default().with_key(s(k)).with_value(*v)).collect();
        ops.extend(remove.iter().map(|k| OpData::default().with_key(s(k)).with_remove(true)));
        let entity_data = entity
            .iter()
            .map(|(t, n)| EntityData::default().with_entity_type(s(t)).with_entity_name(n.as_deref().map(s)))
            .collect();
        let request = AlterClientQuotasRequest::default()
            .with_entries(vec![EntryData::default().with_entity(entity_data).with_ops(ops)])
            .with_validate_only(validate_only);
        let response = self.cluster.any_connection().await?.send(1, &request).await?;
        for e in &response.entries {
            check_message(e.error_code, e.error_message.as_ref(), || "alter client quotas".to_string())?;
        }
        Ok(())
    }

    /// The entities matching every (entity type, match) component; `strict`
    /// excludes entities with other types. Asks broker `node` if given.
    pub async fn describe_client_quotas(
        &self,
        components: &[(String, QuotaMatch)],
        strict: bool,
        node: Option<i32>,
    ) -> Result<Vec<ClientQuotaEntry>> {
        use describe_client_quotas_request::ComponentData;
        let components = components
            .iter()
            .map(|(t, m)| {
                let (match_type, name) = match m {
                    QuotaMatch::Exact(n) => (0, Some(s(n))),
                    QuotaMatch::Default => (1, None),
                    QuotaMatch::Any => (2, None),
                };
                ComponentData::default().with_entity_type(s(t)).with_match_type(match_type).with_match(name)
            })
            .collect();
        let request = DescribeClientQuotasRequest::default().with_components(components).with_strict(strict);
        let conn = match node {
            Some(id) => self.cluster.connection_to_node(id).await?,
            None => self.cluster.any_connection().await?,
        };
        let response = conn.send(1, &request).await?;
        check_message(response.error_code, response.error_message.as_ref(), || "describe client quotas".to_string())?;
        let mut out: Vec<ClientQuotaEntry> = response
            .entries
            .unwrap_or_default()
            .iter()
            .map(|e| ClientQuotaEntry {
                entity: e
                    .entity
                    .iter()
                    .map(|p| (p.entity_type.to_string(), p.entity_name.as_ref().map(|n| n.to_string())))
                    .collect(),
                values: e.values.iter().map(|v| (v.key.to_string(), v.value)).collect(),
            })
            .collect();
        out.sort_by(|a, b| a.entity.cmp(&b.entity));
        Ok(out)
    }
}
