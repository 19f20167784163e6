//! Client quotas in the metadata log (KIP-13, KIP-124, KIP-546, KRaft's
//! `ClientQuotaRecord`): an entity is a set of (entity type, name) pairs —
//! types `user`, `client-id`, `ip`, a name of `None` meaning that type's
//! default — and each entity carries quota values by key. The controller
//! validates alterations here ([`alter`]) as Kafka's
//! `ClientQuotaControlManager` does; brokers read [`ClientQuotas`] from the
//! image and answer DescribeClientQuotas with [`describe`]. Pure data and
//! functions: no IO, no clocks.

use std::collections::BTreeMap;
use std::net::IpAddr;

use brook_protocol::error_code;
use serde::{Deserialize, Serialize};

use crate::controller::ControllerError;
use crate::records::MetadataRecord;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// DescribeClientQuotas match types.
pub const MATCH_EXACT: i8 = 0;
pub const MATCH_DEFAULT: i8 = 1;
pub const MATCH_SPECIFIED: i8 = 2;

/// How a quota key's value is checked (Kafka's `QuotaConfig` types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Long,
    Int,
    Double,
}

/// The keys an entity accepts, with their value types.
pub type KeyTypes = &'static [(&'static str, ValueType)];

/// Keys valid for user and client-id entities.
const USER_CLIENT_KEYS: &[(&str, ValueType)] = &[
    (PRODUCER_BYTE_RATE, ValueType::Long),
    (CONSUMER_BYTE_RATE, ValueType::Long),
    (REQUEST_PERCENTAGE, ValueType::Double),
    (CONTROLLER_MUTATION_RATE, ValueType::Double),
];
/// Keys valid for ip entities.
const IP_KEYS: &[(&str, ValueType)] = &[(CONNECTION_CREATION_RATE, ValueType::Int)];

/// One component of an entity: its type and name (`None`: the default).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityPart {
    pub entity_type: String,
    pub name: Option<String>,
}

/// An entity: its parts sorted by type, each type at most once.
pub type QuotaEntity = Vec<EntityPart>;

/// A quota value. f64 in the protocol; compared by bits so records and
/// images stay `Eq` (values are validated finite and positive).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for QuotaValue {}

/// Every entity's quotas, as the image holds them.
pub type ClientQuotas = BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>;

/// One entity's alteration in an AlterClientQuotas request: per key, a new
/// value or `None` to remove it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaAlteration {
    /// As the client sent it (unsorted, possibly with duplicate types).
    pub entity: Vec<EntityPart>,
    pub ops: Vec<(String, Option<f64>)>,
}

fn invalid(message: impl Into<String>) -> ControllerError {
    ControllerError::new(error_code::INVALID_REQUEST, message)
}

/// Renders an entity for messages, as `user=alice, client-id=<default>`.
pub fn entity_string(entity: &[EntityPart]) -> String {
    let parts: Vec<String> =
        entity.iter().map(|p| format!("{}={}", p.entity_type, p.name.as_deref().unwrap_or("<default>"))).collect();
    parts.join(", ")
}

/// Checks an entity's types and names and returns it in canonical (sorted)
/// form with the keys it accepts.
pub fn validate_entity(entity: &[EntityPart]) -> Result<(QuotaEntity, KeyTypes), ControllerError> {
    if entity.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    let mut sorted: QuotaEntity = Vec::with_capacity(entity.len());
    for part in entity {
        if sorted.iter().any(|p| p.entity_type == part.entity_type) {
            return Err(invalid(format!("Invalid client quota entity, duplicate entity entry {}", part.entity_type)));
        }
        if ![USER, CLIENT_ID, IP].contains(&part.entity_type.as_str()) {
            return Err(invalid(format!("Unhandled client quota entity type: {}", part.entity_type)));
        }
        if part.name.as_deref() == Some("") {
            return Err(invalid(format!("Empty {} not supported", part.entity_type)));
        }
        sorted.push(part.clone());
    }
    sorted.sort();
    let has = |t: &str| sorted.iter().any(|p| p.entity_type == t);
    let keys = if has(IP) {
        if has(USER) || has(CLIENT_ID) {
            return Err(invalid(
                "Invalid quota entity combination, IP entity should not be combined with User or ClientId",
            ));
        }
        let ip = sorted[0].name.as_deref();
        // Kafka also accepts a resolvable host name; Brook takes addresses
        // only (no DNS lookups in the controller).
        if let Some(ip) = ip {
            if ip.parse::<IpAddr>().is_err() {
                return Err(invalid(format!("{ip} is not a valid IP or resolvable host.")));
            }
        }
        IP_KEYS
    } else {
        USER_CLIENT_KEYS
    };
    Ok((sorted, keys))
}

