//! Which quota applies to a (user, client id) pair: KIP-55's precedence,
//! for one quota key at a time, first match wins:
//!
//! 1. `/users/<u>/clients/<c>`        5. `/users/<default>/clients/<default>`
//! 2. `/users/<u>/clients/<default>`  6. `/users/<default>`
//! 3. `/users/<u>`                    7. `/clients/<c>`
//! 4. `/users/<default>/clients/<c>`  8. `/clients/<default>`
//!
//! The match also says who shares the measured rate (Kafka's quota metric
//! tags): a quota on a user alone (3, 6) is shared by all that user's
//! clients, one on a client alone (7, 8) by all users of that client id,
//! the others are per (user, client id). A default entity gives every user
//! or client its own rate, never one shared by all. Pure lookups, built
//! once per metadata change; a lookup allocates nothing.

use std::collections::HashMap;

use brook_metadata::client_quotas::{ClientQuotas, CLIENT_ID, USER};

/// The quotas of one entity level: on the entity alone, and per client id
/// (named, or the client-id default) combined with it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Level {
    own: Option<f64>,
    clients: HashMap<String, f64>,
    default_client: Option<f64>,
}

/// One quota key's values by entity, ready for lookups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyQuotas {
    users: HashMap<String, Level>,
    default_user: Level,
    /// Entities without a user part (client id alone).
    no_user: Level,
}

/// Whose rate a quota is measured on: the (user, client id) tags, empty
/// where the quota does not distinguish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved<'a> {
    pub bound: f64,
    pub user: &'a str,
    pub client_id: &'a str,
}

impl KeyQuotas {
    /// The values of `key` in every entity of `quotas` (ip entities are not
    /// client quotas and are skipped).
    pub fn build(quotas: &ClientQuotas, key: &str) -> KeyQuotas {
        let mut out = KeyQuotas::default();
        for (entity, values) in quotas {
            let Some(value) = values.get(key) else { continue };
            let part = |t: &str| entity.iter().find(|p| p.entity_type == t).map(|p| p.name.as_deref());
            if entity.iter().any(|p| p.entity_type != USER && p.entity_type != CLIENT_ID) {
                continue;
            }
            let level = match part(USER) {
                None => &mut out.no_user,
                Some(None) => &mut out.default_user,
                Some(Some(user)) => out.users.entry(user.to_string()).or_default(),
            };
            match part(CLIENT_ID) {
                None => level.own = Some(value.0),
                Some(None) => level.default_client = Some(value.0),
                Some(Some(client)) => {
                    level.clients.insert(client.to_string(), value.0);
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        *self == KeyQuotas::default()
    }

    /// The quota of `user` (the principal's name) using `client_id`.
    pub fn resolve<'a>(&self, user: &'a str, client_id: &'a str) -> Option<Resolved<'a>> {
        let both = |bound| Resolved { bound, user, client_id };
        let user_only = |bound| Resolved { bound, user, client_id: "" };
        let client_only = |bound| Resolved { bound, user: "", client_id };
        let with_user = |level: &Level| {
            level
                .clients
                .get(client_id)
                .or(level.default_client.as_ref())
                .map(|b| both(*b))
                .or(level.own.map(user_only))
        };
        self.users.get(user).and_then(with_user).or_else(|| with_user(&self.default_user)).or_else(|| {
            self.no_user.clients.get(client_id).or(self.no_user.default_client.as_ref()).map(|b| client_only(*b))
        })
    }
}

#[cfg(test)]
mod tests {
    use brook_metadata::client_quotas::{apply, EntityPart, QuotaValue, PRODUCER_BYTE_RATE};

    use super::*;

    fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> Vec<EntityPart> {
        let mut e = Vec::new();
        if let Some(c) = client {
            e.push(EntityPart { entity_type: CLIENT_ID.into(), name: c.map(str::to_string) });
        }
        if let Some(u) = user {
            e.push(EntityPart { entity_type: USER.into(), name: u.map(str::to_string) });
        }
        e
    }

    /// The eight levels, each with a distinct value (its rank).
    fn all_levels() -> Vec<(Vec<EntityPart>, f64)> {
        vec![
            (entity(Some(Some("u")), Some(Some("c"))), 1.0),
            (entity(Some(Some("u")), Some(None)), 2.0),
            (entity(Some(Some("u")), None), 3.0),
            (entity(Some(None), Some(Some("c"))), 4.0),
            (entity(Some(None), Some(None)), 5.0),
            (entity(Some(None), None), 6.0),
            (entity(None, Some(Some("c"))), 7.0),
            (entity(None, Some(None)), 8.0),
        ]
    }

    fn table(levels: &[(Vec<EntityPart>, f64)]) -> KeyQuotas {
        let mut q = ClientQuotas::new();
        for (e, v) in levels {
            apply(&mut q, e, PRODUCER_BYTE_RATE, Some(QuotaValue(*v)));
        }
        // Another key's values never leak into this one.
        apply(&mut q, &entity(None, Some(Some("c"))), "consumer_byte_rate", Some(QuotaValue(99.0)));
        KeyQuotas::build(&q, PRODUCER_BYTE_RATE)
    }

    #[test]
    fn precedence_follows_kip_55() {
        let levels = all_levels();
        let expected_tags =
            [("u", "c"), ("u", "c"), ("u", ""), ("u", "c"), ("u", "c"), ("u", ""), ("", "c"), ("", "c")];
        // Remove the best match one level at a time: the next one takes over.
        for rank in 0..levels.len() {
            let t = table(&levels[rank..]);
            let r = t.resolve("u", "c").unwrap();
            assert_eq!(r.bound, (rank + 1) as f64);
            assert_eq!((r.user, r.client_id), expected_tags[rank], "rank {}", rank + 1);
        }
        assert_eq!(table(&[]).resolve("u", "c"), None);
        assert!(table(&[]).is_empty());
    }

    #[test]
    fn other_users_and_clients_fall_to_the_defaults() {
        let t = table(&all_levels());
        // Another user with client c: /users/<default>/clients/c.
        assert_eq!(t.resolve("v", "c").map(|r| r.bound), Some(4.0));
        // User u with another client: /users/u/clients/<default>.
        assert_eq!(t.resolve("u", "d").map(|r| r.bound), Some(2.0));
        // Only client quotas: ANONYMOUS gets the client's, per client id.
        let t = table(&all_levels()[6..]);
        assert_eq!(t.resolve("ANONYMOUS", "c").map(|r| (r.bound, r.user, r.client_id)), Some((7.0, "", "c")));
        assert_eq!(t.resolve("ANONYMOUS", "x").map(|r| (r.bound, r.client_id)), Some((8.0, "x")));
        // A user-only quota does not apply through the client levels.
        let t = table(&[(entity(Some(Some("alice")), None), 5.0)]);
        assert_eq!(t.resolve("bob", "c"), None);
        assert_eq!(t.resolve("alice", "any").map(|r| (r.user, r.client_id)), Some(("alice", "")));
    }
}