/// Checks one key and value against the keys an entity accepts.
fn validate_value(keys: &[(&str, ValueType)], key: &str, value: f64) -> Result<(), ControllerError> {
    let Some((_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    if value.is_nan() || value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let integral = || {
        if (value % 1.0).abs() > 1e-6 {
            Err(invalid(format!("{key} cannot be a fractional value.")))
        } else {
            Ok(())
        }
    };
    match kind {
        ValueType::Double if value.is_finite() => Ok(()),
        ValueType::Double => Err(invalid(format!("Proposed value for {key} is not finite."))),
        ValueType::Int if value > i32::MAX as f64 => {
            Err(invalid(format!("Proposed value for {key} is too large for an INT.")))
        }
        ValueType::Long if value > i64::MAX as f64 => {
            Err(invalid(format!("Proposed value for {key} is too large for a LONG.")))
        }
        _ => integral(),
    }
}

/// AlterClientQuotas, decided against the current quotas: the records to
/// write and one outcome per alteration, in request order. Each alteration
/// stands alone (a refused one writes nothing); unchanged values and
/// removals of absent keys write nothing, as in Kafka.
pub fn alter(
    current: &ClientQuotas,
    alterations: &[QuotaAlteration],
) -> (Vec<MetadataRecord>, Vec<Result<(), ControllerError>>) {
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(alterations.len());
    let mut seen: Vec<QuotaEntity> = Vec::new();
    for alteration in alterations {
        let outcome = (|| {
            let (entity, keys) = validate_entity(&alteration.entity)?;
            if seen.contains(&entity) {
                return Err(invalid(format!("Ignoring duplicate entity {}", entity_string(&entity))));
            }
            seen.push(entity.clone());
            let mut ops: BTreeMap<&str, Option<f64>> = BTreeMap::new();
            for (key, value) in &alteration.ops {
                if ops.insert(key, *value).is_some() {
                    return Err(invalid(format!(
                        "Duplicate quota key {key} not updating quota for this entity {}",
                        entity_string(&entity)
                    )));
                }
            }
            let existing = current.get(&entity);
            let mut mine = Vec::new();
            for (key, value) in ops {
                let old = existing.and_then(|q| q.get(key));
                match value {
                    None if old.is_some() => mine.push(MetadataRecord::ClientQuota {
                        entity: entity.clone(),
                        key: key.to_string(),
                        value: None,
                    }),
                    None => {}
                    Some(v) => {
                        validate_value(keys, key, v)?;
                        if old != Some(&QuotaValue(v)) {
                            mine.push(MetadataRecord::ClientQuota {
                                entity: entity.clone(),
                                key: key.to_string(),
                                value: Some(QuotaValue(v)),
                            });
                        }
                    }
                }
            }
            records.extend(mine);
            Ok(())
        })();
        outcomes.push(outcome);
    }
    (records, outcomes)
}

/// Applies one `ClientQuota` record.
pub fn apply(quotas: &mut ClientQuotas, entity: &QuotaEntity, key: &str, value: Option<QuotaValue>) {
    match value {
        Some(v) => {
            quotas.entry(entity.clone()).or_default().insert(key.to_string(), v);
        }
        None => {
            if let Some(values) = quotas.get_mut(entity) {
                values.remove(key);
                if values.is_empty() {
                    quotas.remove(entity);
                }
            }
        }
    }
}

/// A DescribeClientQuotas filter component: (entity type, match type, match).
pub type FilterComponent = (String, i8, Option<String>);

/// The entities DescribeClientQuotas found, with their quotas.
pub type Described<'a> = Vec<(&'a QuotaEntity, &'a BTreeMap<String, QuotaValue>)>;

/// Why a DescribeClientQuotas request was refused: (error code, message).
pub type DescribeError = (i16, String);

/// DescribeClientQuotas: the entities matching the filter, Kafka's
/// semantics: exact (a name, or the default), default, or any specified
/// name of a type; `strict` also requires no other entity types.
pub fn describe<'a>(
    quotas: &'a ClientQuotas,
    components: &[FilterComponent],
    strict: bool,
) -> Result<Described<'a>, DescribeError> {
    let bad = |m: String| (error_code::INVALID_REQUEST, m);
    let mut exact: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut specified: Vec<&str> = Vec::new();
    for (entity_type, match_type, matched) in components {
        let t = entity_type.as_str();
        if t.is_empty() {
            return Err(bad("Invalid empty entity type.".into()));
        }
        if exact.contains_key(t) || specified.contains(&t) {
            return Err(bad(format!("Entity type {t} cannot appear more than once in the filter.")));
        }
        if ![USER, CLIENT_ID, IP].contains(&t) {
            return Err((error_code::UNSUPPORTED_VERSION, format!("Unsupported entity type {t}")));
        }
        match (*match_type, matched) {
            (MATCH_EXACT, None) => {
                return Err(bad("Request specified MATCH_TYPE_EXACT, but set match string to null.".into()))
            }
            (MATCH_EXACT, Some(name)) => {
                exact.insert(t, Some(name.as_str()));
            }
            (MATCH_DEFAULT, None) => {
                exact.insert(t, None);
            }
            (MATCH_DEFAULT, Some(_)) => {
                return Err(bad("Request specified MATCH_TYPE_DEFAULT, but also specified a match string.".into()))
            }
            (MATCH_SPECIFIED, None) => specified.push(t),
            (MATCH_SPECIFIED, Some(_)) => {
                return Err(bad("Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.".into()))
            }
            (other, _) => return Err(bad(format!("Unknown match type {other}"))),
        }
    }
    let uses = |t: &str| exact.contains_key(t) || specified.contains(&t);
    if uses(IP) && (uses(USER) || uses(CLIENT_ID)) {
        return Err(bad("Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.".into()));
    }
    let matches = |entity: &QuotaEntity| {
        if strict && entity.len() != exact.len() + specified.len() {
            return false;
        }
        let name_of = |t: &str| entity.iter().find(|p| p.entity_type == t).map(|p| p.name.as_deref());
        exact.iter().all(|(t, want)| name_of(t) == Some(*want)) && specified.iter().all(|t| name_of(t).is_some())
    };
    Ok(quotas.iter().filter(|(e, _)| matches(e)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(t: &str, n: Option<&str>) -> EntityPart {
        EntityPart { entity_type: t.into(), name: n.map(str::to_string) }
    }

    fn alteration(entity: Vec<EntityPart>, ops: &[(&str, Option<f64>)]) -> QuotaAlteration {
        QuotaAlteration { entity, ops: ops.iter().map(|(k, v)| (k.to_string(), *v)).collect() }
    }

    fn replay(quotas: &mut ClientQuotas, records: &[MetadataRecord]) {
        for r in records {
            if let MetadataRecord::ClientQuota { entity, key, value } = r {
                apply(quotas, entity, key, *value);
            }
        }
    }

    #[test]
    fn alter_sets_changes_and_removes() {
        let mut q = ClientQuotas::new();
        let e = vec![part(CLIENT_ID, Some("c1")), part(USER, Some("alice"))];
        let (records, outcomes) = alter(&q, &[alteration(e.clone(), &[(PRODUCER_BYTE_RATE, Some(1024.0))])]);
        assert!(outcomes[0].is_ok());
        replay(&mut q, &records);
        let sorted = vec![part(CLIENT_ID, Some("c1")), part(USER, Some("alice"))];
        assert_eq!(q[&sorted][PRODUCER_BYTE_RATE], QuotaValue(1024.0));
        // Same value again: nothing written. Removal of an absent key: nothing.
        let (records, outcomes) =
            alter(&q, &[alteration(e.clone(), &[(PRODUCER_BYTE_RATE, Some(1024.0)), (CONSUMER_BYTE_RATE, None)])]);
        assert!(outcomes[0].is_ok() && records.is_empty());
        let (records, _) = alter(&q, &[alteration(e, &[(PRODUCER_BYTE_RATE, None)])]);
        replay(&mut q, &records);
        assert!(q.is_empty());
    }

    #[test]
    fn alter_refuses_bad_entities_and_values() {
        let q = ClientQuotas::new();
        let code = |a: QuotaAlteration| alter(&q, &[a]).1.remove(0).unwrap_err();
        let c1 = || vec![part(CLIENT_ID, Some("c1"))];
        for a in [
            alteration(vec![], &[(PRODUCER_BYTE_RATE, Some(1.0))]),
            alteration(vec![part("group", Some("g"))], &[(PRODUCER_BYTE_RATE, Some(1.0))]),
            alteration(vec![part(USER, Some(""))], &[(PRODUCER_BYTE_RATE, Some(1.0))]),
            alteration(vec![part(USER, Some("a")), part(USER, Some("b"))], &[(PRODUCER_BYTE_RATE, Some(1.0))]),
            alteration(vec![part(IP, Some("1.2.3.4")), part(USER, None)], &[(CONNECTION_CREATION_RATE, Some(1.0))]),
            alteration(vec![part(IP, Some("not an ip"))], &[(CONNECTION_CREATION_RATE, Some(1.0))]),
            alteration(vec![part(IP, None)], &[(PRODUCER_BYTE_RATE, Some(1.0))]),
            alteration(c1(), &[("bogus", Some(1.0))]),
            alteration(c1(), &[(PRODUCER_BYTE_RATE, Some(0.0))]),
            alteration(c1(), &[(PRODUCER_BYTE_RATE, Some(-5.0))]),
            alteration(c1(), &[(PRODUCER_BYTE_RATE, Some(1.5))]),
            alteration(c1(), &[(PRODUCER_BYTE_RATE, Some(1.0)), (PRODUCER_BYTE_RATE, Some(2.0))]),
        ] {
            assert_eq!(code(a.clone()).code, error_code::INVALID_REQUEST, "{a:?}");
        }
        // Fractional request_percentage is fine; a duplicate entity is refused alone.
        let (records, outcomes) = alter(
            &q,
            &[
                alteration(c1(), &[(REQUEST_PERCENTAGE, Some(12.5))]),
                alteration(c1(), &[(PRODUCER_BYTE_RATE, Some(10.0))]),
                alteration(vec![part(IP, None)], &[(CONNECTION_CREATION_RATE, Some(10.0))]),
            ],
        );
        assert!(outcomes[0].is_ok() && outcomes[1].is_err() && outcomes[2].is_ok());
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn describe_filters() {
        let mut q = ClientQuotas::new();
        let set = |q: &mut ClientQuotas, e: Vec<EntityPart>| {
            let (r, _) = alter(q, &[alteration(e, &[(PRODUCER_BYTE_RATE, Some(100.0))])]);
            replay(q, &r);
        };
        set(&mut q, vec![part(USER, Some("alice"))]);
        set(&mut q, vec![part(USER, None)]);
        set(&mut q, vec![part(USER, Some("alice")), part(CLIENT_ID, Some("c1"))]);
        set(&mut q, vec![part(CLIENT_ID, Some("c1"))]);
        set(&mut q, vec![part(CLIENT_ID, None)]);
        let count = |c: &[(&str, i8, Option<&str>)], strict: bool| {
            let c: Vec<FilterComponent> =
                c.iter().map(|(t, m, n)| (t.to_string(), *m, n.map(str::to_string))).collect();
            describe(&q, &c, strict).map(|v| v.len())
        };
        assert_eq!(count(&[], false), Ok(5));
        assert_eq!(count(&[], true), Ok(0));
        assert_eq!(count(&[(USER, MATCH_EXACT, Some("alice"))], false), Ok(2));
        assert_eq!(count(&[(USER, MATCH_EXACT, Some("alice"))], true), Ok(1));
        assert_eq!(count(&[(USER, MATCH_DEFAULT, None)], false), Ok(1));
        assert_eq!(count(&[(USER, MATCH_SPECIFIED, None)], false), Ok(3));
        assert_eq!(count(&[(CLIENT_ID, MATCH_SPECIFIED, None)], true), Ok(2));
        assert_eq!(count(&[(USER, MATCH_SPECIFIED, None), (CLIENT_ID, MATCH_EXACT, Some("c1"))], true), Ok(1));
        let err = |c: &[(&str, i8, Option<&str>)]| count(c, false).unwrap_err().0;
        assert_eq!(err(&[(USER, MATCH_EXACT, None)]), error_code::INVALID_REQUEST);
        assert_eq!(err(&[(USER, MATCH_DEFAULT, Some("x"))]), error_code::INVALID_REQUEST);
        assert_eq!(err(&[(USER, 7, None)]), error_code::INVALID_REQUEST);
        assert_eq!(err(&[(USER, MATCH_DEFAULT, None), (USER, MATCH_SPECIFIED, None)]), error_code::INVALID_REQUEST);
        assert_eq!(err(&[(IP, MATCH_DEFAULT, None), (USER, MATCH_SPECIFIED, None)]), error_code::INVALID_REQUEST);
        assert_eq!(err(&[("group", MATCH_DEFAULT, None)]), error_code::UNSUPPORTED_VERSION);
    }
}
